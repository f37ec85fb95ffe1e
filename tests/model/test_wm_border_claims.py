"""A shown caption claims no white-matter border the region's readout contradicts: the
readout's decided term (:attr:`cytowords.measure.Readout.wm_border`), passed beside the
readout vector, drops a sharp-border clause where it read "gradual" and a gradual one where
it read "sharp" (:func:`cytowords.measure.caption_claims.claim_unsupported`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cytowords.measure.caption_claims import (
    caption_wm_border_claim,
    claim_unsupported,
    wm_border_contradicted,
)
from cytowords.measure.vector import make_vector, missing_vector
from cytowords.model.caption_input import shown_caption, without_unsupported

SHARP = (
    "Area 7P shows sharp lamination and a sharp white matter border.",
    "layer VI is dense, narrow and sharply bounded against the white matter",
    "The striate cortex is thin, its laminar contrast is sharp and the cortex-white matter "
    "border is abrupt.",
    "layer VI is homogeneous and dense with a sharp border to the white matter",
    "hOc4d has a sharp cortex-white matter borderline and sharp lamination",
    "The cortex-white matter border of hOc4d is sharp, and its lamination is distinct.",
    "with sharp lamination and an abrupt border to the white matter",
    "the cortex ends against the white matter along a clean, sharp line",
    "a narrow, packed layer VI ends sharply at the white matter",
    "a thin cortex with a sharp lower edge against the white matter",
)
GRADUAL = (
    "Area 2: layer VI is of medium width and passes gradually into the white matter.",
    "PFt is a granular isocortex with moderate lamination and a gradual white matter border",
    "Te1.1 shows sharp lamination and a gradual transition into the white matter.",
    "gradual transition from layer VI into the white matter",
    "OP4 is granular isocortex of medium thickness with a gradual border to the white matter",
    "the transition from cortex to white matter is gradual",
    "Layer VI is clearly bounded above, while the grey-white border itself is gradual.",
    "its layer VI blends into the white matter",
    "Layer VI is broad, and the cortex has no sharp edge against the white matter.",
    "its lamination moderate and its white matter border gradual",
    "Cortex and white matter merge gradually (Kujovic et al., 2013).",
)
NO_CLAIM = (
    "sharp lamination and a distinct layer IV",  # laminar contrast, not the border
    "Lamination is sharp and the layers are sharply drawn.",
    "a sharp border between layers III and IV",
    "usually little more than 2 mm from pia to white matter",
    "Area 7P: thin cortex.",
    "",
)


@pytest.mark.parametrize("text", SHARP)
def test_sharp_border_claims(text):
    assert caption_wm_border_claim(text) == "sharp"


@pytest.mark.parametrize("text", GRADUAL)
def test_gradual_border_claims(text):
    assert caption_wm_border_claim(text) == "gradual"


@pytest.mark.parametrize("text", NO_CLAIM)
def test_no_border_claim(text):
    assert caption_wm_border_claim(text) is None


def test_only_a_decided_term_contradicts():
    sharp, gradual = SHARP[0], GRADUAL[0]
    assert wm_border_contradicted(sharp, "gradual")
    assert wm_border_contradicted(gradual, "sharp")
    assert not wm_border_contradicted(sharp, "sharp")
    assert not wm_border_contradicted(gradual, "gradual")
    for term in ("varies", None):  # no decision contradicts nothing
        assert not wm_border_contradicted(sharp, term)
        assert not wm_border_contradicted(gradual, term)
    assert not wm_border_contradicted(NO_CLAIM[0], "gradual")
    # the one rule: with or without a readout vector
    assert claim_unsupported(sharp, None, (), "gradual")
    assert claim_unsupported(sharp, make_vector(2.6), (), "gradual")
    assert not claim_unsupported(sharp, make_vector(2.6))


CAP_7P = (
    "Area 7P (superior parietal): granular cortex; large IIIc pyramids and a sharp white "
    "matter border. Layer IV is well formed."
)


CAP_PLAIN = (
    "Area 7P (superior parietal): thin cortex; large IIIc pyramids and a sharp white matter "
    "border. Dense II."
)
GRANULAR = make_vector(2.6, cortex_type="granular")


def test_the_contradicted_clause_leaves_the_rest():
    assert without_unsupported(CAP_7P, GRANULAR, (), "gradual") == (
        "Area 7P (superior parietal): granular cortex. Layer IV is well formed."
    )
    for term in ("sharp", "varies", None):
        assert without_unsupported(CAP_7P, GRANULAR, (), term) == CAP_7P
    cap = "Area PFt (x): thin cortex with a gradual white matter border. Dense layer II."
    assert without_unsupported(cap, None, (), "sharp") == "Area PFt (x). Dense layer II."
    # with the numbers written from the readout, as the bundle shows it
    cap = "Area 2 (x). Cortex about 2.0 mm thick. Layer VI passes gradually into the white matter."
    assert shown_caption(cap, make_vector(2.43), (), "sharp") == (
        "Area 2 (x). Cortex about 2.4 mm thick."
    )


def test_the_bundle_reads_the_term_per_row(text_bundle):
    text_bundle.text = CAP_7P
    e = torch.randn(3, text_bundle.embed_dim)
    rows = text_bundle.caption(e, 20, wm_border=["gradual", "varies", None])
    assert rows == [
        "Area 7P (superior parietal): granular cortex. Layer IV is well formed.",
        CAP_7P,
        CAP_7P,
    ]
    assert text_bundle.caption(e[:2], 20, wm_border="gradual") == [rows[0]] * 2
    assert text_bundle.caption(e[:2], 20, readout=missing_vector()) == [CAP_7P] * 2
    with pytest.raises(ValueError, match="2 rows for 3 captions"):
        text_bundle.caption(e, 20, wm_border=["sharp", "gradual"])


def test_describer_passes_the_rois_border_term(text_bundle, monkeypatch):
    """measure_region carries the readout's border term; the caption drops the claim
    it contradicts."""
    import cytowords.measure as measure
    from cytowords.describe import DescribeParams, Describer
    from cytowords.describe.measured import Measured, measure_region
    from cytowords.measure import Readout

    r = Readout(area_mm2=9.0, profile_pixel_um=8.0, n_traverses=12, thickness_mm=2.6)
    r.wm_border = "gradual"
    monkeypatch.setattr(measure, "measure_roi", lambda *a, **k: r)
    square = np.array([[0, 0], [0, 3000], [3000, 3000], [3000, 0]], float)
    m = measure_region(None, square)
    assert m.wm_border == "gradual"
    text_bundle.text = CAP_PLAIN
    d = Describer.__new__(Describer)  # only the caption path: no section is read
    d.bundle = text_bundle
    e = torch.randn(1, text_bundle.embed_dim)
    p = DescribeParams(anchor_caption=False)
    # (this readout read no layers: a layer IV clause would go as undecided)
    assert d._caption(e, "7P", m, p) == "Area 7P (superior parietal): thin cortex. Dense II."
    assert d._caption(e, "7P", Measured(wm_border="sharp"), p) == CAP_PLAIN
    assert d._caption(e, "7P", None, p) == CAP_PLAIN
    # a region not measured has no term, whatever the readout object holds
    r.n_traverses = 0
    assert measure_region(None, square).wm_border is None
