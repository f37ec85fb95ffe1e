"""A shown caption states nothing the region's readout contradicts: one rule
(:func:`cytowords.measure.caption_claims.claim_unsupported`) for what the bundle shows, the training
targets and the evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cytowords.measure.caption_claims import (
    THICK_MIN_MM,
    THIN_MAX_MM,
    claim_contradicted,
    readout_contradicts,
)
from cytowords.measure.vector import make_vector, missing_vector, vector_values
from cytowords.model.caption_input import without_unsupported
from cytowords.training.data.caption_targets import caption_target, split_caption

GRANULAR_44 = "Area 44 (Broca's region): granular cortex with a distinct layer IV; thin cortex."
AGRANULAR_4P = "Area 4p (motor): agranular; thick cortex with large pyramids in layer V."


def test_the_claims_a_measurement_contradicts():
    assert claim_contradicted("agranular cortex", "granular", None)
    assert claim_contradicted("a distinct layer IV", "agranular", None)
    assert not claim_contradicted("a distinct layer IV", "koniocortex", None)
    # dysgranular contradicts neither claim, an unknown type nothing
    assert not claim_contradicted("agranular", "dysgranular", None)
    assert not claim_contradicted("agranular", None, 2.5)
    # thin / thick against the atlas's thickness terms
    assert claim_contradicted("thin cortex", None, THIN_MAX_MM)
    assert not claim_contradicted("thin cortex", None, THIN_MAX_MM - 0.01)
    assert claim_contradicted("thick cortex", None, THICK_MIN_MM - 0.01)
    assert not claim_contradicted("thick cortex", None, THICK_MIN_MM)
    # the readout vector: its measured values; nothing measured contradicts nothing
    assert readout_contradicts("thin cortex", make_vector(3.2))
    assert not readout_contradicts("thin cortex", missing_vector())
    assert not readout_contradicts("thin cortex", None)


def test_contradicted_clauses_leave_the_caption():
    granular = make_vector(2.4, cortex_type="granular")
    assert without_unsupported(AGRANULAR_4P, granular) == (
        "Area 4p (motor): thick cortex with large pyramids in layer V."
    )
    # agreeing readout: kept word for word
    assert without_unsupported(AGRANULAR_4P, make_vector(3.4, cortex_type="agranular")) == (
        AGRANULAR_4P
    )
    # a measured 3.2 mm cortex is not thin
    assert without_unsupported(GRANULAR_44, make_vector(3.2, cortex_type="granular")) == (
        "Area 44 (Broca's region): granular cortex with a distinct layer IV."
    )
    # a measured agranular 2.0 mm profile: the layer IV claim goes, "thin" stays
    assert without_unsupported(GRANULAR_44, make_vector(2.0, cortex_type="agranular")) == (
        "Area 44 (Broca's region): thin cortex."
    )
    # a readout caption: measured sentences stay, the contradicted literature goes
    cap = "Area 44 (x). Cortex about 3.2 mm thick here. A distinct layer IV. Thin cortex; dense V."
    assert without_unsupported(cap, make_vector(3.2, cortex_type="granular")) == (
        "Area 44 (x). Cortex about 3.2 mm thick here. A distinct layer IV. Dense V."
    )


def test_without_a_readout_nothing_is_contradicted():
    for vec in (None, missing_vector()):
        assert without_unsupported(GRANULAR_44, vec) == GRANULAR_44
        assert without_unsupported(AGRANULAR_4P, vec) == AGRANULAR_4P


@pytest.fixture()
def fixed_bundle(text_bundle):
    """The shared text bundle writing GRANULAR_44."""
    assert not text_bundle.uses_readout
    text_bundle.text = GRANULAR_44
    return text_bundle


def test_every_bundle_shows_only_what_the_readout_allows(fixed_bundle):
    e = torch.randn(3, fixed_bundle.embed_dim)
    rows = np.stack(
        [
            make_vector(3.2, cortex_type="granular"),  # not thin
            make_vector(2.0, cortex_type="agranular"),  # no layer IV
            missing_vector(),  # not measured
        ]
    )
    assert fixed_bundle.caption(e, 20, readout=rows) == [
        "Area 44 (Broca's region): granular cortex with a distinct layer IV.",
        "Area 44 (Broca's region): thin cortex.",
        GRANULAR_44,
    ]
    assert fixed_bundle.caption(e, 20) == [GRANULAR_44] * 3  # no readout: nothing dropped
    # one vector for every row
    one = fixed_bundle.caption(e[:2], 20, readout=make_vector(2.0, cortex_type="granular"))
    assert one == [GRANULAR_44] * 2


def test_training_targets_and_shown_captions_keep_the_same_clauses(fixed_bundle):
    """Same mined caption, same readout: the clauses a training target keeps are the ones
    the bundle shows (truth None: only the measurement decides)."""
    rng = np.random.default_rng(0)
    captions = [
        GRANULAR_44,
        AGRANULAR_4P,
        "Area hOc1 (V1): thin koniocortex; no layer IV; Meynert cells in V; dense layer II.",
    ]
    vectors = [
        make_vector(t, cortex_type=c)
        for t in (2.0, 2.6, 3.2)
        for c in ("koniocortex", "granular", "dysgranular", "agranular", None)
    ] + [missing_vector()]
    e = torch.randn(1, fixed_bundle.embed_dim)
    n_dropped = 0
    for cap in captions:
        _, clauses = split_caption(cap)
        fixed_bundle.text = cap
        for v in vectors:
            target = caption_target(cap, None, v, rng).lower()
            shown = fixed_bundle.caption(e, 20, readout=v)[0].lower()
            kept_target = [c for c in clauses if c.lower() in target]
            kept_shown = [c for c in clauses if c.lower() in shown]
            assert kept_target == kept_shown, (cap, vector_values(v))
            n_dropped += len(clauses) - len(kept_shown)
    assert n_dropped > 0  # the comparison saw dropped clauses, not only kept ones


def test_evaluation_scores_the_caption_shown_with_the_fields_readout(fixed_bundle):
    """`cytowords evaluate` gives every bundle each field's simulated readout, as the
    describer gives it the ROI's measured one: the claims scored are the shown ones."""
    from cytowords.training.evaluate.claims import evaluate_claims, field_readouts

    # a thickness term: the simulated readouts of thin (hOc1, hOc2) and thick (44, 4p)
    # areas keep it for some fields and leave it out for others
    fixed_bundle.text = "Area 4p (motor): a thin cortex; large pyramids in layer V."
    labels = np.array(["hOc1", "44", "4p", "hOc2"] * 3)
    brains = np.repeat([200, 201, 202], 4)
    _, vectors, scans = field_readouts(fixed_bundle, labels, brains)
    assert vectors is not None and vectors.shape[0] == len(labels) == len(scans)
    e = torch.randn(len(labels), fixed_bundle.embed_dim)
    rep = evaluate_claims(fixed_bundle, labels, brains, e, list(labels), {})
    assert rep["readout"] == "simulated from truth"
    # the same scores per kind of scan each field's readout was simulated for
    assert set(rep["by_scan"]) == set(scans)
    for kind, sub in rep["by_scan"].items():
        assert sub["n_captions"] == int(np.sum(scans == kind))
        assert rep["scan_share"][kind] == sub["n_captions"] / len(labels)
    assert sum(sub["n_claims"] for sub in rep["by_scan"].values()) == rep["n_claims"]
    caps = [x["caption"] for x in rep["examples"]]
    step = max(1, len(labels) // 8)
    for cap, v in zip(caps, vectors[::step]):
        vals = vector_values(v)
        contradicted = vals["measured"] and vals["thickness_mm"] >= THIN_MAX_MM
        assert ("thin" in cap) is not contradicted, (cap, vals)
        assert "large pyramids in layer V" in cap  # no cell statistics: no special claim
    # both cases were seen: the claim kept for some fields and left out for others
    assert 0 < sum("thin" in c for c in caps) < len(caps)


def test_two_ranges_of_brains_do_not_share_their_simulated_readout_errors(fixed_bundle):
    """Each brain gets its own draw: a development and a published range that caption the
    same areas in the same order get independent readout errors, and one brain's draw does
    not depend on the other brains in the set."""
    from cytowords.training.evaluate.claims import field_readouts

    labels = np.array(["hOc1", "44", "4p", "hOc2"] * 3)
    dev = np.repeat([200, 201, 202], 4)
    _, v_dev, s_dev = field_readouts(fixed_bundle, labels, dev)
    _, v_pub, s_pub = field_readouts(fixed_bundle, labels, dev + 300)
    measured = [i for i in range(len(labels)) if vector_values(v_dev[i])["measured"]]
    thick_dev = [vector_values(v_dev[i])["thickness_mm"] for i in measured]
    thick_pub = [vector_values(v_pub[i])["thickness_mm"] for i in measured]
    assert thick_dev != thick_pub
    # brain 201's fields read the same alone as within the set
    _, v_alone, s_alone = field_readouts(fixed_bundle, labels[4:8], dev[4:8])
    np.testing.assert_array_equal(v_alone, v_dev[4:8])
    assert list(s_alone) == list(s_dev[4:8])


def test_layer_iv_claims_are_left_out_where_the_readout_left_layer_iv_undecided():
    from cytowords.measure.caption_claims import claim_unsupported, iv_undecided

    undecided = make_vector(3.1, layer_i_um=200.0, cortex_type=None)
    shown = make_vector(3.1, layer_i_um=200.0, cortex_type="granular")
    for claim in ("agranular", "a distinct inner granular layer IV"):
        assert iv_undecided(claim, undecided) and claim_unsupported(claim, undecided)
        assert not iv_undecided(claim, shown) and not iv_undecided(claim, missing_vector())
        assert not claim_unsupported(claim, missing_vector())  # nothing measured
    assert claim_unsupported("agranular", shown)  # contradicted by the band shown
    assert not claim_unsupported("a distinct inner granular layer IV", shown)
    # a statement that is not about layer IV stays under an undecided readout
    assert not claim_unsupported("large pyramids in layer V", undecided)


def test_layer_i_widths_are_left_out_where_the_readout_did_not_read_layer_i():
    """A region measured but whose layer I was not read (too few traverses): a layer I
    width in the caption (mm or µm) is the text's, not the region's, and is not shown; the
    other statements stay, and with layer I read the width is written as measured."""
    from cytowords.measure.caption_claims import claim_unsupported, layer_i_unread
    from cytowords.model.caption_input import shown_caption

    unread = make_vector(3.1, cortex_type="granular")
    read = make_vector(3.1, layer_i_um=200.0, cortex_type="granular")
    text = "Layer I is about 0.25 mm wide. The cortex here is about 3.0 mm thick."
    for claim in ("Layer I is about 0.25 mm wide.", "a layer I of 250 µm"):
        assert layer_i_unread(claim, unread) and claim_unsupported(claim, unread)
        assert not layer_i_unread(claim, read) and not layer_i_unread(claim, missing_vector())
    assert not layer_i_unread("a cell-sparse layer I", unread)  # no width stated
    assert shown_caption(text, unread) == "The cortex here is about 3.1 mm thick."
    assert shown_caption(text, read).startswith("Layer I is about 0.20 mm wide.")
