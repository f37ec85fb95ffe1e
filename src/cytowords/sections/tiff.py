"""Open TIFF and pyramidal OME-TIFF through tifffile's zarr store (tiles read on demand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import tifffile
import zarr

from ._arrays import lazy_yx
from .errors import fail
from .ngff import iso, unit_factor

# TIFF ResolutionUnit: 2 = inch, 3 = centimeter
_RES_UNIT_UM = {2: 25400.0, 3: 10000.0}
_RES_UNIT_NAME = {2: "inch", 3: "cm"}


def _ome_pixel_size(tf: tifffile.TiffFile) -> float | None:
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
    return iso(*sizes) if min(sizes) > 0 else None


def _tag_pixel_size(tf: tifffile.TiffFile) -> tuple[float | None, str]:
    """Pixel size (µm) from the X/YResolution tags (pixels per unit) and the unit: ImageJ's
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
    return iso(unit_um / fy, unit_um / fx), "inch" if unit_um == 25400.0 else str(unit)


def open_tiff_levels(path: Path) -> tuple[list[da.Array], float | None, list[float], dict]:
    """Levels of a (pyramidal) TIFF: ``(levels, pixel_size_um or None, relative scales, meta)``.

    Uses ``tifffile.imread(path, aszarr=True)``: data is read tile by tile (or strip by strip)
    only when a dask chunk is computed, never as a whole plane.
    """
    try:
        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            axes, shape = series.axes, tuple(series.shape)
            p_um, unit = _ome_pixel_size(tf), "OME PhysicalSize"
            if p_um is None:
                p_um, unit = _tag_pixel_size(tf)
            is_ome = tf.is_ome
        store = tifffile.imread(path, aszarr=True)
        node = zarr.open(store=store, mode="r")
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as e:
        raise fail(path, f"cannot read TIFF ({e})", "a TIFF or OME-TIFF file") from None
    colour = axes.index("S") if "S" in axes and shape[axes.index("S")] > 1 else None
    if colour is not None and shape[colour] not in (3, 4):
        raise fail(
            path,
            f"{shape[colour]}-sample TIFF (axes {axes}, shape {shape})",
            "a 2D grayscale or RGB(A) image",
        )
    if "Y" not in axes or "X" not in axes:
        raise fail(path, f"TIFF axes {axes!r} have no Y and X")
    yx = (axes.index("Y"), axes.index("X"))
    if isinstance(node, zarr.Array):
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
    rel = [iso(h0 / lev.shape[0], w0 / lev.shape[1]) for lev in levels]
    meta = {"format": "ome-tiff" if is_ome else "tiff", "axes": axes}
    if p_um is not None:
        meta["pixel_size_unit"] = unit
    return levels, p_um, rel, meta
