"""Alias matching, disambiguation, masking and parse_area on the real atlas."""

from __future__ import annotations

import re

import pytest

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.training.mining import REJECTION_CAPTION, find_mentions, mask_aliases, parse_area


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


def unique_ids(text, atlas):
    return [m.ids[0] for m in find_mentions(text, atlas) if m.unique]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("In area 1, layer IV is the most densely populated layer.", ["1"]),
        ("Profiles ran from layer 1 and layer 2 to the white matter.", []),
        ("Sections of 44 subjects were screened.", []),
        ("The 44 subjects included 25 women and 33 men.", []),
        ("Area 44 is dysgranular; BA 45 is granular.", ["44", "45"]),
        ("Brodmann's area 44 and Brodmann area 17 differ.", ["44", "hOc1"]),
        ("Areas 44 and 45 form Broca's region.", ["44", "45"]),
        ("The strips are areas 3a, 3b, 1 and 2.", ["3a", "3b", "1", "2"]),
        ("Let V1 and V2 denote the volumes of both samples.", []),
        ("The index was (V1 - V2) / 0.5(V1 + V2).", []),
        ("In V1 the supragranular layers are thin.", ["hOc1"]),
        ("The striate cortex (V1) is thin.", ["hOc1", "hOc1"]),
        ("Area hOc4lp borders hOc4la and V5/MT+.", ["hOc4lp", "hOc4la", "hOc5"]),
        ("Te1.0 and Te 1.1 lie on the gyrus.", ["Te1.0", "Te1.1"]),
        ("Area 6d1 (dorsal premotor area 1) is agranular.", ["6d1", "6d1"]),
        ("See Fig. 3b and Table 4a for area 3b.", ["3b"]),
    ],
)
def test_disambiguation(atlas, text, expected):
    assert unique_ids(text, atlas) == expected


def test_shared_alias_is_not_unique(atlas):
    mentions = find_mentions("The primary motor cortex lacks layer IV.", atlas)
    assert len(mentions) == 1 and set(mentions[0].ids) == {"4a", "4p"}


def _all_names(atlas):
    for area in atlas.areas.values():
        for name in (area.id, *area.aliases, *area.shared_aliases):
            yield area.id, name


def test_masking_removes_every_alias_of_every_area(atlas):
    assert len(atlas.unseen_ids) > 0
    leftovers = []
    for area_id, name in _all_names(atlas):
        for form in (name, name.upper(), name.lower()):
            masked = mask_aliases(f"We describe {form}, which is dense.", atlas)
            token = re.escape(form)
            if area_id.isdigit() and form == area_id:
                continue  # a bare number is never an area name
            if re.search(rf"(?<![\w.]){token}(?![\w])", masked):
                leftovers.append((area_id, form, masked))
    assert leftovers == []


@pytest.mark.parametrize(
    "text",
    [
        "BA 17 and area 17 and Brodmann's area 17 and BA17 and V1 and striate cortex",
        "Areas 44 and 45; area 44; BA 45; Broca's area 44",
        "hOc5 (V5/MT+), EC, CA1 and Te1.2 are unseen",
    ],
)
def test_masking_forms(atlas, text):
    masked = mask_aliases(text, atlas)
    assert not re.search(r"\d", masked.replace("[AREA]", "")), masked
    assert "[AREA]" in masked


def test_masking_keeps_non_area_numbers(atlas):
    masked = mask_aliases("In 44 subjects, layer 1 was thin.", atlas)
    assert masked == "In 44 subjects, layer 1 was thin."


def test_parse_area_on_aliases(atlas):
    for area_id, name in _all_names(atlas):
        if area_id.isdigit() and name == area_id:
            continue
        caption = f"{name}: granular cortex with a dense layer IV."
        got = parse_area(caption, atlas)
        if len(atlas.ids_for(name)) == 1:
            assert got == area_id, (name, got)
        else:
            assert got is None, (name, got)  # shared aliases name no single area


def test_parse_area_subject_not_comparison(atlas):
    assert parse_area("Area hOc2: unlike hOc1, no pale band in layer IV.", atlas) == "hOc2"
    assert parse_area("Unlike hOc1, area hOc2 has an undivided layer IV.", atlas) == "hOc2"
    assert parse_area("Area 44 (Broca's region): dysgranular.", atlas) == "44"
    assert parse_area("Area 1: dense layer IV.", atlas) == "1"
    assert parse_area("Thick cortex with Betz cells.", atlas) is None
    assert parse_area("area hoc1: koniocortex.", atlas) == "hOc1"  # case slips tolerated
    assert parse_area("Dense cortex vs pale cortex.", atlas) is None  # "vs" is not area VS
    assert parse_area(REJECTION_CAPTION, atlas) == NONE_ID
    assert parse_area("", atlas) is None
