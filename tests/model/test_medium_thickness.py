"""A shown caption does not call the cortex "of medium thickness" where the region's
readout measured a thick (or a very thin) cortex: the one rule
(:func:`cytowords.measure.caption_claims.claim_unsupported`) that already leaves out "thin" and
"thick" against the measured number. Captions and readout vectors from the development
evaluation (``cytowords evaluate --no-sampler --no-baselines --no-robustness
--headline-captions 5``, brains 200-209), where 8 such clauses were shown in 4 of 300
captions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cytowords.measure.caption_claims import (
    MEDIUM_BAND_MM,
    THICK_MIN_MM,
    THIN_MAX_MM,
    claim_contradicted,
    medium_thickness_claim,
    term_contradicted,
)
from cytowords.measure.vector import make_vector, missing_vector
from cytowords.model.caption_input import shown_caption
from cytowords.training.data.caption_targets import clause_contradicts
from cytowords.training.data.readout_truth import FieldTruth

#: generated for a field of Te3 (brain 206, fine scan; the region's true thickness 3.91 mm),
#: its slots filled from the simulated readout below (cut at the token limit)
PFCM = (
    "Area PFcm. Cortex about 4.2 mm thick here. Layer I about 0.20 mm. Distinct layer IV "
    "band. Granular isocortex of medium thickness with medium-sized pyramids in layer III; "
    "layer IV is of medium density and the layers V and VI are of medium width; gradual "
    "border to the white matter; granular cortex of medium thickness on the caudal parietal "
    "operculum and the medial supramarginal bank of the Sylvian fissure, with medium-sized"
)
#: that field's simulated readout: 4.24 mm, layer I 203 µm, granular
READOUT_TE3 = make_vector(
    4.244782447814941, layer_i_um=202.976, cortex_type="granular", iv_rel_width=0.0665
)
#: what is shown: the two "medium thickness" clauses go, the measured 4.2 mm and the
#: clauses between them stay
SHOWN = (
    "Area PFcm. Cortex about 4.2 mm thick here. Layer I about 0.20 mm. Distinct layer IV "
    "band. Layer IV is of medium density and the layers V and VI are of medium width; "
    "gradual border to the white matter."
)

#: with nothing measured nothing is contradicted; only where the area lies goes (no tissue
#: field can show it: cytowords.measure.caption_claims.without_location), and the unfinished
#: part the token limit cut (", with medium-sized": caption_input.with_sentence_end)
PFCM_NOTHING_MEASURED = PFCM.replace(
    " on the caudal parietal operculum and the medial supramarginal bank of the Sylvian "
    "fissure, with medium-sized",
    ".",
)


def test_medium_thickness_claims():
    assert medium_thickness_claim("granular isocortex of medium thickness")
    assert medium_thickness_claim("Medium cortical thickness and medium-sized pyramids")
    assert medium_thickness_claim("a medium-thick cortex")
    # medium cells, density or width say nothing about the cortex's thickness
    assert not medium_thickness_claim("medium-sized layer III pyramids of medium density")
    assert not medium_thickness_claim("layers V and VI are of medium width")


def test_one_band_outside_the_term_contradicts_it():
    # the thin and thick thresholds as they were: one medium band beyond the term's band
    assert MEDIUM_BAND_MM == pytest.approx(THIN_MAX_MM - THICK_MIN_MM)
    assert term_contradicted("thin", THIN_MAX_MM) and not term_contradicted("thin", 2.89)
    assert term_contradicted("thick", 2.29) and not term_contradicted("thick", THICK_MIN_MM)
    # medium (2.3-2.9 mm in the atlas): contradicted below 1.7 mm and from 3.5 mm on
    assert term_contradicted("medium", THIN_MAX_MM + MEDIUM_BAND_MM)
    assert not term_contradicted("medium", THIN_MAX_MM + MEDIUM_BAND_MM - 0.01)
    assert term_contradicted("medium", THICK_MIN_MM - MEDIUM_BAND_MM - 0.01)
    assert not term_contradicted("medium", THICK_MIN_MM - MEDIUM_BAND_MM)
    assert not term_contradicted("medium", None) and not term_contradicted(None, 4.0)
    assert claim_contradicted("cortex of medium thickness", None, 4.24)
    assert not claim_contradicted("cortex of medium thickness", None, 3.3)
    assert not claim_contradicted("cortex of medium thickness", "granular", None)


def test_the_shown_caption_leaves_out_medium_thickness_against_the_measured_number():
    assert shown_caption(PFCM, READOUT_TE3) == SHOWN
    # nothing measured: nothing contradicted, the caption stays but for where the area lies
    assert shown_caption(PFCM, missing_vector()) == PFCM_NOTHING_MEASURED
    # a measured 3.3 mm is not far enough from medium to contradict it
    kept = shown_caption(PFCM, make_vector(3.3, layer_i_um=200.0, cortex_type="granular"))
    assert kept.count("of medium thickness") == 2 and "3.3 mm thick" in kept


def test_the_bundle_shows_it(text_bundle):
    text_bundle.text = PFCM
    e = torch.randn(2, text_bundle.embed_dim)
    rows = np.stack([READOUT_TE3, missing_vector()])
    assert text_bundle.caption(e, 20, readout=rows) == [SHOWN, PFCM_NOTHING_MEASURED]


def test_training_targets_follow_the_same_rule():
    """A clause the field's true thickness contradicts is no training target either."""
    truth = FieldTruth("Te3", 3.91, 250.0, "granular", 0.07, ())
    assert clause_contradicts("granular isocortex of medium thickness", truth)
    assert not clause_contradicts("granular isocortex of medium thickness", None)
