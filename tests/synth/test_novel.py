"""Fictitious areas for outlier exposure (cytowords.synth.novel) and rendered training sets."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.atlas import LAYER_NAMES, NONE_ID, load_atlas
from cytowords.synth import sample_patches
from cytowords.synth.novel import novel_area, profile_distance
from cytowords.training.data.synthetic import is_novel, is_rendered, rendered_patch_set
from cytowords.training.presets import Preset


def _density_profile(profile) -> np.ndarray:
    return profile.depth_table(64)["density"]


def test_novel_area_is_deterministic_new_and_cortex_like():
    a = novel_area(3)
    assert a == novel_area(3) and a != novel_area(4)
    assert a.id == "__novel3" and not a.in_scope and a.aliases == ()
    rel = [a.profile.layers[k].rel_thickness for k in LAYER_NAMES]
    assert sum(rel) == pytest.approx(1.0) and min(rel) >= 0  # IV may be absent
    atlas = load_atlas()
    own = _density_profile(a.profile)
    # not a copy of any training area: its density profile differs by > 5 % somewhere deep
    for aid in atlas.in_scope_ids:
        ref = _density_profile(atlas.get(aid).profile)
        assert np.abs(own - ref).max() > 0.05 * ref.max(), aid
    p, labels, _ = sample_patches([0], [a], 2, size_px=32, pixel_size_um=64.0)
    assert labels == ["__novel3"] * 2 and p.std() > 5  # rendered cortex, not a flat field


def test_near_novel_areas_are_near_misses_not_copies():
    atlas = load_atlas()
    ins = [atlas.get(a).profile for a in atlas.in_scope_ids]
    far, near = [], []
    for seed in range(40):
        a = novel_area(seed, near=True)
        assert a.id == f"__novelnear{seed}" and a == novel_area(seed, near=True)
        d = [profile_distance(a.profile, q) for q in ins]
        assert min(d) >= 3.0  # never a copy of a training area (within 3 brain-to-brain sd)
        near.append(min(d))
        far.append(min(profile_distance(novel_area(seed).profile, q) for q in ins))
    # near misses sit much closer to the training areas than the far fictitious areas
    assert np.median(near) < 7.0 < np.median(far)
    # the unseen near miss hIP3 lies at such a distance; 4a/4p are the closest training pair
    hip3 = min(profile_distance(atlas.get("hIP3").profile, q) for q in ins)
    assert 3.0 < hip3 < np.percentile(near, 75)
    assert profile_distance(atlas.get("4a").profile, atlas.get("4p").profile) < 3.0
    assert profile_distance(ins[0], ins[0]) == 0.0


def test_novel_area_parents_only_from_the_given_pool():
    with pytest.raises(ValueError, match="two parent areas"):
        novel_area(0, parents=["4a"])
    a = novel_area(0, parents=["4a", "4p"])
    t = a.profile.thickness_mm
    lo = min(load_atlas().get(x).profile.thickness_mm for x in ("4a", "4p"))
    hi = max(load_atlas().get(x).profile.thickness_mm for x in ("4a", "4p"))
    assert 0.4 * lo < t < 2.5 * hi


def test_rendered_patch_set_counts_brains_and_novel_none():
    kw = dict(
        pixel_size_um=64.0,
        patch_px=32,
        none_share=0.5,
        novel_areas=3,
        novel_per_area=2,
        novel_near_areas=2,
    )
    ps = rendered_patch_set([3, 4], ["4a", "hOc1"], 3, **kw)
    # brains rendered in two processes give the same fields, in the same order
    again = rendered_patch_set([3, 4], ["4a", "hOc1"], 3, workers=2, **kw)
    for name in ("patches", "labels", "brains", "sections"):
        assert np.array_equal(getattr(again, name), getattr(ps, name)), name
    # per brain: 2 areas x 3 + 3 none fields; novel areas 0, 1 on brain 3 and 2 on brain 4,
    # near misses 0 on brain 3 and 1 on brain 4
    assert len(ps) == 2 * (6 + 3) + 3 * 2 + 2 * 2
    assert ps.patches.shape == (len(ps), 32, 32) and ps.patches.dtype == np.uint8
    assert (ps.labels == "4a").sum() == 6 and (ps.labels == "hOc1").sum() == 6
    assert (ps.labels == NONE_ID).sum() == 6 + 6 + 4
    assert set(ps.brains) == {"synth-3", "synth-4"}
    assert len(set(ps.sections)) == len(ps)  # never spatial positives of each other
    assert is_rendered(ps.sections).all()
    # the fictitious areas' fields are named apart: cortex, though labelled __none__
    assert is_novel(ps.sections).sum() == 3 * 2 + 2 * 2
    assert (ps.labels[is_novel(ps.sections)] == NONE_ID).all()
    assert not is_rendered(np.array(["synth-3", "section rendered-3"])).any()


@pytest.mark.parametrize("brains", [(5, 100), (5, 203), (5, 999)])
def test_preset_refuses_to_render_validation_or_test_brains(brains):
    with pytest.raises(ValueError, match="validation or test brains"):
        Preset(name="x", rendered_brains=brains, rendered_per_area=2)


def test_preset_may_render_individuals_past_the_test_seeds():
    p = Preset(name="x", rendered_brains=(5, 1000, 1199), rendered_per_area=2)
    assert p.rendered_brains == (5, 1000, 1199)


@pytest.mark.parametrize("field", ["novel_areas", "novel_near_areas"])
def test_preset_needs_brains_for_novel_areas(field):
    with pytest.raises(ValueError, match="novel_areas needs rendered_brains"):
        Preset(name="x", **{field: 10})
