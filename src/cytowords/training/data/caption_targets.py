"""Caption targets that follow the tissue: the area's mined caption, minus what this field
contradicts, plus what was measured here.

A mined caption reads ``"Area <id> (<name>): clause; clause."``. For one training field:

1. clauses that the field's truth (:class:`~cytowords.training.data.readout_truth.FieldTruth`)
   contradicts are removed (:func:`clause_contradicts`): a layer IV claim against the true
   cortex type, a thin, medium or thick cortex claim against the true thickness
   (:func:`cytowords.measure.caption_claims.term_contradicted`), Betz or Meynert
   cells the area does not have; so are the clauses the bundle leaves out of the captions
   it shows (:func:`cytowords.measure.caption_claims.claim_unsupported`, one rule): what the
   field's readout vector contradicts (the same comparison on the measured cortex type
   and thickness) and Betz or Meynert cells its measurement does not support (no cell
   statistics at the model's pixel size). Each clause is first trimmed of what the bundle
   trims from a shown clause, where the area lies or what it does and its laminar contrast
   (:func:`cytowords.measure.caption_claims.without_unchecked`; a clause that is only that
   goes), so the captioner learns to write what it may show. The mined literature text is
   otherwise kept verbatim: nothing is invented;
2. measured statements from the readout vector (:func:`measured_sentences`, a few short
   paraphrases each) come right after ``"Area <id> (<name>)."`` and before the kept clauses
   (so a caption cut at the token limit loses literature, not measurements); numbers are
   written as slots (``{thickness}``, ``{layer_i}``,
   :data:`cytowords.model.caption_input.SLOTS`) that the bundle fills with the measured
   value after generation. With nothing measured the mined layout stays as it is.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from cytowords.measure.caption_claims import (
    claim_contradicted,
    claim_unsupported,
    special_unsupported,
    without_unchecked,
)
from cytowords.measure.vector import vector_values

from .readout_truth import FieldTruth

_THICKNESS = (
    "Cortex about {thickness} mm thick here.",
    "Here the cortex is about {thickness} mm thick.",
    "Measured thickness about {thickness} mm.",
)
_OBLIQUE = ("Cut obliquely: the thickness is apparent.", "The cut looks oblique.")
_LAYER_I = ("Layer I about {layer_i} mm.", "Layer I is about {layer_i} mm wide.")
_IV = {
    "koniocortex": ("Broad, dense layer IV (koniocortex-like).", "A broad, dense layer IV."),
    "granular": ("A distinct layer IV.", "Distinct layer IV band."),
    "dysgranular": ("At most a faint layer IV band.", "Only a faint layer IV band."),
    "agranular": ("No layer IV band (agranular-like).", "No layer IV band shows (agranular-like)."),
}


def template_texts() -> list[str]:
    """Every measured-statement template (for the tokenizer's training texts)."""
    out = [*_THICKNESS, *_OBLIQUE, *_LAYER_I]
    for v in _IV.values():
        out.extend(v)
    return out


def split_caption(caption: str) -> tuple[str, list[str]]:
    """``("Area X (name)", [clauses])`` of a mined caption (no ``:``: the whole caption is
    the head and there are no clauses)."""
    text = caption.strip()
    if ":" not in text:
        return text.rstrip("."), []
    head, body = text.split(":", 1)
    clauses = [c.strip().rstrip(".") for c in body.split(";")]
    return head.strip(), [c for c in clauses if c]


def clause_contradicts(clause: str, truth: FieldTruth | None) -> bool:
    """True when ``clause`` claims what the field's true cortex type or thickness
    contradicts (:func:`cytowords.measure.caption_claims.claim_contradicted`, the rule the bundle
    applies to a shown caption against the measured values) or special cells the area
    does not have."""
    if truth is None:
        return False
    if claim_contradicted(clause, truth.cortex_type, truth.thickness_mm):
        return True
    return special_unsupported(clause, truth.special)


def measured_sentences(vector: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Measured statements of a readout vector with slots for the numbers (one paraphrase
    each, drawn with ``rng``); empty for the missing vector."""
    v = vector_values(vector)
    if not v["measured"]:
        return []

    def pick(options: tuple[str, ...]) -> str:
        return options[int(rng.integers(len(options)))]

    out = [pick(_THICKNESS)]
    if v["oblique"]:
        out.append(pick(_OBLIQUE))
    if v["layer_i_mm"] is not None:
        out.append(pick(_LAYER_I))
    if v["cortex_type"] is not None:
        out.append(pick(_IV[v["cortex_type"]]))
    return out


def caption_target(
    caption: str,
    truth: FieldTruth | None,
    vector: np.ndarray,
    rng: np.random.Generator,
    special: Collection[str] = (),
) -> str:
    """The training caption of one field: ``"Area <id> (<name>)."``, the measured
    statements of ``vector``, then the clauses of ``caption``, each without what no
    measurement checks (:func:`cytowords.measure.caption_claims.without_unchecked`), that
    its truth or readout does not contradict and whose special cells the field's
    measurement supports (``special``:
    :meth:`cytowords.measure.Readout.special_support`; training fields have no cell
    statistics, so none): the rule the bundle applies to what it shows,
    :func:`cytowords.measure.caption_claims.claim_unsupported` (with nothing measured:
    ``caption`` without those clauses)."""
    head, clauses = split_caption(caption)
    if not clauses:  # the rejection caption and fallbacks stay as they are
        return caption.strip()
    trimmed = (without_unchecked(c) for c in clauses)
    kept = [
        c
        for c in trimmed
        if c and not clause_contradicts(c, truth) and not claim_unsupported(c, vector, special)
    ]
    said = measured_sentences(vector, rng)
    if not said:  # nothing measured: the mined layout, verbatim when nothing contradicts
        return f"{head}: {'; '.join(kept)}." if kept else f"{head}."
    literature = "; ".join(kept)
    if literature:
        said.append(literature[0].upper() + literature[1:] + ".")
    return " ".join([f"{head}.", *said])
