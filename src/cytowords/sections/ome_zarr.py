"""Open OME-Zarr (NGFF 0.4 on zarr v2, 0.5 on zarr v3) and plain zarr arrays/groups."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from ._arrays import lazy_yx
from .errors import SectionError, fail
from .ngff import iso, level_factor, parse_multiscale, rgba_to_hex
from .section import LabelImage

_META_FILES = ("zarr.json", ".zgroup", ".zarray", ".zattrs")


def zarr_format_of(path: Path) -> int:
    """2 or 3 from the metadata files present; checks that they are valid JSON objects."""
    found = [f for f in _META_FILES if (path / f).is_file()]
    if not found:
        raise fail(
            path,
            "directory is not a zarr store (no zarr.json, .zgroup or .zarray)",
            "an OME-Zarr or zarr directory",
        )
    for f in found:
        try:
            doc = json.loads((path / f).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise fail(path / f, f"corrupt zarr metadata, not valid JSON ({e})") from None
        if not isinstance(doc, dict):
            raise fail(path / f, "corrupt zarr metadata, not a JSON object")
    return 3 if "zarr.json" in found else 2


def open_node(path: Path, fmt: int | None = None) -> zarr.Array | zarr.Group:
    """Open a zarr array or group read-only, turning zarr's errors into SectionError."""
    fmt = zarr_format_of(path) if fmt is None else fmt
    try:
        return zarr.open(store=str(path), mode="r", zarr_format=fmt)
    except Exception as e:  # zarr raises many types for broken metadata
        raise fail(path, f"cannot open zarr v{fmt} store ({type(e).__name__}: {e})") from None


def ome_attrs(node: zarr.Group | zarr.Array) -> tuple[dict[str, Any], str | None]:
    """The OME attributes dict of a node and its NGFF version (None if not OME)."""
    attrs = node.attrs.asdict()
    if isinstance(attrs.get("ome"), dict):
        ome = attrs["ome"]
        return ome, str(ome.get("version", "0.5"))
    ms = attrs.get("multiscales")
    if isinstance(ms, list) and ms and isinstance(ms[0], dict):
        return attrs, str(ms[0].get("version", "0.4"))
    return attrs, None


def _child_array(group: zarr.Group, key: str, where: Path) -> zarr.Array:
    try:
        arr = group[key]
    except Exception as e:
        raise fail(where, f"dataset {key!r} listed in multiscales cannot be read ({e})") from None
    if not isinstance(arr, zarr.Array):
        raise fail(where / key, "is a group", "a zarr array")
    return arr


def read_multiscales(
    group: zarr.Group, ome: dict[str, Any], where: Path
) -> tuple[list[da.Array], list[float] | None, list[float], dict[str, Any]]:
    """Levels of an NGFF image group.

    Returns ``(levels, pixel_size_um or None if the axes carry no length unit,
    relative scale of each level w.r.t. level 0, parsed info)``.
    """
    ms_list = ome.get("multiscales")
    if not isinstance(ms_list, list) or not ms_list:
        raise fail(where, "'multiscales' is not a non-empty list", "NGFF multiscales metadata")
    first = ms_list[0]
    if not isinstance(first, dict) or not isinstance(first.get("datasets"), list):
        raise fail(where, "'multiscales' entry has no 'datasets' list")
    if not first["datasets"] or not isinstance(first["datasets"][0], dict):
        raise fail(where, "'multiscales' has an empty 'datasets' list")
    arr0 = _child_array(group, str(first["datasets"][0].get("path")), where)
    info = parse_multiscale(first, arr0.ndim, str(where))
    levels = []
    stamp = store_mtime(where)
    # an 8-bit c axis of 3 or 4 channels is an RGB(A) bright-field scan
    axes = [str(a).lower() for a in info["axes"]]
    colour = axes.index("c") if "c" in axes and arr0.dtype == np.uint8 else None
    for p in info["paths"]:
        arr = _child_array(group, p, where)
        if arr.ndim != arr0.ndim:
            raise fail(where / p, f"{arr.ndim}-D level in a {arr0.ndim}-D multiscale")
        levels.append(lazy_yx(arr, info["yx"], str(where / p), (str(where), p, stamp), colour))
    scales = [iso(sy, sx) for sy, sx in info["scales"]]
    if scales[0] <= 0:
        raise fail(where, f"non-positive scale {info['scales'][0]}")
    rel = [s / scales[0] for s in scales]
    um = info["um_per_unit"]
    sizes = [s * um for s in scales] if um is not None else None
    return levels, sizes, rel, info


def read_plain_group(group: zarr.Group, where: Path) -> tuple[list[da.Array], list[float]]:
    """Levels of a zarr group without NGFF metadata: its 2D arrays, largest first.

    Returns ``(levels, relative scale of each level)`` from the shape ratios.
    """
    arrays = sorted(
        ((k, a) for k, a in group.arrays()),
        key=lambda ka: -int(np.prod(ka[1].shape, dtype=np.int64)),
    )
    if not arrays:
        raise fail(where, "zarr group contains no arrays", "an image array or NGFF multiscales")
    stamp = store_mtime(where)
    levels = [
        lazy_yx(a, (a.ndim - 2, a.ndim - 1), str(where / k), (str(where), k, stamp))
        for k, a in arrays
    ]
    w0 = levels[0].shape[1]
    h0 = levels[0].shape[0]
    rel = [level_factor(h0, w0, *lev.shape[:2]) for lev in levels]
    return levels, rel


def read_labels(
    root: zarr.Group, where: Path, image0: da.Array, p0: float
) -> dict[str, LabelImage]:
    """Label images under ``labels/``; pixel size from shape ratios to image level 0."""
    if "labels" not in root:
        return {}
    lab_group = root["labels"]
    if not isinstance(lab_group, zarr.Group):
        return {}
    attrs, _ = ome_attrs(lab_group)
    names = attrs.get("labels")
    if not isinstance(names, list):
        names = [k for k, _ in lab_group.groups()]
    out: dict[str, LabelImage] = {}
    for name in names:
        lw = where / "labels" / str(name)
        try:
            g = lab_group[str(name)]
        except Exception as e:
            raise fail(lw, f"label image listed in labels/ cannot be read ({e})") from None
        if not isinstance(g, zarr.Group):
            raise fail(lw, "is not a group", "an NGFF image-label group")
        ome, _ = ome_attrs(g)
        levels, _, _, _ = read_multiscales(g, ome, lw)
        for i, lev in enumerate(levels):
            if not (np.issubdtype(lev.dtype, np.integer) or lev.dtype == bool):
                raise fail(lw, f"level {i} has dtype {lev.dtype}", "integer label values")
        h0, w0 = image0.shape
        sizes = [p0 * iso(h0 / lev.shape[0], w0 / lev.shape[1]) for lev in levels]
        il = ome.get("image-label") if isinstance(ome.get("image-label"), dict) else {}
        out[str(name)] = LabelImage(levels, sizes, _label_names(il), _label_colors(il))
    return out


def _label_colors(il: dict[str, Any]) -> dict[int, str]:
    colors = {}
    for c in il.get("colors") or []:
        if isinstance(c, dict) and "label-value" in c:
            hx = rgba_to_hex(c.get("rgba", []))
            if hx is not None:
                colors[int(c["label-value"])] = hx
    return colors


def _label_names(il: dict[str, Any]) -> dict[int, str]:
    names = {}
    for p in il.get("properties") or []:
        if not isinstance(p, dict) or "label-value" not in p:
            continue
        for key in ("name", "area", "label", "acronym", "description"):
            if isinstance(p.get(key), str):
                names[int(p["label-value"])] = p[key]
                break
    return names


def store_mtime(path: Path) -> float:
    """Modification time of the store's metadata (part of dask names, so edits re-read)."""
    for f in _META_FILES:
        try:
            return os.stat(path / f).st_mtime
        except OSError:
            continue
    return 0.0


def ensure_section_error(e: Exception, where: Path) -> SectionError:
    """Pass SectionError through, wrap anything else with the path."""
    if isinstance(e, SectionError):
        return e
    return fail(where, f"{type(e).__name__}: {e}")


#: the largest coarser level (pixels) :func:`lost_chunks` reads to judge missing chunks: a
#: pyramid written down to ~1024 px (the plugin's, ome-zarr-py's, bioformats2raw's) has one
LOST_CHECK_MAX_PX = 4096 * 4096

#: the metadata key of :func:`lost_chunks`'s warning (said by the CLI and the napari reader)
LOST_CHUNKS_KEY = "lost_chunks"


def lost_chunks(
    finest: zarr.Array, coarse: da.Array, yx: tuple[int, int], where: Path
) -> str | None:
    """A warning when chunks (shards) of the finest stored level are missing from a local
    store where a coarser stored level shows something else than the fill value; else None.

    A writer leaves out a chunk that holds only the fill value (zarr's default), and its
    coarser levels are then that value there too: no warning. A chunk lost in a copy (an
    interrupted upload, a partial ``rsync``) reads as the fill value as well, where the
    coarser levels, written from the whole image, still show the tissue: the place would
    read as a square of fill value (black for 0) inside the tissue.

    Args:
        finest: level 0 as stored (zarr array, any axes).
        coarse: a coarser stored level, lazy ``(y, x)`` or ``(y, x, c)`` (as stored); read
            only when chunks are missing and it has at most :data:`LOST_CHECK_MAX_PX`.
        yx: the indices of the y and x axes of ``finest``.
        where: the level's path, for the message.
    """
    root = getattr(finest.store, "root", None)
    if root is None:  # only local stores are listed (cheap, one stat per chunk)
        return None
    grid = getattr(finest, "shards", None) or finest.chunks
    shape = finest.shape
    counts = [-(-n // c) for n, c in zip(shape, grid)]
    if int(np.prod(counts, dtype=np.int64)) > 1_000_000:
        return None
    base = Path(root) / finest.path
    try:
        # one listing of the level's folder (a stat per chunk costs ~30x more)
        stored = {
            os.path.relpath(os.path.join(d, f), base).replace(os.sep, "/")
            for d, _, files in os.walk(base)
            for f in files
        }
        encode = finest.metadata.encode_chunk_key
        missing = [c for c in np.ndindex(*counts) if encode(c) not in stored]
    except (OSError, AttributeError, TypeError):  # a store this check cannot list
        return None
    if not missing or int(np.prod(coarse.shape[:2], dtype=np.int64)) > LOST_CHECK_MAX_PX:
        return None
    iy, ix = yx
    h0, w0 = shape[iy], shape[ix]
    small = np.asarray(coarse, dtype=np.float64)
    fy, fx = small.shape[0] / h0, small.shape[1] / w0
    fill = float(np.asarray(finest.fill_value if finest.fill_value is not None else 0).real)
    span = float(np.nanmax(small) - np.nanmin(small)) or 1.0
    lost = []
    for coords in missing:
        y0, x0 = coords[iy] * grid[iy], coords[ix] * grid[ix]
        y1, x1 = min(y0 + grid[iy], h0), min(x0 + grid[ix], w0)
        # the chunk's place in the coarse level, inner pixels only (no neighbour's edge)
        cy0, cy1 = int(np.ceil(y0 * fy)), int(np.floor(y1 * fy))
        cx0, cx1 = int(np.ceil(x0 * fx)), int(np.floor(x1 * fx))
        if cy1 <= cy0 or cx1 <= cx0:
            continue
        there = small[cy0:cy1, cx0:cx1]
        if np.nanmean(np.abs(there - fill) > 0.05 * span) > 0.5:
            lost.append((y0, y1, x0, x1))
    if not lost:
        return None
    y0, y1, x0, x1 = lost[0]
    more = f" and {len(lost) - 1} more" if len(lost) > 1 else ""
    return (
        f"{where}: {len(lost)} chunk(s) of the finest level are missing from the store where "
        f"its coarser level shows the image (first: pixels y {y0}–{y1}, x {x0}–{x1}{more}): "
        f"they read as the fill value {fill:g}, a square of it in the image; the store was "
        "written or copied incompletely: copy it again"
    )
