"""Why a same-area pair is not ordered by its captions' thicknesses
(:func:`cytowords.training.evaluate.claims.specificity_misses`): on the development
evaluation 78 of the 82 pairs not ordered had a caption whose field's readout measured
nothing; the metric itself (:func:`~cytowords.training.evaluate.claims.specificity`) is
unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure.vector import make_vector, missing_vector
from cytowords.training.data.readout_truth import FieldTruth
from cytowords.training.evaluate.claims import (
    SPECIFICITY_MISSES,
    caption_scores,
    claim_checks,
    specificity,
    specificity_misses,
)


def _cap(mm: float | None) -> str:
    head = "Area FG2. "
    return head + (
        "Distinct layer IV band." if mm is None else f"Measured thickness about {mm:.1f} mm."
    )


def test_each_pair_not_ordered_has_one_reason():
    # true thicknesses: 2.0 and 3.0 mm apart by >= 20 % from every other
    true = [2.0, 3.0, 2.0, 3.0, 2.0, 3.0, 2.0, 3.0]
    caps = [
        _cap(2.2),
        _cap(2.2),
        _cap(3.0),
        _cap(2.6),
        _cap(None),
        _cap(3.1),
        _cap(None),
        _cap(3.0),
    ]
    vecs = [
        make_vector(2.2),
        make_vector(2.2),
        make_vector(3.0),
        make_vector(2.6),
        missing_vector(),
        make_vector(3.1),
        make_vector(2.1),
        make_vector(3.0),
    ]
    areas = ["FG2"] * 8
    got = specificity_misses(caps, areas, true, np.stack(vecs))
    assert set(got) == set(SPECIFICITY_MISSES)
    share, pairs = specificity(caps, areas, true)
    assert pairs == 16  # 4 thin x 4 thick fields
    # every pair is either ordered or not ordered for exactly one reason
    assert round(share * pairs) + sum(got.values()) == pairs
    # field 4 (nothing measured) pairs with the four thick fields; field 6 (measured,
    # no thickness stated) too
    assert got["not_measured"] == 4 and got["no_thickness"] == 4
    # field 0 (2.2 mm stated) ties field 1 (2.2); field 2 (true 2.0, 3.0 stated) ties
    # field 7 (3.0) and is stated thicker than fields 1 (2.2) and 3 (2.6): wrong order
    assert got["tie"] == 2 and got["wrong_order"] == 2
    assert share == pytest.approx(4 / 16)
    # without the vectors the unmeasured cannot be told apart
    plain = specificity_misses(caps, areas, true)
    assert plain["not_measured"] == 0 and plain["no_thickness"] == 8


def test_reported_beside_the_metric():
    truths = [FieldTruth("FG2", th, 200.0, "granular", 0.1, ()) for th in (2.0, 3.0)]
    caps = [_cap(None), _cap(3.0)]
    s = caption_scores(
        caps, ["FG2"] * 2, truths, set(), np.stack([missing_vector(), make_vector(3.0)])
    )
    assert s["specificity"] == 0.0 and s["specificity_pairs"] == 1
    assert s["specificity_misses"] == {
        "not_measured": 1,
        "no_thickness": 0,
        "tie": 0,
        "wrong_order": 0,
    }


def test_medium_thickness_is_not_a_scored_claim():
    """The rule that leaves "medium thickness" out of a shown caption changes no metric: it
    is no claim the evaluation scores."""
    t = {"thickness_mm": 4.0, "layer_i_um": 200.0, "iv_present": None, "special": None}
    assert claim_checks("Cortex of medium thickness.", t) == []
    assert claim_checks("Thick cortex of medium thickness.", t) == [("thickness_term", True)]
    assert claim_checks("Thin cortex.", t) == [("thickness_term", False)]
