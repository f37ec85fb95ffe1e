"""What the captioner reads, and the measured values it writes through slots.

Captioner input (``caption_input``, recorded in a bundle's ``config.extra``):

- ``"embedding"``: the frozen patch embedding ``(B, D)``;
- ``"embedding+probs"``: the embedding and the area head's class probabilities (incl. the
  none class);
- ``"embedding+probs+readout"``: both and the region's readout vector
  (:mod:`cytowords.measure.vector`, :data:`~cytowords.measure.vector.READOUT_DIM` entries;
  the "missing" vector of zeros where no cortex was measured).

What a shown caption may claim: nothing the region's readout contradicts (a layer IV band,
thin, medium or thick cortex against the measured cortex type and thickness, a sharp or
gradual white-matter border against the readout's decided border term) and Betz or
Meynert cells only where the region's measurement supports them, and nothing about where
the area lies or what it does, which no tissue field can show, nor about its laminar
contrast ("sharp lamination"), which the readout does not measure
(:func:`without_unsupported`, the same rule as the training targets':
:func:`cytowords.measure.caption_claims.claim_unsupported`, and
:func:`cytowords.measure.caption_claims.without_unchecked`);
the bundle applies it to every caption it returns, whatever its captioner reads.

Slots: a readout-conditioned captioner writes measured numbers as the slots of
:data:`SLOTS` (``{thickness}``, ``{layer_i}``) and :func:`fill_slots` writes the value from
the same readout vector the caption was conditioned on, so a number in a caption is the
measured number, never one the language model made up. A sentence whose slot has no value
(not measured) is left out. A number written out in the generated text (a bundle without
the readout input, a literature clause: "often well over 3 mm") about what the readout
measured is written as the measured value as well (:func:`with_measured_numbers`); what
cannot be so written falls under the rule above. :func:`shown_caption` does both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

import numpy as np
import torch
from torch import Tensor

from cytowords.measure.caption_claims import (
    LAYER_I_WORDS,
    claim_unsupported,
    stated_quantity,
    unchecked_only,
    without_dangling,
    without_unchecked,
)
from cytowords.measure.vector import READOUT_DIM, vector_values

CAPTION_INPUTS = ("embedding", "embedding+probs", "embedding+probs+readout")
#: slot -> (readout value, format)
SLOTS = {"{thickness}": ("thickness_mm", "{:.1f}"), "{layer_i}": ("layer_i_mm", "{:.2f}")}
_SENTENCE = re.compile(r"(?<=[.;])\s+")
#: sentences, ``;`` clauses and the ``"Area X (name):"`` head of a caption
_PART = re.compile(r"(?<=[.;:])\s+")
#: the area a caption names: ``"Area X"`` or ``"Area X (name)"`` at its start
_HEAD = re.compile(r"^Area \S+?(?: \([^)]*\))?(?=[\s.,;:]|$)")


def check_caption_input(spec: str) -> str:
    """``spec`` when it is one of :data:`CAPTION_INPUTS`, else ``ValueError``."""
    if spec not in CAPTION_INPUTS:
        raise ValueError(f"caption_input {spec!r}; expected one of {', '.join(CAPTION_INPUTS)}")
    return spec


def uses_readout(spec: str | None) -> bool:
    """True when a captioner with input ``spec`` is conditioned on the readout vector."""
    return bool(spec) and str(spec).endswith("+readout")


def readout_tensor(readout: np.ndarray | Tensor | None, n: int) -> Tensor:
    """Readout vectors as a float tensor ``(n, READOUT_DIM)``: None gives the missing
    vector (zeros) for every row; one vector ``(READOUT_DIM,)`` is repeated."""
    if readout is None:
        return torch.zeros((n, READOUT_DIM))
    r = torch.as_tensor(np.asarray(readout, dtype=np.float32))
    if r.ndim == 1:
        r = r[None].expand(n, -1)
    if r.shape != (n, READOUT_DIM):
        raise ValueError(
            f"readout vectors have shape {tuple(r.shape)}; expected ({n}, {READOUT_DIM})"
        )
    return r.float()


def caption_inputs(
    spec: str, emb: Tensor, head: torch.nn.Module | None = None, readout=None
) -> Tensor:
    """The captioner's input for embeddings ``(B, D)`` under ``spec`` (see the module
    docstring); ``head`` is needed for ``+probs``, ``readout`` (vectors ``(B, READOUT_DIM)``
    or None for "missing") for ``+readout``."""
    e = emb.float()
    parts = [e]
    if "+probs" in spec:
        if head is None:
            raise ValueError(f"caption_input {spec!r} needs the area head")
        was = head.training
        head.eval()
        with torch.no_grad():
            parts.append(torch.softmax(head(e), 1))
        head.train(was)
    if uses_readout(spec):
        parts.append(readout_tensor(readout, e.shape[0]).to(e.device))
    return torch.cat(parts, 1) if len(parts) > 1 else e


def caption_input_dim(spec: str, embed_dim: int, n_classes: int) -> int:
    """Width of the captioner input under ``spec`` (``n_classes`` incl. the none class)."""
    d = embed_dim
    if "+probs" in spec:
        d += n_classes
    if uses_readout(spec):
        d += READOUT_DIM
    return d


def fill_slots(text: str, readout: np.ndarray | None) -> str:
    """``text`` with every slot of :data:`SLOTS` replaced by the readout's value; sentences
    (or ``;`` clauses) with a slot the readout has no value for, or with a broken slot (a
    stray brace), are left out."""
    if not any(s in text for s in SLOTS):
        return text
    vals = vector_values(readout) if readout is not None else {}
    keep = []
    for part in _SENTENCE.split(text):
        ok = True
        for slot, (key, fmt) in SLOTS.items():
            if slot in part:
                value = vals.get(key)
                if value is None:
                    ok = False
                    break
                part = part.replace(slot, fmt.format(value))
        if ok and "{" not in part and "}" not in part:  # a broken slot says nothing true
            keep.append(part)
    out = " ".join(keep).strip()
    return out[:-1] + "." if out.endswith(";") else out


def fill_all(texts: Sequence[str], readout: np.ndarray | Tensor | None) -> list[str]:
    """:func:`fill_slots` row by row (``readout``: ``(B, READOUT_DIM)`` or None)."""
    if readout is None:
        return [fill_slots(t, None) for t in texts]
    r = np.asarray(readout.cpu() if isinstance(readout, Tensor) else readout, dtype=np.float32)
    if r.ndim == 1:
        r = np.broadcast_to(r, (len(texts), READOUT_DIM))
    return [fill_slots(t, v) for t, v in zip(texts, r)]


def without_clauses(text: str, drop: Callable[[str], bool]) -> str:
    """``text`` without the sentences and ``;`` clauses for which ``drop`` is True (the
    ``"Area X (name):"`` head is a part of its own, and a dropped first part keeps the
    area it names: ``"Area X (name)."``); the punctuation is mended: a part before a
    dropped sentence end ends with ``.``, a part after one starts upper-case."""
    parts = [p for p in _PART.split((text or "").strip()) if p]
    flags = [bool(drop(p)) for p in parts]
    return _joined(parts, flags) if any(flags) else text


def _joined(parts: list[str], dropped_flags: list[bool]) -> str:
    """The caption of ``parts`` without those flagged (:func:`without_clauses`'s mending)."""
    head = _HEAD.match(parts[0]) if dropped_flags[0] else None
    keep: list[str] = [head.group(0) + "."] if head else []
    dropped = False  # the part before this one was dropped
    for i, (part, drop) in enumerate(zip(parts, dropped_flags)):
        if drop:
            if keep and keep[-1][-1] in ";:" and (part.endswith(".") or i == len(parts) - 1):
                keep[-1] = keep[-1][:-1] + "."  # the kept part now ends the sentence
            dropped = True
            continue
        if dropped and (not keep or keep[-1].endswith(".")) and part[:1].islower():
            part = part[0].upper() + part[1:]
        keep.append(part)
        dropped = False
    return " ".join(keep)


#: words a clause's content is read without ("the", "of", …)
_FUNCTION_WORDS = frozenset(
    "a an the of in and with is are its to by than as at on which that it be or".split()
)


def _content_words(part: str) -> frozenset[str]:
    """The lower-case words of ``part`` but :data:`_FUNCTION_WORDS`, plurals as singular."""
    words = re.findall(r"[a-z0-9]+", part.lower())
    words = [
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words
    ]
    return frozenset(w for w in words if w not in _FUNCTION_WORDS)


def without_repeats(text: str) -> str:
    """``text`` without the sentences and ``;`` clauses that say nothing an earlier one
    did not: every content word of the part (:func:`_content_words`) is in one earlier
    kept part ("more granular than in neighbouring areas; more granular than in
    neighbouring areas", "layer III is thick with large deep pyramids; … ; large deep
    layer III pyramids"). The ``"Area X (name)"`` head is never compared."""
    parts = [p for p in _PART.split((text or "").strip()) if p]
    seen: list[frozenset[str]] = []
    flags = []
    for p in parts:
        words = frozenset() if _is_head(p) else _content_words(p)
        drop = bool(words) and any(words <= w for w in seen)
        flags.append(drop)
        if words and not drop:
            seen.append(words)
    return _joined(parts, flags) if any(flags) else text


def without_unsupported(
    text: str,
    readout: np.ndarray | None = None,
    supported: Collection[str] = (),
    wm_border: str | None = None,
) -> str:
    """``text`` without its sentences and clauses that state what the region's readout
    vector contradicts (``readout``; None or the missing vector: nothing measured, nothing
    contradicted) or special cells (Betz, Meynert) of a kind the region's measurement does
    not support (``supported``: the kinds :meth:`cytowords.measure.Readout.special_support`
    gives; empty when no cells were measured, as at the model's pixel size) or a
    white-matter border the readout's decided term contradicts (``wm_border``:
    :attr:`cytowords.measure.Readout.wm_border`; "varies" or None: nothing):
    :func:`cytowords.measure.caption_claims.claim_unsupported`; and without what a clause says
    about where the area lies or what it does, which no tissue field can show, or about
    its laminar contrast, which the readout does not measure
    (:func:`cytowords.measure.caption_claims.without_unchecked`: the rest of the clause stays, a
    clause that is only that goes). The ``"Area X (name)"`` head stays."""
    parts = [p for p in _PART.split((text or "").strip()) if p]
    trimmed = [p if _is_head(p) else (without_unchecked(p) or p) for p in parts]
    if trimmed != parts:
        text = " ".join(trimmed)
    return without_clauses(
        text,
        lambda part: (
            (not _is_head(part) and unchecked_only(part))
            or claim_unsupported(part, readout, supported, wm_border)
        ),
    )


def _is_head(part: str) -> bool:
    """True when ``part`` is only the ``"Area X (name)"`` head of a caption."""
    head = _HEAD.match(part)
    return head is not None and not part[head.end() :].strip(" .:;")


#: a length a caption states, with what qualifies it: a comparison or an approximation
#: ("well over", "little more than", "about") and a range ("2.5-3 mm", "2 to 3 mm")
_LENGTH = re.compile(
    r"(?P<q>\b(?:(?:a )?(?:little|well|much|slightly|just|far) )?"
    r"(?:more than|less than|over|under|above|below|beyond)\s+"
    r"|\b(?:at least|at most|up to)\s+"
    r"|\b(?:nearly|almost|roughly|around|approximately|about|some|ca\.|c\.)\s+|~\s*)?"
    r"(?P<n>\d+(?:\.\d+)?)(?P<range>\s*(?:-|–|to)\s*\d+(?:\.\d+)?)?\s*(?P<u>mm|µm|μm|um)\b",
    re.IGNORECASE,
)
_CLAUSE_SEP = re.compile(r"(?<=[.;:])(\s+)")


def measured_number(part: str, key: str, value_mm: float) -> str:
    """``part`` with its first length stated in mm (layer I: in mm or µm) written as the
    measured ``value_mm`` of ``key`` (``"thickness_mm"`` or ``"layer_i_mm"``), rounded as
    captions write it (:data:`SLOTS`: 0.1 mm, layer I 0.01 mm; 10 µm in µm). A
    comparison, approximation or range around the stated number ("often well over 3 mm",
    "2.5-3 mm") becomes ``"about"`` the value: the measured value is not a bound."""
    for m in _LENGTH.finditer(part):
        unit = m.group("u").lower()
        if unit != "mm" and key != "layer_i_mm":
            continue
        if unit == "mm":
            fmt = next(f for k, f in SLOTS.values() if k == key)
            number = fmt.format(value_mm) + " mm"
        else:
            number = f"{round(value_mm * 1000.0, -1):.0f} µm"
        q = m.group("q")
        if q or m.group("range"):
            number = ("About " if (q or "a")[0].isupper() else "about ") + number
        return part[: m.start()] + number + part[m.end() :]
    return part


def with_measured_numbers(text: str, readout: np.ndarray | None) -> str:
    """``text`` with every number it states about the region that the readout
    ``readout`` measured written as the measured value: per sentence or ``;`` clause,
    a cortical thickness (mm) or a layer I width (mm or µm) as
    :func:`cytowords.measure.caption_claims.stated_quantity` (and the evaluation) reads it
    (:func:`measured_number`). Numbers the readout did not measure (None, the missing
    vector, layer I not estimated) are left as they are."""
    if readout is None or not text:
        return text
    vals = vector_values(readout)
    if not vals["measured"]:
        return text
    pieces = _CLAUSE_SEP.split(text)
    for i in range(0, len(pieces), 2):
        part = pieces[i]
        key = stated_quantity(part)
        if key is None and LAYER_I_WORDS.search(part) and _LENGTH.search(part):
            key = "layer_i_mm"  # layer I in µm
        if key is not None and vals.get(key) is not None:
            pieces[i] = measured_number(part, key, float(vals[key]))
    return "".join(pieces)


def shown_caption(
    text: str,
    readout: np.ndarray | None = None,
    supported: Collection[str] = (),
    wm_border: str | None = None,
) -> str:
    """The caption shown for a generated one: its numbers about the region that the
    readout measured written as the measured values (:func:`with_measured_numbers`), then
    without what the readout contradicts (its vector, and its white-matter border term
    ``wm_border``) and special cells the measurement does not support
    (:func:`without_unsupported`), without the clauses that repeat an earlier one
    (:func:`without_repeats`), ending as a sentence (:func:`with_sentence_end`). The one function by which the bundle, and so the describer
    and the evaluation, turn a generated caption into the shown one."""
    shown = without_unsupported(with_measured_numbers(text, readout), readout, supported, wm_border)
    return with_sentence_end(without_repeats(shown))


def with_sentence_end(text: str) -> str:
    """``text`` ending as a sentence. A caption the language model ended without a full
    stop was cut at its token limit ("…; granular cortex of medium thickness, with
    medium-sized", "…, close to the anterior"): its last clause loses its last comma
    segment (where it has one; else, where a word is cut at its hyphen, the whole clause)
    and the words that leaves dangling ("with"), and the caption ends with ``.``."""
    body = (text or "").rstrip()
    if not body or body[-1] in ".!?":
        return text
    body = body.rstrip(";:,")
    start = max(body.rfind(";"), body.rfind(". "), body.rfind(":")) + 1
    if "," in body[start:]:
        body = body[: body.rfind(",")]
    elif re.search(r"\S-$", body):  # a word cut off at its hyphen: the clause goes
        body = body[:start] if start > 0 else re.sub(r"\s*\S+-$", "", body)
    body = without_dangling(body.rstrip(" ,;:.")).rstrip(" ,;:")
    return body + "." if body else text


def special_rows(
    special: Collection[str] | Sequence[Collection[str] | None] | None, n: int
) -> list[Collection[str]]:
    """Supported special-cell kinds per row: None gives none for every row; one collection
    of kind names (strings) is repeated; otherwise one entry per row (None: none)."""
    if special is None:
        return [()] * n
    rows = list(special)
    if all(isinstance(k, str) for k in rows):
        return [tuple(rows)] * n
    if len(rows) != n:
        raise ValueError(f"special: {len(rows)} rows for {n} captions")
    return [() if r is None else r for r in rows]


def wm_border_rows(wm_border: str | Sequence[str | None] | None, n: int) -> list[str | None]:
    """The readout's white-matter border term per row
    (:attr:`cytowords.measure.Readout.wm_border`): None gives none for every row; one
    term (a string) is repeated; otherwise one entry per row."""
    if wm_border is None or isinstance(wm_border, str):
        return [wm_border] * n
    rows = [None if w is None else str(w) for w in wm_border]
    if len(rows) != n:
        raise ValueError(f"wm_border: {len(rows)} rows for {n} captions")
    return rows
