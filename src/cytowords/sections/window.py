"""Read a physical window (µm) of a multiscale image at a requested pixel size.

Coordinate convention (used throughout cytowords): ``(y, x)`` in µm from the top-left
*corner* of the section; pixel ``(i, j)`` of a level with pixel size ``p`` covers
``[i*p, (i+1)*p) × [j*p, (j+1)*p)``. Coarser levels are aligned to the same corner.
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
from scipy import sparse


def _level_for(sizes: list[float], pixel_size_um: float) -> int:
    """Coarsest level whose pixels are not coarser than the request (level 0 if none)."""
    best = 0
    for i, p in enumerate(sizes):
        if p <= pixel_size_um * 1.0001:
            best = i
    return best


def _check(y0: float, x0: float, h: float, w: float, ps: float) -> tuple[int, int]:
    vals = {"y0_um": y0, "x0_um": x0, "h_um": h, "w_um": w, "pixel_size_um": ps}
    for k, v in vals.items():
        if not math.isfinite(float(v)):
            raise ValueError(f"read_window: {k}={v!r} is not a finite number of µm")
    if ps <= 0 or h <= 0 or w <= 0:
        raise ValueError(
            f"read_window: h_um={h}, w_um={w}, pixel_size_um={ps}; expected positive µm values"
        )
    return max(1, round(h / ps)), max(1, round(w / ps))


def _region(level: da.Array, y: tuple[int, int], x: tuple[int, int], fill: float) -> np.ndarray:
    """Level pixels ``[y0, y1) × [x0, x1)`` (may extend outside; outside = ``fill``), float32."""
    h, w = level.shape
    out = np.full((y[1] - y[0], x[1] - x[0]), fill, dtype=np.float32)
    ya, yb, xa, xb = max(0, y[0]), min(h, y[1]), max(0, x[0]), min(w, x[1])
    if ya < yb and xa < xb:
        block = np.asarray(level[ya:yb, xa:xb].compute(), dtype=np.float32)
        out[ya - y[0] : yb - y[0], xa - x[0] : xb - x[0]] = block
    return out


def _area_weights(
    start_um: float, n_out: int, step_um: float, p: float
) -> tuple[sparse.csr_matrix, int, int]:
    """Sparse ``(n_out, n_in)`` area-overlap weights from level pixels to output pixels.

    Returns ``(weights, first level pixel, one past the last level pixel)``; every row sums
    to 1, so an output pixel is the area-weighted mean of the level pixels it overlaps.
    """
    edges = (start_um + np.arange(n_out + 1) * step_um) / p
    lo, hi = math.floor(edges[0]), math.ceil(edges[-1])
    e = edges - lo
    m = math.ceil(step_um / p) + 1
    ks = np.floor(e[:-1])[:, None] + np.arange(m)[None, :]
    ov = np.minimum(e[1:, None], ks + 1) - np.maximum(e[:-1, None], ks)
    ov = np.clip(ov, 0.0, None) / (e[1:] - e[:-1])[:, None]
    rows = np.broadcast_to(np.arange(n_out)[:, None], ks.shape)
    keep = (ov > 1e-9) & (ks < hi - lo)
    wts = sparse.csr_matrix(
        (ov[keep], (rows[keep], ks[keep].astype(np.int64))), shape=(n_out, hi - lo)
    )
    return wts, lo, hi


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
) -> np.ndarray:
    """Window ``[y0, y0+h) × [x0, x0+w)`` µm resampled to ``pixel_size_um`` (float32).

    The output has ``round(h_um / pixel_size_um) × round(w_um / pixel_size_um)`` px. It is
    read from the coarsest level not coarser than the request (only the chunks needed) and
    resampled by exact area averaging: each output pixel is the mean of the level pixels it
    overlaps, weighted by overlap area (no aliasing when downsampling; piecewise constant
    when the request is finer than level 0). Parts outside the section read as ``fill``.
    """
    ny, nx = _check(y0_um, x0_um, h_um, w_um, pixel_size_um)
    lvl = _level_for(sizes, pixel_size_um)
    p = sizes[lvl]
    wy, y_lo, y_hi = _area_weights(y0_um, ny, pixel_size_um, p)
    wx, x_lo, x_hi = _area_weights(x0_um, nx, pixel_size_um, p)
    region = _region(levels[lvl], (y_lo, y_hi), (x_lo, x_hi), fill)
    out = wy @ (wx @ region.T).T
    return np.asarray(out, dtype=np.float32)


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
