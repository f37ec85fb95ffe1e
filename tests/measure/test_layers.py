"""Layer IV from somata (sizes and counts per depth) and how it joins the profile's verdict."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure import analyse_profile
from cytowords.measure.layers import iv_from_cells, with_cell_iv

#: (top, bottom, somata per unit depth, soma size µm): layers II..VI of a column
GRANULAR = [
    (0.08, 0.16, 2400, 7),
    (0.16, 0.45, 1400, 12),
    (0.45, 0.55, 2600, 7),
    (0.55, 0.75, 1300, 11),
    (0.75, 1.0, 1500, 8),
]
AGRANULAR = [
    (0.08, 0.14, 900, 7),
    (0.14, 0.48, 1000, 10),
    (0.48, 0.72, 1000, 14),
    (0.72, 1.0, 1400, 8),
]
DYSGRANULAR = [
    (0.08, 0.15, 1400, 7),
    (0.15, 0.45, 1400, 12),
    (0.45, 0.51, 800, 7),
    (0.51, 0.72, 1450, 10),
    (0.72, 1.0, 1500, 9),
]


def somata(layers, scale: float = 1.0, n_per_unit: float = 1.0, seed: int = 0):
    """Depths and sizes of somata drawn layer by layer (sizes with a 20 % spread)."""
    rng = np.random.default_rng(seed)
    depth, size = [], []
    for top, bottom, count, um in layers:
        n = int(count * (bottom - top) * n_per_unit)
        depth.append(rng.uniform(top, bottom, n))
        size.append(rng.normal(um, 0.2 * um, n).clip(3) * scale)
    return np.concatenate(depth), np.concatenate(size)


def test_granular_band_of_small_dense_cells_between_the_pyramids():
    r = iv_from_cells(*somata(GRANULAR))
    assert r.verdict == "granular"
    assert r.size_ratio < 0.8 and r.density_ratio > 1.3
    assert 0.40 <= r.top <= 0.47 and 0.53 <= r.bottom <= 0.60


@pytest.mark.parametrize("scale", [0.7, 1.0, 1.6])
def test_verdicts_do_not_depend_on_absolute_sizes(scale):
    # shrinkage, section thickness or a wrong calibration scale every soma alike
    assert iv_from_cells(*somata(GRANULAR, scale)).verdict == "granular"
    assert iv_from_cells(*somata(AGRANULAR, scale)).verdict == "agranular"
    assert iv_from_cells(*somata(DYSGRANULAR, scale)).verdict == "dysgranular"


def test_too_few_somata_say_nothing():
    r = iv_from_cells(*somata(GRANULAR, n_per_unit=0.02))
    assert r.verdict is None and np.isnan(r.top)
    assert iv_from_cells(np.zeros(0), np.zeros(0)).verdict is None


def test_layer_iv_is_shown_only_when_the_profile_and_the_somata_agree():
    depth = (np.arange(100) + 0.5) / 100
    flat = 1.0 + 0.5 * (depth > 0.1)  # pale layer I, then no band at all
    est = analyse_profile(flat, 2500.0)
    assert est.cortex_type is None and est.iv_present is None and est.iv_evidence == "profile"
    assert est.profile_cortex_type == "agranular" and "no dense band" in est.iv_undecided
    # the somata alone show a granule band: still undecided, and the readout says why
    est = with_cell_iv(est, iv_from_cells(*somata(GRANULAR)))
    assert est.cortex_type is None and est.iv_present is None
    assert est.iv_evidence == "profile and cells" and est.iv_cells.verdict == "granular"
    assert est.iv_undecided.startswith("the somata show a band of small, densely packed cells")
    assert np.isnan(est.iv_top) and np.isnan(est.iv_width_um)
    d = est.to_dict()
    assert d["iv_cells"]["verdict"] == "granular" and d["cortex_type"] is None
    assert d["iv_present"] is None and d["iv_undecided"] == est.iv_undecided
    # both show it: granular, its borders from the somata
    both = with_cell_iv(
        analyse_profile(_profile(LAMINATED) + 1.0, 2500.0), iv_from_cells(*somata(GRANULAR))
    )
    assert both.cortex_type in ("granular", "koniocortex") and both.iv_present is True
    assert both.iv_undecided is None and both.iv_evidence == "profile and cells"
    assert both.iv_width_um == pytest.approx((both.iv_bottom - both.iv_top) * 2500.0)
    # a dense band the somata do not confirm: undecided
    veto = with_cell_iv(
        analyse_profile(_profile(LAMINATED) + 1.0, 2500.0), iv_from_cells(*somata(AGRANULAR))
    )
    assert veto.cortex_type is None and veto.profile_cortex_type in ("granular", "koniocortex")
    assert veto.iv_undecided.startswith("the profile shows a dense band")
    # neither shows one: undecided too (no agranular call)
    none = with_cell_iv(analyse_profile(flat, 2500.0), iv_from_cells(*somata(AGRANULAR)))
    assert none.cortex_type is None and none.iv_undecided.startswith("neither the profile")
    # no verdict from the cells: the profile's call stands
    est2 = with_cell_iv(analyse_profile(flat, 2500.0), iv_from_cells(np.zeros(0), np.zeros(0)))
    assert est2.cortex_type is None and est2.iv_evidence == "profile"
    est3 = with_cell_iv(
        analyse_profile(_profile(LAMINATED) + 1.0, 2500.0),
        iv_from_cells(np.zeros(0), np.zeros(0)),
    )
    assert est3.cortex_type in ("granular", "koniocortex") and est3.iv_evidence == "profile"


def _profile(bands, n: int = 100) -> np.ndarray:
    """A hand-made profile: (top, bottom, level) bands, softened over 2 % depth."""
    from scipy.ndimage import gaussian_filter1d

    depth = (np.arange(n) + 0.5) / n
    p = np.zeros(n)
    for top, bottom, level in bands:
        p[(depth >= top) & (depth < bottom)] = level
    return gaussian_filter1d(p, 2.0, mode="nearest")


#: pale I, dense II, paler III, dense IV, pale V, denser VI (borders 0.08 0.16 0.45 0.55 0.75)
LAMINATED = [(0, 0.08, 0.2), (0.08, 0.16, 1.0), (0.16, 0.45, 0.6), (0.45, 0.55, 1.0),
             (0.55, 0.75, 0.45), (0.75, 1.0, 0.8)]  # fmt: skip


def test_layer_borders_where_the_profile_shows_them():
    est = analyse_profile(_profile(LAMINATED) + 1.0, 2500.0)
    b = est.borders
    assert list(b) == ["I/II", "II/III", "III/IV", "IV/V", "V/VI"]
    for name, true in zip(b, (0.08, 0.16, 0.45, 0.55, 0.75)):
        assert b[name][0] == pytest.approx(true, abs=0.03), name
        assert 0 < b[name][1] <= 1
    spans = est.layer_spans()
    assert spans["V"] == (b["IV/V"][0], b["V/VI"][0])
    d = est.to_dict()
    assert d["layer_spans"]["VI"]["width_um"] == pytest.approx((1 - b["V/VI"][0]) * 2500, abs=1)
    assert d["borders"]["II/III"]["confidence"] > 0.5


def test_layer_borders_abstain_on_a_plain_profile():
    # pale I then one flat band: only the I/II border is shown
    est = analyse_profile(_profile([(0, 0.1, 0.2), (0.1, 1.0, 1.0)]) + 1.0, 2000.0)
    assert list(est.borders) == ["I/II"]
    assert set(est.layer_spans()) == {"I"}


def test_cells_replace_the_profile_iv_borders():
    est = analyse_profile(_profile(LAMINATED) + 1.0, 2500.0)
    est = with_cell_iv(est, iv_from_cells(*somata(AGRANULAR)))
    assert "III/IV" not in est.borders and "IV/V" not in est.borders
    assert "V/VI" in est.borders
    est = with_cell_iv(
        analyse_profile(_profile(LAMINATED) + 1.0, 2500.0), iv_from_cells(*somata(GRANULAR))
    )
    assert est.borders["III/IV"][0] == pytest.approx(est.iv_top)


def test_readout_statements_say_what_the_somata_and_the_profile_show():
    from cytowords.measure import Readout

    est = with_cell_iv(
        analyse_profile(_profile(LAMINATED) + 1.0, 2500.0), iv_from_cells(*somata(GRANULAR))
    )
    r = Readout(area_mm2=9.0, profile_pixel_um=16.0, layers=est)
    said = " ".join(r.statements())
    assert "The somata show a broad band of small, densely packed cells" in said  # konio
    assert "Layer borders shown (relative depth from the pia): I/II at" in said
    assert "not shown" not in said  # all five borders are shown
    d = r.to_dict()
    assert d["layers"]["iv_evidence"] == "profile and cells"
    assert d["layer_density_per_mm2"] is None
    flat = analyse_profile(_profile([(0, 0.1, 0.2), (0.1, 1.0, 1.0)]) + 1.0, 2000.0)
    said = " ".join(Readout(area_mm2=9.0, profile_pixel_um=16.0, layers=flat).statements())
    assert "Layer IV is undecided: the profile shows no dense band between layers III and V" in said
    assert "agranular" not in said
    assert "not shown: II/III, III/IV, IV/V, V/VI" in said


def test_an_undecided_layer_iv_drops_every_layer_iv_claim():
    # the readout vector (what a readout-conditioned captioner reads and what decides which
    # caption clauses are shown): no cortex type while layer IV is undecided, and then no
    # claim about layer IV either way is shown (one rule: claim_unsupported)
    from cytowords.measure import Readout
    from cytowords.measure.caption_claims import claim_unsupported
    from cytowords.measure.vector import readout_vector, vector_values

    laminated = analyse_profile(_profile(LAMINATED) + 1.0, 2500.0)
    assert laminated.cortex_type in ("granular", "koniocortex")
    present, absent = "A prominent inner granular layer IV.", "Agranular cortex."
    thick = "The cortex is thick."
    for layers, ctype, shown in (
        (with_cell_iv(laminated, iv_from_cells(*somata(AGRANULAR))), None, (False, False)),
        (with_cell_iv(_flat(), iv_from_cells(*somata(GRANULAR))), None, (False, False)),
        (_flat(), None, (False, False)),  # no cells measured: the profile alone
        (analyse_profile(_profile(LAMINATED) + 1.0, 2500.0), "koniocortex", (True, False)),
    ):
        r = Readout(area_mm2=9.0, profile_pixel_um=16.0, n_traverses=12, thickness_mm=2.5)
        r.layers = layers
        v = readout_vector(r)
        assert vector_values(v)["cortex_type"] == ctype
        assert vector_values(v)["iv_rel_width"] == (0.0 if ctype is None else pytest.approx(
            layers.iv_bottom - layers.iv_top))
        assert claim_unsupported(present, v) is not shown[0]
        assert claim_unsupported(absent, v) is not shown[1]
        assert not claim_unsupported(thick, v)  # 2.5 mm: neither thin nor thick contradicted
    # nothing measured: nothing is contradicted or undecided
    assert not claim_unsupported(present, readout_vector(None))


def _flat():
    """A profile with a pale layer I and no band below it (layer IV undecided)."""
    return analyse_profile(_profile([(0, 0.1, 0.2), (0.1, 1.0, 1.0)]) + 1.0, 2500.0)


def test_agranular_soma_tables_read_agranular_whatever_the_draw():
    # each window against all somata above and below (not the largest-soma windows): no
    # draw's sampling noise passes as a granule band
    verdicts = [iv_from_cells(*somata(AGRANULAR, seed=s)).verdict for s in range(5)]
    assert verdicts == ["agranular"] * 5
