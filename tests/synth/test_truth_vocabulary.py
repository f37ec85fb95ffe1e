"""Truth of the readout's atlas-vocabulary terms: the grey/white transition's width as
rendered, and the atlas terms for the white-matter border and the laminar contrast."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cytowords.atlas import LAYER_NAMES, load_atlas
from cytowords.synth.profile_table import compile_table
from cytowords.synth.truth import (
    _deepest_part,
    density_cv,
    vocabulary_term,
    wm_transition_width_rel,
)

#: the 25-75 % width of a Gaussian-smoothed step, in units of its sigma
IQR_SIGMA = 1.349


def _width(area) -> float:
    rel = np.array([area.profile.layers[n].rel_thickness for n in LAYER_NAMES])
    frac = rel / rel.sum()
    top = np.concatenate([[0.0], np.cumsum(frac)[:-1]])
    return wm_transition_width_rel(compile_table(area.profile), *_deepest_part(area, top, frac))


@pytest.mark.parametrize("aid", ["FG2", "7A", "45"])
def test_transition_width_is_the_smoothed_steps_quartile_width(aid):
    area = load_atlas().get(aid)
    sigma = 0.006 + 0.08 * (1.0 - area.profile.wm_border_sharpness)
    assert _width(area) == pytest.approx(IQR_SIGMA * sigma, rel=0.1, abs=0.002)


def test_a_sparser_deep_sublayer_is_not_counted_in_the_transition():
    # hOc1's layer VI is divided (VIa dense, VIb sparser): the fall from VIa to VIb is
    # the layer's own, not the border to the white matter, which is sharp in V1
    area = load_atlas().get("hOc1")
    assert area.profile.layers["VI"].sublayers, "the test needs a divided layer VI"
    assert area.profile.wm_border_sharpness == 1.0
    assert _width(area) < 0.02


def test_a_blunter_border_renders_a_wider_transition():
    area = load_atlas().get("7A")
    blunt = dataclasses.replace(
        area, profile=dataclasses.replace(area.profile, wm_border_sharpness=0.0)
    )
    assert _width(blunt) > 5 * _width(area)


def test_vocabulary_terms_follow_the_facts_else_the_nearest_strength():
    atlas = load_atlas()
    for aid in ("hOc1", "hOc3d", "FG2"):
        area = atlas.get(aid)
        named = (area.facts or {}).get("cortex_white_matter_border")
        term = vocabulary_term(area, "wm_border", "cortex_white_matter_border")
        if named is not None:
            assert term == named
        else:
            assert term == ("sharp" if area.profile.wm_border_sharpness > 0.7 else "gradual")
    area = atlas.get("7A")
    for value, want in ((0.45, "blurred"), (0.72, "moderate"), (0.95, "sharp")):
        a = dataclasses.replace(
            area,
            facts={},
            profile=dataclasses.replace(area.profile, laminar_contrast=value),
        )
        assert vocabulary_term(a, "laminar_contrast", "laminar_contrast") == want


def test_density_cv_grows_with_the_laminar_contrast():
    area = load_atlas().get("7A")
    cv = [
        density_cv(compile_table(dataclasses.replace(area.profile, laminar_contrast=c)))
        for c in (0.0, 0.5, 1.0)
    ]
    assert cv[0] < cv[1] < cv[2]
    flat = compile_table(area.profile)
    flat[0] = 1000.0
    assert density_cv(flat) == 0.0


def test_truth_in_roi_gives_the_transition_in_the_section_plane():
    from cytowords.synth import section_geometry, squares_across_ribbon

    geom = section_geometry(205)
    (_, t), *_ = squares_across_ribbon(geom, 1, 3000.0, np.random.default_rng(0), trace=False)
    rel = t["truth"]["wm_border_width_rel"]
    assert np.isfinite(rel) and rel > 0
    assert t["wm_border_width_um"] == pytest.approx(rel * t["apparent_thickness_um"])
    assert t["wm_border_width_true_um"] == pytest.approx(rel * t["thickness_um"])
    assert t["truth"]["wm_border_term"] in ("sharp", "gradual")
    assert t["truth"]["laminar_contrast_term"] in ("sharp", "moderate", "blurred")
