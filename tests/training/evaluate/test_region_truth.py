"""Caption claims about the region the user drew: the region's own truth as the referent."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from cytowords.measure.vector import vector_values
from cytowords.synth import truth_at
from cytowords.synth.section import section_geometry
from cytowords.training.data.readout_truth import (
    FINE_SCAN,
    REGION_NOISE,
    ReadoutNoise,
    brain_truth,
    region_truths,
)
from cytowords.training.evaluate.claims import claim_report, field_readouts

SIZE = (40.0, 30.0)  # mm: folds with crowns and fundi, built in seconds
SEED = 5


def _crown_and_fundus():
    """``(area, crown (y, x), fundus (y, x))``: mid-depth points of one area on a gyral
    crown and in a sulcal fundus, the pair with the largest thickness ratio."""
    geom = section_geometry(SEED, size_mm=SIZE, include_unseen=True)
    w, h = geom.size_um
    yy, xx = np.mgrid[75.0:h:150.0, 75.0:w:150.0]
    q = geom.query(xx.ravel(), yy.ravel())
    sel = (q["depth"] >= 0.4) & (q["depth"] < 0.6)
    pts = np.stack([yy.ravel()[sel], xx.ravel()[sel]], 1)
    kap = np.asarray(geom.curvature(pts[:, 1], pts[:, 0])) * 1000.0  # 1/mm
    t = truth_at(geom, pts)
    best = None
    for a in geom.area_ids:
        crown = np.flatnonzero((t["area"] == a) & (kap > 0.1))
        fundus = np.flatnonzero((t["area"] == a) & (kap < -0.3))
        if not len(crown) or not len(fundus):
            continue
        i = crown[np.argmax(t["thickness_um"][crown])]
        j = fundus[np.argmin(t["thickness_um"][fundus])]
        ratio = t["thickness_um"][i] / t["thickness_um"][j]
        if best is None or ratio > best[0]:
            best = (ratio, a, pts[i], pts[j])
    assert best is not None and best[0] > 1.2, best
    return best[1], best[2], best[3]


def test_region_truth_of_a_crown_and_a_fundus_of_one_area_differ_as_drawn():
    area, crown, fundus = _crown_and_fundus()
    centres = np.stack([crown, fundus])
    got = region_truths([SEED, SEED], [area, area], centres, 400.0, size_mm=SIZE)
    drawn = truth_at(section_geometry(SEED, size_mm=SIZE, include_unseen=True), centres)
    c, f = got
    # the crown's cortex is thicker than the fundus's, as the generator draws them (Bok)
    assert c.thickness_mm > 1.15 * f.thickness_mm
    # and its layer I narrower (Bok: the upper layers are stretched thin over a crown)
    assert c.layer_i_um < 0.85 * f.layer_i_um
    for r, th, l1 in zip(got, drawn["thickness_um"], drawn["layer_i_width_um"]):
        assert abs(r.thickness_mm * 1000.0 - th) <= 0.08 * th
        # layer borders undulate along the ribbon by up to ±0.02 of the thickness
        # (synth.geometry.wobble), continuously now that the position along the ribbon is
        # continuous (it was in ~45 µm plateaus): the chosen extreme point's layer I may
        # differ from its footprint's median by that much
        assert abs(r.layer_i_um - l1) <= 0.15 * l1 + 0.02 * th
    # the area's truth in that brain cannot tell them apart; the rest is the area's
    a = brain_truth(SEED, area)
    assert c.area == f.area == a.area
    assert (c.cortex_type, c.iv_rel_width, c.special) == (a.cortex_type, a.iv_rel_width, a.special)
    assert replace(c, thickness_mm=a.thickness_mm, layer_i_um=a.layer_i_um) == a
    # non-cortex fields have no truth
    assert region_truths([SEED], ["__none__"], centres[:1], 400.0, size_mm=SIZE) == [None]


def test_simulated_readout_is_centred_on_the_truth_it_is_given():
    """The evaluation's readout is simulated from the region's truth: without errors it
    reads exactly that region's thickness and layer I."""
    exact = replace(
        FINE_SCAN,
        thickness_rel_sd=0.0,
        thickness_bias=0.0,
        layer_i_sd_um=0.0,
        layer_i_bias_um=0.0,
        oblique=0.0,
        missing=0.0,
    )
    noise = ReadoutNoise(fine=exact, coarse=exact)
    area = brain_truth(SEED, "hOc1")
    region = [replace(area, thickness_mm=1.9, layer_i_um=150.0), replace(area, thickness_mm=2.9)]
    bundle = SimpleNamespace(captioner=object())
    labels = np.array(["hOc1", "hOc1"])
    truths, vectors, _ = field_readouts(bundle, labels, np.array([SEED, SEED]), 0, region, noise)
    assert truths == region
    v = [vector_values(x) for x in vectors]
    assert [round(x["thickness_mm"], 3) for x in v] == [1.9, 2.9]
    assert round(v[0]["layer_i_mm"] * 1000.0) == 150
    # by default the area's truth, read with the training noise
    default, _, _ = field_readouts(bundle, labels, np.array([SEED, SEED]))
    assert default == [area, area]
    # the evaluation's errors are measured against the region's truth, not the training's
    assert REGION_NOISE != ReadoutNoise()


def test_claims_are_scored_against_the_referent_given():
    area = brain_truth(SEED, "hOc1")
    region = replace(area, thickness_mm=area.thickness_mm * 0.75)
    caption = f"The cortex here is about {region.thickness_mm:.1f} mm thick."
    here = claim_report([caption], ["hOc1"], [region], {}, referent="region")
    there = claim_report([caption], ["hOc1"], [area], {}, referent="area")
    assert here["referent"] == "region" and there["referent"] == "area"
    assert here["claim_accuracy_by_kind"]["thickness"] == 1.0
    assert there["claim_accuracy_by_kind"]["thickness"] == 0.0
