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
- **white-matter streaks**: medullary vessels cut along their length (0.3-1.5 mm,
  any direction).

Each has an empty perivascular space (0.3-1 × the lumen radius + 3 µm) that shows the
glass, and a lumen that keeps a trace of its contents. Densities and sizes follow
descriptions of the human cortical angioarchitecture (Duvernoy et al. 1981, Brain Res Bull
7: 519-579; Lauwers et al. 2008, NeuroImage 39: 936-948); see docs/synthetic_cortex.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Geometry

#: longest vessel (µm): windows gather vessels from tiles this far around them
MAX_REACH_UM = 1800.0
HOLE_MAX_PER_MM2 = 14.0
RADIAL_PER_MM2 = 3.2  # candidates; those within 5 % of the thickness of the pia start one
WM_STREAK_PER_MM2 = 1.5


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
        return Vessels(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in Vessels.__annotations__)
        )


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
            r = rng.uniform(8.0, 30.0, n)
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
    for i in range(len(vessels.r)):
        reach = vessels.outer[i] + soft
        lo_x = min(vessels.x0[i], vessels.x1[i]) - reach
        hi_x = max(vessels.x0[i], vessels.x1[i]) + reach
        lo_y = min(vessels.y0[i], vessels.y1[i]) - reach
        hi_y = max(vessels.y0[i], vessels.y1[i]) + reach
        c0 = max(0, int((lo_x - origin[0]) / pixel_um))
        c1 = min(w, int(np.ceil((hi_x - origin[0]) / pixel_um)) + 1)
        r0 = max(0, int((lo_y - origin[1]) / pixel_um))
        r1 = min(h, int(np.ceil((hi_y - origin[1]) / pixel_um)) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        px = origin[0] + (np.arange(c0, c1) + 0.5) * pixel_um
        py = origin[1] + (np.arange(r0, r1) + 0.5) * pixel_um
        d = _seg_distance(px[None, :], py[:, None], vessels, i)
        space = np.clip((vessels.outer[i] - d) / soft + 0.5, 0, 1)
        lumen = np.clip((vessels.r[i] - d) / soft + 0.5, 0, 1)
        tissue[r0:r1, c0:c1] *= 1 - space + 0.15 * lumen


def inside_vessels(vessels: Vessels, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether points (µm) lie in a vessel's lumen or perivascular space."""
    hit = np.zeros(np.shape(x), bool)
    for i in range(len(vessels.r)):
        hit |= _seg_distance(x, y, vessels, i) < vessels.outer[i]
    return hit
