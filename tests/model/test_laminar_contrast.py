"""Shown captions leave out the laminar contrast ("sharp lamination", "poorly laminated"):
the readout gives no laminar contrast term, so nothing checks it, and on development it is
true of the area in fewer than 0.9 of the captions. The rest of the clause stays; the
evaluation still counts the words in the captions as generated."""

from __future__ import annotations

import pytest
import torch

from cytowords.measure.caption_claims import (
    laminar_contrast_claims,
    unchecked_only,
    without_laminar_contrast,
    without_unchecked,
)
from cytowords.measure.vector import make_vector
from cytowords.model.caption_input import shown_caption, without_unsupported
from cytowords.training.data.readout_truth import FieldTruth
from cytowords.training.evaluate.claims import caption_scores

#: (clause, clause as shown)
TRIMMED = [
    ("granular cortex with blurred lamination.", "granular cortex."),
    ("moderate lamination and a gradual white matter border;", "a gradual white matter border;"),
    ("Moderate lamination and a gradual white matter border.", "A gradual white matter border."),
    ("blurred lamination and a thin layer II.", "a thin layer II."),
    (
        "the cortex-white matter border is sharp, and its lamination is distinct;",
        "the cortex-white matter border is sharp;",
    ),
    (
        "the columnar organisation is strong, its lamination moderate and its white matter "
        "border gradual;",
        "the columnar organisation is strong and its white matter border gradual;",
    ),
    (
        "thin, with a blurred lamination, and its layer Vb blends into layer VI.",
        "thin, and its layer Vb blends into layer VI.",
    ),
    (
        "densely packed, small-celled granular cortex, with sharp lamination resembling "
        "visual cortex.",
        "densely packed, small-celled granular cortex.",
    ),
    ("no layer IV and shows no clear lamination;", "no layer IV;"),
    ("the cortex as a whole is thin and sharply laminated.", "the cortex as a whole is thin."),
    ("of medium thickness and shows moderate lamination.", "of medium thickness."),
    ("laminar contrast is sharp and the cortex is thick.", "the cortex is thick."),
    (
        "granular isocortex with moderate lamination and a gradual white matter border.",
        "granular isocortex and a gradual white matter border.",
    ),
    (
        "well developed layer IV, sharp lamination and a sharp white matter border.",
        "well developed layer IV and a sharp white matter border.",
    ),
    ("a poorly laminated cortex with large pyramids.", "a cortex with large pyramids."),
    (
        "blurred laminar pattern and is transitional toward the insular cortex;",
        "transitional toward the insular cortex;",
    ),
]


@pytest.mark.parametrize(("clause", "shown"), TRIMMED)
def test_the_contrast_phrase_goes_and_the_clause_stays(clause: str, shown: str) -> None:
    assert without_laminar_contrast(clause) == shown
    assert laminar_contrast_claims(clause)
    assert not laminar_contrast_claims(shown)


def test_a_clause_without_contrast_is_untouched() -> None:
    for clause in (
        "a sharp white matter border.",
        "large IIIc pyramids and a clearer layering than the opercular part.",
        "a distinct layer IV and sharp borders between the layers II and III;",
    ):
        assert without_laminar_contrast(clause) == clause
        assert without_unchecked(clause) == clause


def test_the_new_wordings_have_their_atlas_terms() -> None:
    assert laminar_contrast_claims("sharply laminated") == ("sharp",)
    assert laminar_contrast_claims("well-laminated") == ("sharp",)
    assert laminar_contrast_claims("poorly laminated") == ("blurred",)
    assert laminar_contrast_claims("no clear lamination") == ("blurred",)  # not "sharp"
    assert laminar_contrast_claims("moderately laminated") == ("moderate",)


def test_shown_captions_leave_out_the_contrast() -> None:
    cap = (
        "Area OP2 (parietal operculum area 2): blurred lamination toward the insula and a thin "
        "layer II, at the core of the human vestibular cortex. Moderate lamination. Layer I "
        "is wide."
    )
    assert (
        without_unsupported(cap)
        == "Area OP2 (parietal operculum area 2): a thin layer II. Layer I is wide."
    )
    assert unchecked_only("Moderate lamination.") and unchecked_only("in the insula.")
    assert not unchecked_only("a thin layer II.")
    # a caption of nothing else keeps its head
    assert without_unsupported("Area 4a (x): sharp lamination.") == "Area 4a (x)."
    # beside the readout rule: the kept part is still checked against the readout
    cap = "Area 4p (x): agranular cortex with sharp lamination; dense layer II."
    assert (
        shown_caption(cap, make_vector(2.6, cortex_type="granular"))
        == "Area 4p (x): dense layer II."
    )
    assert shown_caption(cap, make_vector(2.6, cortex_type="agranular")) == (
        "Area 4p (x): agranular cortex; dense layer II."
    )


def test_the_bundle_hands_back_the_captions_as_generated(text_bundle) -> None:
    text_bundle.text = "Area 7A (x): granular cortex with sharp lamination."
    e = torch.randn(2, text_bundle.embed_dim)
    generated: list[str] = []
    shown = text_bundle.caption(e, 20, generated=generated)
    assert shown == ["Area 7A (x): granular cortex."] * 2
    assert generated == [text_bundle.text] * 2


def test_the_evaluation_counts_the_words_in_the_captions_as_generated() -> None:
    truth = FieldTruth("7A", 2.8, 200.0, "granular", 0.1, (), "sharp", "moderate")
    generated = ["Area 7A (x): granular cortex with sharp lamination. Moderate lamination."]
    shown = [without_unsupported(c) for c in generated]
    assert shown == ["Area 7A (x): granular cortex."]
    s = caption_scores(shown, ["7A"], [truth], set(), generated=generated)
    assert s["unverified_claims"] == {}
    assert s["unverified_claims_generated"]["laminar_contrast"] == {
        "n": 2,
        "true": 1,
        "share_true": 0.5,
    }
    assert "unverified_claims_generated" not in caption_scores(shown, ["7A"], [truth], set())
