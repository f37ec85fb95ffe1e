"""A shown caption says each thing once: a sentence or ``;`` clause whose every content word
is in an earlier clause is left out (:func:`cytowords.model.caption_input.without_repeats`),
as the bundle shows it (:func:`~cytowords.model.caption_input.shown_caption`)."""

from __future__ import annotations

from cytowords.model.caption_input import shown_caption, without_repeats

#: captions the bundled captioner generated on development brains (evaluate, 200–209)
FP1 = (
    "Area Fp1. Cortex about 2.5 mm thick here. Granular, eulaminate cortex of medium "
    "thickness; more granular than in neighbouring areas; more granular than in "
    "neighbouring areas."
)
AREA_5M = (
    "Area 5M. Layer IV is thin and layer III is thick with large deep pyramids; layer VI is "
    "of medium width with medium-sized cells; large deep layer III pyramids."
)


def test_a_clause_said_twice_is_shown_once():
    assert without_repeats(FP1) == (
        "Area Fp1. Cortex about 2.5 mm thick here. Granular, eulaminate cortex of medium "
        "thickness; more granular than in neighbouring areas."
    )
    assert shown_caption(FP1).count("more granular than in neighbouring areas") == 1


def test_a_clause_whose_words_an_earlier_one_holds_goes_and_the_sentence_is_mended():
    assert without_repeats(AREA_5M) == (
        "Area 5M. Layer IV is thin and layer III is thick with large deep pyramids; layer VI "
        "is of medium width with medium-sized cells."
    )
    # in the middle of a sentence: the clause after it keeps its place
    text = "Area X. Thick layer V with large pyramids; large pyramids; layer VI is narrow."
    assert without_repeats(text) == "Area X. Thick layer V with large pyramids; layer VI is narrow."


def test_a_clause_that_adds_a_word_stays():
    text = (
        "Area X. Layer III holds medium-sized pyramids; medium-sized layer III pyramids, "
        "larger in IIIc."
    )
    assert without_repeats(text) == text
    # the words of two earlier clauses together are no repeat of either
    text = "Area X. Thick layer V; dense layer VI; thick and dense layers V and VI."
    assert without_repeats(text) == text
    # plurals read as their singular
    text = "Area X. A dense layer II with small pyramids; small pyramid in a dense layer II."
    assert without_repeats(text) == "Area X. A dense layer II with small pyramids."


def test_the_area_head_is_never_dropped():
    text = "Area 44 (Broca's region): granular cortex; Area 44 (Broca's region)."
    assert without_repeats(text) == text
    assert without_repeats("Area 44.") == "Area 44."
    assert without_repeats("") == ""


def test_a_caption_cut_at_the_token_limit_ends_as_a_sentence():
    """Generated at the language model's token limit (3 of 142 development captions, 2 of
    the published range's examples): the last clause's last comma segment (or the word
    cut at its hyphen) and what it leaves dangling go; the caption ends with a full stop."""
    from cytowords.model.caption_input import with_sentence_end

    head = "Area PFcm. Gradual border to the white matter; granular cortex of medium thickness"
    for cut in (", with medium-", ", with medium-sized", ", close to the anterior"):
        assert with_sentence_end(head + cut) == head + "."
        assert shown_caption(head + cut) == head + "."
    # a word cut at its hyphen in a clause without a comma: the clause goes
    assert with_sentence_end("Area X. Dense layer II; a thin lay-") == "Area X. Dense layer II."
    assert with_sentence_end("Area X. Dense layer II and a thin lay-") == "Area X."
    assert with_sentence_end("Area X; thin layer VI and") == "Area X; thin layer VI."
    # a clause without a comma keeps its words: nothing says which are cut
    assert with_sentence_end("Area OP4. High overall cell density") == (
        "Area OP4. High overall cell density."
    )
    assert with_sentence_end("Area X. Dense layer II;") == "Area X. Dense layer II."
    done = "Area X. Dense layer II, thin layer VI."
    assert with_sentence_end(done) is done
