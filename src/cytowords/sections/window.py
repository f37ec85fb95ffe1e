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
