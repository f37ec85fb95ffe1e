"""Tests of the area catalogue (cytowords.atlas)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cytowords.atlas import NONE_ID, LaminarProfile, load_atlas

HARD_PAIRS = [
    ("4a", "4p"),
    ("Te1.0", "Te1.1"),
    ("FG3", "FG4"),
    ("hOc3v", "hOc4v"),
    ("hOc4lp", "hOc4la"),
    ("Ig1", "Ig2"),
    ("6mp", "6ma"),
    ("6d1", "6d2"),
    ("PF", "PFm"),
    ("s24", "p24ab"),
]


def test_counts_and_scope():
    atlas = load_atlas()
    assert atlas is load_atlas()  # cached
    assert re.match(r"\d+\.\d+\.\d+", atlas.version)
    assert len(atlas.in_scope_ids) >= 57
    assert len(atlas.unseen_ids) >= 10
    assert not set(atlas.in_scope_ids) & set(atlas.unseen_ids)
    for a, b in HARD_PAIRS:
        assert atlas.get(a).in_scope and atlas.get(b).in_scope
    assert set(atlas.hard_pairs) == set(HARD_PAIRS)
    for uid in atlas.unseen_ids:
        area = atlas.get(uid)
        assert area.unseen_reason and not area.in_scope
    # unseen areas spread over lobes and cortex types, some neighbour in-scope areas
    unseen = [atlas.get(u) for u in atlas.unseen_ids]
    assert len({a.lobe for a in unseen}) >= 4
    assert len({a.cortex_type for a in unseen}) >= 4
    assert sum(any(atlas.get(n).in_scope for n in a.neighbours) for a in unseen) >= 5


def test_aliases():
    atlas = load_atlas()
    for alias in (
        "V1",
        "area 17",
        "BA17",
        "Brodmann area 17",
        "striate cortex",
        "primary visual cortex",
        "STRIATE  cortex",
    ):
        assert atlas.get(alias).id == "hOc1"
    for alias in ("area 44", "BA44", "pars opercularis", "Broca's area 44", "Broca’s area 44"):
        assert atlas.get(alias).id == "44"
    assert atlas.get("hOc1").aliases and "17" not in atlas.get("hOc1").aliases
    for area in atlas.areas.values():
        for alias in area.aliases:
            assert not alias.strip().replace(".", "").isdigit(), (area.id, alias)
            assert atlas.ids_for(alias) == [area.id], (area.id, alias)
    assert sorted(atlas.ids_for("area 4")) == ["4a", "4p"]
    with pytest.raises(KeyError, match="ambiguous.*4a"):
        atlas.get("primary motor cortex")
    with pytest.raises(KeyError, match="close matches.*hOc4"):
        atlas.get("hOc4x")


def test_labels_and_colors():
    atlas = load_atlas()
    labels = [atlas.label_of(i) for i in atlas.areas]
    assert labels == list(range(1, len(atlas) + 1))
    assert atlas.label_of(NONE_ID) == 0 and atlas.area_of_label(0) == NONE_ID
    for i in atlas.areas:
        assert atlas.area_of_label(atlas.label_of(i)) == i
        assert re.fullmatch(r"#[0-9a-f]{6}", atlas.color(i))
    assert len({atlas.color(i) for i in atlas.areas}) == len(atlas)
    with pytest.raises(KeyError):
        atlas.area_of_label(len(atlas) + 1)


def test_neighbours_are_symmetric_enough_and_known():
    atlas = load_atlas()
    for area in atlas.areas.values():
        for n in area.neighbours:
            assert n in atlas.areas and n != area.id


def test_profiles_are_quantitative():
    atlas = load_atlas()
    for area in atlas.areas.values():
        p = area.profile
        assert isinstance(p, LaminarProfile)
        assert abs(sum(lay.rel_thickness for lay in p.layers.values()) - 1.0) < 1e-3
        assert 1.0 < p.thickness_mm < 4.5
        for lay in p.layers.values():
            assert lay.density > 0 and 4 < lay.size_mean_um < 20 and lay.size_sd_um > 0
            assert 0 <= lay.pyramidal_fraction <= 1
        t = p.depth_table(128)
        assert t["density"].shape == (128,) and np.all(t["density"] > 0)
    v1 = atlas.get("hOc1").profile
    assert [s.name for s in v1.layers["IV"].sublayers] == ["IVa", "IVb", "IVc"]
    iv = {s.name: s.density for s in v1.layers["IV"].sublayers}
    assert iv["IVb"] < 0.5 * iv["IVc"]  # pale stria of Gennari band
    assert any(s["kind"] == "betz" for s in atlas.get("4a").profile.special)
    assert atlas.get("4a").profile.layers["IV"].rel_thickness == 0  # agranular
    # hard pairs differ quantitatively
    for a, b in HARD_PAIRS:
        ta = atlas.get(a).profile.depth_table(64)
        tb = atlas.get(b).profile.depth_table(64)
        assert not np.allclose(ta["density"], tb["density"]), (a, b)
    assert (
        atlas.get("s24").profile.layers["III"].rel_thickness
        < atlas.get("p24ab").profile.layers["III"].rel_thickness
    )


def test_facts_for_captions():
    area = load_atlas().get("hOc1")
    assert area.facts["distinguishing_features"]
    assert area.facts["sources"]
    assert area.name.startswith("primary visual cortex")
