"""A sulcus closed in the section (its banks meet above and below the cut: glass ringed by
cortex ringed by white matter) on a slide that is mostly white matter: the slide's glass is
found, the cortex is grey matter with its pia on the sulcus's glass, and a region drawn
across it measures the cortex's thickness. Hand-made (no generator)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import _reference_from, slide_reference
from cytowords.sections import Section

PX = 20.0
SIZE = 14000.0
C = SIZE / 2
#: radius of the sulcus's glass, cortical thickness, radius of the tissue (µm)
R_GLASS, T, R_TISSUE = 1200.0, 2000.0, 6500.0


def _slide(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = (np.mgrid[0 : int(SIZE / PX), 0 : int(SIZE / PX)] + 0.5) * PX
    r = np.hypot(yy - C, xx - C)
    x = (r - R_GLASS) / T
    xc = np.clip(x, 0, 1)
    layer_i = 0.35 / (1 + np.exp(-(xc - 0.08) / 0.02))
    od = 0.35 + layer_i + 0.4 * np.exp(-(((xc - 0.5) / 0.07) ** 2))
    od = np.where(x > 1, 0.25, od)
    glass = (x < 0) | (r > R_TISSUE)
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    img = np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)
    return img, x


def test_slide_mostly_white_matter_still_shows_its_glass():
    img, x = _slide()
    ref = _reference_from(img.astype(np.float64))
    assert ref is not None
    glass, tissue_od = ref
    assert 235 <= glass <= 250
    # the tissue level lies between the white matter's OD (0.25) and the cortex's
    assert 0.2 <= tissue_od <= 0.9


def test_closed_sulcus_is_cortex_with_a_pia_not_white_matter():
    img, x = _slide()
    rib = segment(img.astype(np.float64), PX, slide_reference([img]))
    ring = (x > 0.1) & (x < 0.9)
    assert rib.grey[ring].mean() > 0.95
    assert rib.wm[ring].mean() < 0.02
    # the white matter around it stays white matter
    yy, xx = (np.mgrid[0 : img.shape[0], 0 : img.shape[1]] + 0.5) * PX
    r = np.hypot(yy - C, xx - C)
    assert rib.wm[(x > 1.2) & (r < R_TISSUE - 400)].mean() > 0.95
    # the sulcus's glass is lined with pia all round, and no pia lies inside the cortex
    # or the white matter around it (the slide's cut edge of white matter is left aside)
    on_sulcus = rib.pia & (np.abs(r - R_GLASS) <= 3 * PX)
    angle = np.arctan2(yy - C, xx - C)[on_sulcus]
    assert np.histogram(angle, bins=36, range=(-np.pi, np.pi))[0].min() > 0
    assert not (rib.pia & (r > R_GLASS + 3 * PX) & (r < R_TISSUE - 400)).any()


def test_region_across_a_closed_sulcus_measures_its_thickness():
    img, _ = _slide()
    section = Section([da.from_array(img)], [PX], name="closed-sulcus")
    # a 3 mm square across the lower wall of the sulcus: glass, cortex, white matter
    y0 = C + R_GLASS - 600.0
    roi = np.array([[y0, C - 1500], [y0, C + 1500], [y0 + 3000, C + 1500], [y0 + 3000, C - 1500]])
    r = measure_roi(section, roi, cells=False, profile_um=16.0)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.15
