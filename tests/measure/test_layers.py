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


def test_cells_decide_layer_iv_over_the_profile():
    depth = (np.arange(100) + 0.5) / 100
    flat = 1.0 + 0.5 * (depth > 0.1)  # pale layer I, then no band at all
    est = analyse_profile(flat, 2500.0)
    assert est.cortex_type == "agranular" and est.iv_evidence == "profile"
    est = with_cell_iv(est, iv_from_cells(*somata(GRANULAR)))
    assert est.cortex_type == "granular" and est.iv_present and est.iv_evidence == "cells"
    assert est.profile_cortex_type == "agranular"
    assert est.iv_width_um == pytest.approx((est.iv_bottom - est.iv_top) * 2500.0)
    d = est.to_dict()
    assert d["iv_cells"]["verdict"] == "granular" and d["iv_evidence"] == "cells"
    # no verdict from the cells: the profile's stands
    est2 = with_cell_iv(analyse_profile(flat, 2500.0), iv_from_cells(np.zeros(0), np.zeros(0)))
    assert est2.cortex_type == "agranular" and est2.iv_evidence == "profile"


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
    assert d["layers"]["iv_evidence"] == "cells" and d["layer_density_per_mm2"] is None
    flat = analyse_profile(_profile([(0, 0.1, 0.2), (0.1, 1.0, 1.0)]) + 1.0, 2000.0)
    said = " ".join(Readout(area_mm2=9.0, profile_pixel_um=16.0, layers=flat).statements())
    assert "no dense band between layers III and V" in said
    assert "not shown: II/III, V/VI" in said


def test_the_somata_call_reaches_the_caption_rules():
    # the readout vector (what a readout-conditioned captioner reads and what decides which
    # caption clauses are shown) carries the cortex type the somata decided
    from cytowords.measure import Readout
    from cytowords.measure.vector import claim_unsupported, readout_vector, vector_values

    laminated = analyse_profile(_profile(LAMINATED) + 1.0, 2500.0)
    assert laminated.cortex_type in ("granular", "koniocortex")
    claim = "A prominent inner granular layer IV."
    for layers, ctype, shown in (
        (with_cell_iv(laminated, iv_from_cells(*somata(AGRANULAR))), "agranular", False),
        (with_cell_iv(_flat(), iv_from_cells(*somata(GRANULAR))), "granular", True),
        (_flat(), "agranular", False),  # no cells measured: the profile decides
    ):
        r = Readout(area_mm2=9.0, profile_pixel_um=16.0, n_traverses=12, thickness_mm=2.5)
        r.layers = layers
        v = readout_vector(r)
        assert vector_values(v)["cortex_type"] == ctype
        assert claim_unsupported(claim, v) is not shown


def _flat():
    """A profile with a pale layer I and no band below it (agranular to the profile)."""
    return analyse_profile(_profile([(0, 0.1, 0.2), (0.1, 1.0, 1.0)]) + 1.0, 2500.0)


@pytest.mark.xfail(
    strict=True,
    reason="the pyramid bands are the largest-soma windows, the band the best of many "
    "candidates: on columns without a layer IV, sampling noise passes as a granule band "
    "in most draws (docs/measure.md, Layer IV from detected somata)",
)
def test_agranular_soma_tables_read_agranular_whatever_the_draw():
    verdicts = [iv_from_cells(*somata(AGRANULAR, seed=s)).verdict for s in range(5)]
    assert verdicts == ["agranular"] * 5
