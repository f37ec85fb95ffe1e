"""The position along the ribbon on virtual sections is continuous (issues #21, #23, #24).

``along`` on sections was the arclength of the outline vertex nearest to the nearest outside
grid cell: steps of ~45 µm, so the radial cell columns (``cos(2π·along/38 µm)``) aliased into
density patches ~0.3 mm wide. It is now the arclength of the nearest point of the outline.
The checks here use the outline itself (smoothed over 0.2 mm, as the contour has pixel-scale
kinks, and resampled every µm), not the geometry's grids.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import cKDTree

from cytowords.atlas import load_atlas
from cytowords.synth.cells import NEURON, sample_cells
from cytowords.synth.folding import outline_curvature
from cytowords.synth.section import section_geometry

SEED, SIZE = 205, (40, 30)  # a development brain, a small section
COLUMN_PERIOD_UM = 38.0  # cells.sample_cells: cos(2π·along/38 µm)


@pytest.fixture(scope="module")
def geom():
    g = section_geometry(SEED, size_mm=SIZE)
    g._build()
    return g


def _flattest(geom, area_ids: list[str], half_um: float) -> float:
    """Arclength (µm) of the flattest outline vertex at least ``half_um`` + 300 µm inside
    the territory of one of ``area_ids`` (the widest such territory)."""
    kap, arc = np.abs(outline_curvature(geom._poly)), geom._arclen
    best = None
    for a in area_ids:
        k = geom.area_ids.index(a)
        lo, hi = geom.bounds[k] + half_um + 300, geom.bounds[k + 1] - half_um - 300
        sel = np.nonzero((arc > lo) & (arc < hi))[0]
        if sel.size and (best is None or hi - lo > best[0]):
            best = (hi - lo, arc[sel[np.argmin(kap[sel])]])
    assert best is not None, "no territory long enough"
    return float(best[1])


def _smooth(geom) -> np.ndarray:
    """The section's outline smoothed along itself over ~0.2 mm (Gaussian σ)."""
    seg = np.hypot(*np.diff(geom._poly, axis=0).T).mean()
    return gaussian_filter1d(geom._poly, 200.0 / seg, axis=0, mode="wrap")


def _parallel(geom, s: np.ndarray, depth_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Points ``depth_um`` inside the (smoothed) pia below outline arclengths ``s`` (µm)."""
    arc, poly = geom._arclen, _smooth(geom)
    px, py = np.interp(s, arc, poly[:, 0]), np.interp(s, arc, poly[:, 1])
    tx = np.interp(s + 50, arc, poly[:, 0]) - np.interp(s - 50, arc, poly[:, 0])
    ty = np.interp(s + 50, arc, poly[:, 1]) - np.interp(s - 50, arc, poly[:, 1])
    nx, ny = -ty / np.hypot(tx, ty), tx / np.hypot(tx, ty)
    mid = len(s) // 2
    probe = geom.query(np.array([px[mid] + 100 * nx[mid]]), np.array([py[mid] + 100 * ny[mid]]))
    sign = 1.0 if probe["depth_um"][0] > 0 else -1.0
    return px + sign * depth_um * nx, py + sign * depth_um * ny


def _dense_outline(geom) -> tuple[cKDTree, np.ndarray]:
    """The smoothed outline resampled every ~1 µm (k-d tree) and each sample's arclength
    (µm, as the vertices' arclength on the outline)."""
    poly, arc = _smooth(geom), geom._arclen
    nxt = np.roll(poly, -1, axis=0)
    seg = np.hypot(*(nxt - poly).T)
    pts, s = [], []
    for i in range(len(poly)):
        t = np.arange(0.0, seg[i], 1.0) / seg[i]
        pts.append(poly[i] + t[:, None] * (nxt[i] - poly[i]))
        s.append(arc[i] + t * seg[i])
    return cKDTree(np.vstack(pts)), np.concatenate(s)


def test_along_grows_smoothly_along_the_pia(geom):
    """Below a flat stretch of pia, along grows ~1 µm per µm, without vertex steps."""
    centre = _flattest(geom, list(geom.area_ids), 600.0)
    step = 2.0
    s = centre + np.arange(-600.0, 600.0, step)
    for depth in (100.0, 800.0):
        x, y = _parallel(geom, s, depth)
        along = geom.query(x, y)["along_um"]
        inc = np.diff(along)
        # main: bilinear ramps between ~45 µm steps, increments 0 to ~3 µm per 2 µm
        assert np.all(np.abs(inc - np.median(inc)) < 0.3 * step), (depth, inc.min(), inc.max())
        assert 0.8 * step < np.median(inc) < 1.25 * step
        fit = np.polyval(np.polyfit(s, along, 1), s)
        assert np.sqrt(np.mean((along - fit) ** 2)) < 2.0


def test_section_columns_have_the_column_period(geom):
    """Neurons at mid-depth of a strong-column area on a section are denser in radial
    rows 38 µm apart along the pia (as on ``render_patch``), not in ~0.3 mm patches."""
    atlas = load_atlas()
    strong = [a for a in geom.area_ids if atlas.get(a).profile.columnar_strength >= 0.6]
    half = 500.0
    centre = _flattest(geom, strong, half)
    s = centre + np.arange(-half, half, 5.0)
    xs, ys = [], []
    for d in (0.0, 3000.0):
        x, y = _parallel(geom, s, d)
        xs.append(x)
        ys.append(y)
    xs, ys = np.concatenate(xs), np.concatenate(ys)
    bbox = (xs.min(), ys.min(), xs.max(), ys.max())
    cells = sample_cells(geom, bbox, np.random.default_rng(0), 1.0, need_angles=False)
    keep = cells.kind == NEURON
    cx, cy = cells.x[keep], cells.y[keep]
    rel = geom.query(cx, cy)["depth"]
    mid = (rel > 0.3) & (rel < 0.7)
    tree, arc = _dense_outline(geom)
    _, j = tree.query(np.stack([cx[mid], cy[mid]], 1))
    pos = arc[j]
    pos = pos[(pos > centre - half) & (pos < centre + half)]
    assert len(pos) > 1000
    counts, _ = np.histogram(pos, bins=np.arange(centre - half, centre + half + 1e-6, 2.0))
    counts = counts - counts.mean()
    power = np.abs(np.fft.rfft(counts)) ** 2
    period = 2 * half / np.maximum(np.arange(len(power)), 1e-9)
    band = (period >= 15) & (period <= 500)
    peak = period[band][np.argmax(power[band])]
    assert abs(peak - COLUMN_PERIOD_UM) < 3.0, peak
    near = np.abs(period - COLUMN_PERIOD_UM) < 3.0
    assert power[near].max() > 10 * np.median(power[band])
