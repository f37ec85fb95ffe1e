"""Lazy pyramid building: coarser levels computed on demand with dask.

Every coarser level halves both axes (odd trailing rows/columns are dropped), so level ``k``
has pixel size ``2**k`` times level 0 and a coarse pixel covers exactly 2 × 2 finer pixels.
Images are averaged (area mean, dtype kept); label images take the top-left pixel of each
2 × 2 block (no invented label values).
"""

from __future__ import annotations

import dask.array as da
import numpy as np

#: A pyramid is complete when its coarsest level is at most this many px on its longest side.
COARSEST_MAX_PX = 1024


def _even_chunks(arr: da.Array, target: int) -> da.Array:
    """Rechunk (only if needed) so every chunk of an even-sized array has even size."""
    if all(c % 2 == 0 for cs in arr.chunks for c in cs):
        return arr
    return arr.rechunk(tuple(max(2, min(target, n) // 2 * 2) for n in arr.shape))


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
        dtype = arr.dtype

        def _mean(block: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
            m = block.mean(axis=axis, dtype=np.float64)
            if np.issubdtype(dtype, np.integer):
                m = np.rint(m)
            return m.astype(dtype)

        out = da.coarsen(_mean, arr, {0: 2, 1: 2}, trim_excess=True)
    target = tuple(min(chunk_px, n) for n in out.shape)
    if any(cs[0] < t // 2 for cs, t in zip(out.chunks, target)):
        out = out.rechunk(target)
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
    """
    levels, sizes = list(levels), list(pixel_size_um)
    if n_levels is not None:
        n_levels = max(1, int(n_levels))
        levels, sizes = levels[:n_levels], sizes[:n_levels]

    def more() -> bool:
        if min(levels[-1].shape) < 2:
            return False
        if n_levels is not None:
            return len(levels) < n_levels
        return max(levels[-1].shape) > max_px

    while more():
        levels.append(downsample2(levels[-1], labels=labels, chunk_px=chunk_px))
        sizes.append(sizes[-1] * 2.0)
    return levels, sizes
