"""A number a shown caption states about the region that the readout measured is the
readout's value (:func:`cytowords.model.caption_input.shown_caption`): the bundle, and so
the describer and the evaluation, show and score one text."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cytowords.measure.caption_claims import stated_quantity
from cytowords.measure.vector import make_vector, missing_vector, vector_values
from cytowords.model.caption_input import (
    shown_caption,
    with_measured_numbers,
    without_unsupported,
)

THICK_4P = (
    "Area 4p (motor): thick agranular cortex, 3.4 mm from pia to white matter; "
    "layer I is 0.30 mm wide; large pyramids in layer V."
)
#: 2.6 mm, layer I 180 µm, agranular: nothing in THICK_4P is contradicted
READOUT_4P = make_vector(2.6, layer_i_um=180.0, cortex_type="agranular")


def test_a_stated_number_the_readout_measured_is_the_measured_value():
    assert shown_caption(THICK_4P, READOUT_4P) == (
        "Area 4p (motor): thick agranular cortex, 2.6 mm from pia to white matter; "
        "layer I is 0.18 mm wide; large pyramids in layer V."
    )
    # as the slots write them: 0.1 mm, layer I 0.01 mm (in µm: 10 µm)
    v = make_vector(2.64, layer_i_um=176.0, cortex_type="agranular")
    assert with_measured_numbers("Area 4a. Cortex 3.4 mm thick here. Layer I about 0.4 mm.", v) == (
        "Area 4a. Cortex 2.6 mm thick here. Layer I about 0.18 mm."
    )
    assert with_measured_numbers("Area 4a: layer I is 150 µm wide.", v) == (
        "Area 4a: layer I is 180 µm wide."
    )
    # a bound or a range around the literature's number is no bound on the measured one
    assert with_measured_numbers(
        "Area 4a: very thick cortex, often well over 3 mm, with low cell density; "
        "cortex 2.5–3 mm thick.",
        v,
    ) == (
        "Area 4a: very thick cortex, often about 2.6 mm, with low cell density; "
        "cortex about 2.6 mm thick."
    )
    # a number that is neither (a section's thickness in µm) and a slot-written caption stay
    for text in (
        "Area 4a: sections cut at 20 µm; thick cortex.",
        "Area 4a. Cortex about 2.6 mm thick here. Layer I about 0.18 mm.",
    ):
        assert with_measured_numbers(text, v) == text


def test_a_number_the_readout_did_not_measure_is_left_to_the_contradiction_rule():
    # nothing measured: the text as generated, as before
    for vec in (None, missing_vector()):
        assert shown_caption(THICK_4P, vec) == THICK_4P
    # thickness measured, layer I not read: the layer I number is not the region's and
    # goes (vector.layer_i_unread), the thickness is written as measured
    no_layer_i = make_vector(2.6, cortex_type="agranular")
    assert vector_values(no_layer_i)["layer_i_mm"] is None
    assert shown_caption(THICK_4P, no_layer_i) == (
        "Area 4p (motor): thick agranular cortex, 2.6 mm from pia to white matter; "
        "large pyramids in layer V."
    )
    # what the readout contradicts still goes: a granular 2.0 mm readout drops the
    # agranular, thick clause whose number it would have written
    granular = make_vector(2.0, layer_i_um=180.0, cortex_type="granular")
    assert (
        shown_caption(THICK_4P, granular)
        == without_unsupported(
            "Area 4p (motor): thick agranular cortex, 2.0 mm from pia to white matter; "
            "layer I is 0.18 mm wide; large pyramids in layer V.",
            granular,
        )
        == "Area 4p (motor): layer I is 0.18 mm wide; large pyramids in layer V."
    )


def test_what_the_numbers_are_about():
    assert stated_quantity("cortex 3.4 mm thick") == "thickness_mm"
    assert stated_quantity("3.4 mm from pia to white matter") == "thickness_mm"
    assert stated_quantity("layer I is 0.30 mm wide") == "layer_i_mm"
    assert stated_quantity("a thick layer III") is None  # no number
    assert stated_quantity("profiles every 2 mm") is None  # a number, not the region's


@pytest.fixture()
def fixed_bundle(text_bundle):
    """The shared text bundle writing THICK_4P."""
    text_bundle.text = THICK_4P
    return text_bundle


def test_the_bundle_shows_the_measured_numbers(fixed_bundle):
    e = torch.randn(2, fixed_bundle.embed_dim)
    rows = np.stack([READOUT_4P, missing_vector()])
    assert fixed_bundle.caption(e, 20, readout=rows) == [
        "Area 4p (motor): thick agranular cortex, 2.6 mm from pia to white matter; "
        "layer I is 0.18 mm wide; large pyramids in layer V.",
        THICK_4P,
    ]


def test_the_evaluation_scores_the_shown_text(fixed_bundle):
    """`cytowords evaluate` scores what the bundle shows: the generated 3.4 mm and 0.30 mm
    are scored as each field's measured values, claim for claim the report of the texts
    :func:`shown_caption` makes of the generated one."""
    from cytowords.training.evaluate.claims import (
        claim_report,
        evaluate_claims,
        field_readouts,
        thickness_mm_stated,
    )

    fixed_bundle.text = "Area 4p (motor): cortex 3.4 mm thick; layer I is 0.30 mm wide."
    labels = np.array(["hOc1", "44", "4p", "hOc2"] * 10)
    brains = np.repeat(np.arange(200, 210), 4)
    truths, vectors, scans = field_readouts(fixed_bundle, labels, brains)
    e = torch.randn(len(labels), fixed_bundle.embed_dim)
    rep = evaluate_claims(fixed_bundle, labels, brains, e, list(labels), {})
    shown = [shown_caption(fixed_bundle.text, v) for v in vectors]
    generated = [fixed_bundle.text] * len(labels)  # the unverified words are counted in these
    want = claim_report(
        shown, labels, truths, {}, vectors, scans, brains=brains, generated=generated
    )
    assert json.dumps(rep, sort_keys=True) == json.dumps(want, sort_keys=True)
    n_measured = 0
    for text, v in zip(shown, vectors):
        vals = vector_values(v)
        if vals["measured"]:
            n_measured += 1
            assert thickness_mm_stated(text) == round(vals["thickness_mm"], 1)
            assert f"layer I is {vals['layer_i_mm']:.2f} mm wide" in text
        else:
            assert text == fixed_bundle.text
    assert 0 < n_measured < len(vectors)  # both cases were seen
    assert {x["caption"] for x in rep["examples"]} <= set(shown)
    # every number scored is the readout's: all agree with it
    assert rep["claim_accuracy_vs_readout"] == 1.0
