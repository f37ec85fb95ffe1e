"""Read a physical window (µm) of a multiscale image at a requested pixel size.

Coordinate convention (used throughout cytowords): ``(y, x)`` in µm from the top-left
*corner* of the section; pixel ``(i, j)`` of a level with pixel size ``p`` covers
``[i*p, (i+1)*p) × [j*p, (j+1)*p)``. Coarser levels are aligned to the same corner.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Collection, Iterator, Sequence

import dask.array as da
import numpy as np
from scipy import sparse

from .errors import SectionError

#: a level stored with lossy (JPEG) compression is read for the model only when the window
#: is at least this many times coarser than it, where a finer level allows: JPEG's 8 × 8 px
#: blocks then repeat every 2 px or less and average out (docs/your_scans.md)
LOSSY_MIN_FACTOR = 4.0


def _level_for(sizes: Sequence[float], pixel_size_um: float, lossy: Collection[int] = ()) -> int:
    """Coarsest level whose pixels are not coarser than the request (level 0 if none);
    when that level is one of ``lossy`` (indices of levels stored JPEG-compressed) and the
    request is less than :data:`LOSSY_MIN_FACTOR` times coarser, the coarsest level at
    least that much finer, if there is one."""
    best = 0
    for i, p in enumerate(sizes):
        if p <= pixel_size_um * 1.0001:
            best = i
    if best in lossy and pixel_size_um < LOSSY_MIN_FACTOR * sizes[best] * 0.9999:
        finer = [i for i, p in enumerate(sizes) if p * LOSSY_MIN_FACTOR <= pixel_size_um * 1.0001]
        if finer:
            best = max(finer)
    return best


#: the most pixels one window may hold (8 GiB of float32): a larger request is a region
#: drawn on another image or in another unit (e.g. a QuPath annotation of a 40x finer
#: image), refused in one line rather than failing to allocate
MAX_WINDOW_PX = 2**31


def _check(
    y0: float, x0: float, h: float, w: float, ps: float, where: str = "read_window"
) -> tuple[int, int]:
    vals = {"y0_um": y0, "x0_um": x0, "h_um": h, "w_um": w, "pixel_size_um": ps}
    for k, v in vals.items():
        if not math.isfinite(float(v)):
            raise ValueError(f"read_window: {k}={v!r} is not a finite number of µm")
    if ps <= 0 or h <= 0 or w <= 0:
        raise ValueError(
            f"read_window: h_um={h}, w_um={w}, pixel_size_um={ps}; expected positive µm values"
        )
    _not_too_large(h, w, ps, where)
    return max(1, round(h / ps)), max(1, round(w / ps))


def _not_too_large(h: float, w: float, ps: float, where: str) -> None:
    """Raise a :class:`SectionError` naming ``where`` if ``h`` × ``w`` µm at ``ps`` µm per
    pixel (the output, or the level read for it) is more than :data:`MAX_WINDOW_PX`."""
    if (h / ps) * (w / ps) > MAX_WINDOW_PX:
        raise SectionError(
            f"{where}: a window of {h / 1000:.4g} × {w / 1000:.4g} mm at {ps:g} µm per pixel "
            f"({h / ps:.0f} × {w / ps:.0f} px) is too large to read; a region drawn on another "
            "image or in another unit?"
        )


#: the level blocks kept by :func:`keep_regions` (None: outside it, nothing is kept)
_KEPT: contextvars.ContextVar[list | None] = contextvars.ContextVar("kept_regions", default=None)
#: ... and how far each block reaches beyond its first read (fraction of its extent)
_GROW: contextvars.ContextVar[float] = contextvars.ContextVar("kept_regions_grow", default=0.0)


@contextlib.contextmanager
def keep_regions(grow: float = 0.0) -> Iterator[None]:
    """Within: the level pixels read by :func:`read_window` are kept, and a later read
    that lies inside a kept block of the same level (and fill) is cut from it instead of
    read again, so fields read at several pixel sizes from one level cost one read. The
    values are the same as without (a read is a slice of the level; the resampling of each
    read is unchanged). ``grow``: each block is read larger by this fraction of its extent
    on every side (beyond the level's edge it holds the fill), so that the larger windows
    of later reads (fields at a coarser pixel size) fall inside it. The blocks are dropped
    on leaving; one thread's blocks are not seen by another."""
    kept, grow_token = _KEPT.set([]), _GROW.set(max(0.0, float(grow)))
    try:
        yield
    finally:
        _GROW.reset(grow_token)
        _KEPT.reset(kept)


def _region(level: da.Array, y: tuple[int, int], x: tuple[int, int], fill: float) -> np.ndarray:
    """Level pixels ``[y0, y1) × [x0, x1)`` (may extend outside; outside = ``fill``), float32;
    cut from a block kept by :func:`keep_regions` when one holds it."""
    kept = _KEPT.get()
    if kept is None:
        return _read_region(level, y, x, fill)
    same_fill = (lambda f: f == fill) if fill == fill else (lambda f: f != f)  # NaN fill
    for lev, (by, bx), f, block in kept:
        if lev is level and same_fill(f) and by <= y[0] and y[1] <= by + block.shape[0]:
            if bx <= x[0] and x[1] <= bx + block.shape[1]:
                return block[y[0] - by : y[1] - by, x[0] - bx : x[1] - bx].copy()
    gy, gx = (math.ceil(_GROW.get() * (b - a)) for a, b in (y, x))
    ya, yb, xa, xb = y[0] - gy, y[1] + gy, x[0] - gx, x[1] + gx
    block = _read_region(level, (ya, yb), (xa, xb), fill)
    kept.append((level, (ya, xa), fill, block))
    return block[y[0] - ya : y[1] - ya, x[0] - xa : x[1] - xa].copy()


def _read_region(
    level: da.Array, y: tuple[int, int], x: tuple[int, int], fill: float
) -> np.ndarray:
    """Level pixels ``[y0, y1) × [x0, x1)`` read from ``level`` (outside = ``fill``)."""
    h, w = level.shape
    out = np.full((y[1] - y[0], x[1] - x[0]), fill, dtype=np.float32)
    ya, yb, xa, xb = max(0, y[0]), min(h, y[1]), max(0, x[0]), min(w, x[1])
    if ya < yb and xa < xb:
        block = np.asarray(level[ya:yb, xa:xb].compute(), dtype=np.float32)
        out[ya - y[0] : yb - y[0], xa - x[0] : xb - x[0]] = block
    return out


def _area_weights(
    start_um: float, n_out: int, step_um: float, p: float
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Area-overlap weights from level pixels to output pixels along one axis.

    Returns ``(index (n_out, m), weight (n_out, m), first level pixel, one past the last)``:
    output pixel ``i`` is ``sum_j weight[i, j] * level[lo + index[i, j]]``; the weights of a
    row sum to 1, so it is the overlap-weighted mean of the level pixels it covers.
    """
    edges = (start_um + np.arange(n_out + 1) * step_um) / p
    lo, hi = math.floor(edges[0]), math.ceil(edges[-1])
    e = edges - lo
    m = math.ceil(step_um / p) + 1
    ks = np.floor(e[:-1])[:, None] + np.arange(m)[None, :]
    ov = np.minimum(e[1:, None], ks + 1) - np.maximum(e[:-1, None], ks)
    ov = np.clip(ov, 0.0, None) / (e[1:] - e[:-1])[:, None]
    idx = np.clip(ks, 0, hi - lo - 1).astype(np.intp)
    return idx, ov.astype(np.float32), lo, hi


def _resample_rows(idx: np.ndarray, w: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """``out[i] = sum_j w[i, j] * arr[idx[i, j]]`` as one sparse product (C-contiguous)."""
    n_out, m = idx.shape
    rows = np.repeat(np.arange(n_out), m)
    mat = sparse.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(n_out, arr.shape[0]))
    return np.asarray(mat @ arr, dtype=np.float32)


def read_window(
    levels: list[da.Array],
    sizes: list[float],
    y0_um: float,
    x0_um: float,
    h_um: float,
    w_um: float,
    pixel_size_um: float,
    *,
    fill: float = 0.0,
    lossy: Collection[int] = (),
    where: str = "read_window",
) -> np.ndarray:
    """Window ``[y0, y0+h) × [x0, x0+w)`` µm resampled to ``pixel_size_um`` (float32).

    The output has ``round(h_um / pixel_size_um) × round(w_um / pixel_size_um)`` px. It is
    read from the coarsest level not coarser than the request (only the chunks needed) and
    resampled by exact area averaging: each output pixel is the mean of the level pixels it
    overlaps, weighted by overlap area (no aliasing when downsampling; piecewise constant
    when the request is finer than level 0). Parts outside the section read as ``fill``.
    ``lossy``: levels stored JPEG-compressed, read only well downsampled (:func:`_level_for`).
    A window of more than :data:`MAX_WINDOW_PX` is a :class:`SectionError` naming ``where``
    (the section's file).
    """
    ny, nx = _check(y0_um, x0_um, h_um, w_um, pixel_size_um, where)
    lvl = _level_for(sizes, pixel_size_um, lossy)
    p = sizes[lvl]
    _not_too_large(h_um, w_um, p, where)  # the level's pixels read for it
    k, oy, ox = pixel_size_um / p, y0_um / p, x0_um / p
    if all(abs(v - round(v)) < 1e-6 for v in (k, oy, ox)):
        # fast path: integer ratio on the level's pixel grid -> slice (+ block mean)
        k, oy, ox = round(k), round(oy), round(ox)
        region = _region(levels[lvl], (oy, oy + ny * k), (ox, ox + nx * k), fill)
        if k == 1:
            return region
        return region.reshape(ny, k, nx, k).mean(axis=(1, 3), dtype=np.float32)
    iy, wy, y_lo, y_hi = _area_weights(y0_um, ny, pixel_size_um, p)
    ix, wx, x_lo, x_hi = _area_weights(x0_um, nx, pixel_size_um, p)
    region = _region(levels[lvl], (y_lo, y_hi), (x_lo, x_hi), fill)
    rows = _resample_rows(iy, wy, region)  # (ny, n_in_x)
    cols = _resample_rows(ix, wx, np.ascontiguousarray(rows.T))  # (nx, ny)
    return np.ascontiguousarray(cols.T)


def read_label_window(
    levels: list[da.Array],
    sizes: list[float],
    y0_um: float,
    x0_um: float,
    h_um: float,
    w_um: float,
    pixel_size_um: float,
    *,
    fill: int = 0,
) -> np.ndarray:
    """Label values at the centres of the output pixels (nearest neighbour, label dtype)."""
    ny, nx = _check(y0_um, x0_um, h_um, w_um, pixel_size_um)
    lvl = _level_for(sizes, pixel_size_um)
    p = sizes[lvl]
    yi = np.floor((y0_um + (np.arange(ny) + 0.5) * pixel_size_um) / p).astype(np.int64)
    xi = np.floor((x0_um + (np.arange(nx) + 0.5) * pixel_size_um) / p).astype(np.int64)
    lev = levels[lvl]
    h, w = lev.shape
    out = np.full((ny, nx), fill, dtype=lev.dtype)
    vy, vx = (yi >= 0) & (yi < h), (xi >= 0) & (xi < w)
    if vy.any() and vx.any():
        ya, yb, xa, xb = yi[vy].min(), yi[vy].max() + 1, xi[vx].min(), xi[vx].max() + 1
        block = np.asarray(lev[ya:yb, xa:xb].compute())
        out[np.ix_(vy, vx)] = block[np.ix_(yi[vy] - ya, xi[vx] - xa)]
    return out
