"""Shown captions leave out where the area lies and what it does: no tissue field can show
either, and both are false whenever the named area is wrong. The cytoarchitecture of a
clause stays; a clause that is only location or function goes."""

from __future__ import annotations

import pytest

from cytowords.measure.caption_claims import location_function_only, without_location
from cytowords.measure.vector import make_vector
from cytowords.model.caption_input import shown_caption, without_unsupported

#: (generated caption, shown caption): the published examples of issue #21/#24
TRIMMED = [
    (
        "Area 45 (Broca's region, pars triangularis area 45): large IIIc pyramids and a "
        "clearer layering than the opercular part, in the anterior language region of Broca.",
        "Area 45 (Broca's region, pars triangularis area 45): large IIIc pyramids and a "
        "clearer layering than the opercular part.",
    ),
    (
        "Area s24 (subgenual anterior cingulate area 24): blurred lamination and no columns "
        "in the subgenual anterior cingulate region linked to mood.",
        "Area s24 (subgenual anterior cingulate area 24): no columns.",
    ),
    (
        "Area hOc3d: thicker than the parastriate belt and serves the dorsal visual stream "
        "for the lower visual field quadrant.",
        "Area hOc3d: thicker than the parastriate belt.",
    ),
    (
        "Area hIP2: granular cortex of medium thickness on the anterior lateral bank of the "
        "intraparietal sulcus near the sulcal lip.",
        "Area hIP2: granular cortex of medium thickness.",
    ),
    (
        "Area PFop: thin, densely packed, small-celled granular cortex of the rostral "
        "supramarginal region at the edge of the parietal operculum, resembling opercular "
        "somatosensory cortex; prominent layer IV and small layer III pyramids in the "
        "rostral inferior parietal lobule above the Sylvian fissure.",
        "Area PFop: thin, densely packed, small-celled granular cortex, resembling opercular "
        "somatosensory cortex; prominent layer IV and small layer III pyramids.",
    ),
    (
        "Area 1: distinct layer V with medium-sized pyramids and a high cell density on the "
        "postcentral crown, a field for the texture of touched surfaces.",
        "Area 1: distinct layer V with medium-sized pyramids and a high cell density.",
    ),
    (
        "Area 1: granular cortex on the crown of the postcentral gyrus, thicker than the "
        "sulcal koniocortex, with a dense but less overwhelming layer IV.",
        "Area 1: granular cortex, thicker than the sulcal koniocortex, with a dense but less "
        "overwhelming layer IV.",
    ),
    (
        "Area 4p: thinner cortex than the crown part, with large pyramids only deep on the "
        "posterior bank of the precentral gyrus, close to the fundus of the central sulcus.",
        "Area 4p: thinner cortex than the crown part, with large pyramids.",
    ),
    (
        "Area Fp1: granular cortex on the lateral frontopolar surface with a low cell "
        "density and much neuropil.",
        "Area Fp1: granular cortex with a low cell density and much neuropil.",
    ),
]

#: (generated caption, shown caption): places and functions the first trim missed, and a
#: place in mid-clause that cut the clause's cytoarchitectonic rest
TRIMMED_MORE = [
    (
        "Area OP2 (parietal operculum area 2): blurred lamination toward the insula and a thin "
        "layer II, at the core of the human vestibular cortex.",
        "Area OP2 (parietal operculum area 2): blurred lamination and a thin layer II.",
    ),
    (
        "Area OP4: high cell density and is continuous with the opercular part of the "
        "postcentral somatosensory cortex, integrating touch with movement.",
        "Area OP4: high cell density.",
    ),
    (
        "Area PGp: dense layer IV and is the caudal-most field of the inferior parietal "
        "lobule, next to the lateral occipital cortex.",
        "Area PGp: dense layer IV.",
    ),
    ("Area 44 lies in the inferior frontal gyrus and is dysgranular.", "Area 44 is dysgranular."),
    (
        "Area 44: granular cortex in the inferior frontal gyrus and a broad layer IV.",
        "Area 44: granular cortex and a broad layer IV.",
    ),
    (
        "Area Fo2 lies closer to the limbic subcallosal cortex and shows no columns.",
        "Area Fo2 shows no columns.",
    ),
    (
        "Area Fo3 lies lateral to Fo1 and has a similar granular profile.",
        "Area Fo3 has a similar granular profile.",
    ),
    (
        "Area 6d2 lies rostral to 6d1 on the dorsal precentral gyrus and the caudal superior "
        "frontal gyrus.",
        "Area 6d2.",
    ),
    (
        "Area Fo3: granular cortex of medium thickness between the olfactory sulcus and the "
        "medial orbital sulcus, with a clear layer IV.",
        "Area Fo3: granular cortex of medium thickness, with a clear layer IV.",
    ),
    (
        "Area 4a: no layer IV, a very low cell density and strong vertical columns, and it "
        "drives voluntary movement from the exposed precentral convexity.",
        "Area 4a: no layer IV, a very low cell density and strong vertical columns.",
    ),
    (
        "Area 7A: thicker cortex than the posterior superior parietal field and no giant "
        "layer V cells, supporting visually guided reaching.",
        "Area 7A: thicker cortex than the posterior superior parietal field and no giant "
        "layer V cells.",
    ),
    (
        "Area hIP2: dense, clearly visible layer IV and can reach the free surface, in the "
        "grasping region of the anterior intraparietal cortex.",
        "Area hIP2: dense, clearly visible layer IV.",
    ),
    (
        "Area hOc3d: dorsal extrastriate granular cortex on the cuneus and in the superior "
        "and transverse occipital sulci, with a less dense layer IV than the parastriate belt.",
        "Area hOc3d: dorsal extrastriate granular cortex, with a less dense layer IV than the "
        "parastriate belt.",
    ),
    (
        "Area PFt: the thinnest cortex of the inferior parietal lobule with a clear granular "
        "layer IV, on its most anterior part at the junction of the postcentral and "
        "intraparietal sulci.",
        "Area PFt: the thinnest cortex of the inferior parietal lobule with a clear granular "
        "layer IV.",
    ),
    (
        "Area X: large pyramids toward the insula and the parietal operculum, a thin layer II.",
        "Area X: large pyramids, a thin layer II.",
    ),
    (
        "Area FG1: thin layer IV and no large IIIc pyramids, and its vertical cell columns run "
        "toward the collateral sulcus in the posterior ventral temporal cortex.",
        "Area FG1: thin layer IV and no large IIIc pyramids.",
    ),
    (
        "Area Te3: magnopyramidal layering, and speech sound processing.",
        "Area Te3: magnopyramidal layering.",
    ),
    (
        # no resumption after a function: "and word recognition" is the function's
        "Area FG4: moderate lamination and a gradual white matter border in the anterior "
        "lateral fusiform region linked to face and word recognition.",
        "Area FG4: moderate lamination and a gradual white matter border.",
    ),
]

#: cytoarchitectonic phrases that look like places and stay
KEPT = [
    "Area 4a: large pyramids in layer V, in the deep half and in lower layer III.",
    "Area 3b: the cells thin out towards the white matter, thicker than in neighbouring areas.",
    "Area hOc2: large IIIc pyramids directly above layer IV, largest next to the striate border.",
    "Area 2: a cortex that is thicker than on the gyral crown.",
    "Area hIP1: the cortex is thinner than that of the neighbour nearer the sulcal lip.",
    "Area 44: dysgranular in the opercular part, granular in the triangular part.",
    "Area 3b: layer IV is thin, in contrast to the absent layer IV of the motor cortex.",
    "Area hOc1: koniocortex with the highest neuronal packing density of the whole cortex.",
    "Area hOc4d: thinner layers V and VI than the cuneal third visual field.",
    "Area hOc1: solitary large pyramids at the border of layers V and VI.",
    "Area 1: layer IV is the most densely populated layer.",
    "Area s24: pyramids in layer V lie directly beneath the thin layer III.",
    "Area OP2: a thin layer II and is transitional toward the insular cortex.",
    "Area 6d2: lacks a continuous layer IV, which separates it from the granular cortex.",
    "Area 7A: thicker cortex than the posterior superior parietal field.",
    "Area PFm: large IIIc pyramids in a thick cortex but a more developed layer IV than PF.",
    "Area 3b: granule cells near the surface and small pyramids deeper.",
    "Area hOc2: in a single field it is hard to separate from its closest look-alike.",
]


@pytest.mark.parametrize(("caption", "shown"), TRIMMED)
def test_location_and_function_parts_are_left_out(caption: str, shown: str) -> None:
    assert without_unsupported(caption) == shown


@pytest.mark.parametrize(("caption", "shown"), TRIMMED_MORE)
def test_more_places_go_and_a_clause_resumes_after_its_place(caption: str, shown: str) -> None:
    assert without_location(caption) == shown


@pytest.mark.parametrize("caption", KEPT)
def test_cytoarchitectonic_phrases_stay(caption: str) -> None:
    assert without_unsupported(caption) == caption


def test_a_clause_that_is_only_location_or_function_goes() -> None:
    for tail in ("a field for the texture of touched surfaces", "in the speech region of Broca"):
        assert location_function_only(tail + ".")
        assert without_unsupported(f"Area 1: {tail}; layer VI is thick.") == (
            "Area 1: layer VI is thick."
        )
        assert without_unsupported(f"Area 1: layer VI is thick; {tail}.") == (
            "Area 1: layer VI is thick."
        )
    assert without_unsupported("Area 44 (x): in the speech production region of Broca.") == (
        "Area 44 (x)."
    )
    assert without_unsupported("Area 45 lies in the inferior frontal gyrus. Dense layer II.") == (
        "Area 45. Dense layer II."
    )
    assert not location_function_only("layer VI is thick.")
    assert without_location("layer VI is thick;") == "layer VI is thick;"


def test_shown_caption_trims_beside_the_readout_rule() -> None:
    """The trim goes with the readout rule: the kept cytoarchitecture is still checked
    against the readout (an agranular claim on a granular readout goes)."""
    cap = (
        "Area 4p (primary motor cortex, posterior part): agranular cortex on the posterior "
        "bank of the precentral gyrus; dense layer II in the depth of the central sulcus."
    )
    granular = make_vector(2.6, cortex_type="granular")
    assert shown_caption(cap, granular) == (
        "Area 4p (primary motor cortex, posterior part): dense layer II."
    )
    agranular = make_vector(2.6, cortex_type="agranular")
    assert shown_caption(cap, agranular) == (
        "Area 4p (primary motor cortex, posterior part): agranular cortex; dense layer II."
    )


def test_a_superlative_keeps_its_set_and_no_word_dangles() -> None:
    assert without_location("with the thinnest layer III of the cingulate region.") == (
        "with the thinnest layer III of the cingulate region."
    )
    assert (
        without_location(
            "the largest pyramids in deep layer III, deep in the postcentral sulcus toward the "
            "superior parietal lobule."
        )
        == "the largest pyramids in deep layer III."
    )
