"""Open TIFF, pyramidal OME-TIFF and whole-slide scanner TIFFs through tifffile's zarr store
(tiles read on demand).

Whole-slide formats (tifffile names their images "series", each with its pyramid levels):

- Aperio SVS: the ``Baseline`` series and its levels; the thumbnail, label and macro images
  are other series and are skipped. Pixel size: ``MPP = <µm per pixel>`` in the
  ImageDescription.
- Hamamatsu NDPI: the pyramidal ``Baseline`` series (the macro and map images are skipped);
  pixel size from the X/YResolution tags (pixels per cm).
- Leica SCN: the image with the finest pixels (the slide overview, "macro", is coarser).
  Pixel size: the image's ``view`` size (nm) over its full-resolution pixel count, from the
  SCN XML in the ImageDescription.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import tifffile
import zarr
from tifffile.tifffile import svs_description_metadata

from ._arrays import lazy_yx
from .errors import fail
from .ngff import iso, level_factor, non_square, unit_factor
from .plain import ONE_BIT, ONE_BIT_EXPECTED

#: tifffile's axis letters of a stack's planes, in words (ImageJ hyperstacks: Z, C, T)
_PLANE_WORDS = {"Z": "z-slices", "C": "channels", "T": "time points", "I": "images",
                "Q": "planes"}  # fmt: skip

#: lossy codecs that work in blocks (JPEG's 8 × 8 px; JPEG XR's and WebP's 4 × 4 / 16 × 16)
_BLOCK_CODECS = {
    tifffile.COMPRESSION.OJPEG,
    tifffile.COMPRESSION.JPEG,
    tifffile.COMPRESSION.JPEG_99,
    tifffile.COMPRESSION.JPEG_LOSSY,
    tifffile.COMPRESSION.ALT_JPEG,
    tifffile.COMPRESSION.JPEGXR,
    tifffile.COMPRESSION.JPEGXR_NDPI,
    tifffile.COMPRESSION.WEBP,
    tifffile.COMPRESSION.WEBP_DEPRECATED,
}

# TIFF ResolutionUnit: 2 = inch, 3 = centimeter
_RES_UNIT_UM = {2: 25400.0, 3: 10000.0}
_RES_UNIT_NAME = {2: "inch", 3: "cm"}


def _ome_pixel_size(tf: tifffile.TiffFile) -> tuple[float, float] | None:
    """PhysicalSizeY/X (µm) of the first OME image, if present."""
    if not tf.is_ome or not tf.ome_metadata:
        return None
    try:
        ome = tifffile.xml2dict(tf.ome_metadata).get("OME", {})
        image = ome.get("Image")
        image = image[0] if isinstance(image, list) else image
        px = image["Pixels"]
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    sizes = []
    for ax in ("Y", "X"):
        val = px.get(f"PhysicalSize{ax}")
        f = unit_factor(px.get(f"PhysicalSize{ax}Unit", "µm"))
        if val is None or f is None:
            return None
        sizes.append(float(val) * f)
    return (sizes[0], sizes[1]) if min(sizes) > 0 else None


def _svs_pixel_size(tf: tifffile.TiffFile) -> float | None:
    """Aperio's ``MPP`` (µm per pixel of the baseline image), if present and positive."""
    if not tf.is_svs:
        return None
    try:
        mpp = float(svs_description_metadata(tf.pages.first.description).get("MPP", 0))
    except (ValueError, TypeError):
        return None
    return mpp if mpp > 0 else None


def _scn_images(tf: tifffile.TiffFile) -> list[float | None]:
    """µm per pixel of each image of a Leica SCN file that has pixels (tifffile makes one
    series of each, in this order): ``view`` size (nm) / level-0 pixels, None if unknown."""
    from xml.etree import ElementTree

    out: list[float | None] = []
    try:
        root = ElementTree.fromstring(tf.scn_metadata or "")
    except ElementTree.ParseError:
        return out

    def local(el: ElementTree.Element) -> str:
        return el.tag.rsplit("}", 1)[-1]

    for coll in (c for c in root if local(c) == "collection"):
        for image in (i for i in coll if local(i) == "image"):
            view = next((v for v in image if local(v) == "view"), None)
            for pixels in (p for p in image if local(p) == "pixels"):
                dims = [d for d in pixels if local(d) == "dimension"]
                if not dims:
                    continue
                full = [d for d in dims if int(d.attrib.get("r", 0)) == 0] or dims
                try:
                    nm = float(view.attrib["sizeX"]) if view is not None else 0.0
                    px = float(full[0].attrib["sizeX"])
                    out.append(nm / 1000.0 / px if nm > 0 and px > 0 else None)
                except (KeyError, ValueError):
                    out.append(None)
    return out


def _main_series(tf: tifffile.TiffFile) -> tuple[int, float | None]:
    """Index of the series that holds the scan, and its pixel size (µm) when the format
    stores one outside the TIFF tags (SCN). SVS and NDPI: the first series (the baseline
    pyramid); SCN: the image with the finest pixels; other TIFFs: the first series."""
    if not tf.is_scn:
        return 0, None
    sizes = _scn_images(tf)
    if len(sizes) != len(tf.series) or not sizes:
        return 0, None
    known = [i for i, s in enumerate(sizes) if s is not None]
    if not known:
        return 0, None
    best = min(known, key=lambda i: (sizes[i], -tf.series[i].size))
    return best, sizes[best]


def _tag_pixel_size(tf: tifffile.TiffFile) -> tuple[tuple[float, float] | None, str]:
    """Pixel height and width (µm) from the X/YResolution tags (pixels per unit) and the unit: ImageJ's
    ``unit=`` (µm, ``\\u00B5m``, micron, um, mm, nm, cm, inch...) or ``ResolutionUnit``;
    with the unit's name (``""`` when there is no size)."""
    tags = tf.pages.first.tags
    xr, yr, ru = tags.get("XResolution"), tags.get("YResolution"), tags.get("ResolutionUnit")
    if xr is None or yr is None:
        return None, ""

    def per_unit(r: Any) -> float:
        num, den = r.value
        return num / den if den else 0.0

    fx, fy = per_unit(xr), per_unit(yr)
    if fx <= 0 or fy <= 0:
        return None, ""
    ij = tf.imagej_metadata or {}
    unit, unit_um = ij.get("unit"), unit_factor(ij.get("unit")) if ij.get("unit") else None
    if unit_um is None:
        code = int(ru.value) if ru is not None else 1
        unit, unit_um = _RES_UNIT_NAME.get(code, ""), _RES_UNIT_UM.get(code)
    if unit_um is None:
        return None, ""
    return (unit_um / fy, unit_um / fx), "inch" if unit_um == 25400.0 else str(unit)


def _kind(tf: tifffile.TiffFile) -> str:
    """``"ome-tiff"``, ``"svs"``, ``"ndpi"``, ``"scn"`` or ``"tiff"``."""
    for kind in ("ome", "svs", "ndpi", "scn"):
        if getattr(tf, f"is_{kind}", False):
            return "ome-tiff" if kind == "ome" else kind
    return "tiff"


#: dask reads of an uncompressed single-level TIFF stored in one piece (:func:`_contiguous`)
#: are this many pixels per side
CONTIGUOUS_CHUNK_PX = 1024


class _Contiguous:
    """An uncompressed, contiguous single-level TIFF image read through a memory map, with
    chunks of :data:`CONTIGUOUS_CHUNK_PX` along its last two axes (the image axes of a plain
    grey image; colour samples stay whole)."""

    def __init__(self, mm: np.ndarray, yx: tuple[int, int]) -> None:
        self.mm = mm
        self.shape, self.dtype, self.ndim = tuple(mm.shape), mm.dtype, mm.ndim
        self.chunks = tuple(
            min(n, CONTIGUOUS_CHUNK_PX) if i in yx else n for i, n in enumerate(self.shape)
        )

    def __getitem__(self, index):
        return np.array(self.mm[index])


def _stored_flat(series: Any, kind: str) -> bool:
    """Whether a series is one level of uncompressed pixels stored in one piece (ImageJ's and
    Fiji's own TIFFs: one strip per image), so that a memory map reads any window of it."""
    return (
        kind in ("tiff", "ome")
        and len(series.levels) == 1
        and series.dataoffset is not None
        and "Y" in series.axes
        and "X" in series.axes
    )


def _contiguous(path: Path, index: int, axes: str) -> _Contiguous | None:
    """The image of series ``index`` (see :func:`_stored_flat`) through a memory map, as
    :class:`_Contiguous`; ``None`` when it cannot be mapped (then tifffile's zarr store reads
    it, whose one strip is read whole for every window)."""
    try:
        mm = tifffile.memmap(path, series=index, mode="r")
    except (ValueError, OSError, tifffile.TiffFileError):
        return None
    return _Contiguous(mm, (axes.index("Y"), axes.index("X")))


def open_tiff_levels(path: Path) -> tuple[list[da.Array], float | None, list[float], dict]:
    """Levels of a (pyramidal) TIFF: ``(levels, pixel_size_um or None, relative scales, meta)``.

    The scan's series (see the module doc for SVS, NDPI and SCN files); pixel size from the
    SCN XML, the OME metadata, Aperio's MPP or the resolution tags, in that order. A grey
    image stored MinIsWhite (an inverting LUT) has ``meta["min_is_white"]``; its levels
    are the stored values.
    Uses ``tifffile.imread(path, aszarr=True)``: data is read tile by tile (or strip by strip)
    only when a dask chunk is computed, never as a whole plane; an uncompressed single-level
    image stored in one piece (ImageJ's one strip) is memory-mapped and read in windows of
    :data:`CONTIGUOUS_CHUNK_PX` (:func:`_contiguous`).
    """
    try:
        with tifffile.TiffFile(path) as tf:
            index, p_um = _main_series(tf)
            series = tf.series[index]
            axes, shape = series.axes, tuple(series.shape)
            kind = _kind(tf)
            unit = {"scn": "Leica SCN view size"}.get(kind, "")
            size_yx = None  # the pixel's height and width (µm), where the file gives both
            if p_um is None:
                size_yx, unit = _ome_pixel_size(tf), "OME PhysicalSize"
            if p_um is None and size_yx is None:
                p_um, unit = _svs_pixel_size(tf), "Aperio MPP"
            if p_um is None and size_yx is None:
                size_yx, unit = _tag_pixel_size(tf)
            if size_yx is not None:
                p_um = iso(*size_yx)
            skipped = [s.name or f"image {i}" for i, s in enumerate(tf.series) if i != index]
            flat = _stored_flat(series, kind)
            lossy = [i for i, lev in enumerate(series.levels) if _block_coded(lev)]
            inverted = _min_is_white(series)
            one_bit = np.dtype(series.dtype) == np.bool_
        node = _contiguous(path, index, series.axes) if flat else None
        if node is None:
            store = tifffile.imread(path, aszarr=True, series=index)
            node = zarr.open(store=store, mode="r")
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise fail(path, f"cannot read TIFF ({first})", "a TIFF or OME-TIFF file") from None
    colour = axes.index("S") if "S" in axes and shape[axes.index("S")] > 1 else None
    if colour is not None and shape[colour] not in (3, 4):
        raise fail(
            path,
            f"{shape[colour]}-sample TIFF (axes {axes}, shape {shape})",
            "a 2D grayscale or RGB(A) image: save the channel to read as its own TIFF (Fiji: "
            "Image › Duplicate… one channel)",
        )
    if "Y" not in axes or "X" not in axes:
        raise fail(path, f"TIFF axes {axes!r} have no Y and X")
    planes = [(a, n) for a, n in zip(axes, shape) if a not in "YXS" and n > 1]
    if planes:
        what = " × ".join(f"{n} {_PLANE_WORDS.get(a, f'{a} planes')}" for a, n in planes)
        # a colour scan split into red, green and blue channels (a Fiji composite)
        rgb = dict(planes).get("C") == 3 and len(planes) == 1
        raise fail(
            path,
            f"a stack of {what} (axes {axes}, shape {shape}), not one image",
            "one 2D grayscale or RGB image: save the plane to read as its own TIFF (Fiji: "
            "Image › Duplicate… one slice or channel, or Image › Stacks › Z Project…)"
            + (
                "; if the 3 channels are a colour scan's red, green and blue: Image › Type › "
                "RGB Color, then save"
                if rgb
                else ""
            ),
        )
    if one_bit:  # BitsPerSample 1: a mask, no stain
        raise fail(path, ONE_BIT, ONE_BIT_EXPECTED)
    yx = (axes.index("Y"), axes.index("X"))
    if isinstance(node, (zarr.Array, _Contiguous)):
        arrays = [("0", node)]
    else:
        ms = node.attrs.get("multiscales", [{}])[0]
        keys = [d["path"] for d in ms.get("datasets", [])] or [k for k, _ in node.arrays()]
        arrays = [(k, node[k]) for k in keys]
    levels = [
        lazy_yx(a, yx, f"{path} level {k}", (str(path), k, path.stat().st_mtime), colour)
        for k, a in arrays
    ]
    h0, w0 = levels[0].shape[:2]
    rel = [level_factor(h0, w0, *lev.shape[:2]) for lev in levels]
    meta: dict[str, Any] = {"format": kind, "axes": axes}
    if skipped and kind in ("svs", "ndpi", "scn"):
        meta["skipped_images"] = skipped  # thumbnail, label, macro...
    if p_um is not None:
        meta["pixel_size_unit"] = unit
    if size_yx is not None and non_square(*size_yx):
        meta["pixel_yx_um"] = list(size_yx)  # not square: not read as one size (open.py)
    if lossy:
        meta["lossy_levels"] = lossy  # read for the model only well downsampled
    if inverted and colour is None:
        meta["min_is_white"] = True  # the viewer shows white - value
    return levels, p_um, rel, meta


def stored_min_is_white(path: str | Path) -> bool:
    """Whether the TIFF at ``path`` stores its first image MinIsWhite (an inverting LUT:
    :func:`_min_is_white`); False for a file that is no readable TIFF."""
    try:
        with tifffile.TiffFile(path) as tf:
            return bool(tf.series) and _min_is_white(tf.series[0])
    except Exception:  # not a TIFF, unreadable: nothing said
        return False


def _min_is_white(series: Any) -> bool:
    """Whether a series' pages are stored MinIsWhite (PhotometricInterpretation 0: 0 is
    shown white, as ImageJ writes an image with an inverting LUT)."""
    try:
        return series.keyframe.photometric == tifffile.PHOTOMETRIC.MINISWHITE
    except (AttributeError, IndexError, ValueError):
        return False


def _block_coded(level: Any) -> bool:
    """Whether a pyramid level (a tifffile series level) is stored with a lossy block
    codec (:data:`_BLOCK_CODECS`)."""
    try:
        return level.keyframe.compression in _BLOCK_CODECS
    except (AttributeError, IndexError, ValueError):
        return False
