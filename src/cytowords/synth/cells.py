"""Somata: sample cells from the local laminar properties and draw them.

Cells are sampled as inhomogeneous Poisson processes (thinning) in world coordinates (µm):
neurons (pyramidal = teardrop/triangle with the apex and apical dendrite towards the pia,
granular = small round), glia (small dark round nuclei, also in the white matter) and
special cells (Betz, Meynert, magnopyramidal IIIc...). Each cell removes a fraction
``f = 1 - exp(-absorbance)`` of the light over its body. Cells smaller than a pixel are
splatted as intensity-correct points (the caller blurs them), larger cells are drawn as
anti-aliased shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Geometry

NEURON, GLIA, SPECIAL = 0, 1, 2
_WINDOWS = (2, 3, 4, 5, 6, 8, 10, 12, 15, 19, 24, 30, 38, 48, 60)


def concat_records(cls, parts: list):
    """Concatenate dataclasses of equal-length arrays, field by field."""
    return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in cls.__annotations__))


@dataclass
class Cells:
    """Sampled cells: positions (µm), soma diameter (µm), kind, pyramidal flag, apex angle
    (radians, image coordinates, direction towards the pia) and light deficit ``f``."""

    x: np.ndarray
    y: np.ndarray
    diam: np.ndarray
    kind: np.ndarray
    pyramidal: np.ndarray
    angle: np.ndarray
    f: np.ndarray
    elong: np.ndarray

    @staticmethod
    def concat(parts: list[Cells]) -> Cells:
        if not parts:
            e = np.zeros(0)
            return Cells(e, e, e, e.astype(np.int8), e.astype(bool), e, e, e)
        return concat_records(Cells, parts)


def sample_cells(
    geom: Geometry,
    bbox: tuple[float, float, float, float],
    rng: np.random.Generator,
    stain: float,
    need_angles: bool = True,
) -> Cells:
    """Sample all cells whose centres fall in ``bbox = (x0, y0, x1, y1)`` (µm)."""
    x0, y0, x1, y1 = bbox
    area_mm2 = (x1 - x0) * (y1 - y0) * 1e-6
    tab = geom.tables
    lam = {
        NEURON: float(tab[:, 0].max()) * 1.5 + 1.0,
        GLIA: float(tab[:, 4].max()) + 1.0,
        SPECIAL: float(tab[:, 6].max()),
    }
    parts = []
    for kind, lmax in lam.items():
        if lmax <= 0:
            continue
        n = rng.poisson(lmax * area_mm2)
        if n == 0:
            continue
        x = rng.uniform(x0, x1, n)
        y = rng.uniform(y0, y1, n)
        u = rng.random(n)
        if kind == NEURON:
            props, along, _ = geom.props(x, y, (0, 1, 2, 3, 8))
            cols = props[4] * 0.6 * np.cos(2 * np.pi * along / 38.0)
            rate = props[0] * (1 + cols)
            size, sd, pyr_p = props[1], props[2], props[3]
        elif kind == GLIA:
            rate = geom.props(x, y, (4,))[0][0]
            size, sd, pyr_p = np.full(n, 5.2), np.full(n, 0.8), np.zeros(n)
        else:
            props = geom.props(x, y, (6, 7))[0]
            rate, size, pyr_p = props[0], props[1], np.ones(n)
            # giant cells vary widely (Betz somata ~30-60 µm and longer): sd 25 % in
            # realistic brains
            sd = (0.25 if "cell_shape" in geom.realism else 0.15) * size
        keep = u * lmax < rate
        if not keep.any():
            continue
        x, y, size, sd, pyr_p = x[keep], y[keep], size[keep], sd[keep], pyr_p[keep]
        m = len(x)
        cv2 = np.log1p((sd / np.maximum(size, 1e-3)) ** 2)
        diam = np.exp(
            np.log(np.maximum(size, 1.0)) - cv2 / 2 + np.sqrt(cv2) * rng.standard_normal(m)
        )
        diam = np.clip(diam, 3.0, 90.0)
        pyramidal = rng.random(m) < pyr_p
        absorb = {NEURON: 2.0, GLIA: 2.3, SPECIAL: 2.2}[kind] * stain
        # partial volume: cells cut off-centre or out of focus in a 20 µm section look paler
        f = 1 - np.exp(-absorb * rng.uniform(0.4, 1.1, m))
        angle = rng.uniform(0, 2 * np.pi, m)
        if need_angles and pyramidal.any():
            angle[pyramidal] = geom.up_angle(x[pyramidal], y[pyramidal])
            angle[pyramidal] += rng.normal(0, 0.2, int(pyramidal.sum()))
        elif geom.realistic and pyramidal.any():
            # draw the same numbers either way, so that the cells that follow (glia,
            # special cells) are the same at every resolution and in the truth
            rng.normal(0, 0.2, int(pyramidal.sum()))
        elong = rng.uniform(0.8, 1.2, m)
        parts.append(Cells(x, y, diam, np.full(m, kind, np.int8), pyramidal, angle, f, elong))
    return Cells.concat(parts)


def _shape_coverage(a: np.ndarray, lat: np.ndarray, r: np.ndarray, pyr: np.ndarray, elong):
    """Coverage in [0, 1] of a soma at cell-frame coords (``a`` towards the pia) in px."""
    rr = r[:, None]
    # round / slightly elliptical body (granule cells, glia)
    q = np.sqrt((lat / (rr * elong[:, None])) ** 2 + (a * elong[:, None] / rr) ** 2)
    round_cov = np.clip(0.5 + (1 - q) * rr, 0, 1)
    # pyramid: triangle from base (a = -0.7 r) to apex (a = 1.25 r) plus a rounded base
    hw = 0.95 * rr * (1.25 * rr - a) / (1.95 * rr)
    tri = np.minimum(np.minimum(hw - np.abs(lat), a + 0.7 * rr), 1.25 * rr - a)
    base = np.sqrt((lat / (0.85 * rr)) ** 2 + ((a + 0.3 * rr) / (0.6 * rr)) ** 2)
    pyr_cov = np.clip(np.maximum(0.5 + tri, 0.5 + (1 - base) * 0.6 * rr), 0, 1)
    # apical dendrite: thin tapering process above the apex
    t = (a - 1.2 * rr) / (1.8 * rr)
    width = np.maximum(0.2 * rr, 0.45)
    dend = np.clip(0.5 + width - np.abs(lat), 0, 1) * np.clip(1 - 1.4 * t, 0, 1) * (t > -0.1) * 0.6
    cov = np.where(pyr[:, None], np.maximum(pyr_cov, dend), round_cov)
    # pale nucleus with a dark nucleolus in large neurons (visible only at fine resolution)
    big = (rr > 5.0) & pyr[:, None]
    nuc = np.sqrt(lat**2 + (a + 0.05 * rr) ** 2) / (0.36 * rr)
    pale = np.clip(1.2 - nuc, 0, 1) * 0.4 * big
    nucleolus = np.clip(1.0 - nuc * 3.0, 0, 1) * 0.6 * big
    return np.clip(cov - pale + nucleolus, 0, 1)


def draw_cells(
    deficit: np.ndarray,
    cells: Cells,
    origin: tuple[float, float],
    pixel_um: float,
) -> None:
    """Add the light deficit of ``cells`` to ``deficit`` (H, W) in place.

    ``origin`` is the world position (µm) of the top-left corner of pixel (0, 0).
    """
    h, w = deficit.shape
    flat = deficit.reshape(-1)
    cx = (cells.x - origin[0]) / pixel_um - 0.5
    cy = (cells.y - origin[1]) / pixel_um - 0.5
    r = cells.diam / 2 / pixel_um
    small = r < 0.9
    if small.any():  # intensity-correct splat (bilinear)
        mass = cells.f[small] * np.pi * r[small] ** 2 * np.where(cells.pyramidal[small], 0.9, 1.0)
        sx, sy = cx[small], cy[small]
        ix, iy = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
        fx, fy = sx - ix, sy - iy
        for dx, dy, wt in (
            (0, 0, (1 - fx) * (1 - fy)),
            (1, 0, fx * (1 - fy)),
            (0, 1, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            px, py = ix + dx, iy + dy
            ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            flat += np.bincount(py[ok] * w + px[ok], weights=(mass * wt)[ok], minlength=h * w)
    big = np.flatnonzero(~small)
    if big.size == 0:
        return
    elong = cells.elong[big]
    extent = np.where(cells.pyramidal[big], 3.0, 1.2) * r[big] + 1.0
    wins = np.searchsorted(_WINDOWS, extent)
    for k in np.unique(wins):
        sel = np.flatnonzero(wins == k)
        kk = _WINDOWS[min(k, len(_WINDOWS) - 1)]
        idx = big[sel]
        off = np.arange(-kk, kk + 1)
        ox, oy = np.meshgrid(off, off)
        px = np.round(cx[idx]).astype(np.int64)[:, None] + ox.reshape(1, -1)
        py = np.round(cy[idx]).astype(np.int64)[:, None] + oy.reshape(1, -1)
        dx, dy = px - cx[idx][:, None], py - cy[idx][:, None]
        ca, sa = np.cos(cells.angle[idx])[:, None], np.sin(cells.angle[idx])[:, None]
        a = dx * ca + dy * sa  # along the apex direction
        lat = -dx * sa + dy * ca
        cov = _shape_coverage(a, lat, r[idx], cells.pyramidal[idx], elong[sel])
        val = cov * cells.f[idx][:, None]
        ok = (px >= 0) & (px < w) & (py >= 0) & (py < h) & (val > 0)
        flat += np.bincount((py * w + px)[ok], weights=val[ok], minlength=h * w)


def expected_deficit(
    props: np.ndarray, pixel_um: float, stain: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the cell light deficit per pixel when cells are far below pixel size.

    ``props`` is the per-pixel table (rows as ``profile_table.FIELDS``, any trailing shape).
    """
    mean = np.zeros(props.shape[1:])
    var = np.zeros(props.shape[1:])
    pix_area = pixel_um**2
    f_mean = {
        0: 1 - np.exp(-2.0 * stain * 0.75),
        1: 1 - np.exp(-2.3 * stain * 0.75),
        2: 1 - np.exp(-2.2 * stain * 0.75),
    }
    for kind, (lam_row, size, sd) in {
        0: (props[0], props[1], props[2]),
        1: (props[4], 5.2, 0.8),
        2: (props[6], props[7], 0.15 * props[7]),
    }.items():
        lam = lam_row * 1e-6 * pix_area  # cells per pixel
        e_area = np.pi / 4 * (np.asarray(size) ** 2 + np.asarray(sd) ** 2) / pix_area
        mean += lam * e_area * f_mean[kind]
        var += lam * (e_area * f_mean[kind]) ** 2 * 1.5
    return mean, np.sqrt(var)
