"""Pyramid building: coarser levels computed on demand with dask.

Every coarser level halves both axes (odd trailing rows/columns are dropped), so level ``k``
has pixel size ``2**k`` times level 0 and a coarse pixel covers exactly 2 × 2 finer pixels.
Images are averaged (area mean, dtype kept; integers rounded half to even at every halving);
label images take the top-left pixel of each 2 × 2 block (no invented label values).

:func:`extend_pyramid` builds the missing levels of a store without a (complete) stored
pyramid (a plain TIFF as ImageJ/Fiji writes it, a plain zarr array) from its coarsest stored
level, the *base*, without a nested graph: each chunk of level ``k`` reads its
``2**k × 2**k`` px blocks of the base once and halves them ``k`` times in memory
(:func:`halve_n`, the same values as halving level by level). The coarsest levels that
together fit in :data:`COARSE_CACHE_BYTES` (the ones napari, the tissue mask, the intensity
range and the slide reference read whole) are computed together in one pass over the base
the first time one of them is read whole or in a large part (a small window before that
reads its own blocks of the base), and kept in memory for as long as the section (levels
finer than that are never held whole).
"""

from __future__ import annotations

import threading
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

#: A pyramid is complete when its coarsest level is at most this many px on its longest side.
COARSEST_MAX_PX = 1024
#: The coarsest generated image levels are kept in memory once read when together they take
#: at most this many bytes (a 10^10 px uint16 scan: its levels of <= 3125 px per side).
COARSE_CACHE_BYTES = 64 * 2**20
#: A chunk of a generated level that is not kept reads one chunk of the base (its side / 2**k
#: px: a window reads little of the base, a whole level needs no rechunk), but is at least
#: this many px per side (fewer tasks; it then reads 2**k times as many px of the base).
MIN_LEVEL_CHUNK_PX = 128
#: Before the kept levels are computed, a window of one of them of at most this share of its
#: pixels is read from the base directly (a napari view before anything read the coarsest)
WINDOW_SHARE = 1 / 16


def _even_chunks(arr: da.Array, target: int) -> da.Array:
    """Rechunk (only if needed) so every chunk of an even-sized array has even size."""
    if all(c % 2 == 0 for cs in arr.chunks for c in cs):
        return arr
    return arr.rechunk(tuple(max(2, min(target, n) // 2 * 2) for n in arr.shape))


def _mean_of(dtype: np.dtype):
    """The 2 × 2 block mean that keeps ``dtype``, as a reduction over ``axis`` (1, 3) of a
    block reshaped to ``(h, 2, w, 2)`` (``dask.array.coarsen``'s call). 8- and 16-bit
    integers: the integer sum of the four, / 4 and rounded half to even in float32 (exact:
    the same values as the float64 mean, 7 times faster)."""
    dtype = np.dtype(dtype)
    small_int = dtype.kind in "iu" and dtype.itemsize <= 2

    def _mean(block: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
        if small_int and block.ndim == 4 and tuple(axis or ()) == (1, 3):
            s = block[:, 0, :, 0].astype(np.int32)
            s += block[:, 1, :, 0]
            s += block[:, 0, :, 1]
            s += block[:, 1, :, 1]
            return np.rint(s.astype(np.float32) * np.float32(0.25)).astype(dtype)
        m = block.mean(axis=axis, dtype=np.float64)
        if np.issubdtype(dtype, np.integer):
            m = np.rint(m)
        return m.astype(dtype)

    return _mean


def halve_n(block: np.ndarray, k: int) -> np.ndarray:
    """``block`` (2D, numpy) halved ``k`` times as :func:`downsample2` does (2 × 2 mean, odd
    trailing row/column dropped, dtype kept, integers rounded at every halving)."""
    mean = _mean_of(block.dtype)
    for _ in range(k):
        h, w = block.shape[0] // 2, block.shape[1] // 2
        block = mean(block[: 2 * h, : 2 * w].reshape(h, 2, w, 2), axis=(1, 3))
    return block


def downsample2(arr: da.Array, *, labels: bool = False, chunk_px: int = 1024) -> da.Array:
    """Halve a 2D dask array lazily (mean for images, nearest for labels).

    The result has shape ``(h // 2, w // 2)`` and about ``chunk_px``-sized chunks.
    """
    h, w = arr.shape
    if h < 2 or w < 2:
        raise ValueError(f"cannot downsample an array of shape {arr.shape}")
    arr = arr[: h // 2 * 2, : w // 2 * 2]
    if labels:
        out = arr[::2, ::2]
    else:
        arr = _even_chunks(arr, 2 * chunk_px)
        out = da.coarsen(_mean_of(arr.dtype), arr, {0: 2, 1: 2}, trim_excess=True)
    target = tuple(min(chunk_px, n) for n in out.shape)
    if any(cs[0] < t // 2 for cs, t in zip(out.chunks, target)):
        out = out.rechunk(target)
    return out


def _footprint(base: da.Array, k: int, min_chunk: int) -> tuple[int, int]:
    """Base px per side of one chunk of level ``k``: a multiple of ``2**k``, at least the
    base's own chunk and ``min_chunk * 2**k``."""
    f = 2**k
    out = []
    for cs in base.chunks:
        c = max(int(cs[0]), min_chunk * f)
        out.append(-(-c // f) * f)
    return out[0], out[1]


def halved(base: da.Array, k: int, *, min_chunk: int = MIN_LEVEL_CHUNK_PX) -> da.Array:
    """Level ``k`` above ``base`` (``k`` halvings of an image) as one flat dask layer: each
    chunk reads its base window once (:func:`_footprint`) and halves it ``k`` times."""
    f = 2**k
    h, w = base.shape[0] // f, base.shape[1] // f
    if h < 1 or w < 1:
        raise ValueError(f"cannot halve an array of shape {base.shape} {k} times")
    src = base[: h * f, : w * f].rechunk(_footprint(base, k, min_chunk))
    chunks = tuple(tuple(c // f for c in cs) for cs in src.chunks)
    name = f"cytowords-halved{k}-" + tokenize(src.name, k)
    return src.map_blocks(halve_n, k, chunks=chunks, dtype=base.dtype, name=name)


class _CoarseLevels:
    """The coarsest generated levels ``ks`` (ascending) above ``base``, computed together the
    first time one is read whole or in a large part (one pass over the base) and kept; safe to
    read from several threads (napari's). Reads return copies (the kept arrays never change).
    """

    def __init__(self, base: da.Array, ks: list[int]) -> None:
        self.base, self.ks = base, list(ks)
        self._lock = threading.Lock()
        self._levels: dict[int, np.ndarray] | None = None
        self._direct: dict[int, da.Array] = {}

    def __getstate__(self) -> dict[str, Any]:  # a copy (another process) computes its own
        return {"base": self.base, "ks": self.ks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["base"], state["ks"])

    def level(self, k: int) -> np.ndarray:
        with self._lock:
            if self._levels is None:
                self._levels = self._compute()
            return self._levels[k]

    def window(self, k: int, index: tuple[slice, slice]) -> np.ndarray:
        """``index`` of level ``k``: from the kept level once computed, else from the base
        directly (:func:`halved`; nothing kept)."""
        with self._lock:
            if self._levels is not None:
                return np.array(self._levels[k][index])
            if k not in self._direct:
                self._direct[k] = halved(self.base, k)
            lev = self._direct[k]
        return np.asarray(lev[index].compute())

    def _compute(self) -> dict[int, np.ndarray]:
        first = halved(self.base, self.ks[0], min_chunk=64)  # >= 1 base chunk per task
        out = np.empty(first.shape, dtype=first.dtype)
        da.store(first, out, lock=False)
        levels = {self.ks[0]: out}
        for prev, k in zip(self.ks, self.ks[1:]):
            levels[k] = halve_n(levels[prev], k - prev)
        self._direct.clear()
        return levels


def _small_window(index: Any, shape: tuple[int, int]) -> bool:
    """Whether ``index`` is a 2D window (unit-step slices) of at most :data:`WINDOW_SHARE`
    of an array of ``shape``."""
    if not (isinstance(index, tuple) and len(index) == 2):
        return False
    if not all(isinstance(s, slice) and s.step in (None, 1) for s in index):
        return False
    n = [len(range(*s.indices(m))) for s, m in zip(index, shape)]
    return n[0] * n[1] <= WINDOW_SHARE * shape[0] * shape[1]


class _KeptLevel:
    """One level of :class:`_CoarseLevels` as an array for ``dask.array.from_array`` (one
    chunk: dask passes the window read, which tells a view from a whole-level read)."""

    def __init__(self, group: _CoarseLevels, k: int, shape: tuple[int, int], dtype: Any) -> None:
        self.group, self.k = group, k
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), 2

    def __getitem__(self, index: Any) -> np.ndarray:
        if _small_window(index, self.shape):
            return self.group.window(self.k, index)
        return np.array(self.group.level(self.k)[index])


def coarse_levels(base: da.Array, n: int, *, cache_bytes: int | None = None) -> list[da.Array]:
    """Levels 1..``n`` above the image ``base`` (each halving it once more): the coarsest of
    them that together take at most ``cache_bytes`` (default :data:`COARSE_CACHE_BYTES`) are
    kept once read (:class:`_CoarseLevels`, one chunk each), the others are read through
    :func:`halved`."""
    cache_bytes = COARSE_CACHE_BYTES if cache_bytes is None else cache_bytes
    shapes = [(base.shape[0] >> k, base.shape[1] >> k) for k in range(n + 1)]
    size = np.dtype(base.dtype).itemsize
    kept: list[int] = []
    total = 0
    for k in range(n, 0, -1):
        total += shapes[k][0] * shapes[k][1] * size
        if total > cache_bytes:
            break
        kept.insert(0, k)
    out = [halved(base, k) for k in range(1, n + 1) if k not in kept]
    if kept:
        group = _CoarseLevels(base, kept)
        for k in kept:
            shape = shapes[k]
            out.append(
                da.from_array(
                    _KeptLevel(group, k, shape, base.dtype),
                    chunks=shape,
                    name=f"cytowords-kept{k}-" + tokenize(base.name, k),
                    inline_array=True,
                    asarray=False,
                    meta=np.empty((0, 0), dtype=base.dtype),  # nothing read to learn it
                )
            )
    return out


def extend_pyramid(
    levels: list[da.Array],
    pixel_size_um: list[float],
    *,
    labels: bool = False,
    n_levels: int | None = None,
    max_px: int = COARSEST_MAX_PX,
    chunk_px: int = 1024,
) -> tuple[list[da.Array], list[float]]:
    """Append lazily coarsened levels until the coarsest fits in ``max_px`` (or ``n_levels``).

    Existing levels are kept untouched; with ``n_levels`` the pyramid is extended or truncated
    to exactly that many levels (never below 1). Returns new lists ``(levels, pixel_size_um)``.
    Image levels are read from the coarsest existing level directly, the smallest ones kept
    once read (module docstring); label levels are strided views with ``chunk_px`` chunks.
    """
    levels, sizes = list(levels), list(pixel_size_um)
    if n_levels is not None:
        n_levels = max(1, int(n_levels))
        levels, sizes = levels[:n_levels], sizes[:n_levels]
    shape = tuple(levels[-1].shape)
    n = 0

    def more() -> bool:
        h, w = shape[0] >> n, shape[1] >> n
        if min(h, w) < 2:
            return False
        if n_levels is not None:
            return len(levels) + n < n_levels
        return max(h, w) > max_px

    while more():
        n += 1
    if n == 0:
        return levels, sizes
    if labels:
        for _ in range(n):
            levels.append(downsample2(levels[-1], labels=True, chunk_px=chunk_px))
    else:
        levels.extend(coarse_levels(levels[-1], n))
    top = sizes[-1]
    sizes.extend(top * 2.0**k for k in range(1, n + 1))
    return levels, sizes
