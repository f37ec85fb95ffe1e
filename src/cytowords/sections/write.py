"""``write_section``: stream a section (and label images) into an OME-Zarr pyramid, atomically."""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from dask.callbacks import Callback

from ..jobs import CancelFlag, Cancelled, Progress, is_cancelled
from .errors import SectionError, fail
from .ngff import image_label_metadata, multiscale_metadata
from .pyramid import COARSEST_MAX_PX, downsample2
from .section import LabelImage, Section

ProgressFn = Progress


class _StoreProgress(Callback):
    """Counts finished chunk writes; raises Cancelled before a task once cancelled."""

    def __init__(self, done: int, total: int, on_progress: ProgressFn | None, cancel: CancelFlag):
        super().__init__()
        self.done, self.total = done, total
        self.on_progress, self.cancel = on_progress, cancel

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        if is_cancelled(self.cancel):
            raise Cancelled("write_section cancelled")

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
        if isinstance(key, tuple) and str(key[0]).startswith("store-map"):
            self.done += 1
            if self.on_progress is not None:
                self.on_progress(self.done, self.total)


def _as_section(data: Any, pixel_size_um: float | None, labels: Any) -> Section:
    if isinstance(data, Section):
        section = data
        if pixel_size_um is not None:
            f = float(pixel_size_um) / section.pixel_size_um[0]
            section = Section(
                [*section.levels],
                [p * f for p in section.pixel_size_um],
                section.name,
                dict(section.metadata),
                dict(section.labels),
            )
    else:
        if pixel_size_um is None:
            raise SectionError(
                "write_section: pixel_size_um is required when writing a bare "
                "array (µm per pixel of the array)"
            )
        arr = data if isinstance(data, da.Array) else da.asarray(data)
        if arr.ndim != 2:
            raise SectionError(
                f"write_section: array of shape {arr.shape}; expected a 2D grayscale (y, x) array"
            )
        section = Section([arr], [float(pixel_size_um)], "section")
    if labels is not None:
        extra = {}
        for name, lab in dict(labels).items():
            if not isinstance(lab, LabelImage):
                lab = LabelImage([da.asarray(lab)], [section.pixel_size_um[0]])
            extra[str(name)] = lab
        section.labels = {**section.labels, **extra}
    if min(section.levels[0].shape) == 0:
        raise SectionError(f"write_section: zero-sized image of shape {section.levels[0].shape}")
    if not all(math.isfinite(p) and p > 0 for p in section.pixel_size_um):
        raise SectionError(f"write_section: invalid pixel sizes {section.pixel_size_um}")
    return section


def _plan(levels: list[da.Array], n_levels: int | None) -> list[tuple[int, int]]:
    """Shapes of every level to write: given levels, then halvings to the target depth."""
    shapes = [tuple(int(n) for n in lev.shape) for lev in levels]
    if n_levels is not None:
        shapes = shapes[: max(1, n_levels)]
    while min(shapes[-1]) >= 2 and (
        len(shapes) < n_levels if n_levels is not None else max(shapes[-1]) > COARSEST_MAX_PX
    ):
        h, w = shapes[-1]
        shapes.append((h // 2, w // 2))
    return shapes  # type: ignore[return-value]


def _n_chunks(shape: tuple[int, int], c: int) -> int:
    return math.ceil(shape[0] / c) * math.ceil(shape[1] / c)


#: metadata keys that open_section derives from the file: not copied into a new store
_READER_KEYS = {
    "source",
    "format",
    "zarr_format",
    "ngff_version",
    "axes",
    "ngff_name",
    "n_stored_levels",
    "intensity",
    "_cytowords_background",
    "calibration_warning",
    "pixel_size_unit",
    "colour",
    "background",
    "slide",
}


def _json_safe(meta: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in meta.items():
        if k in _READER_KEYS:
            continue
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[str(k)] = v
    return out


class _Writer:
    def __init__(self, zf: int, chunk_px: int, total: int, on_progress: Any, cancel: CancelFlag):
        self.zf, self.c, self.total = zf, chunk_px, total
        self.done, self.on_progress, self.cancel = 0, on_progress, cancel
        # our own pool, so that after an error/cancel we can wait for in-flight chunk writes
        # before deleting the temporary store
        self.pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))

    def create(self, group: zarr.Group, key: str, shape: tuple[int, int], dtype: Any) -> zarr.Array:
        kw: dict[str, Any] = {}
        if self.zf == 2:
            kw["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
        else:
            kw["dimension_names"] = ["y", "x"]
        chunks = (min(self.c, shape[0]), min(self.c, shape[1]))
        return group.create_array(key, shape=shape, dtype=dtype, chunks=chunks, fill_value=0, **kw)

    def store(self, src: da.Array, target: zarr.Array) -> None:
        if is_cancelled(self.cancel):
            raise Cancelled("write_section cancelled")
        src = src.rechunk(target.chunks)
        expected = self.done + _n_chunks(tuple(target.shape), self.c)
        cb = _StoreProgress(self.done, self.total, self.on_progress, self.cancel)
        # passed to this compute only (dask's global callbacks are not thread-safe)
        da.store(
            src, target, lock=False, scheduler="threads", pool=self.pool, callbacks=[cb._callback]
        )
        if cb.done < expected and self.on_progress is not None:
            # a one-chunk level is stored by a task the callback does not see
            self.on_progress(expected, self.total)
        self.done = expected

    def pyramid(self, group: zarr.Group, levels: list[da.Array], shapes: list, label: bool) -> None:
        dtype = levels[0].dtype
        for k, shape in enumerate(shapes):
            if k < len(levels):
                src = da.asarray(levels[k]).astype(dtype)
            else:
                prev = da.from_zarr(group[str(k - 1)])
                src = downsample2(prev, labels=label, chunk_px=self.c)
            if tuple(src.shape) != tuple(shape):
                raise SectionError(
                    f"write_section: level {k} has shape {src.shape}, expected {shape}"
                )
            self.store(src, self.create(group, str(k), shape, dtype))


def write_section(
    path: str | os.PathLike[str],
    section_or_array: Section | da.Array | np.ndarray,
    *,
    pixel_size_um: float | None = None,
    labels: Mapping[str, LabelImage | da.Array | np.ndarray] | None = None,
    ngff_version: str = "0.5",
    chunk_px: int = 1024,
    n_levels: int | None = None,
    on_progress: ProgressFn | None = None,
    cancel: CancelFlag = None,
    overwrite: bool = False,
    name: str | None = None,
) -> Path:
    """Write a section as an OME-Zarr multiscale image, streaming chunk by chunk.

    Args:
        path: target directory (``*.ome.zarr``); its parent must exist.
        section_or_array: a :class:`Section` (its levels are written as given, its labels too)
            or a 2D array (numpy or dask) that becomes level 0.
        pixel_size_um: µm per pixel of level 0 (required for an array; rescales a Section).
        labels: extra label images ``name -> LabelImage | 2D int array`` (arrays must match
            level 0); names/colours go into NGFF ``image-label`` ``properties``/``colors``.
        ngff_version: ``"0.5"`` (zarr v3, default) or ``"0.4"`` (zarr v2).
        chunk_px: square chunk size in px.
        n_levels: number of levels; default halves until the longest side is <= 1024 px.
            Missing levels are computed from the level just written (read back from disk).
        on_progress: called as ``on_progress(done, total)`` after each chunk written.
        cancel: ``threading.Event`` or callable returning True to stop; raises Cancelled.
        overwrite: replace an existing store at ``path`` (else SectionError).
        name: image name in the metadata (default: the section's name).

    Returns the path written. The store is written to a hidden temporary sibling and renamed
    into place only when complete: an error or cancellation leaves nothing under ``path``.
    Computation uses dask's threaded scheduler; memory stays at a few chunks per thread.
    """
    target = Path(os.fspath(path)).expanduser()
    if ngff_version not in ("0.4", "0.5"):
        raise SectionError(f"write_section: ngff_version={ngff_version!r}; expected '0.4' or '0.5'")
    if int(chunk_px) < 16:
        raise SectionError(f"write_section: chunk_px={chunk_px}; expected >= 16")
    if not target.parent.is_dir():
        raise fail(target, "parent directory does not exist")
    if target.exists() and not overwrite:
        raise fail(target, "already exists", "a new path or overwrite=True")
    section = _as_section(section_or_array, pixel_size_um, labels)
    zf = 2 if ngff_version == "0.4" else 3
    # levels open_section derived lazily are re-derived from the written level instead
    # (one pass over the source rather than one per level)
    n_stored = int(section.metadata.get("n_stored_levels", len(section.levels)))
    src_levels = section.levels[: max(1, min(n_stored, len(section.levels)))]
    shapes = _plan(src_levels, n_levels)
    lab_plans = {}
    for lname, lab in section.labels.items():
        if not np.issubdtype(lab.levels[0].dtype, np.integer):
            raise SectionError(
                f"write_section: label image {lname!r} has dtype "
                f"{lab.levels[0].dtype}; expected integers"
            )
        lab_plans[lname] = _plan(lab.levels, n_levels)
    c = int(chunk_px)
    total = sum(_n_chunks(s, c) for s in shapes)
    total += sum(_n_chunks(s, c) for plan in lab_plans.values() for s in plan)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    writer = _Writer(zf, c, total, on_progress, cancel)
    img_name = name or section.name
    sizes = list(section.pixel_size_um[: min(len(src_levels), len(shapes))])
    while len(sizes) < len(shapes):
        sizes.append(sizes[-1] * 2.0)
    try:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=zf)
        writer.pyramid(root, src_levels, shapes, label=False)
        _set_ome(
            root,
            {"multiscales": [multiscale_metadata(sizes, img_name, ngff_version)]},
            ngff_version,
        )
        root.attrs["cytowords"] = {"metadata": _json_safe(section.metadata)}
        if section.labels:
            lroot = root.create_group("labels")
            _set_ome(lroot, {"labels": list(section.labels)}, ngff_version)
            for lname, lab in section.labels.items():
                g = lroot.create_group(lname)
                writer.pyramid(g, lab.levels, lab_plans[lname], label=True)
                lsizes = [sizes[0] * shapes[0][1] / s[1] for s in lab_plans[lname]]
                _set_ome(
                    g,
                    {
                        "multiscales": [multiscale_metadata(lsizes, lname, ngff_version)],
                        "image-label": image_label_metadata(lab.names, lab.colors, ngff_version),
                    },
                    ngff_version,
                )
        _publish(tmp, target, overwrite)
    except BaseException:
        writer.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        writer.pool.shutdown(wait=True)
    return target


def _set_ome(group: zarr.Group, ome: dict[str, Any], version: str) -> None:
    if version == "0.5":
        group.attrs["ome"] = {"version": "0.5", **ome}
    else:
        group.attrs.update(ome)


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished temp store onto ``target`` (moving an old one aside first)."""
    old = None
    if target.exists():
        if not overwrite:
            raise fail(target, "appeared while writing; not overwritten")
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
