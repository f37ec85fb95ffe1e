"""Equivolumetric depths along the ribbon: one area's profile on a crown and in a fundus
(hand-made ring-shaped cortex, tests/support/annulus.py), and degenerate input."""

import numpy as np
import pytest

from cytowords.measure import MeasureError
from cytowords.measure.borders import find_borders
from cytowords.measure.traverses import BEND_RANGE, Traverse, column_bend, equivolume_depth
from tests.support.annulus import BAND, R_CROWN, R_FUNDUS, T, band_depth, ring_path, ring_section

DEPTH = (np.arange(100) + 0.5) / 100


def _band_at(profile: np.ndarray) -> float:
    """Relative depth of the dense band (the profile's maximum below layer I)."""
    below = DEPTH > 0.25
    return float(DEPTH[below][np.argmax(profile[below])])


@pytest.fixture(scope="module")
def rings():
    out = {}
    for kind in ("crown", "fundus"):
        sec = ring_section(kind)
        out[kind] = {eq: find_borders(sec, ring_path(kind), equivolume=eq) for eq in (True, False)}
    return out


def test_bend_read_from_the_traverses_of_a_crown_and_a_fundus(rings):
    for kind, want in (("crown", T / R_CROWN), ("fundus", -T / R_FUNDUS)):
        r = rings[kind][True]
        assert len(r.profiles) >= 0.95 * len(np.arange(50, r.path_length_um, 100))
        k = column_bend([Traverse(t, 0.0, 0.0) for t in r.traverses_um])
        assert np.median(k) == pytest.approx(want, abs=0.05)


def test_equivolume_profile_is_the_same_on_a_crown_and_in_a_fundus(rings):
    crown = {eq: rings["crown"][eq].profiles.mean(0) for eq in (True, False)}
    fundus = {eq: rings["fundus"][eq].profiles.mean(0) for eq in (True, False)}
    # equivolumetric depths: the band half-way down the volume on both
    assert _band_at(crown[True]) == pytest.approx(BAND, abs=0.03)
    assert _band_at(fundus[True]) == pytest.approx(BAND, abs=0.03)
    # equidistant depths: higher on the crown (0.40), deeper in the fundus (0.58)
    assert _band_at(crown[False]) == pytest.approx(band_depth(T / R_CROWN), abs=0.03)
    assert _band_at(fundus[False]) == pytest.approx(band_depth(-T / R_FUNDUS), abs=0.03)
    rms = {eq: float(np.sqrt(np.mean((crown[eq] - fundus[eq]) ** 2))) for eq in (True, False)}
    assert rms[True] < 0.25 * rms[False]
    assert rms[True] < 0.05 * np.ptp(crown[True])
    # one area all round: no border either way
    assert len(rings["crown"][True].border_along_um) == 0
    assert len(rings["fundus"][True].border_along_um) == 0


def test_column_bend_of_degenerate_traverses_is_no_bend():
    assert column_bend([]).shape == (0,)
    one = Traverse(np.array([[0.0, 0.0], [10.0, 0.0]]), 10.0, 10.0)
    assert column_bend([one]).tolist() == [0.0]
    # all from one pial point (no column width at the pia): no bend, not a division by 0
    fan = [Traverse(np.array([[0.0, 0.0], [10.0, float(x)]]), 10.0, 10.0) for x in range(5)]
    k = column_bend(fan)
    assert np.isfinite(k).all() and (k == 0).all()
    # crossing traverses (wider at the white matter than any column can be) are clipped
    cross = [
        Traverse(np.array([[0.0, float(x)], [10.0, float(-40 * x)]]), 10.0, 10.0) for x in range(5)
    ]
    k = column_bend(cross)
    assert (k >= BEND_RANGE[0]).all() and (k <= BEND_RANGE[1]).all()


@pytest.mark.parametrize("k", [BEND_RANGE[0], -0.5, 0.0, 0.5, BEND_RANGE[1]])
def test_equivolume_depths_stay_in_the_column_and_in_order(k):
    a = np.linspace(0.0, 1.0, 101)
    d = equivolume_depth(a, k)
    assert d[0] == pytest.approx(0.0, abs=1e-12) and d[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(d) > 0)


def test_bad_path_on_a_ring_is_one_clear_error():
    sec = ring_section("crown")
    path = ring_path("crown")
    path[3] = np.nan
    with pytest.raises(MeasureError, match="finite"):
        find_borders(sec, path)
    # a path across the glass far from the ring: no grey matter within reach
    with pytest.raises(MeasureError, match="off the cortex"):
        find_borders(sec, [[300.0, 300.0], [300.0, 13700.0]])
