"""``open_section``: one entry point for OME-Zarr, plain zarr, (OME-)TIFF, whole-slide
scanner TIFFs (Aperio SVS, Hamamatsu NDPI, Leica SCN) and plain PNG/JPEG sections."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from ..formats import PLAIN_IMAGE_SUFFIXES, SECTION_FILE_SUFFIXES, TIFF_SUFFIXES
from ..slide_reading import INVERTED_KEY
from ._arrays import lazy_yx
from .calibration import calibration_message, implausible_pixel_size
from .colour import CHANNEL_NAMES, grey_levels, signal_channel
from .errors import (
    NonSquarePixelsError,
    PixelSizeMissingError,
    SectionError,
    SectionNotFoundError,
    fail,
)
from .intensity import (
    COARSE_MAX_PX,
    fill_black_background,
    fill_not_finite,
    invert_levels,
    judge_slide,
)
from .ngff import iso, non_square
from .ome_zarr import (
    LOST_CHUNKS_KEY,
    ensure_section_error,
    lost_chunks,
    ome_attrs,
    open_node,
    read_labels,
    read_multiscales,
    read_plain_group,
    store_mtime,
    zarr_format_of,
)
from .plain import open_plain_levels
from .pyramid import extend_pyramid
from .section import LabelImage, Section
from .tiff import open_tiff_levels

_STRIP_SUFFIXES = (".ome.zarr", ".zarr", ".ome.tiff", ".ome.tif", *SECTION_FILE_SUFFIXES)


def section_name(path: Path) -> str:
    """File name without the image suffixes (``brain.ome.zarr`` -> ``brain``)."""
    name = path.name
    for suffix in _STRIP_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


#: how the note on a slide that could not be judged says what to do (napari's reader
#: replaces it with what a napari user can do)
SLIDE_HINT = "give --slide dark (Python: dark_field=True)"


def _check_pixel_size(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SectionError(f"pixel_size_um={value!r}: expected a positive number of µm") from None
    if not math.isfinite(v) or v <= 0:
        raise SectionError(f"pixel_size_um={value!r}: expected a positive number of µm")
    return v


def open_section(
    path: str | os.PathLike[str],
    *,
    pixel_size_um: float | None = None,
    dark_field: bool | None = None,
) -> Section:
    """Open a section lazily as a multiscale pyramid with physical pixel size.

    Args:
        path: an OME-Zarr directory (NGFF 0.4 / zarr v2 or 0.5 / zarr v3), a plain zarr array
            or group, a (pyramidal OME-) TIFF file, a whole-slide scan (Aperio ``.svs``,
            Hamamatsu ``.ndpi``, Leica ``.scn``) or a plain ``.png``/``.jpg`` image (which
            stores no calibration: ``pixel_size_um`` is required).
        pixel_size_um: µm per pixel of level 0. Required when the file carries no physical
            pixel size; when given it overrides the stored one (coarser levels keep their
            stored scale ratios).
        dark_field: ``True``: the cells are bright on a dark slide (fluorescence): read
            the image inverted; ``False``: a bright-field stain, never inverted; ``None``
            (default): judged from the image (:func:`~.intensity.judge_slide`). What was
            done is said in ``Section.metadata["slide"]``.

    Returns:
        A :class:`Section` whose levels are dask arrays (nothing is read until computed),
        completed with lazily coarsened levels down to <= 1024 px on the longest side, with
        label images (``labels/<name>`` of OME-Zarr) in ``Section.labels``.

    Raises:
        SectionError: (a ``ValueError``) naming the file and the problem: missing path,
            unsupported file, not a zarr directory, corrupt metadata, 3D/RGB data, zero-sized
            arrays, no pixel size.
    """
    p = Path(os.fspath(path)).expanduser()
    px = _check_pixel_size(pixel_size_um)
    if not p.exists():
        raise SectionNotFoundError(f"{p}: no such file or directory")
    if p.is_file() and p.name in ("zarr.json", ".zgroup", ".zarray", ".zattrs"):
        p = p.parent
    try:
        if p.is_dir():
            return _open_zarr(p, px, dark_field)
        suffix = p.suffix.lower()
        if suffix in TIFF_SUFFIXES:
            levels, stored, rel, meta = open_tiff_levels(p)
            levels = _as_grey(levels, meta, dark_field)
            sizes = _resolve_sizes(p, px, stored, rel, meta.pop("pixel_yx_um", None))
            return _finish(
                p, levels, sizes, meta, {}, stored_size=px is None, dark_field=dark_field
            )
        if suffix in PLAIN_IMAGE_SUFFIXES:
            if px is None:  # before decoding: a PNG/JPEG never holds the scan's pixel size
                kind = "PNG" if suffix == ".png" else "JPEG"
                raise PixelSizeMissingError(
                    f"{p}: a {kind} image stores no pixel size; give the scan's µm per pixel "
                    "(CLI: --pixel-size-um; Python: pixel_size_um=)"
                )
            levels, meta = open_plain_levels(p)
            return _finish(
                p,
                _as_grey(levels, meta, dark_field),
                [px],
                meta,
                {},
                stored_size=False,
                dark_field=dark_field,
            )
    except Exception as e:
        raise ensure_section_error(e, p) from None
    raise fail(
        p,
        f"unsupported file type {p.suffix!r}",
        "an OME-Zarr/zarr directory or a " + "/".join(SECTION_FILE_SUFFIXES) + " file",
    )


def _resolve_sizes(
    p: Path,
    px: float | None,
    stored: float | list[float] | None,
    rel: list[float],
    non_square_yx: list[float] | None = None,
) -> list[float]:
    """Per-level µm: the override times the relative scales, else the stored sizes; stored
    pixels that are not square (``non_square_yx``: their height and width, µm) are refused
    (:class:`NonSquarePixelsError`) unless overridden."""
    if px is not None:
        return [px * r for r in rel]
    if non_square_yx is not None:
        sy, sx = non_square_yx
        raise NonSquarePixelsError(
            f"{p}: its pixels are not square ({sy:.4g} µm high, {sx:.4g} µm wide) and "
            "cytowords measures in square pixels; resample the image to square pixels (Fiji: "
            "Image › Scale…), or, if the stored sizes are wrong, give the scan's µm per pixel "
            "(CLI: --pixel-size-um; Python: pixel_size_um=)"
        )
    if stored is None:
        raise PixelSizeMissingError(
            f"{p}: no physical pixel size stored (no length unit / resolution); expected a "
            "store with pixel size in micrometres, or pass pixel_size_um= "
            "(CLI: --pixel-size-um)"
        )
    if isinstance(stored, (int, float)):
        return [float(stored) * r for r in rel]
    return [float(s) for s in stored]


def _open_zarr(p: Path, px: float | None, dark_field: bool | None) -> Section:
    fmt = zarr_format_of(p)
    node = open_node(p, fmt)
    meta: dict[str, Any] = {"zarr_format": fmt}
    if isinstance(node, zarr.Array):
        levels = [lazy_yx(node, (node.ndim - 2, node.ndim - 1), str(p), (str(p), store_mtime(p)))]
        sizes = _resolve_sizes(p, px, node.attrs.get("pixel_size_um"), [1.0])
        return _finish(
            p,
            levels,
            sizes,
            {**meta, "format": "zarr"},
            {},
            stored_size=px is None,
            dark_field=dark_field,
        )
    ome, version = ome_attrs(node)
    if version is None and "bioformats2raw.layout" in ome and isinstance(node.get("0"), zarr.Group):
        node = node["0"]  # bioformats2raw layout: the first image is the group "0"
        ome, version = ome_attrs(node)
        p_img = p / "0"
    else:
        p_img = p
    if version is not None:
        levels, stored, rel, info = read_multiscales(node, ome, p_img)
        meta.update(format="ome-zarr", ngff_version=version, axes=info["axes"])
        ty, tx = (t * (info["um_per_unit"] or 1.0) for t in info["translation"])
        if stored is not None and px is not None:  # a pixel size override moves it too
            ty, tx = ty * px / stored[0], tx * px / stored[0]
        if (ty, tx) != (0.0, 0.0):
            # where level 0's first pixel centre lies in the store's space (µm), e.g. an
            # area map's place over its section; napari layers are translated by it
            meta["origin_um"] = [ty, tx]
        if info["name"]:
            meta["ngff_name"] = info["name"]
        if len(levels) > 1:
            finest = min(range(len(levels)), key=lambda i: rel[i])
            coarsest = max(range(len(levels)), key=lambda i: rel[i])
            lost = lost_chunks(
                node[info["paths"][finest]],
                levels[coarsest],
                info["yx"],
                p_img / info["paths"][finest],
            )
            if lost:
                meta[LOST_CHUNKS_KEY] = lost
    else:
        levels, rel = read_plain_group(node, p)
        stored = node.attrs.get("pixel_size_um")
        meta["format"] = "zarr"
    yx = None  # NGFF pixels that are not square: their height and width (µm)
    if version is not None and stored is not None and non_square(*info["scales"][0]):
        sy, sx = info["scales"][0]
        yx = [sy * stored[0] / iso(sy, sx), sx * stored[0] / iso(sy, sx)]
    sizes = _resolve_sizes(p, px, stored, rel, yx)
    order = sorted(range(len(levels)), key=lambda i: sizes[i])
    levels, sizes = [levels[i] for i in order], [sizes[i] for i in order]
    levels = _as_grey(levels, meta, dark_field)
    labels = read_labels(node, p_img, levels[0], sizes[0])
    extra = node.attrs.get("cytowords")
    if isinstance(extra, dict) and isinstance(extra.get("metadata"), dict):
        meta = {**extra["metadata"], **meta}
    return _finish(p, levels, sizes, meta, labels, stored_size=px is None, dark_field=dark_field)


def _as_grey(
    levels: list[da.Array], meta: dict[str, Any], dark_field: bool | None = None
) -> list[da.Array]:
    """RGB(A) levels ``(y, x, c)`` -> lazy grey levels (say how in ``meta["colour"]``): a
    fluorescence image's signal channel (:func:`~.colour.signal_channel`; its name in
    ``meta["channel"]``), else a stain by optical density; grey levels unchanged."""
    if levels[0].ndim == 2:
        return levels
    c = signal_channel(levels, dark_field)
    if c is not None:
        name = meta["channel"] = CHANNEL_NAMES[c]
        meta["colour"] = (
            f"RGB fluorescence: its {name} channel (the signal) read as a grey image, the "
            "other channels left out"
        )
        return [lev[..., c] for lev in levels]
    grey, model = grey_levels(levels)
    meta["colour"] = model.describe()
    return grey


def _as_shown(levels: list[da.Array], meta: dict[str, Any]) -> list[da.Array]:
    """Grey levels of a TIFF stored MinIsWhite (``meta["min_is_white"]``: an inverting LUT;
    the viewer shows white - value) read as shown, inverted (:func:`~.intensity.
    invert_levels`), saying so in ``meta["lut"]``; other levels unchanged."""
    if not meta.get("min_is_white"):
        return levels
    levels, white = invert_levels(levels)
    meta["lut"] = f"stored MinIsWhite (an inverting LUT): read as shown ({white:g} - value)"
    return levels


def read_levels(
    levels: list[da.Array],
    sizes: list[float],
    meta: dict[str, Any],
    dark_field: bool | None = None,
) -> tuple[list[da.Array], list[float], dict[str, Any]]:
    """Pixel levels read as cytowords measures them: RGB(A) -> grey (:func:`_as_grey`), a
    TIFF stored MinIsWhite read as shown (``meta["min_is_white"]``, :func:`_as_shown`), NaN
    filled, a masked black background filled, the slide judged (``dark_field`` None) or
    taken as given and a fluorescent slide read inverted; the pyramid completed with lazily
    coarsened levels down to <= 1024 px.

    Args:
        levels: ``(y, x)`` or ``(y, x, c)`` levels, dask or numpy, finest first.
        sizes: µm per pixel of each level.
        meta: notes so far; a copy is returned with what was done (``colour``, ``channel``,
            ``lut``, ``slide``, ``background``; ``slide`` begins with ``lut``).
        dark_field: as :func:`open_section`'s.

    Returns:
        ``(levels, sizes, meta)``: lazy grey levels (only the coarsest level is computed,
        to judge the slide), their µm per pixel, the notes.
    """
    meta = dict(meta)
    levels = [
        lev
        if isinstance(lev, da.Array)
        else da.from_array(lev, chunks=(1024, 1024, -1)[: lev.ndim])
        for lev in levels
    ]
    levels = _as_shown(_as_grey(levels, meta, dark_field), meta)
    sizes = list(sizes)
    nan = None
    if np.dtype(levels[0].dtype).kind == "f":  # NaN outside the tissue: black
        levels, nan = fill_not_finite(levels, extend_pyramid(levels, sizes)[0][-1])
    # the background is judged on the whole slide at its coarsest (a file of one level,
    # as Fiji writes it, has its coarse levels only once they are added; its first 2048 px
    # are a corner), and where there is one the levels are extended again from the filled
    # ones (the coarse levels then average the slide's white, not its black, at the edge)
    full, full_sizes = extend_pyramid(levels, sizes)
    # read once for the fill, the judgement and the inversion (<= COARSE_MAX_PX per side is
    # all they read)
    coarse = np.asarray(full[-1][:COARSE_MAX_PX, :COARSE_MAX_PX])
    filled, black = (levels, None) if dark_field else fill_black_background(levels, coarse)
    # a black background the fill takes (near-black, far darker than the darkest tissue:
    # a masked bright-field slide, also with a little noise in its black) is never judged a
    # fluorescent slide; only what it leaves is judged
    if dark_field is None and not black:
        slide = judge_slide(coarse)
    else:
        slide = "dark" if dark_field else "bright"
    if slide == "dark":  # pointwise: the stored and the added levels alike
        levels, white = invert_levels(full, judge=coarse)
        sizes = full_sizes
        how = ", as given" if dark_field else ""
        if meta.get("channel"):
            how += f", the {meta['channel']} channel of its RGB"
        meta["slide"] = (
            f"bright cells on a dark slide (fluorescence{how}): read inverted ({white:g} - value)"
        )
        meta[INVERTED_KEY] = True
    else:
        if black:
            meta["background"] = black
            levels, sizes = extend_pyramid(filled, sizes)
        else:
            levels, sizes = full, full_sizes
    if slide in ("none", "black") and not black:
        where = "no empty slide along the image's border" if slide == "none" else "a black slide"
        meta["slide"] = (
            f"{where}: read as a bright-field stain (cells dark); if its cells are bright on "
            f"a dark slide (fluorescence), {SLIDE_HINT}"
        )
    if nan:
        meta["background"] = "; ".join(filter(None, (nan, meta.get("background"))))
    if meta.get("lut"):  # said first: what the slide's judgement saw
        meta["slide"] = "; ".join(filter(None, (meta["lut"], meta.get("slide"))))
    return levels, sizes, meta


def _finish(
    p: Path,
    levels: list[da.Array],
    sizes: list[float],
    meta: dict[str, Any],
    labels: dict[str, LabelImage],
    *,
    stored_size: bool,
    dark_field: bool | None = None,
) -> Section:
    meta = {**meta, "n_stored_levels": len(levels)}
    levels, sizes, meta = read_levels(levels, sizes, meta, dark_field)
    if stored_size:  # the file's own calibration: say when it cannot be a scan's
        why = implausible_pixel_size(sizes[0], inch_units=meta.get("pixel_size_unit") == "inch")
        if why:
            meta["calibration_warning"] = calibration_message(p, sizes[0], why)
    for name, lab in labels.items():
        lv, ls = extend_pyramid(lab.levels, lab.pixel_size_um, labels=True)
        labels[name] = LabelImage(lv, ls, lab.names, lab.colors)
    meta = {**meta, "source": str(p)}
    return Section(
        levels=levels, pixel_size_um=sizes, name=section_name(p), metadata=meta, labels=labels
    )
