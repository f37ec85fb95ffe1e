"""The model-free readout (cytowords.measure) against the generator's truth and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure import MeasureError, analyse_profile, measure_roi
from cytowords.measure import readout as readout_mod
from cytowords.measure.layers import IV_GRAIN, IV_GRAIN_RECOVERY
from cytowords.synth import section_geometry, truth_at, truth_in_roi, virtual_section
from cytowords.synth.truth import apparent_width_um

# the classic generator: the sites below were found on its geometry (the realistic

# default folds differently)
SEED, PIN = 203, "classic"
# 3 mm squares across the ribbon (pia and white matter in view) on brain 203
SITES = {"4p": (40192.0, 11648.0), "hOc1": (31232.0, 73984.0)}


@pytest.fixture(scope="module")
def section():
    return virtual_section(SEED, pixel_size_um=2.0, variation=PIN)


def square(y: float, x: float, half: float = 1500.0) -> np.ndarray:
    return np.array(
        [[y - half, x - half], [y - half, x + half], [y + half, x + half], [y + half, x - half]]
    )


@pytest.mark.parametrize("area", ["4p", "hOc1"])
def test_thickness_matches_generator_truth(section, area):
    roi = square(*SITES[area])
    r = measure_roi(section, roi, cells=False, profile_um=16.0)
    truth = truth_in_roi(section, roi)
    assert truth["area"] == area
    assert r.n_traverses >= 10
    rel = (
        abs(r.thickness_mm * 1000 - truth["apparent_thickness_um"]) / truth["apparent_thickness_um"]
    )
    assert rel < 0.15, (r.thickness_mm, truth["apparent_thickness_um"])
    assert r.profile_mean.shape == (100,) and np.all(r.profile_sd >= 0)
    d = r.to_dict()
    assert d["thickness_mm"]["median"] == pytest.approx(r.thickness_mm, abs=1e-3)
    assert len(d["traverses_um"]) == r.n_traverses
    # without the traverses' coordinates: all the rest, the same
    assert r.to_dict(traverses=False) == {k: v for k, v in d.items() if k != "traverses_um"}
    assert d["statements"][0].startswith("The cortex is about")


def _grain_layers(section, area):
    r = measure_roi(section, square(*SITES[area]), cells=False, profile_um=16.0)
    assert r.grain_mean.shape == (100,) and np.all((r.grain_mean > 0) & (r.grain_mean < 1))
    return r.layers


def test_layer_iv_from_the_grain_in_hoc1(section):
    # at 2 µm/px the grain of the stain is read and decides: hOc1 shows a band of large
    # somata above finer ones
    lay = _grain_layers(section, "hOc1")
    assert lay.iv_present is True and lay.iv_evidence == "profile and grain"
    assert lay.cortex_type in ("granular", "koniocortex")
    assert lay.grain_prominence >= IV_GRAIN and 0.3 <= lay.grain_depth <= 0.72
    assert lay.grain_recovery >= IV_GRAIN_RECOVERY


def test_layer_iv_undecided_in_4p(section):
    # primary motor cortex: the large pyramids of III and V make a grain dip as deep as a
    # granular area's, but the grain stays coarse beneath it (no band of small cells)
    lay = _grain_layers(section, "4p")
    assert lay.grain_prominence >= IV_GRAIN and lay.grain_recovery < IV_GRAIN_RECOVERY
    assert lay.iv_present is None and lay.cortex_type is None
    assert "no band of finer ones beneath it" in lay.iv_undecided


def test_layer_iv_from_the_profile_alone_without_a_fine_level(section, monkeypatch):
    # a scan without a level at GRAIN_UM or finer: the profile's band alone
    monkeypatch.setattr(readout_mod, "GRAIN_UM", 1.0)
    got = {}
    for area, site in SITES.items():
        r = measure_roi(section, square(*site), cells=False, profile_um=16.0)
        assert r.grain_mean.size == 0 and not np.isfinite(r.layers.grain_prominence)
        got[area] = r.layers
    assert got["hOc1"].iv_present is True and got["hOc1"].iv_evidence == "profile"
    assert got["hOc1"].cortex_type in ("granular", "koniocortex")
    assert got["4p"].iv_present is None and got["4p"].cortex_type is None
    assert got["4p"].profile_cortex_type in ("agranular", "dysgranular")
    assert "band between layers III and V" in got["4p"].iv_undecided


@pytest.mark.parametrize("area, cells_say", [("hOc1", ("granular",)), ("4p", ("agranular", "dysgranular"))])
def test_layer_iv_from_detected_somata(section, area, cells_say):
    # at 2 µm/px the somata are measured too; the grain decides (4p: see above), the
    # somata give the borders where they show a granule band in a region with a layer IV
    r = measure_roi(section, square(*SITES[area]), cells=True, profile_um=16.0)
    assert r.cells is not None and r.layers.iv_evidence.startswith("profile and grain")
    assert r.layers.iv_cells.verdict in cells_say and r.layers.iv_cells.n_somata > 500
    if area == "hOc1":
        assert r.layers.cortex_type in ("granular", "koniocortex")
        assert r.layers.iv_evidence == "profile and grain and cells"
        assert r.layers.iv_top == r.layers.iv_cells.top and "III/IV" in r.layers.borders


def _profile(iv: bool) -> np.ndarray:
    d = (np.arange(100) + 0.5) / 100
    p = 0.1 + 0.3 * (d > 0.1) + 0.05 * np.exp(-(((d - 0.8) / 0.08) ** 2))
    if iv:
        p = p + 0.15 * np.exp(-(((d - 0.5) / 0.04) ** 2))
    return p


def test_hand_made_profiles_with_and_without_layer_iv():
    with_iv = analyse_profile(_profile(True), 2500.0)
    without = analyse_profile(_profile(False), 2500.0)
    assert with_iv.iv_present and 0.4 < with_iv.iv_top < 0.5 < with_iv.iv_bottom < 0.6
    assert without.iv_present is None and without.cortex_type is None
    assert without.profile_cortex_type == "agranular"
    # layer I: the profile rises at 10 % depth, i.e. 250 µm of 2.5 mm
    assert without.layer_i_width_um == pytest.approx(250.0, abs=30.0)
    # a broad dark band (large pyramids of III-V) is not layer IV
    d = (np.arange(100) + 0.5) / 100
    broad = _profile(False) + 0.15 * np.exp(-(((d - 0.5) / 0.15) ** 2))
    assert not analyse_profile(broad).iv_present
    assert analyse_profile(broad).iv_undecided is not None
    # contrast and stain scale do not matter
    assert analyse_profile(3.0 * _profile(True) + 1.0).iv_present


def test_empty_roi_is_an_error(section):
    with pytest.raises(MeasureError, match="empty"):
        measure_roi(section, np.array([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]]))
    with pytest.raises(MeasureError, match="empty"):
        measure_roi(section, np.zeros((0, 2)))


def test_roi_outside_the_section_is_an_error(section):
    with pytest.raises(MeasureError, match="outside the section"):
        measure_roi(section, square(-5000.0, -5000.0, 1000.0))


def test_roi_on_white_matter_says_so(section):
    geom = section_geometry(SEED, variation=PIN)
    ys, xs = np.mgrid[20000:40000:500, 20000:60000:500]
    t = truth_at(geom, np.stack([ys.ravel(), xs.ravel()], 1).astype(float))
    j = int(np.argmax(t["rel_depth"]))  # deepest white matter
    y, x = ys.ravel()[j], xs.ravel()[j]
    r = measure_roi(section, square(y, x, 500.0), cells=False, profile_um=16.0)
    assert not r.measured
    assert any("not cortex" in s or "no pia" in s for s in r.reasons), r.reasons


def test_roi_crossing_the_section_edge(section):
    r = measure_roi(section, square(300.0, 40000.0, 1000.0), cells=False, profile_um=32.0)
    assert any("section edge" in s for s in r.reasons)
    assert not r.measured  # glass only near the slide's edge


def test_cancel_and_progress(section):
    seen = []
    with pytest.raises(Exception, match="cancelled"):
        measure_roi(
            section,
            square(*SITES["hOc1"], 800.0),
            profile_um=32.0,
            cancel=lambda: len(seen) > 0,
            on_progress=lambda d, n: seen.append((d, n)),
        )
    assert seen and seen[0][0] == 0


def test_truth_at_layers_and_special_cells():
    geom = section_geometry(SEED, variation=PIN)
    t = truth_at(geom, np.array([SITES["4p"], SITES["hOc1"]]))
    assert list(t["area"]) == ["4p", "hOc1"]
    assert list(t["iv_present"]) == [False, True]
    tops = t["layer_tops"]
    assert np.all(np.diff(tops, axis=1) >= 0) and np.all(tops[:, 0] == 0)
    hoc1 = t["per_area"]["hOc1"]
    assert hoc1["density_per_mm2"]["IV"] > hoc1["density_per_mm2"]["V"]
    assert [s["kind"] for s in hoc1["special"]] == ["meynert"]
    # Betz cells are listed for 4p in the atlas but the generator does not render them
    p4 = t["per_area"]["4p"]
    assert p4["special"] == [] and p4["special_not_rendered"][0]["kind"] == "betz"
    # in a virtual section depth is a distance to the pia: apparent == true thickness
    np.testing.assert_allclose(t["apparent_thickness_um"], t["thickness_um"], rtol=0.05)


def test_apparent_width_is_traced_across_the_ribbon():
    # realistic generator (oblique cuts): an oblique cut only widens the ribbon; the width
    # is NaN outside the cortex
    real = section_geometry(205)
    ys, xs = np.mgrid[20000:40000:2500.0, 20000:60000:2500.0]
    pts = np.stack([ys.ravel(), xs.ravel()], 1)
    t = truth_at(real, pts)
    mid = np.flatnonzero((t["rel_depth"] > 0.3) & (t["rel_depth"] < 0.7))[:6]
    w = apparent_width_um(real, pts[mid])
    ok = np.isfinite(w)
    assert ok.sum() >= 0.75 * len(mid)
    assert np.all(w[ok] >= 0.97 * t["thickness_um"][mid][ok])
    assert np.isnan(apparent_width_um(real, np.array([[0.0, 0.0]])))[0]
