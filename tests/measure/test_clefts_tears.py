"""Narrow sulcal clefts and radial tears (real-scan artefacts), on hand-made slides
(tests/support/clefts.py, no generator): each bank of a cleft has its own pia, however
narrow the glass between them (none at all: two layer I's back to back); the edges of a
tear into the cortex cut across the layers and are no pia."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import slide_reference
from tests.support.clefts import (
    COARSE,
    PIA_Y,
    TOP,
    XC,
    H,
    T,
    _grid,
    _od,
    _render,
    cleft_section,
    square,
    tear_section,
)

#: the ROIs' centre height on the cleft slide (far from its top edge)
YC = (TOP + H) / 2 + 400


def _window(section, y0: float, x0: float, h: float, w: float):
    img = section.read_window(y0, x0, h, w, COARSE).astype(np.float64)
    rib = segment(img, COARSE, slide_reference(section.levels))
    xx = (np.arange(img.shape[1]) + 0.5) * COARSE + x0
    yy = (np.arange(img.shape[0]) + 0.5) * COARSE + y0
    return rib, yy, xx


@pytest.mark.parametrize("gap", [0.0, 20.0, 40.0, 80.0])
def test_one_bank_of_a_narrow_cleft_is_measured(gap):
    # a region over the left bank, its edge just across the cleft: the bank's own pia
    # lines the cleft, its thickness and pale layer I are read (0 and 20 µm: no pia before)
    s = cleft_section(gap)
    r = measure_roi(s, square(YC, XC - T / 2 - 300), cells=False, profile_um=COARSE)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.1
    assert r.thickness_p10_mm >= T / 1000 - 0.1 and r.thickness_p90_mm <= T / 1000 + 0.1
    assert not r.oblique
    assert 100 <= r.layers.layer_i_width_um <= 320


@pytest.mark.parametrize("gap", [0.0, 20.0, 30.0, 40.0, 80.0])
def test_both_banks_of_a_closed_cleft_have_their_pia(gap):
    # a window across both banks: pia along the cleft on either side, the depth potential
    # rises from it into each bank (no traverse crosses from one bank into the other); 30
    # and 40 µm (2-2.5 px): a line of glass the smoothing lifts above the glass's level
    rib, yy, xx = _window(cleft_section(gap), YC - 1500, XC - 3000, 3000, 6000)
    rows = rib.pia[:, np.abs(xx - XC) <= 3 * COARSE]
    near = np.abs(xx - XC) <= 3 * COARSE
    left = rib.pia[:, near & (xx < XC)].any(1)
    right = rib.pia[:, near & (xx > XC)].any(1)
    assert rows.any(1).mean() > 0.9
    assert left.mean() > 0.9 and right.mean() > 0.9
    # no pia inside the cortex of either bank
    assert not rib.pia[:, (np.abs(xx - XC) > 5 * COARSE) & (np.abs(xx - XC) < T)].any()
    # the potential grows away from the cleft on both sides, mid-bank at about 0.5
    row = rib.potential[len(yy) // 2]
    for sign in (-1, 1):
        at = np.argmin(np.abs(xx - (XC + sign * T / 2)))
        assert 0.35 <= row[at] <= 0.65


@pytest.mark.xfail(
    strict=True,
    reason="known issue: a narrow cleft under blur is no line of light (its centre reads "
    "about 0.63 of its closing, not under half), so its pia is lost where another pia is in "
    "view; a fix tried in session 33 (cleftblur) cost a clean square and was not kept",
)
def test_blurred_narrow_cleft_keeps_its_pia():
    # a 20 µm cleft under a Gaussian of SD 16 µm (1 px at the 16 µm/px profile level: a
    # scan not perfectly sharp) in a window that also holds the open sulcus above it (a pia
    # in view: no pressed-banks fallback): the cleft should still be found, each bank
    # keeping its pia along it; main finds no line of light there (the narrow-cleft glass
    # test is not what loses it: no candidate line reaches it)
    y0, x0 = TOP - 400, XC - 3000
    rib, yy, xx = _window(cleft_section(20.0, blur_um=16.0), y0, x0, 3000, 6000)
    below = yy > TOP + 300
    near = np.abs(xx - XC) <= 3 * COARSE
    left = rib.pia[below][:, near & (xx < XC)].any(1)
    right = rib.pia[below][:, near & (xx > XC)].any(1)
    assert left.mean() > 0.9 and right.mean() > 0.9
    assert not rib.pia[below][:, (np.abs(xx - XC) > 5 * COARSE) & (np.abs(xx - XC) < T)].any()


@pytest.mark.parametrize("width", [20.0, 80.0, 150.0])
def test_tear_into_the_cortex_is_no_pia(width):
    # a radial tear 1 mm deep from the pia: its edges are no pia, and the depth potential
    # beside it is that of the flat cortex (not bent towards the tear); 20 µm, a line of
    # light as a radial vessel, is no cleft either (passed before too: a control)
    s = tear_section(width)
    rib, yy, xx = _window(s, PIA_Y - 600, XC - 1800, 3600, 3600)
    depth = yy - PIA_Y
    edge = np.abs(np.abs(xx - XC) - width / 2) <= 3 * COARSE
    assert not rib.pia[(depth > 300)[:, None] & edge[None, :]].any()
    # the flat pia stays pia all along (apart from the tear)
    on_pia = rib.pia[np.abs(depth) <= 2 * COARSE][:, np.abs(xx - XC) > width / 2 + 3 * COARSE]
    assert on_pia.any(0).mean() > 0.95
    # beside the tear, at its mid-depth, the potential is the depth's (0.25 at 500 µm)
    at_y = np.argmin(np.abs(depth - 500.0))
    for sign in (-1, 1):
        at_x = np.argmin(np.abs(xx - (XC + sign * (width / 2 + 100))))
        assert rib.potential[at_y, at_x] == pytest.approx(0.25, abs=0.06)


@pytest.mark.parametrize("width", [80.0, 150.0])
def test_region_over_a_tear_measures_the_cortex(width):
    # every traverse runs from the flat pia to the white matter (none from the tear's
    # edges, which were 0.5 mm shorter)
    s = tear_section(width)
    r = measure_roi(s, square(PIA_Y + T / 2, XC), cells=False, profile_um=COARSE)
    assert r.measured, r.reasons
    assert r.n_traverses >= 30
    assert abs(r.thickness_mm - T / 1000) <= 0.05
    assert r.thickness_p10_mm >= T / 1000 - 0.1
    assert 100 <= r.layers.layer_i_width_um <= 320


def cut_edge_section(w0: float = 200.0, slant_deg: float = 5.0):
    """The flat cortex of :func:`tear_section` (no tear) cut off on the left by a straight
    edge across the layers, slanting so that a window whose left edge is at ``XC - 1800``
    and top at ``PIA_Y - 800`` shows glass only in a thin wedge along its left edge:
    ``w0`` µm wide at the window's top, narrowing downwards by ``slant_deg``."""
    yy, xx = _grid()
    x = (yy - PIA_Y) / T
    cut = xx < XC - 1800 + w0 - (yy - PIA_Y + 800) * np.tan(np.deg2rad(slant_deg))
    return _render(_od(x), (x < 0) | cut, 0, f"cut-edge-{w0:g}-{slant_deg:g}")


@pytest.mark.parametrize("w0,slant", [(150.0, 3.0), (200.0, 5.0), (300.0, 8.0)])
def test_glass_on_the_window_edge_beside_a_cut_is_no_tear(w0, slant):
    # the glass beyond the cut edge is a narrow wedge along the window's edge, lined by
    # tissue (cut across the layers, no pale layer I) on one side only: no tear (main took
    # it for one and filled it from the tissue around)
    rib, yy, xx = _window(cut_edge_section(w0, slant), PIA_Y - 800, XC - 1800, 3600, 3600)
    assert "tear" not in rib.gaps
    assert not rib.tissue[:, 0][yy[:] > PIA_Y + 100].all()  # the wedge's glass stays glass
    # the flat pia stays pia
    assert rib.pia[np.abs(yy - PIA_Y) <= 2 * COARSE][:, xx > XC - 1000].any(0).mean() > 0.95


def test_hole_in_the_cortex_is_no_pia():
    # a round hole of 0.4 mm (larger than the holes filled as vessels) at 0.7 mm depth:
    # its rim cuts across the layers, so no traverse starts there (they were down to
    # 1.3 mm, from the hole to the white matter)
    s = tear_section(0.0, depth_um=700.0, hole_um=400.0)
    r = measure_roi(s, square(PIA_Y + T / 2, XC), cells=False, profile_um=COARSE)
    assert r.measured, r.reasons
    assert r.thickness_p10_mm >= T / 1000 - 0.1
    assert abs(r.thickness_mm - T / 1000) <= 0.05
