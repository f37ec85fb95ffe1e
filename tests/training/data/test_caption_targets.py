"""Caption targets follow the rule of the shown captions: what a shown caption trims (where
the area lies or what it does, the laminar contrast) is not trained on either."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cytowords.atlas import load_atlas
from cytowords.measure.caption_claims import LOCATION_FUNCTION, laminar_contrast_claims
from cytowords.measure.vector import make_vector, missing_vector
from cytowords.model.caption_input import without_unsupported
from cytowords.training.data.caption_targets import caption_target
from cytowords.training.mining import mine_corpus

GRANULAR = make_vector(2.5, layer_i_um=200.0, cortex_type="granular")


def _target(caption: str, vector: np.ndarray) -> str:
    return caption_target(caption, None, vector, np.random.default_rng(0))


def test_a_location_part_is_trimmed_and_the_rest_of_its_clause_kept():
    cap = (
        "Area 1 (somatosensory area 1): layer VI is thick; distinct layer V with "
        "medium-sized pyramids and a high cell density on the postcentral crown."
    )
    assert _target(cap, missing_vector()) == (
        "Area 1 (somatosensory area 1): layer VI is thick; distinct layer V with "
        "medium-sized pyramids and a high cell density."
    )
    out = _target(cap, GRANULAR)
    assert out.startswith("Area 1 (somatosensory area 1). ") and "{thickness}" in out
    assert out.endswith(
        "Layer VI is thick; distinct layer V with medium-sized pyramids and a high cell density."
    )


def test_a_laminar_contrast_statement_is_trimmed():
    cap = (
        "Area PFm (inferior parietal area PF): layer II has a medium cell density; "
        "moderate lamination and a gradual transition to the white matter."
    )
    assert _target(cap, missing_vector()) == (
        "Area PFm (inferior parietal area PF): layer II has a medium cell density; "
        "a gradual transition to the white matter."
    )
    assert _target(cap, GRANULAR).endswith(
        "Layer II has a medium cell density; a gradual transition to the white matter."
    )


def test_a_clause_with_nothing_else_goes_and_the_head_stays():
    cap = "Area FG3: moderate laminar contrast; in the anterior medial fusiform region."
    assert _target(cap, missing_vector()) == "Area FG3."
    out = _target(cap, GRANULAR)
    assert out.startswith("Area FG3. ") and "{thickness}" in out and "fusiform" not in out
    assert not laminar_contrast_claims(out) and out.endswith(".")


@pytest.fixture(scope="module")
def mined() -> list[str]:
    return [r.caption for r in mine_corpus(None, load_atlas(), split="train").captions]


@pytest.mark.parametrize("vector", [missing_vector(), GRANULAR], ids=["missing", "granular"])
def test_targets_are_what_the_bundle_would_show(mined, vector):
    """Every mined caption's target passes the shown captions' rule unchanged: nothing in
    it is trimmed or left out for display."""
    checked = 0
    for cap in mined[::8]:
        out = _target(cap, vector)
        assert without_unsupported(out, vector) == out, out
        assert not laminar_contrast_claims(out), out
        assert not re.search(r";\s*[;.]|,\s*[,.;]|:\s*\.|\s[,.;]", out), out
        head = cap.split(":", 1)[0].strip().rstrip(".")
        assert out.startswith(head), out
        checked += 1
    assert checked > 400
    # the corpus does hold what is trimmed (the check above is not empty)
    assert sum(bool(laminar_contrast_claims(c)) for c in mined[::8]) > 50
    assert sum(bool(LOCATION_FUNCTION.search(c)) for c in mined[::8]) > 200
