"""Wrap stored arrays (zarr, tifffile's zarr store) as lazy 2D dask arrays."""

from __future__ import annotations

import math
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from .errors import SectionError, fail

#: Dask chunks are whole multiples of the stored chunks, at least this many px per side.
MIN_DASK_CHUNK_PX = 1024


def dask_chunks(
    native: tuple[int, ...], shape: tuple[int, ...], yx: tuple[int, int] | None = None
) -> tuple[int, ...]:
    """Dask chunk shape: stored chunks grouped up to >= ``MIN_DASK_CHUNK_PX`` along the
    ``yx`` axes (default: the last two)."""
    yx = yx or (len(shape) - 2, len(shape) - 1)
    out = []
    for i, (c, n) in enumerate(zip(native, shape)):
        c = max(1, int(c))
        if i in yx and c < MIN_DASK_CHUNK_PX:
            c *= math.ceil(MIN_DASK_CHUNK_PX / c)
        out.append(min(c, max(1, n)))
    return tuple(out)


class CheckedArray:
    """A stored array whose failed reads (corrupt or truncated chunk, vanished file) become
    one :class:`SectionError` line naming the file/level and the pixels read."""

    def __init__(self, arr: Any, where: str) -> None:
        self.arr, self.where = arr, where
        self.shape, self.dtype, self.ndim = tuple(arr.shape), arr.dtype, len(arr.shape)

    def __getitem__(self, index: Any) -> Any:
        try:
            return self.arr[index]
        except SectionError:
            raise
        except Exception as e:  # codecs, zarr and tifffile raise many types
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise fail(
                self.where,
                f"cannot read stored pixels {_where_in(index)} ({type(e).__name__}: {first}); "
                "the file may be corrupt or truncated",
            ) from None


def _where_in(index: Any) -> str:
    """``[a:b, c:d]`` of a chunk's slices (stored axis order)."""
    parts = []
    for sl in index if isinstance(index, tuple) else (index,):
        if isinstance(sl, slice):
            parts.append(f"{sl.start or 0}:{'' if sl.stop is None else sl.stop}")
        else:
            parts.append(str(sl))
    return "[" + ", ".join(parts) + "]"


def lazy_yx(
    arr: Any, yx: tuple[int, int], where: str, seed: Any, colour: int | None = None
) -> da.Array:
    """A lazy ``(y, x)`` dask array from an N-D stored array (``(y, x, c)`` for colour).

    Axes other than ``yx`` must have length 1 (they are dropped), except a ``colour`` axis of
    3 (RGB) or 4 (RGBA) samples, kept last; otherwise a :class:`SectionError` explains that a
    2D grayscale or RGB image was expected. ``seed`` makes the dask name deterministic
    without hashing data.
    """
    shape = tuple(int(n) for n in arr.shape)
    if any(n == 0 for n in shape):
        raise fail(where, f"zero-sized array of shape {shape}", "a non-empty 2D image")
    if len(shape) < 2:
        raise fail(where, f"{len(shape)}-D array of shape {shape}", "a 2D (y, x) image")
    iy, ix = yx
    if colour is not None and shape[colour] not in (3, 4):
        colour = None
    keep = (iy, ix) if colour is None else (iy, ix, colour)
    extra = [(i, n) for i, n in enumerate(shape) if i not in keep and n != 1]
    if extra:
        raise fail(
            where,
            f"array of shape {shape} has {len(extra)} extra non-singleton axes "
            "(3D stack or multichannel image)",
            "a 2D grayscale (y, x) or RGB image: write the plane or channel to read as an "
            "image of its own",
        )
    native = getattr(arr, "shards", None) or arr.chunks  # zarr v3 shards: whole shards
    chunks = list(dask_chunks(tuple(native), shape, (iy, ix)))
    if colour is not None:
        chunks[colour] = shape[colour]
    name = "cytowords-" + tokenize(seed, shape, str(arr.dtype), chunks)
    d = da.from_array(
        CheckedArray(arr, where), chunks=tuple(chunks), name=name, inline_array=True,
        asarray=False,
    )  # fmt: skip
    index = tuple(slice(None) if i in keep else 0 for i in range(len(shape)))
    d = d[index] if len(shape) > len(keep) else d
    kept = sorted(keep)  # positions of the kept axes in d
    d = d.transpose([kept.index(i) for i in keep])
    if not (np.issubdtype(d.dtype, np.number) or d.dtype == bool):
        raise fail(where, f"unsupported data type {d.dtype}", "a numeric image")
    return d
