"""Bootstrap intervals over brains of the caption claim accuracy and the specificity
(:func:`cytowords.training.evaluate.claims.claim_intervals`), reported beside the point
values by :func:`~cytowords.training.evaluate.claims.claim_report`."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.training.data.readout_truth import FieldTruth
from cytowords.training.evaluate.claims import caption_scores, claim_intervals, claim_report


def _truth(mm: float) -> FieldTruth:
    return FieldTruth("FG2", mm, 200.0, "granular", 0.1, ())


def _cap(mm: float | None) -> str:
    return "Area FG2. " + (
        "Distinct layer IV band." if mm is None else f"Measured thickness about {mm:.1f} mm."
    )


def test_two_brains_one_right_one_wrong_span_everything():
    # brain 1 states every thickness right, brain 2 every one 1 mm off (wrong beyond 0.15)
    true = [2.0, 3.0, 2.0, 3.0]
    caps = [_cap(2.0), _cap(3.0), _cap(3.0), _cap(4.0)]
    brains = [1, 1, 2, 2]
    truths = [_truth(t) for t in true]
    got = claim_intervals(caps, ["FG2"] * 4, truths, brains, n=400)
    point = caption_scores(caps, ["FG2"] * 4, truths, set())["claim_accuracy"]
    assert point == pytest.approx(0.5)
    # resamples of two brains: both right (1.0), one each (0.5), both wrong (0.0)
    assert got["claim_accuracy_ci"] == pytest.approx([0.0, 1.0])


def test_interval_holds_the_point_value_and_narrows_with_more_brains():
    rng = np.random.default_rng(3)
    caps, truths, brains = [], [], []
    for b in range(12):
        for _ in range(6):
            t = float(rng.choice([2.0, 2.6, 3.3]))
            stated = None if rng.random() < 0.1 else t + float(rng.normal(0, 0.1))
            caps.append(_cap(stated))
            truths.append(_truth(t))
            brains.append(500 + b)
    areas = ["FG2"] * len(caps)
    point = caption_scores(caps, areas, truths, set())
    got = claim_intervals(caps, areas, truths, brains)
    lo, hi = got["claim_accuracy_ci"]
    assert lo <= point["claim_accuracy"] <= hi and hi - lo < 0.4
    slo, shi = got["specificity_ci"]
    assert slo <= point["specificity"] <= shi and 0.0 < shi - slo < 0.5
    # the same fields as one brain: nothing to resample, a zero-width interval
    one = claim_intervals(caps, areas, truths, [0] * len(caps), n=50)
    assert one["specificity_ci"] == pytest.approx([point["specificity"]] * 2)


def test_claim_report_carries_the_intervals_only_with_brains():
    caps = [_cap(2.0), _cap(3.0), _cap(2.1), _cap(None)]
    truths = [_truth(t) for t in (2.0, 3.0, 2.0, 3.0)]
    with_b = claim_report(caps, ["FG2"] * 4, truths, {}, brains=[7, 7, 8, 8])
    assert {"claim_accuracy_ci", "specificity_ci"} <= set(with_b)
    assert "claim_accuracy_ci" not in claim_report(caps, ["FG2"] * 4, truths, {})
    with pytest.raises(ValueError, match="brains"):
        claim_intervals(caps, ["FG2"] * 4, truths, [1, 2])
