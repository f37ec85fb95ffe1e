"""The evaluation scores the shown captions' white-matter border claims against the area's
atlas term (a kind of the claim accuracy), simulates the readout's border term beside its
vector with the errors measured against that term, and reports (does not score in the
claim accuracy) the laminar contrast words, which nothing checks."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from cytowords.measure.vector import make_vector, missing_vector
from cytowords.training.data.readout_truth import (
    REGION_NOISE,
    WM_BORDER_ERRORS,
    FieldTruth,
    brain_truth,
    simulated_vectors,
    simulated_wm_border,
    simulated_wm_borders,
)
from cytowords.training.evaluate.claims import (
    caption_scores,
    claim_checks,
    field_wm_borders,
    laminar_contrast_claims,
    truth_claims,
    unverified_checks,
)

SHARP = FieldTruth("7A", 2.8, 200.0, "granular", 0.1, (), "sharp", "moderate")
GRADUAL = replace(SHARP, area="PFt", wm_border="gradual", laminar_contrast="blurred")


def test_truth_holds_the_atlas_terms():
    # 3b and hOc1 have a sharp border in the atlas, PFt a gradual one (dev.log of session 43)
    assert brain_truth(205, "3b").wm_border == "sharp"
    assert brain_truth(205, "hOc1").wm_border == "sharp"
    assert brain_truth(205, "PFt").wm_border == "gradual"
    assert brain_truth(205, "hOc1").laminar_contrast == "sharp"
    assert brain_truth(205, "p24ab").laminar_contrast == "blurred"


def test_border_claims_are_scored_against_the_atlas_term():
    cap = "Area 7A (x): granular cortex; sharp lamination and a sharp white matter border."
    assert ("wm_border", True) in claim_checks(cap, truth_claims(SHARP))
    assert ("wm_border", False) in claim_checks(cap, truth_claims(GRADUAL))
    # no term known: not judged; no claim: nothing scored
    assert all(k != "wm_border" for k, _ in claim_checks(cap, {"wm_border": None}))
    assert all(k != "wm_border" for k, _ in claim_checks("Area 7A: thin.", truth_claims(SHARP)))
    s = caption_scores([cap, cap], ["7A", "PFt"], [SHARP, GRADUAL], set())
    assert s["claim_accuracy_by_kind"]["wm_border"] == pytest.approx(0.5)
    assert s["claim_counts_by_kind"]["wm_border"] == [1, 2]


def test_laminar_contrast_is_reported_not_scored():
    assert laminar_contrast_claims("sharp lamination and a sharp white matter border") == ("sharp",)
    assert laminar_contrast_claims("lamination is moderately distinct") == ("moderate",)
    assert laminar_contrast_claims("its laminar contrast is sharp") == ("sharp",)
    assert laminar_contrast_claims("a blurred laminar pattern") == ("blurred",)
    assert laminar_contrast_claims("weak lamination") == ("blurred",)
    assert laminar_contrast_claims("contrast between the layers is moderate") == ("moderate",)
    assert laminar_contrast_claims("a sharp white matter border") == ()
    cap = "Area 7A (x): sharp lamination. Moderate lamination."
    assert unverified_checks(cap, truth_claims(SHARP)) == [
        ("laminar_contrast", False),
        ("laminar_contrast", True),
    ]
    s = caption_scores([cap], ["7A"], [SHARP], set())
    assert s["unverified_claims"]["laminar_contrast"] == {"n": 2, "true": 1, "share_true": 0.5}
    assert s["n_claims"] == 0  # not in the claim accuracy


def test_simulated_term_follows_the_measured_rates():
    rng = np.random.default_rng(0)
    n = 20000
    for truth, wrong, rate in (
        (SHARP, "gradual", WM_BORDER_ERRORS.sharp_wrong),
        (GRADUAL, "sharp", WM_BORDER_ERRORS.gradual_wrong),
    ):
        got = Counter(simulated_wm_border(truth, True, rng) for _ in range(n))
        assert got[None] / n == pytest.approx(WM_BORDER_ERRORS.unread, abs=0.005)
        assert got["varies"] / n == pytest.approx(WM_BORDER_ERRORS.varies, abs=0.01)
        decided = got["sharp"] + got["gradual"]
        assert got[wrong] / decided == pytest.approx(rate, abs=0.015)
    # nothing measured, no truth, no term: None
    assert simulated_wm_border(SHARP, False, rng) is None
    assert simulated_wm_border(None, True, rng) is None
    assert simulated_wm_border(replace(SHARP, wm_border=None), True, rng) is None


def test_the_term_is_drawn_apart_from_the_vectors():
    truths = [SHARP, GRADUAL, None, GRADUAL] * 50
    v = simulated_vectors(truths, 7, REGION_NOISE)
    again = simulated_vectors(truths, 7, REGION_NOISE)
    wm = simulated_wm_borders(truths, v, 7)
    np.testing.assert_array_equal(v, again)  # drawing the terms changes no vector
    assert list(wm) == list(simulated_wm_borders(truths, v, 7))  # deterministic
    assert all(wm[i] is None for i in range(2, len(truths), 4))  # no truth
    vecs = np.stack([make_vector(2.5), missing_vector()])
    assert field_wm_borders([SHARP, SHARP], vecs, np.array([200, 200]))[1] is None
    with pytest.raises(ValueError):
        field_wm_borders([SHARP], vecs, np.array([200, 200]))
