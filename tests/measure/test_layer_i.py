"""Layer I's width on hand-made profiles and a hand-made section (independent of
cytowords.synth): a pale layer I of known width under the pia, a pale band of glass or
meninges mixed into the profile's first samples, a dense layer II, and a denser band of
large pyramids deeper down."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from cytowords.measure import analyse_profile, measure_roi
from cytowords.measure.layers import layer_i_bottom
from cytowords.sections import Section

T = 2500.0  # cortical thickness, µm
L1 = 200.0  # layer I, µm


def column(
    l1_um: float = L1,
    n: int = 100,
    edge: float = 0.05,
    levels: tuple[float, float, float, float] = (0.35, 1.0, 0.7, 1.3),
) -> np.ndarray:
    """A profile (``n`` relative depths, pia first) of a cortex :data:`T` µm thick: the
    pia's edge (first 25 µm) as pale as ``edge`` (glass and meninges mixed in), then
    ``levels``: layer I ``l1_um`` wide, layer II 150 µm, layer III, and a band of large
    pyramids at 30-45 % depth; layer IV (1.0), V (0.6), VI (0.8); the layers' borders
    softened over 40 µm (a cell-body stain's gradual borders), the pial edge over 10 µm."""
    depth = (np.arange(n) + 0.5) / n * T
    b = l1_um
    i, ii, iii, deep = levels
    p = np.select(
        [depth < b, depth < b + 150, depth < 0.30 * T, depth < 0.45 * T,
         depth < 0.55 * T, depth < 0.75 * T],
        [i, ii, iii, deep, 1.0, 0.6],
        0.8,
    )  # fmt: skip
    p = gaussian_filter1d(p, 40.0 / (T / n), mode="nearest")
    # the pial surface is a sharp tissue border: its edge is softened over 10 µm only
    s = gaussian_filter1d((depth < 25).astype(float), 10.0 / (T / n), mode="nearest")
    return s * edge + (1 - s) * p


#: layer I nearly as dense as layer II, under a pial edge as pale as the glass: the
#: edge is not layer I's pale band (read from it, the border falls inside layer I)
PALE_EDGE = dict(edge=0.0, levels=(0.55, 1.0, 0.8, 0.9))
#: a faint layer II above a much denser band of large pyramids in lower III: layer II,
#: not that band, is the dense band layer I rises to (else the border falls in layer III)
FAINT_II = dict(levels=(0.35, 0.7, 0.45, 1.5))

#: a pial edge denser than layer II (pia-arachnoid and marginal glia stained in a Nissl
#: section): a thin dense line at the surface is not layer II
DENSE_PIA = dict(edge=1.3)


@pytest.mark.parametrize("case", [{}, PALE_EDGE, FAINT_II, DENSE_PIA])
@pytest.mark.parametrize("l1_um", [150.0, 200.0, 300.0])
def test_layer_i_width_on_hand_made_profiles(case, l1_um):
    # within 35 µm: the profile's smoothing (one sample, 25 µm here) carries a glass-pale
    # edge a little beyond PIA_EDGE_UM, lowering the half-way level (up to -30 µm)
    est = analyse_profile(column(l1_um, **case), T)
    assert est.layer_i_width_um == pytest.approx(l1_um, abs=35.0)
    assert est.borders["I/II"][0] == pytest.approx(l1_um / T, abs=0.014)


#: a faint layer II (under twice layer I's level) over a denser band of large pyramids in
#: lower III, layer IV denser still
FAINT_II_DEEP = dict(levels=(0.35, 0.6, 0.5, 0.8))


@pytest.mark.parametrize("power", [1.0, 1.8])
@pytest.mark.parametrize("l1_um", [150.0, 200.0, 300.0])
def test_layer_i_width_under_merker_like_contrast(power, l1_um):
    # a Merker-like contrast raises the OD to a power about the tissue's median (1.8:
    # dense parts darker, layer I paler; benchmarks/readout_shifts.py): layer II's band
    # keeps its share of the upper cortex's range, not of the whole profile's, which the
    # darkened deep layers stretch (read against the whole range, the border fell in
    # lower III, 450-600 µm too deep)
    p = column(l1_um, **FAINT_II_DEEP)
    ref = float(np.median(p))
    est = analyse_profile(ref * (p / ref) ** power, T)
    assert est.layer_i_width_um == pytest.approx(l1_um, abs=35.0)


def test_layer_i_per_traverse_median_ignores_a_few_failed_traverses():
    # 20 traverses, the border wobbling 170-230 µm, noisy; three cross a vessel in layer
    # II (pale there): the median of the traverses' borders stays near the true one
    rng = np.random.default_rng(0)
    widths = rng.uniform(170.0, 230.0, 20)
    tp = np.array([column(w) * np.exp(rng.normal(0, 0.05, 100)) for w in widths])
    tp[:3, 8:16] = 0.3
    got = layer_i_bottom(tp.mean(0), T, tp) * T
    assert got == pytest.approx(np.median(widths), abs=25.0)


PX = 8.0  # µm/px of the hand-made slide
PIA_Y = 1000.0  # the pia is the line y = PIA_Y


def layered_section(meninges_um: float = 0.0, seed: int = 0, **col) -> Section:
    """A slide at :data:`PX` µm/px: glass above, optionally a pale meningeal band
    ``meninges_um`` thick on the pia (its stain a third of layer I's), the :func:`column`
    cortex (layer I :data:`L1` µm) down to ``PIA_Y + T``, white matter below, glass around
    the block; multiplicative speckle as a cell-body stain shows; ``col`` goes to
    :func:`column`."""
    h = w = 6000.0
    yy, xx = (np.mgrid[0 : int(h / PX), 0 : int(w / PX)] + 0.5) * PX
    depth = yy - PIA_Y
    col = {"edge": 0.35, **col}  # no pale edge of its own
    lev = column(n=int(T / 5.0), **col)  # 5 µm steps
    od = np.interp(depth, (np.arange(len(lev)) + 0.5) * 5.0, lev)
    to_wm = 1 / (1 + np.exp(-(depth - T) / 50.0))
    od = (1 - to_wm) * od + to_wm * 0.25
    od = np.where((depth < 0) & (depth >= -meninges_um), 0.12, od)
    glass = (depth < -meninges_um) | (yy > h - 600.0) | (np.abs(xx - w / 2) > w / 2 - 700.0)
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, 0.6 * od * np.exp(rng.normal(0, 0.15, od.shape)))
    img = np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)
    return Section([da.from_array(img, chunks=1024)], [PX], name="layered")


ROI = np.array([[600.0, 1500.0], [600.0, 4500.0], [4400.0, 4500.0], [4400.0, 1500.0]])


@pytest.mark.parametrize("meninges_um", [0.0, 30.0])
def test_section_layer_i_width_under_the_pia(meninges_um):
    # read at the benchmark's 16 µm/px: within 40 µm of the 200 µm layer I, a pale
    # meningeal band on the pia or not
    r = measure_roi(layered_section(meninges_um), ROI, cells=False, profile_um=16.0)
    assert r.measured and r.n_traverses >= 10
    assert r.layers.layer_i_width_um == pytest.approx(L1, abs=40.0)


def test_layer_i_per_traverse_leaves_out_a_deeper_band_taken_for_layer_ii():
    # 9 traverses, the border 160-240 µm; on 4 of them layer II's band is too faint to
    # count (under a tenth of the upper cortex's range, the dense band of large pyramids
    # at 30-45 % depth much denser), so half-way up to that band lies about 700 µm deep,
    # deeper than layer I can be: none is read on them, and the median stays on the other
    # five (with them it is the deepest of the five, 240 µm)
    widths = np.array([160.0, 180.0, 200.0, 220.0, 240.0])
    faint = dict(levels=(0.35, 0.42, 0.38, 1.5))
    tp = np.array([column(w) for w in widths] + [column(200.0, **faint)] * 4)
    assert np.isnan(layer_i_bottom(tp[5], T))
    got = layer_i_bottom(tp.mean(0), T, tp) * T
    assert got == pytest.approx(200.0, abs=20.0)


def test_layer_i_not_read_where_no_traverse_shows_layer_ii():
    # layer II's band too faint to count on every traverse (a fluorescent Nissl read
    # inverted: the large pyramids' near-black somata far denser than layer II): half-way
    # up to that band lies 28 % deep (700 µm of 2.5 mm), deeper than layer I can be
    # (L1_MAX_DEPTH): no width and no I/II border, not a layer I 700 µm wide
    faint = dict(levels=(0.35, 0.42, 0.38, 1.5))
    tp = np.array([column(w, **faint) for w in (180.0, 200.0, 220.0, 200.0)])
    est = analyse_profile(tp.mean(0), T, tp)
    assert np.isnan(est.layer_i_width_um)
    assert "I/II" not in est.borders
    assert np.isnan(analyse_profile(tp.mean(0), T).layer_i_width_um)


def test_readout_says_layer_i_is_not_read_where_layer_ii_is_too_faint():
    # the note says where the border was found (half-way up to the band of large
    # pyramids at 30-45 % depth: 28-30 %) and why it is not read there, not that no
    # traverse shows a rise
    r = measure_roi(
        layered_section(levels=(0.35, 0.42, 0.38, 1.5)), ROI, cells=False, profile_um=16.0
    )
    assert r.measured and r.n_traverses >= 10
    assert np.isnan(r.layers.layer_i_width_um)
    assert 0.26 <= r.layers.layer_i_too_deep <= 0.32
    note = [x for x in r.reasons if x.startswith("layer I: not read: ")]
    assert len(note) == 1
    pct = round(100 * r.layers.layer_i_too_deep)
    assert f"beneath it only at {pct}% of the cortex's depth" in note[0]
    assert "deeper than a layer I is read here (25%, or up to 40%" in note[0]
    assert "no traverse shows" not in note[0]
    assert not any(x.startswith("Layer I,") for x in r.statements())


def test_layer_i_not_read_on_one_or_two_traverses():
    # one or two traverses do not show the region's layer I (its width varies along the
    # ribbon): no width, no I/II border; three are enough
    tp = np.array([column(w) for w in (180.0, 200.0, 220.0)])
    for k in (1, 2):
        est = analyse_profile(tp[:k].mean(0), T, tp[:k])
        assert np.isnan(est.layer_i_width_um)
        assert "I/II" not in est.borders
    assert analyse_profile(tp.mean(0), T, tp).layer_i_width_um == pytest.approx(200.0, abs=20.0)


def test_readout_of_a_strip_with_two_traverses_says_layer_i_is_not_read():
    # a strip 24 µm wide across the ribbon gives two traverses: no layer I sentence, a
    # note saying why
    strip = np.array([[600.0, 3000.0], [600.0, 3024.0], [4400.0, 3024.0], [4400.0, 3000.0]])
    r = measure_roi(layered_section(), strip, cells=False, profile_um=16.0)
    assert r.measured and r.n_traverses == 2
    assert np.isnan(r.layers.layer_i_width_um)
    text = " ".join(r.statements())
    assert "Layer I, the cell-sparse band" not in text
    assert "Layer I: not read on 2 traverses (>= 3 wanted" in text


TT = 1600.0  # a thin cortex (µm): subgenual area 25, pregenual 24/32, agranular insula


def thin_column(
    l1_um: float,
    n: int = 100,
    edge: float = 0.35,
    levels: tuple[float, float, float, float] = (0.35, 1.0, 0.7, 1.1),
    ii_um: float = 120.0,
) -> np.ndarray:
    """A profile (``n`` relative depths, pia first) of a thin cortex :data:`TT` µm thick
    with a broad layer I: the pia's edge (first 25 µm) as pale as ``edge``, then
    ``levels``: layer I ``l1_um`` wide, layer II ``ii_um``, layer III down to 55 % depth,
    a dense layer V to 80 %; layer VI 0.8; borders softened over 40 µm, the pial edge
    over 10 µm (as :func:`column`)."""
    depth = (np.arange(n) + 0.5) / n * TT
    i, ii, iii, v = levels
    p = np.select(
        [depth < l1_um, depth < l1_um + ii_um, depth < 0.55 * TT, depth < 0.8 * TT],
        [i, ii, iii, v],
        0.8,
    )
    p = gaussian_filter1d(p, 40.0 / (TT / n), mode="nearest")
    s = gaussian_filter1d((depth < 25).astype(float), 10.0 / (TT / n), mode="nearest")
    return s * edge + (1 - s) * p


@pytest.mark.parametrize("l1_um", [350.0, 450.0, 500.0, 560.0])
def test_broad_layer_i_of_a_thin_cortex_is_read_under_a_clear_layer_ii(l1_um):
    # layer I 22-35 % of a 1.6 mm cortex over a clear, thin layer II band (subgenual
    # area 25, entorhinal cortex): read on each traverse and the median taken, not "not
    # read" (before: nothing deeper than 25 % was read)
    rng = np.random.default_rng(1)
    widths = l1_um + rng.uniform(-40.0, 40.0, 9)
    tp = np.array([thin_column(w) * np.exp(rng.normal(0, 0.03, 100)) for w in widths])
    est = analyse_profile(tp.mean(0), TT, tp)
    assert est.layer_i_width_um == pytest.approx(np.median(widths), abs=35.0)
    assert est.borders["I/II"][0] == pytest.approx(np.median(widths) / TT, abs=0.025)
    assert np.isnan(est.layer_i_too_deep)


def test_broad_layer_i_is_not_read_where_its_only_band_is_a_broad_one_of_iii_or_v():
    # the same thin cortex, layer I 200 µm, but layer II too faint to count (0.40 against
    # the pale band's 0.35) and layer III nearly as pale: the first band to count is the
    # dense layer V, 350 µm wide at 55-80 % depth made to start at 30 % here (layer III
    # thin, as in area 25). Half-way up to it lies at ~29 % of the depth: a band that
    # broad is not a layer II, and the border is not read; the depth is kept for the note
    tp = np.array(
        [
            thin_column(w, levels=(0.35, 0.40, 0.37, 1.1), ii_um=90.0)
            for w in (180.0, 200.0, 220.0, 200.0)
        ]
    )
    # layer V from 30 % (480 µm) down: III between II and 480 µm
    depth = (np.arange(100) + 0.5) / 100 * TT
    band = gaussian_filter1d(((depth >= 480) & (depth < 0.8 * TT)).astype(float), 40 / 16)
    tp = tp + band * (1.1 - 0.37)
    est = analyse_profile(tp.mean(0), TT, tp)
    assert np.isnan(est.layer_i_width_um)
    assert "I/II" not in est.borders
    assert 0.26 <= est.layer_i_too_deep <= 0.32


def test_broad_layer_i_is_not_read_under_a_faint_layer_ii_above_a_narrow_band():
    # a narrow dense band (layer II-wide, 120 µm) at 31 % depth, but the band above it
    # not cell-sparse all the way down: a faint layer II (0.5) at 200 µm and layer III
    # (0.45) above it, both well above the pale band's 0.35 (a fluorescent scan read
    # inverted: the band is a row of large pyramids): not read
    depth = (np.arange(100) + 0.5) / 100 * TT
    p = np.select(
        [depth < 200, depth < 300, depth < 500, depth < 620, depth < 0.8 * TT],
        [0.35, 0.5, 0.45, 1.2, 0.7],
        0.8,
    )
    p = gaussian_filter1d(p, 40.0 / 16.0, mode="nearest")
    # too faint to count: the faint II's prominence is under L1_BAND_MIN of the range
    est = analyse_profile(p, TT, np.array([p, p, p]))
    assert np.isnan(est.layer_i_width_um)
    assert np.isfinite(est.layer_i_too_deep)


def test_a_few_deep_borders_among_shallower_ones_are_not_read():
    # 6 traverses with layer I 280-330 µm and 3 with a border at 30 % (480-500 µm) under
    # a clear layer II: a broad layer I is the region's, so a third of the traverses
    # deep is layer II too faint on them; the median is that of the six (before: of all
    # nine, 320 µm)
    shallow = [thin_column(w) for w in (280.0, 290.0, 300.0, 310.0, 320.0, 330.0)]
    deep = [thin_column(w) for w in (480.0, 490.0, 500.0)]
    six = layer_i_bottom(np.mean(shallow, 0), TT, np.array(shallow))
    assert np.isfinite(layer_i_bottom(np.mean(deep, 0), TT, np.array(deep)))
    tp = np.array(shallow + deep)
    assert layer_i_bottom(tp.mean(0), TT, tp) == pytest.approx(six, abs=1e-9)
    # as many deep as shallow: the median of all
    tp = np.array(shallow[:3] + deep)
    assert layer_i_bottom(tp.mean(0), TT, tp) * TT > 380.0


def test_layer_i_is_never_read_deeper_than_l1_deep_max():
    # layer I 45 % of the cortex under a clear layer II: not a layer I
    tp = np.array([thin_column(w) for w in (700.0, 720.0, 740.0)])
    est = analyse_profile(tp.mean(0), TT, tp)
    assert np.isnan(est.layer_i_width_um)


def test_readout_reads_a_broad_layer_i_in_a_thin_cortex():
    # a hand-made slide of the thin cortex (layer I 480 µm of 1.6 mm, 30 %), read at the
    # benchmark's 16 µm/px: its width within 50 µm, no note
    r = measure_roi(thin_section(480.0), THIN_ROI, cells=False, profile_um=16.0)
    assert r.measured and r.n_traverses >= 10
    assert r.layers.layer_i_width_um == pytest.approx(480.0, abs=50.0)
    assert not any(x.startswith("layer I: not read") for x in r.reasons)


def thin_section(l1_um: float, seed: int = 0) -> Section:
    """:func:`layered_section`'s slide with the :func:`thin_column` cortex (layer I
    ``l1_um``) :data:`TT` µm thick."""
    h = w = 6000.0
    yy, xx = (np.mgrid[0 : int(h / PX), 0 : int(w / PX)] + 0.5) * PX
    depth = yy - PIA_Y
    lev = thin_column(l1_um, n=int(TT / 5.0))
    od = np.interp(depth, (np.arange(len(lev)) + 0.5) * 5.0, lev)
    to_wm = 1 / (1 + np.exp(-(depth - TT) / 50.0))
    od = (1 - to_wm) * od + to_wm * 0.25
    glass = (depth < 0) | (yy > h - 600.0) | (np.abs(xx - w / 2) > w / 2 - 700.0)
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, 0.6 * od * np.exp(rng.normal(0, 0.15, od.shape)))
    img = np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)
    return Section([da.from_array(img, chunks=1024)], [PX], name="thin")


THIN_ROI = np.array([[600.0, 1500.0], [600.0, 4500.0], [3000.0, 4500.0], [3000.0, 1500.0]])
