"""Cortical thickness of the readout on hand-made ribbons (independent of cytowords.synth):
a flat cortex of known thickness, cut square or obliquely, with and without pale vessel
holes in its deep layers."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.sections import Section

PX = 10.0  # µm/px of the slide
H = W = 6000.0  # µm
PIA_Y = 1000.0  # the pia is the line y = PIA_Y; glass above, cortex and white matter below
T = 2500.0  # true thickness, µm


def ribbon_section(
    wm_y=lambda x: PIA_Y + T + 0 * x,
    holes: list[tuple[float, float, float]] = (),
    seed: int = 0,
    pale_deep: float = 0.0,
    h_um: float = H,
    wm_scale=lambda x: 50.0 + 0 * x,
) -> Section:
    """A slide at :data:`PX` µm/px: glass above ``PIA_Y``, cortex down to the white-matter
    border ``wm_y(x)`` (µm), white matter below, glass around the block; the laminar profile (pale layer I, a dense
    band at mid-depth, a gradual grey/white transition over ~200 µm) is set on the relative
    depth, so an oblique cut stretches every layer alike. ``holes``: pale vessel holes
    ``(y, x, radius)`` µm (lumen: no stain). ``pale_deep``: the deep layers (V, VI: the
    lowest 35 % of the depth) lose this share of their stain (0.4: a pale deep cortex
    only 1.7 × the white matter's density). ``h_um``: the slide's height. ``wm_scale(x)``:
    the grey/white transition's logistic scale (µm; its 25-75 % width is 2.2 times it)."""
    yy, xx = (np.mgrid[0 : int(h_um / PX), 0 : int(W / PX)] + 0.5) * PX
    bottom = wm_y(xx)
    rel = (yy - PIA_Y) / (bottom - PIA_Y)
    layer_i = 0.35 / (1 + np.exp(-(rel - 0.08) / 0.02))
    cortex = 0.35 + layer_i + 0.3 * np.exp(-(((rel - 0.5) / 0.08) ** 2))
    cortex = cortex * (1 - pale_deep / (1 + np.exp(-(rel - 0.65) / 0.02)))
    to_wm = 1 / (1 + np.exp(-(yy - bottom) / wm_scale(xx)))  # 50: ~200 µm (10-90 %)
    od = (1 - to_wm) * cortex + to_wm * 0.25
    # glass above the pia and around the tissue block (a slide shows glass)
    glass = (yy < PIA_Y) | (yy > h_um - 600.0) | (np.abs(xx - W / 2) > W / 2 - 700.0)
    for y, x, r in holes:
        glass |= np.hypot(yy - y, xx - x) < r
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    img = np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)
    return Section([da.from_array(img, chunks=1024)], [PX], name="ribbon")


ROI = np.array([[600.0, 1500.0], [600.0, 4500.0], [4400.0, 4500.0], [4400.0, 1500.0]])


def test_square_cut_ribbon_reads_its_thickness():
    r = measure_roi(ribbon_section(), ROI, cells=False, profile_um=16.0)
    assert r.n_traverses >= 10
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.03)
    assert not r.oblique and r.true_thickness_mm == pytest.approx(r.thickness_mm)


def test_vessel_holes_in_the_deep_layers_do_not_shorten_the_cortex():
    # a row of pale holes (lumen 70-120 µm across) in layer VI, 150-250 µm above the
    # grey/white border: the border is where the tissue stays pale, not the first hole
    xs = np.arange(1600.0, 4500.0, 180.0)
    rng = np.random.default_rng(1)
    holes = [(PIA_Y + T - rng.uniform(150, 250), x, rng.uniform(35, 60)) for x in xs]
    clean = measure_roi(ribbon_section(), ROI, cells=False, profile_um=16.0)
    holed = measure_roi(ribbon_section(holes=holes), ROI, cells=False, profile_um=16.0)
    assert holed.n_traverses >= 10
    assert holed.thickness_mm * 1000 == pytest.approx(T, rel=0.03)
    assert abs(holed.thickness_mm - clean.thickness_mm) * 1000 < 50.0


@pytest.mark.parametrize("angle", [30.0, 45.0])
def test_oblique_cut_reads_the_apparent_width(angle):
    # cut at a constant angle the ribbon is stretched in the section by 1 / cos(angle):
    # the readout measures that apparent width (one section cannot show a constant angle)
    stretch = 1 / np.cos(np.deg2rad(angle))
    roi = ROI.copy()
    roi[2:, 0] = PIA_Y + T * stretch + 600.0
    r = measure_roi(
        ribbon_section(wm_y=lambda x: PIA_Y + T * stretch + 0 * x), roi, cells=False, profile_um=16.0
    )
    assert r.thickness_mm * 1000 == pytest.approx(T * stretch, rel=0.03)


def test_cut_angle_changing_across_the_roi_narrowest_traverses_give_the_true_thickness():
    # the angle grows from 0° to 55° across the ROI: the white-matter border leaves the
    # pia and the traverses differ in length (T .. T / cos 55°); the median is the
    # apparent width, the narrowest traverses (10th percentile) the true thickness
    ang = lambda x: np.deg2rad(55.0) * np.clip((x - 1500.0) / 3000.0, 0, 1)  # noqa: E731
    sec = ribbon_section(wm_y=lambda x: PIA_Y + T / np.cos(ang(x)))
    roi = ROI.copy()
    roi[2:, 0] = PIA_Y + T / np.cos(np.deg2rad(55.0)) + 600.0
    r = measure_roi(sec, roi, cells=False, profile_um=16.0)
    assert r.n_traverses >= 10
    assert r.thickness_mm * 1000 > 1.05 * T  # apparent: the median traverse
    assert r.thickness_p10_mm * 1000 == pytest.approx(T, rel=0.03)
    assert r.thickness_p90_mm * 1000 > 1.25 * T


@pytest.mark.parametrize("pale_deep", [0.0, 0.4])
def test_pale_deep_layers_with_little_white_matter_in_view_are_cortex(pale_deep):
    # the ROI shows only 200 µm of white matter under the ribbon, and the deep layers
    # (the lowest 35 % of the depth) are pale: a pale deep cortex and the white matter
    # fall into one pale class of the density, and the white-matter mask reaches up to
    # layer V; along the traverses the stain falls a second time, at the true border
    roi = ROI.copy()
    roi[2:, 0] = PIA_Y + T + 200.0
    r = measure_roi(ribbon_section(pale_deep=pale_deep), roi, cells=False, profile_um=16.0)
    assert r.n_traverses >= 10
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.05)
    ends = np.array([t[-1, 0] for t in r.traverses_um])
    assert np.median(np.abs(ends - (PIA_Y + T))) < 150.0



def test_a_ribbon_wider_than_any_cortex_is_an_oblique_cut():
    # cut at 60° the 2.5 mm cortex is 5 mm wide in the section, evenly (no traverse is
    # curved): wider than human cortex is thick anywhere (4.5 mm), so the cut is oblique
    # and no sentence says the cortex is 5 mm thick
    stretch = 1 / np.cos(np.deg2rad(60.0))
    roi = ROI.copy()
    roi[2:, 0] = PIA_Y + T * stretch + 600.0
    wm_y = lambda x: PIA_Y + T * stretch + 0 * x  # noqa: E731
    r = measure_roi(ribbon_section(wm_y=wm_y, h_um=9000.0), roi, cells=False, profile_um=16.0)
    assert r.thickness_mm * 1000 == pytest.approx(T * stretch, rel=0.03)
    assert r.oblique and not np.isfinite(r.true_thickness_mm)
    said = " ".join(r.statements())
    assert "The cortex is about" not in said
    assert "the ribbon is about 5.0 mm wide" in said and "true thickness cannot be read" in said
    assert r.to_dict()["thickness_mm"]["oblique"] is True


def test_a_ribbon_too_wide_is_estimated_from_its_narrowest_traverses():
    # the cut's angle grows from 54° to 64° across the ROI: the traverses agree (4.3-5.7 mm,
    # not curved) but most are wider than 4.5 mm: an oblique cut, whose narrowest traverses
    # (10th percentile) are the estimate of the true thickness
    ang = lambda x: np.deg2rad(54.0 + 10.0 * np.clip((x - 1500.0) / 3000.0, 0, 1))  # noqa: E731
    sec = ribbon_section(wm_y=lambda x: PIA_Y + T / np.cos(ang(x)), h_um=9000.0)
    roi = ROI.copy()
    roi[2:, 0] = PIA_Y + T / np.cos(np.deg2rad(64.0)) + 600.0
    r = measure_roi(sec, roi, cells=False, profile_um=16.0)
    assert r.thickness_mm > 4.5 and r.thickness_p10_mm < 4.5
    assert r.oblique and r.true_thickness_mm == pytest.approx(r.thickness_p10_mm)
    assert any("probably nearer" in s for s in r.statements())


@pytest.mark.parametrize(
    ("scale", "term"),
    [
        (lambda x: 30.0 + 0 * x, "sharp"),
        (lambda x: 250.0 + 0 * x, "gradual"),
        # sharp on the left half of the ROI, gradual on the right: no one term is true
        (lambda x: np.where(x < 3000.0, 30.0, 250.0), "varies"),
    ],
)
def test_the_white_matter_border_is_named_only_where_most_traverses_agree(scale, term):
    r = measure_roi(ribbon_section(wm_scale=scale), ROI, cells=False, profile_um=16.0)
    assert r.n_traverses >= 10
    assert r.wm_border == term
    said = [s for s in r.statements() if s.startswith("The border to the white matter")]
    assert len(said) == 1
    if term == "varies":
        n, k = r.wm_border_n, r.wm_border_n_sharp
        assert n >= 10 and n / 3 < k < 2 * n / 3
        assert f"sharp (transition ≤ 4% of the cortex's width) on {k} and gradual on {n - k} of {n}" in said[0]
    else:
        assert said[0].startswith(f"The border to the white matter is {term}")


def test_a_transition_of_a_fifth_of_a_millimetre_is_gradual_on_a_cortex_of_two_and_a_half():
    # a 25-75 % width of about 180 µm (7 % of the 2.5 mm cortex), as the atlas's gradual
    # borders and the narrowest real gradual transitions (0.2-0.5 mm) are: not sharp
    sec = ribbon_section(wm_scale=lambda x: 80.0 + 0 * x)
    r = measure_roi(sec, ROI, cells=False, profile_um=16.0)
    assert r.n_traverses >= 10
    assert 120.0 < r.wm_border_width_um < 260.0
    assert r.wm_border == "gradual"


def test_laminar_contrast_is_given_as_a_number_without_an_atlas_term():
    r = measure_roi(ribbon_section(), ROI, cells=False, profile_um=16.0)
    said = [s for s in r.statements() if s.startswith("Laminar contrast")]
    assert len(said) == 1
    assert f"is {r.layers.laminar_contrast:.2f}" in said[0]
    assert not any(f"Laminar contrast is {t}" in said[0] for t in ("sharp", "moderate", "blurred"))
    assert "laminar_contrast_term" not in r.layers.to_dict()
