"""Special cells (Betz, Meynert) are stated about a region only where its measurement
supports them: one rule for what the bundle shows, the training targets and the evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cytowords.measure import Readout
from cytowords.measure.caption_claims import caption_special_claims, special_unsupported
from cytowords.measure.cells import CellStats
from cytowords.measure.vector import make_vector, missing_vector
from cytowords.model.caption_input import without_unsupported
from cytowords.training.data.caption_targets import caption_target
from cytowords.training.data.readout_truth import FieldTruth

MOTOR = (
    "Area 4p (primary motor cortex, posterior part): agranular and has no distinct layer IV; "
    "giant Betz cells in layer V, no layer IV and a low cell density."
)
MOTOR_NO_BETZ = (
    "Area 4p (primary motor cortex, posterior part): agranular and has no distinct layer IV."
)
BOTH = {"betz", "meynert"}


def _cells(lengths_um, depths) -> CellStats:
    """Cell statistics with large pyramids of ``lengths_um`` at relative ``depths``."""
    n = len(lengths_um)
    return CellStats(
        depth_edges=np.linspace(0, 1, 11),
        density_per_mm2=np.full(10, 20000.0),
        diam_um=np.full(200, 10.0),
        depth_of_cell=np.linspace(0, 1, 200),
        large_per_mm=float(n),
        large_diam_um=np.asarray(lengths_um, float),
        large_depth=np.asarray(depths, float),
        band_mm=0.1,
        pixel_um=1.0,
        traverse_mm=3.0,
    )


def test_which_cells_a_text_claims():
    assert caption_special_claims("giant Betz cells in layer V") == ("betz",)
    assert caption_special_claims("solitary cells of Meynert; Betz-like") == ("betz", "meynert")
    assert caption_special_claims("no Betz cells") == ()
    assert caption_special_claims("a dense layer IV") == ()
    assert special_unsupported("giant Betz cells in layer V")
    assert special_unsupported("giant Betz cells in layer V", {"meynert"})
    assert not special_unsupported("giant Betz cells in layer V", BOTH)
    assert not special_unsupported("without Betz cells")


def test_unsupported_clauses_leave_the_caption_and_the_rest_reads_well():
    assert without_unsupported(MOTOR) == MOTOR_NO_BETZ
    assert without_unsupported(MOTOR, None, BOTH) == MOTOR
    # the only clause: the head ends the caption
    assert without_unsupported("Area 4p (x): giant Betz cells in layer V.") == "Area 4p (x)."
    # a readout caption: the next clause starts a sentence, the last kept one ends it
    cap = (
        "Area 4p (x). Cortex about 3.1 mm thick here. Giant Betz cells in layer V; agranular; "
        "Meynert cells. Layer I about 0.20 mm."
    )
    assert without_unsupported(cap) == (
        "Area 4p (x). Cortex about 3.1 mm thick here. Agranular. Layer I about 0.20 mm."
    )
    # a free caption that names the cells in its first sentence keeps the area it names
    assert without_unsupported("Area 4p with giant Betz cells. Agranular.") == (
        "Area 4p. Agranular."
    )
    # a negated claim is no claim: kept
    neg = "Area 44 (x): granular; no Betz or Meynert cells."
    assert without_unsupported(neg) == neg


def test_readout_supports_special_cells_only_with_deep_giants():
    r = Readout(area_mm2=9.0, profile_pixel_um=8.0, n_traverses=12, thickness_mm=3.2)
    assert r.special_support() == frozenset()  # no cell statistics (coarse pixels)
    r.cells = _cells([30.0, 32.0], [0.7, 0.8])  # large, none giant (>= 40 µm)
    assert r.special_support() == frozenset()
    r.cells = _cells([30.0, 55.0], [0.7, 0.3])  # the giant is in lower layer III
    assert r.special_support() == frozenset()
    # the readout's own statement names no Betz/Meynert cells either (one rule)
    assert not any("Betz- or Meynert-like" in s for s in r.statements())
    assert any("Some are giant" in s and "upper half of the cortex" in s for s in r.statements())
    r.cells = _cells([30.0, 55.0], [0.3, 0.72])  # a giant of layer V
    assert r.cells.n_giant_deep == 1
    assert r.special_support() == frozenset(BOTH)
    assert any("Betz- or Meynert-like" in s for s in r.statements())


def test_training_targets_follow_the_same_rule():
    rng = np.random.default_rng(0)
    betz = FieldTruth("4p", 3.4, 300.0, "agranular", 0.0, ("betz",))
    # the area has Betz cells, but a training field has no cell statistics: the clause goes
    assert caption_target(MOTOR, betz, missing_vector(), rng) == MOTOR_NO_BETZ
    assert caption_target(MOTOR, betz, missing_vector(), rng, special=BOTH) == MOTOR
    # supported by the measurement but not in the truth: still contradicted
    none = FieldTruth("4p", 3.4, 300.0, "agranular", 0.0, ())
    assert caption_target(MOTOR, none, missing_vector(), rng, special=BOTH) == MOTOR_NO_BETZ
    out = caption_target(MOTOR, betz, make_vector(3.3, cortex_type="agranular"), rng)
    assert "Betz" not in out and out.endswith("Agranular and has no distinct layer IV.")


@pytest.fixture()
def betz_bundle(tiny_bundle, monkeypatch):
    """The tiny bundle whose language model writes the Betz caption of 4p whatever it reads."""
    from cytowords.model import load_bundle

    b = load_bundle(tiny_bundle, device="cpu")

    def generate(feats, max_new_tokens=96, prompts=None):
        return [MOTOR] * len(feats)

    monkeypatch.setattr(b.captioner, "generate", generate)
    return b


def test_bundle_shows_special_cells_only_where_measured(betz_bundle):
    e = torch.randn(3, betz_bundle.embed_dim)
    assert betz_bundle.caption(e, 20) == [MOTOR_NO_BETZ] * 3
    assert betz_bundle.caption(e, 20, special=BOTH) == [MOTOR] * 3
    rows = betz_bundle.caption(e, 20, special=[frozenset(), None, frozenset(BOTH)])
    assert rows == [MOTOR_NO_BETZ, MOTOR_NO_BETZ, MOTOR]
    with pytest.raises(ValueError, match="2 rows for 3 captions"):
        betz_bundle.caption(e, 20, special=[frozenset(), frozenset()])


def test_describer_passes_the_rois_cell_support(betz_bundle, monkeypatch):
    """measure_region carries the readout's support; the caption shows Betz cells only then."""
    import cytowords.measure as measure
    from cytowords.describe import DescribeParams, Describer
    from cytowords.describe.measured import Measured, measure_region

    r = Readout(area_mm2=9.0, profile_pixel_um=8.0, n_traverses=12, thickness_mm=3.2)
    monkeypatch.setattr(measure, "measure_roi", lambda *a, **k: r)
    square = np.array([[0, 0], [0, 3000], [3000, 3000], [3000, 0]], float)
    assert measure_region(None, square).special == frozenset()
    r.cells = _cells([55.0], [0.7])
    m = measure_region(None, square, cells=True)
    assert m.special == frozenset(BOTH)
    d = Describer.__new__(Describer)  # only the caption path: no section is read
    d.bundle = betz_bundle
    e = torch.randn(1, betz_bundle.embed_dim)
    p = DescribeParams()
    # this readout measured the cortex but no layers, so layer IV is undecided and no
    # clause about it is shown (both of MOTOR's claim none: tests/measure/test_layers.py)
    assert d._caption(e, "4p", m, p) == "Area 4p (primary motor cortex, posterior part)."
    # the cell support alone (no readout vector): the Betz clause is shown, else not
    assert d._caption(e, "4p", Measured(special=m.special), p) == MOTOR
    assert d._caption(e, "4p", Measured(), p) == MOTOR_NO_BETZ
    assert d._caption(e, "4p", None, p) == MOTOR_NO_BETZ


def test_evaluation_scores_the_caption_the_user_sees(betz_bundle):
    """The caption claims of `cytowords evaluate` are those of the shown caption: the Betz
    clause the language model wrote for a field of 4a (which has Betz cells) and one of 44
    (which has none) is not shown, so it is neither right nor wrong."""
    from cytowords.training.data.readout_truth import brain_truth
    from cytowords.training.evaluate.claims import (
        claim_checks,
        evaluate_claims,
        field_readouts,
        truth_claims,
    )

    labels = np.array(["4a", "44"])
    # the raw text would be judged: right for 4a, wrong for 44
    raw = [dict(claim_checks(MOTOR, truth_claims(brain_truth(200, a))))["special"] for a in labels]
    assert raw == [True, False]
    e = torch.randn(2, betz_bundle.embed_dim)
    rep = evaluate_claims(betz_bundle, labels, np.array([200, 200]), e, ["4p", "4p"], {})
    assert rep["n_captions"] == 2
    assert "special" not in rep["claim_accuracy_by_kind"]
    # shown as the user sees it: also without what the field's readout contradicts
    # (tests/model/test_contradicted_claims.py)
    _, vectors, _ = field_readouts(betz_bundle, labels, np.array([200, 200]))
    shown = [without_unsupported(MOTOR_NO_BETZ, v) for v in vectors]
    assert [x["caption"] for x in rep["examples"]] == shown
    assert not any("Betz" in c for c in shown)
