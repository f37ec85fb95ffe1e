"""Blood vessels as a cell-body stain shows them: pale holes and streaks with a pale
perivascular space.

Three kinds, all in world µm and drawn per world tile like the cells (any window of a
virtual section sees the same vessels):

- **holes**: vessels cut across, round, lumen radius lognormal (median 8 µm, 4-60 µm),
  more frequent with depth (about 4/mm² under the pia, 12/mm² at the white-matter border,
  14/mm² in the white matter) and wider in the white matter;
- **radial streaks**: perforating vessels cut along their length, entering at the pia and
  running perpendicular to it through 20-110 % of the cortical thickness (about 0.4 per mm
  of pia), lumen radius 3-10 µm;
- **white-matter streaks**: medullary vessels cut along their length (0.3 per mm²,
  0.3-1.5 mm long, lumen radius 5-15 µm, any direction).

Each has an empty perivascular space (0.3-1 × the lumen radius + 3 µm) that shows the
glass, and a lumen that keeps a trace of its contents. Densities and sizes follow
descriptions of the human cortical angioarchitecture (Duvernoy et al. 1981, Brain Res Bull
7: 519-579; Lauwers et al. 2008, NeuroImage 39: 936-948); see docs/synthetic_cortex.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import concat_records
from .geometry import Geometry

#: longest vessel (µm): windows gather vessels from tiles this far around them
MAX_REACH_UM = 1800.0
HOLE_MAX_PER_MM2 = 14.0
RADIAL_PER_MM2 = 3.2  # candidates; those within 5 % of the thickness of the pia start one
WM_STREAK_PER_MM2 = 0.3


@dataclass
class Vessels:
    """Vessel segments ``(x0, y0) -> (x1, y1)`` (µm; a point for holes), lumen radius and
    outer radius (lumen + perivascular space), µm."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    r: np.ndarray
    outer: np.ndarray

    @staticmethod
    def concat(parts: list[Vessels]) -> Vessels:
        if not parts:
            e = np.zeros(0)
            return Vessels(e, e, e, e, e, e)
        return concat_records(Vessels, parts)


def _uniform(rng, bbox, lam_per_mm2):
    x0, y0, x1, y1 = bbox
    n = rng.poisson(lam_per_mm2 * (x1 - x0) * (y1 - y0) * 1e-6)
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


def sample_vessels(geom: Geometry, bbox: tuple[float, float, float, float], rng) -> Vessels:
    """Vessels that start inside ``bbox = (x0, y0, x1, y1)`` (µm)."""
    parts = []
    # holes: thinning by depth
    x, y = _uniform(rng, bbox, HOLE_MAX_PER_MM2)
    u = rng.random(len(x))
    if len(x):
        depth, _, _, _, _, th, _ = geom.local(x, y)
        rel = depth / th
        rate = np.where(rel < 0, 0.0, np.where(rel < 1, 4.0 + 8.0 * rel, HOLE_MAX_PER_MM2))
        keep = u * HOLE_MAX_PER_MM2 < rate
        n = int(keep.sum())
        r = np.clip(np.exp(rng.normal(np.log(8.0), 0.5, n)), 4.0, 60.0) * np.where(
            rel[keep] >= 1, 1.3, 1.0
        )
        out = r * (1 + rng.uniform(0.3, 1.0, n)) + 3.0
        parts.append(Vessels(x[keep], y[keep], x[keep], y[keep], r, out))
    # radial streaks from the pia
    x, y = _uniform(rng, bbox, RADIAL_PER_MM2)
    if len(x):
        depth, _, _, _, _, th, _ = geom.local(x, y)
        keep = (depth >= 0) & (depth < 0.05 * th)
        x, y, th = x[keep], y[keep], th[keep]
        n = len(x)
        if n:
            ang = geom.up_angle(x, y) + np.pi  # away from the pia
            length = np.minimum(th * rng.uniform(0.2, 1.1, n), MAX_REACH_UM)
            r = rng.uniform(3.0, 10.0, n)
            out = r * (1 + rng.uniform(0.2, 0.6, n)) + 2.0
            x1, y1 = x + length * np.cos(ang), y + length * np.sin(ang)
            parts.append(Vessels(x, y, x1, y1, r, out))
    # white-matter streaks
    x, y = _uniform(rng, bbox, WM_STREAK_PER_MM2)
    if len(x):
        depth, _, _, _, _, th, _ = geom.local(x, y)
        keep = depth > 1.05 * th
        x, y = x[keep], y[keep]
        n = len(x)
        if n:
            ang = rng.uniform(0, np.pi, n)
            length = rng.uniform(300.0, 1500.0, n)
            r = rng.uniform(5.0, 15.0, n)
            out = r * (1 + rng.uniform(0.3, 1.0, n)) + 3.0
            x1, y1 = x + length * np.cos(ang), y + length * np.sin(ang)
            parts.append(Vessels(x, y, x1, y1, r, out))
    return Vessels.concat(parts)


def _seg_distance(px, py, v: Vessels, i: int) -> np.ndarray:
    dx, dy = v.x1[i] - v.x0[i], v.y1[i] - v.y0[i]
    ll = dx * dx + dy * dy
    t = 0.0 if ll == 0 else np.clip(((px - v.x0[i]) * dx + (py - v.y0[i]) * dy) / ll, 0, 1)
    return np.hypot(px - v.x0[i] - t * dx, py - v.y0[i] - t * dy)


def draw_vessels(
    tissue: np.ndarray, vessels: Vessels, origin: tuple[float, float], pixel_um: float
) -> None:
    """Multiply ``tissue`` (H, W; fraction of each pixel covered by tissue) in place: the
    perivascular space is empty, the lumen keeps 15 % (its contents). ``origin`` is the
    world position (µm) of the top-left corner of pixel (0, 0)."""
    h, w = tissue.shape
    soft = max(pixel_um, 1.0)
    v = vessels
    reach = v.outer + soft
    c0s = np.floor((np.minimum(v.x0, v.x1) - reach - origin[0]) / pixel_um).astype(int)
    c1s = np.ceil((np.maximum(v.x0, v.x1) + reach - origin[0]) / pixel_um).astype(int) + 1
    r0s = np.floor((np.minimum(v.y0, v.y1) - reach - origin[1]) / pixel_um).astype(int)
    r1s = np.ceil((np.maximum(v.y0, v.y1) + reach - origin[1]) / pixel_um).astype(int) + 1
    seen = (c1s > 0) & (c0s < w) & (r1s > 0) & (r0s < h)
    # holes up to a pixel across: remove their area from the pixels they fall in (bilinear)
    tiny = seen & (v.outer < pixel_um) & (v.x0 == v.x1) & (v.y0 == v.y1)
    if tiny.any():
        sx = (v.x0[tiny] - origin[0]) / pixel_um - 0.5
        sy = (v.y0[tiny] - origin[1]) / pixel_um - 0.5
        gone = np.pi * (v.outer[tiny] ** 2 - 0.15 * v.r[tiny] ** 2) / pixel_um**2
        ix, iy = np.floor(sx).astype(int), np.floor(sy).astype(int)
        fx, fy = sx - ix, sy - iy
        for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                           (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):  # fmt: skip
            px, py = ix + dx, iy + dy
            ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            np.multiply.at(tissue, (py[ok], px[ok]), np.clip(1 - gone[ok] * wt[ok], 0, 1))
    for i in np.flatnonzero(seen & ~tiny):
        c0, c1 = max(0, c0s[i]), min(w, c1s[i])
        r0, r1 = max(0, r0s[i]), min(h, r1s[i])
        px = origin[0] + (np.arange(c0, c1) + 0.5) * pixel_um
        py = origin[1] + (np.arange(r0, r1) + 0.5) * pixel_um
        d = _seg_distance(px[None, :], py[:, None], vessels, i)
        space = np.clip((vessels.outer[i] - d) / soft + 0.5, 0, 1)
        lumen = np.clip((vessels.r[i] - d) / soft + 0.5, 0, 1)
        tissue[r0:r1, c0:c1] *= 1 - space + 0.15 * lumen


def inside_vessels(vessels: Vessels, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether points (µm) lie in a vessel's lumen or perivascular space."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    hit = np.zeros(x.shape, bool)
    if len(vessels.r) == 0 or x.size == 0:
        return hit
    from scipy.spatial import cKDTree

    tree = cKDTree(np.stack([x.ravel(), y.ravel()], 1))
    mx, my = (vessels.x0 + vessels.x1) / 2, (vessels.y0 + vessels.y1) / 2
    reach = np.hypot(vessels.x1 - vessels.x0, vessels.y1 - vessels.y0) / 2 + vessels.outer
    flat = hit.reshape(-1)
    xs, ys = x.reshape(-1), y.reshape(-1)
    for i, idx in enumerate(tree.query_ball_point(np.stack([mx, my], 1), reach)):
        if idx:
            idx = np.asarray(idx)
            flat[idx] |= _seg_distance(xs[idx], ys[idx], vessels, i) < vessels.outer[i]
    return hit


def vessel_rng(tile_rng: np.random.Generator) -> np.random.Generator:
    """The vessels' generator of a world tile (derived from a fresh tile generator)."""
    return np.random.default_rng([int(tile_rng.integers(2**62)), 0x7E55E1])
