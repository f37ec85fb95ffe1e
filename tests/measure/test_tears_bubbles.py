"""A tear running along the cortex and an air bubble inside it (real-scan artefacts), on
hand-made slides (tests/support/clefts.py's rendering, no generator): neither is pia nor
white matter, so the traverses cross them (their pixels filled from the tissue around in
the profiles) and the readout says so; a clean slide has no such note."""

from __future__ import annotations

import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import slide_matter, slide_reference
from tests.support.clefts import COARSE, PIA_Y, XC, T, _grid, _od, _render, square

#: the tear's and the bubble's depth under the pia (µm): mid-cortex
MID = 1000.0


def along_tear_section(width_um: float = 100.0, seed: int = 0):
    """A flat cortex (pia at PIA_Y) with a tear of glass ``width_um`` wide running along it
    (gently wavy) at mid-depth across the whole slide: every column is cut in two."""
    yy, xx = _grid()
    x = (yy - PIA_Y) / T
    centre = PIA_Y + MID + 60.0 * np.sin(xx / 700.0)
    tear = np.abs(yy - centre) < width_um / 2
    return _render(_od(x), (x < 0) | tear, seed, f"along-tear-{width_um:g}")


def bubble_section(radius_um: float = 400.0, seed: int = 0):
    """A flat cortex with an air bubble at mid-depth: a disc where the tissue's OD is a
    quarter of its own, inside a thin dark rim (the air's refraction)."""
    yy, xx = _grid()
    x = (yy - PIA_Y) / T
    d = np.hypot(yy - PIA_Y - MID, xx - XC) - radius_um
    od = _od(x)
    if radius_um > 0:
        od = np.where(d < 0, 0.25 * od, od) + 0.5 * np.exp(-((d / 15.0) ** 2)) * (x >= 0)
    return _render(od, x < 0, seed, f"bubble-{radius_um:g}")


def _ribbon(section):
    y0, x0 = PIA_Y - 600, XC - 1800
    img = section.read_window(y0, x0, 3600, 3600, COARSE).astype(np.float64)
    ref = slide_reference(section.levels)
    matter = slide_matter(section.levels, section.pixel_size_um, ref)
    return segment(img, COARSE, ref, None, matter)


def test_region_cut_by_a_tear_along_the_cortex_is_measured_across_it():
    # main: the tear's edges ended the traverses (the deep half read as all there is, or
    # nothing measured); here the traverses cross it and the region's thickness is read
    r = measure_roi(along_tear_section(), square(PIA_Y + T / 2, XC), cells=False,
                    profile_um=COARSE)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.1
    assert r.n_traverses >= 20
    assert 100 <= r.layers.layer_i_width_um <= 320
    assert any("cross a tear" in s for s in r.reasons), r.reasons


def test_tear_along_the_cortex_is_no_pia_and_no_white_matter():
    rib = _ribbon(along_tear_section())
    assert "tear" in rib.gaps
    yy = (np.arange(rib.pia.shape[0]) + 0.5) * COARSE + PIA_Y - 600
    # no pia below the true pia (the tear's edges), no white matter above its border
    assert not rib.pia[yy > PIA_Y + 300].any()
    assert not rib.wm[yy < PIA_Y + T - 300].any()


def test_region_with_a_bubble_is_measured_across_it():
    # main: the bubble's pale disc was read as white matter (traverses from the pia ended
    # at it, about half as long); here it is a hole the traverses cross
    r = measure_roi(bubble_section(), square(PIA_Y + T / 2, XC), cells=False,
                    profile_um=COARSE)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.1
    assert r.thickness_p10_mm >= T / 1000 - 0.15
    assert any("cross a bubble" in s for s in r.reasons), r.reasons


def test_bubble_is_no_white_matter():
    rib = _ribbon(bubble_section())
    assert "bubble" in rib.gaps
    yy = (np.arange(rib.wm.shape[0]) + 0.5) * COARSE + PIA_Y - 600
    assert not rib.wm[yy < PIA_Y + T - 300].any()


def test_clean_cortex_has_no_gap():
    # the same flat cortex without tear or bubble: nothing taken for either, no note
    s = bubble_section(radius_um=0.0)
    assert getattr(_ribbon(s), "gaps", {}) == {}
    r = measure_roi(s, square(PIA_Y + T / 2, XC), cells=False, profile_um=COARSE)
    assert r.measured and abs(r.thickness_mm - T / 1000) <= 0.05
    assert not any("cross a" in s for s in r.reasons)
