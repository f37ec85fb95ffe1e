"""Which area a sentence is about, how cytoarchitectonic it is, and its attribute statements.

A statement is a clause about one area with that area's name and every other area's name
removed (comparisons such as "unlike hOc2" are dropped, "than in hOc3d" becomes "than in
neighbouring areas"), tagged with the attributes it speaks of (layers, density, cell size,
granularity, special cells, lamination, border, thickness).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .aliases import Mention

#: attribute name -> pattern; a statement needs at least one to count as cytoarchitecture
ATTRIBUTES: dict[str, re.Pattern] = {
    "granularity": re.compile(
        r"granul|koniocort|agranular|dysgranular|eulaminate|layer IV\b", re.I
    ),
    "layers": re.compile(
        r"\blayers?\s+(?:I|II|III|IV|V|VI)|\b(?:II|III|IV|VI)[abc]?\b|\bI{1,3}[abc]\b|\bV[ab]\b|sublayer|supragranular|infragranular|lamina dissecans|"
        r"\b(?:first|second|third|fourth|fifth|sixth|molecular|granular|pyramidal|multiform|deep) layers?\b"
    ),
    "density": re.compile(
        r"dens|packed|packing|crowd|sparse|cell-poor|cell-free|free of cells|few cells|pale|dark|neuropil|populat",
        re.I,
    ),
    "cell_size": re.compile(
        r"\b(?:large|larger|small|smaller|tiny|big|bigger|giant|huge)\b|medium-sized|plump|slender|elongated",
        re.I,
    ),
    "special_cells": re.compile(
        r"betz|meynert|ganglion|giant|magnopyramidal|stellate|islands?|pre-alpha|granule cells|pigment|fusiform cells|stria of gennari|gennari",
        re.I,
    ),
    "lamination": re.compile(
        r"laminat|laminar|layering|column|radial|rows?\b|homogeneous|bilaminar|bipartite|tripartite|distinct|blurred|merge|blend|fuse",
        re.I,
    ),
    "border": re.compile(r"white matter|cortex-white|grey-white", re.I),
    "thickness": re.compile(
        r"\b(?:thick|thin|thinner|thicker|broad|broader|narrow|narrower|wide|wider|slim)\b", re.I
    ),
}
_METHODS = re.compile(
    r"\bbrains?\b|\bsections?\b|\bsubjects\b|\bdonors?\b|\bprofiles?\b|\bGLI\b|mahalanobis|"
    r"\bp\s*<|significan|statistic|\bMRI\b|hemispheres?\b|receptor|volume|\banalys[ie]s\b|"
    r"\bsample|permutation|autoradiograph|stained for|were (?:cut|studied|analysed)",
    re.I,
)
_LOCATION = re.compile(
    r"^(?:lies|lie|occupies|covers|lines|forms a belt|continues|reaches|extends|is located|"
    r"adjoins|borders|corresponds|was|were|has been|is not shown|differs most)\b",
    re.I,
)
_NON_SUBJECT_LEFT = re.compile(
    r"(?:\bthan|\bunlike|\blike|\bas in|\bcompared (?:with|to)|\bin contrast to|\bfrom|\bto|"
    r"\btowards?|\bbetween|\bnear|\badjacent to|\bbordering|\bborders|\bneighbou?r(?:ing|s)?|"
    r"\bresembl\w*|\brecalls|\bsimilar to|\band|\bor|\binto|\bbehind|\bbeyond)"
    r"\s+(?:(?:in|that of|those of)\s+)?(?:the\s+)?(?:(?:neighbouring|adjacent)\s+)?"
    r"(?:areas?\s+)?$",
    re.I,
)
_PLACE = re.compile(r"gyrus|sulcus|sulci|\bbanks?\b|lobule|fissure|surface|\bpole\b", re.I)
_A, _B = "\u00a7A\u00a7", "\u00a7B\u00a7"  # placeholders for the subject and other areas
_VERBS = r"(?:has|have|shows|show|displays|contains|holds|possesses|exhibits|presents|carries)"


@dataclass(frozen=True)
class Statement:
    """An attribute statement about one area, ready to be put into a caption."""

    area: str
    text: str
    attributes: tuple[str, ...]
    sentence: str
    source: str


def attributes_of(text: str) -> tuple[str, ...]:
    """Attribute names a text speaks of (see :data:`ATTRIBUTES`)."""
    return tuple(name for name, pat in ATTRIBUTES.items() if pat.search(text))


def cyto_score(sentence: str) -> float:
    """Cytoarchitectonic content: attributes spoken of minus methods/statistics noise."""
    attrs = attributes_of(sentence)
    penalty = len(_METHODS.findall(sentence))
    return len(attrs) - 1.5 * penalty


def resolve_subjects(sentence: str, mentions: list[Mention]) -> list[str]:
    """The area(s) a sentence is about: the first unique mention that is not in a comparison
    or relation ("than X", "unlike X", "between X and Y", "lateral to X")."""
    for men in mentions:
        if not men.unique:
            continue
        if _NON_SUBJECT_LEFT.search(sentence[: men.start]):
            continue
        return [men.ids[0]]
    return []


def _placeholders(sentence: str, mentions: list[Mention], area: str) -> str:
    out, pos = [], 0
    for men in mentions:
        if men.start < pos:
            continue
        out.append(sentence[pos : men.start])
        out.append(_A if men.ids == (area,) else _B)
        pos = men.end
    out.append(sentence[pos:])
    s = "".join(out)
    # parenthetical synonyms of the subject: "hOc1 (V1, area 17)" -> "hOc1"
    s = re.sub(rf"\s*\(\s*{_A}(?:\s*,\s*{_A})*\s*\)", "", s)
    s = re.sub(rf"^{_A},\s+the\s+[^,]*?,\s+(?=[a-z])", f"{_A} ", s)  # "hOc1, the V1, is"
    return s


def _rewrite_subject(clause: str) -> str | None:
    c = clause.strip(" ,")
    c = re.sub(
        r"^(?:Unlike|Compared (?:with|to)|In contrast to|Like|As in)\s+[^,\u00a7]+,\s*", "", c
    )
    c = re.sub(rf"^(?:In|Within)\s+(its\s+\w+\s+part),\s*{_A}\s+{_VERBS}\s+(?:an?\s+)?", r"\1: ", c)
    c = re.sub(rf"^(?:In|Within|For)\s+(?:the\s+)?{_A}\s*,?\s*", "", c)
    c = re.sub(rf",[^,]*{_A}[^,]*$", "", c) if not c.startswith(_A) or c.count(_A) > 1 else c
    c = re.sub(
        rf"^(?:The\s+)?{_A}\s+(?:still\s+|also\s+|only\s+)?(?=is|are|has|have|show|display|contain|hold|lack|possess|exhibit|present|carr)",
        f"{_A} ",
        c,
    )
    c = re.sub(rf"^(?:The\s+)?{_A}\s+(?:is|are)\s+(?:an?\s+)?", "", c)
    c = re.sub(rf"^(?:The\s+)?{_A}\s+{_VERBS}\s+(?:an?\s+)?", "", c)
    c = re.sub(rf"^(?:The\s+)?{_A}\s+lacks?\s+(?:an?\s+|the\s+)?", "no ", c)
    c = re.sub(rf"\s+(?:of|in)\s+(?:the\s+)?{_A}", "", c)
    c = re.sub(rf"^{_A}'s\s+", "", c)
    c = re.sub(
        rf"^(?:At|In|On)\s+[^,{_A[0]}]{{3,40}}?\s+{_A}\s+(?:appears|looks)\s+as\s+(?:an?\s+)?",
        "",
        c,
    )
    if _A in c:
        return None
    return c


def _rewrite_others(text: str) -> str:
    s = re.sub(
        rf"^(?:Unlike|In contrast to|Compared (?:with|to)|As in|Like|Similar to)\s+(?:the\s+)?"
        rf"(?:\w+\s+)?(?:areas?\s+)?{_B}(?:\s+and\s+{_B})?\s*,\s*",
        "",
        text,
    )
    s = re.sub(
        rf"\s+than\s+(?:in\s+|that of\s+|those of\s+)?(?:the\s+)?(?:\w+\s+)?(?:areas?\s+)?{_B}",
        " than in neighbouring areas",
        s,
    )
    s = re.sub(r",?\s*(?:resembling|similar to)\s+[^,;]*?\u00a7[AB]\u00a7", "", s)
    s = re.sub(r",?\s*(?:unlike|like|as in)\s+(?:its|the)\s+[\w\s-]*?neighbou?rs?\b", "", s)
    return re.sub(rf",?\s*(?:unlike|as in|like|similar to)\s+(?:in\s+)?{_B}", "", s)


def _finish(clause: str) -> str:
    c = re.sub(r"\s+", " ", clause).strip(" ,;:.")
    c = re.sub(r"^(?:also|moreover|furthermore|thus|here|however),?\s+", "", c, flags=re.I)
    first = c.split(" ", 1)[0]
    if re.fullmatch(r"[A-Z][a-z]*", first) and first not in ("Betz", "Meynert", "Gennari"):
        c = c[0].lower() + c[1:]
    return c


def extract_statements(
    sentence: str, mentions: list[Mention], area: str, source: str
) -> list[Statement]:
    """Attribute statements about ``area`` in one (citation-stripped) sentence."""
    text = _rewrite_others(_placeholders(sentence.rstrip(". "), mentions, area))
    text = re.split(r",\s+(?:whereas|while)\s+", text)[0]  # contrasts speak of something else
    clauses = re.split(r";\s+|,\s+but\s+|:\s+(?=[a-z])", text)
    out = []
    for clause in clauses:
        if _B in clause:
            continue
        rewritten = _rewrite_subject(clause)
        if rewritten is None:
            continue
        c = _finish(rewritten)
        words = c.split()
        if not 2 <= len(words) <= 40 or _LOCATION.match(c) or _METHODS.search(c):
            continue
        attrs = attributes_of(c)
        if not attrs or (_PLACE.search(c) and set(attrs) <= {"cell_size", "thickness", "density"}):
            continue
        out.append(Statement(area, c, attrs, sentence, source))
    return out
