"""What a caption's text claims about the tissue, and which of its claims the region's
readout supports, contradicts or cannot check.

The one predicate the shown captions, the captioner's training targets and the evaluation
share (:func:`claim_unsupported`): a caption clause stating an inner granular layer, a
thickness, a layer I width, a white-matter border or special cells the readout (its vector,
:mod:`cytowords.measure.vector`) contradicts or did not measure is left out; what no
measurement of the tissue checks — where the area lies or what it does, the laminar
contrast — is trimmed from each clause (:func:`without_unchecked`). The parsers of the
stated quantities (:func:`stated_quantity`, :func:`thickness_claim`,
:func:`caption_wm_border_claim`, :func:`laminar_contrast_claims`, …) are the ones the
evaluation scores claims with. Plain ``re``/numpy: no torch.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import numpy as np

from .vector import IV_PRESENT, vector_values

#: caption phrases that claim no inner granular layer
_CLAIM_ABSENT = re.compile(
    r"\bagranular\b|\bno (?:distinct |visible |clear )?(?:inner )?granular layer"
    r"|\bno (?:distinct |visible |clear )?layer iv\b|\blacks? (?:an? )?(?:inner granular )?layer iv\b"
    r"|\blayer iv (?:is )?(?:absent|missing)",
    re.IGNORECASE,
)
#: caption phrases that claim an inner granular layer
_CLAIM_PRESENT = re.compile(
    r"\bkoniocortex\b|(?<![a-z])granular (?:isocortex|cortex)\b"
    r"|\b(?:broad|dense|prominent|distinct|wide|well[- ]developed|conspicuous) "
    r"(?:inner granular )?(?:layer iv|granular layer)\b"
    r"|\blayer iv (?:is )?(?:broad|dense|prominent|distinct|wide|present|well[- ]developed)",
    re.IGNORECASE,
)


def caption_iv_claim(caption: str) -> bool | None:
    """The caption's claim about an inner granular layer IV: True (present), False
    (absent) or None (no claim, or both)."""
    absent = bool(_CLAIM_ABSENT.search(caption or ""))
    text = _CLAIM_ABSENT.sub(" ", caption or "")  # "agranular cortex" is no "granular cortex"
    present = bool(_CLAIM_PRESENT.search(text)) and "dysgranular" not in text.lower()
    if absent == present:
        return None
    return present


#: special cells a caption may name -> the pattern that names them (the kinds are the
#: atlas's and the generator's ``special`` kinds)
SPECIAL_CELLS: dict[str, re.Pattern] = {
    "betz": re.compile(r"\bbetz\b", re.I),
    "meynert": re.compile(r"\bmeynert\b", re.I),
}
_NEGATED = re.compile(r"\b(?:no|without|lacks?|absent)\b", re.I)


def caption_special_claims(text: str) -> tuple[str, ...]:
    """The special-cell kinds (:data:`SPECIAL_CELLS`) ``text`` states as present: named and
    not negated before the name ("no Betz cells" claims none)."""
    out = []
    for kind, pat in SPECIAL_CELLS.items():
        m = pat.search(text or "")
        if m and not _NEGATED.search(text[: m.start()]):
            out.append(kind)
    return tuple(out)


def special_unsupported(text: str, supported: Collection[str] = ()) -> bool:
    """True when ``text`` states special cells (:func:`caption_special_claims`) of a kind
    that ``supported`` lacks: the kinds the region's measurement supports
    (:meth:`cytowords.measure.Readout.special_support`; empty when no cells were
    measured). Such a clause is not shown, nor trained on, as a statement about the
    region: at the model's pixel size nothing in the pixels can back a cell claim."""
    return any(k not in supported for k in caption_special_claims(text))


#: nouns that make a phrase a place in the brain ("on the crown of the postcentral
#: gyrus", "in the anterior language region of Broca", "toward the angular region")
_PLACE_NOUNS = (
    r"regions?|lobules?|lobes?|gyr(?:us|i)|sulc(?:us|i)|fissures?|banks?|crowns?|walls?|lips?"
    r"|fundus|poles?|operculum|opercula|convexity|(?<!the )(?<!pial )surfaces?|belt|junction|cuneus|precuneus"
    r"|insula|planum(?: temporale)?|isthmus|uncus|hemispheres?|complex"
)
#: a direction of the brain ("rostral", "dorso-lateral", "caudally")
_DIRECTION = r"[\w-]*(?:anterior|posterior|rostral|caudal|dorsal|ventral|lateral|medial)(?:ly)?"
#: the start of the part of a clause that says where the area lies or what it does: a
#: place (group ``place``: a preposition, an article, up to seven words and a place
#: noun, "toward the insula", "between the olfactory sulcus", "continuous with the
#: opercular part", "rostral to 6d1"; in a comparison, after "than", it is the
#: neighbour's and stays) or a function ("linked to", "serves", "a field for", "for the
#: lower visual field", "of Broca", "the dorsal visual stream", "it drives") or a rank
#: by position ("the caudal-most field", "the most rostral")
LOCATION_FUNCTION = re.compile(
    r"(?P<place>\b(?:(?:in|on|along|within|near|above|below|beneath|behind|beside|around"
    r"|across|at(?: the (?:bottom|top|edge|border|margin|depth|tip|end) of)?"
    r"|(?:in front|ahead|outside) of|(?:next|adjacent|close) to"
    rf"|{_DIRECTION} to)"
    r" (?:(?:the|a|an|its) (?:(?!border\b)[\w'-]+ ){0,7}?(?:" + _PLACE_NOUNS + r")"
    r"|(?:the|its) (?:(?!border\b)[\w'-]+ ){0,7}?(?:cortex|fields?|areas?))"
    r"|of (?:the|a|an|its) (?:[\w'-]+ ){0,7}?(?:" + _PLACE_NOUNS + r")"
    r"|(?:towards?|reach(?:es|ing)?|from|between) the (?:(?!pial\b)[\w'-]+ ){0,5}?(?:"
    + _PLACE_NOUNS
    + r")"
    r"|continuous with (?:the|a|an|its) (?:[\w'-]+ ){0,7}?(?:"
    + _PLACE_NOUNS
    + r"|cortex|fields?|areas?|parts?)"
    rf"|{_DIRECTION} to (?:area )?[A-Za-z]{{0,5}}\d[\w.]*"
    rf"|(?:lies|lie|lying|located|situated) (?:(?:further|farther|more|just) )?{_DIRECTION}"
    r"|(?:lies|lying|located|situated) closer to)\b)"
    r"|\b(?:a |an |the )?(?:region|field|area|part)s? (?:tied|linked|devoted|dedicated|serving"
    r"|engaged|involved|important|responsible|known|coding|integrating)\b"
    r"|\b(?:a |the )?(?:region|field|area)s? (?:of|for) (?:[\w'-]+ ){0,3}?"
    r"(?:processing|recognition|perception|regulation|production|control|memory|language"
    r"|speech|attention|touch|proprioception|the texture|interoception|pain|reward|praxis)\b"
    r"|\ba field for\b|\b(?:linked|tied|devoted|dedicated) to\b|\bserv(?:es|ing)\b"
    r"|\b(?:involved|engaged) in\b|\b(?:important|responsible) for\b|\bsupporting\b"
    r"|\b(?:[\w-]+ ){0,2}?processing\b"
    r"|\b(?:mapping|for) the (?:upper|lower|central|peripheral) (?:\w+ )?visual field\b"
    r"|\b(?:where )?the (?:dorsal|ventral) (?:visual )?stream\b"
    r"|\b(?:(?:speech|language)[\w -]*region|region) of Broca\b"
    r"|\bwhere (?:[\w'-]+ ){1,6}?(?:are|is) (?:coded|processed|represented|mapped|controlled)\b"
    r"|\bin cortex (?:that|which|tied|linked)\b"
    r"|\b(?:which|that|it) (?:codes?|processes|prepares|plans|controls|represents|maps"
    r"|drives|guides|supports|integrates)\b|\b(?:combining|integrating) touch\b"
    r"|\bthe main (?:[\w'-]+ ){0,3}field\b"
    r"|\bthe (?:rostral|caudal|dorsal|ventral) continuation of\b"
    r"|\bthe most (?:rostral|caudal|dorsal|ventral|lateral|medial|anterior|posterior)\b"
    r"|\b(?:the )?(?:rostral|caudal|dorsal|ventral|lateral|medial|anterior|posterior"
    r"|superior|inferior)-?most\b",
    re.IGNORECASE,
)
#: what a cut leaves dangling at its end ("…cortex hidden", "…pyramids far back")
_DANGLING = re.compile(
    r"(?:[\s,]+|(?:^|\s+)(?:and|or|but|with|which|that|where|while|in|on|a|an|the|just|directly"
    r"|deep|hidden|far|back|farther|further|forward|only|located|lying|situated|mainly|toward"
    r"|towards|of|front|lies|lie|is|are|found|sits|can|may|run|runs|extends?|extending)"
    r")+$",
    re.I,
)


def without_dangling(text: str) -> str:
    """``text`` without the words a cut leaves dangling at its end (:data:`_DANGLING`:
    "and", "with", "the", "hidden", …, and the commas between them)."""
    return _DANGLING.sub("", text)


#: a verb that states where the area lies ("Area 44 lies in …"): a clause resumed after
#: its place continues the subject ("Area 44 lies in the gyrus and is dysgranular" ->
#: "Area 44 is dysgranular")
_LIES = re.compile(r"\b(?:lies|lie|lying|located|situated|sits|found)\b", re.I)
#: a segment whose verb of direction a cut takes ("its columns run toward the sulcus")
#: is left a bare subject and goes whole
_ORIENTED = re.compile(r"\b(?:run|runs|extends?|extending|points?)\b", re.I)
_SUBJECT = re.compile(r"(?:(?:and|but) )?(?:its|the|their)\b", re.I)
_SEGMENT = re.compile(r"(,\s+)")
#: where cytoarchitecture resumes after a place: " with a …" (not "with the …", as in
#: "at the junction with the postcentral sulcus") or " and …", " but …" (not when the
#: place goes on: "and the parietal operculum", "and in the collateral sulcus" is trimmed
#: in turn)
_RESUME = re.compile(r"\s+(?:with (?!the\b)|(?P<conj>and|but) )", re.I)
#: a place that goes on after "and" ("the parietal operculum", "its lateral bank",
#: "intraparietal sulci")
_PLACE_GOES_ON = re.compile(
    r"(?:(?:the|its|an?) )?(?:(?!layers?\b|with\b|in\b|on\b|of\b)[\w'-]+ ){0,5}?(?:"
    + _PLACE_NOUNS
    + r"|cortex|parts?|fields?|areas?|portions?)\b",
    re.I,
)


#: a comparison before a place makes the place the neighbour's ("than") or the set compared
#: over ("the thinnest layer III of the cingulate region")
_THAN = re.compile(r"\bthan\b", re.I)
_SUPERLATIVE = re.compile(r"\b(?<!-)(?:most|least|\w{3,}est)\b", re.I)


def _in_comparison(segment: str, m: re.Match[str]) -> bool:
    """True when the place ``m`` in ``segment`` belongs to a comparison: it follows a
    "than" ("thinner than that of the neighbour nearer the sulcal lip"), or it is an "of"
    place after a superlative ("the thinnest layer III of the cingulate region")."""
    if m.group("place") is None:
        return False
    before = segment[: m.start()]
    return bool(_THAN.search(before)) or (
        m.group(0).lower().startswith("of ") and bool(_SUPERLATIVE.search(before))
    )


def _segment_without_location(seg: str) -> str:
    """One comma segment without its location or function part (:func:`without_location`);
    ``""`` when nothing else is left."""
    m = next((m for m in LOCATION_FUNCTION.finditer(seg) if not _in_comparison(seg, m)), None)
    if m is None:
        return seg
    head = without_dangling(seg[: m.start()])
    if _ORIENTED.search(seg, len(head), m.start()) and _SUBJECT.match(head):
        return ""  # "and its vertical cell columns run toward the sulcus": no verb left
    if m.group("place") is None:
        return head
    rest = next(
        (
            r
            for r in _RESUME.finditer(seg, m.end())
            if not (r.group("conj") and _PLACE_GOES_ON.match(seg, r.end()))
        ),
        None,
    )
    if rest is None or any(
        f.group("place") is None for f in LOCATION_FUNCTION.finditer(seg, m.end(), rest.start())
    ):
        return head  # no resume after a function ("… region linked to face and word …")
    if not rest.group("conj"):
        return head + " " + _segment_without_location(seg[rest.start() :].lstrip())
    tail = _segment_without_location(seg[rest.end() :])
    if not tail:
        return head
    if not head or _LIES.search(seg, len(head), m.end()):
        return (head + " " + tail).strip()
    return f"{head} {rest.group('conj')} {tail}"


def without_location(part: str) -> str:
    """``part`` (one sentence or ``;`` clause of a caption) without what it says about
    where the area lies or what it does (:data:`LOCATION_FUNCTION`): within each comma
    segment, from the first cue to the segment's end; after a place, the clause resumes
    at a following "with a …", "and …" or "but …" that does not go on naming places
    ("Area 44 lies in the inferior frontal gyrus and is dysgranular" -> "Area 44 is
    dysgranular"; "blurred lamination toward the insula and a thin layer II" -> "blurred
    lamination and a thin layer II"), itself trimmed in turn. The words a cut leaves
    dangling ("hidden", "just", "and") go; a segment that is only location or function
    goes with its comma. The cytoarchitecture before the cue, comparisons with neighbours
    (a place after "than") and the clause's end punctuation stay; ``""`` when nothing but
    location or function is left.
    No tissue field can show a location or a function, and both are false whenever the
    named area is wrong."""
    body = part.rstrip()
    end = body[-1] if body[-1:] in (".", ";", ":") else ""
    body = body[: len(body) - len(end)]
    segments = _SEGMENT.split(body)[::2]
    if not any(LOCATION_FUNCTION.search(seg) for seg in segments):
        return part
    kept = [s for s in (_segment_without_location(seg) for seg in segments) if s.strip()]
    text = ", ".join(kept).strip()
    return text + end if text else ""


def location_function_only(part: str) -> bool:
    """True when ``part`` says nothing but where the area lies or what it does
    (:func:`without_location` leaves nothing of it)."""
    return bool(part.strip()) and not without_location(part)


_LAMINAR_WORD = (
    r"(moderate(?:ly(?:\s+distinct)?)?|sharp|crisp|distinct|clear|blurred|weak|faint"
    r"|indistinct|poor)"
)
#: a statement of the laminar contrast: "sharp lamination", "lamination is moderate",
#: "laminar contrast is sharp", "a blurred laminar pattern", "contrast between the
#: layers is moderate", "sharply laminated", "poorly laminated", "no clear lamination"
#: (group ``no``: a negated sharp word, a blurred contrast)
LAMINAR_CONTRAST = re.compile(
    rf"\b(?P<no>(?:no|without)\s+)?{_LAMINAR_WORD}\s+lamina(?:tion|r\s+(?:contrast|pattern))\b"
    rf"|\blamina(?:tion|r\s+contrast|r\s+pattern)\s+(?:is\s+|are\s+)?{_LAMINAR_WORD}\b"
    rf"|\bcontrast\s+between\s+(?:the\s+)?(?:layers|them)\s+is\s+{_LAMINAR_WORD}\b"
    r"|\b(sharply|clearly|distinctly|well|moderately|poorly|weakly|faintly)[\s-]+laminated\b",
    re.IGNORECASE,
)
#: the atlas's laminar contrast term of each word
_LAMINAR_TERM = {
    "sharp": "sharp",
    "crisp": "sharp",
    "distinct": "sharp",
    "clear": "sharp",
    "moderate": "moderate",
    "moderately": "moderate",
    "moderately distinct": "moderate",
    "blurred": "blurred",
    "weak": "blurred",
    "faint": "blurred",
    "indistinct": "blurred",
    "poor": "blurred",
    "sharply": "sharp",
    "clearly": "sharp",
    "distinctly": "sharp",
    "well": "sharp",
    "poorly": "blurred",
    "weakly": "blurred",
    "faintly": "blurred",
}


def laminar_contrast_claims(part: str) -> tuple[str, ...]:
    """The atlas's laminar contrast terms (``sharp``, ``moderate``, ``blurred``) that a
    sentence or clause states (:data:`LAMINAR_CONTRAST`: "sharp lamination", "lamination
    is moderately distinct", "weak lamination" and "no clear lamination": ``blurred``).
    The readout gives no laminar contrast term, so nothing checks the statement: shown
    captions leave it out (:func:`without_laminar_contrast`)."""
    out = []
    for m in LAMINAR_CONTRAST.finditer(part or ""):
        word = next(g for g in m.groups()[1:] if g)
        term = _LAMINAR_TERM[re.sub(r"\s+", " ", word.lower())]
        if m.group("no") and term != "blurred":
            term = "blurred"
        if term not in out:
            out.append(term)
    return tuple(out)


#: a laminar contrast statement with what makes it a phrase of its clause: before it, a
#: comma or a joining word ("and", "with", "and shows") and an article or "its"; after
#: it, what it resembles ("sharp lamination resembling visual cortex")
_LAMINAR_PHRASE = re.compile(
    r"(?P<pre>(?:\s*,)?(?:\s+(?:and|with|but|while)\b)?(?:\s+(?:shows?|has|have)\b)?\s*)"
    r"(?P<phrase>(?:(?:a|an|the|its)\s+)?(?:" + LAMINAR_CONTRAST.pattern + r")"
    r"(?:\s+resembling\s+[^,;:.]*)?)"
    r"(?P<post>\s*,?\s+(?:and|with)\s+|\s*,\s*)?",
    re.IGNORECASE,
)


def without_laminar_contrast(part: str) -> str:
    """``part`` (one sentence or ``;`` clause of a caption) without its statements of the
    laminar contrast (:data:`LAMINAR_CONTRAST`), each with the word that joins it to the
    clause ("granular cortex with blurred lamination" -> "granular cortex"; "moderate
    lamination and a gradual white matter border" -> "a gradual white matter border");
    the rest of the clause and its end punctuation stay, a sentence start stays upper-case;
    ``""`` when nothing else is left. The readout gives no laminar contrast term, so no
    tissue field the plugin measures backs it."""
    text = part
    while m := _LAMINAR_PHRASE.search(text):
        pre, post = m.group("pre"), m.group("post")
        joined = bool(re.search(r"[,\w]", pre))  # a comma or a joining word before it
        art = re.match(r"(?:a|an|the|its)\s+", m.group("phrase"), re.I)
        if m.group("phrase").lower().endswith("laminated") and re.match(
            r"\s*[a-z]", text[m.end() :], re.I
        ):
            keep = pre + (art.group(0) if art else "")  # "a poorly laminated cortex": a word
            text = text[: m.start()] + keep + text[m.end() :].lstrip()
            continue
        if post:  # the clause goes on after it: keep one joint
            keep = post if joined else pre
        else:
            keep = "" if joined else pre
        text = text[: m.start()] + keep + text[m.end() :]
        if m.start() == 0:  # no subject left for a verb: "… and is transitional" -> "transitional"
            text = re.sub(r"^\s*(?:is|are|has|have|shows?)\s+", "", text, flags=re.I)
        if m.start() == 0 and part[:1].isupper() and text[:1].islower():
            text = text[0].upper() + text[1:]
    if text == part:
        return part
    body = text.rstrip()
    end = body[-1] if body[-1:] in (".", ";", ":") else ""
    body = without_dangling(re.sub(r"\s+", " ", body[: len(body) - len(end)])).strip(" ,")
    body = re.sub(r"\s+,", ",", body)
    return body + end if body else ""


def without_unchecked(part: str) -> str:
    """``part`` (one sentence or ``;`` clause of a caption) without what no measurement
    of the tissue checks: where the area lies or what it does (:func:`without_location`)
    and the laminar contrast (:func:`without_laminar_contrast`); ``""`` when nothing else
    is left."""
    kept = without_location(part)
    return without_laminar_contrast(kept) if kept else ""


def unchecked_only(part: str) -> bool:
    """True when ``part`` says nothing but what :func:`without_unchecked` leaves out."""
    return bool(part.strip()) and not without_unchecked(part)


#: a number in mm (the cortical thickness and layer I widths captions state)
MM_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*mm\b")
#: words that make a part's mm number a cortical thickness
THICKNESS_WORDS = re.compile(r"\bthick(?:ness)?\b|\bpia to white matter\b", re.I)
#: a part that names layer I (its mm number is layer I's width)
LAYER_I_WORDS = re.compile(r"\blayer I\b", re.I)


def stated_quantity(part: str) -> str | None:
    """Which measured quantity one sentence or ``;`` clause of a caption states as a
    number in mm: ``"layer_i_mm"`` (it names layer I), ``"thickness_mm"`` (it speaks of
    thickness or of pia to white matter) or None (no mm number, or neither). The rule by
    which a shown caption's numbers are written from the readout
    (:func:`cytowords.model.caption_input.with_measured_numbers`) and the evaluation
    scores them (:func:`cytowords.training.evaluate.claims.claim_checks`)."""
    if not MM_NUMBER.search(part or ""):
        return None
    if LAYER_I_WORDS.search(part):
        return "layer_i_mm"
    if THICKNESS_WORDS.search(part):
        return "thickness_mm"
    return None


#: a "thin" cortex claim is contradicted from this thickness (mm) on, a "thick" one below
#: ``THICK_MIN_MM``: the atlas's stored thickness terms (thin areas reach 2.3 mm, thick
#: ones start at 2.9 mm; "medium" lies between)
THIN_MAX_MM = 2.9
THICK_MIN_MM = 2.3
_CORTEX_THICKNESS = re.compile(
    r"^(thin|thick)\b|\b(thin|thick)\b(?=(?:[\s,]+[\w-]+){0,2}?\s+(?:iso|konio)?cortex\b)"
    r"|\bcortex is (?:\w+ )?(thin|thick)\b",
    re.IGNORECASE,
)


def thickness_claim(text: str) -> str | None:
    """``"thin"``, ``"thick"`` or None: what ``text`` says about the cortex's thickness."""
    m = _CORTEX_THICKNESS.search(text or "")
    if not m:
        return None
    return next(g for g in m.groups() if g).lower()


#: the width (mm) of the atlas's "medium" band, from :data:`THICK_MIN_MM` to
#: :data:`THIN_MAX_MM`: a thickness term is contradicted by a thickness at least this far
#: outside the term's own band (thin, below :data:`THICK_MIN_MM`: from
#: :data:`THIN_MAX_MM` on; thick, from :data:`THIN_MAX_MM`: below :data:`THICK_MIN_MM`;
#: medium: below ``THICK_MIN_MM - MEDIUM_BAND_MM`` (1.7 mm) or from ``THIN_MAX_MM +
#: MEDIUM_BAND_MM`` (3.5 mm) on)
MEDIUM_BAND_MM = THIN_MAX_MM - THICK_MIN_MM
_MEDIUM_THICKNESS = re.compile(
    r"\bmedium(?:[- ]thick\b|\s+(?:cortical\s+)?thickness\b)", re.IGNORECASE
)


def medium_thickness_claim(text: str) -> bool:
    """True when ``text`` calls the cortex of medium thickness ("of medium thickness",
    "medium cortical thickness", "medium-thick"): the atlas's term between thin and thick."""
    return bool(_MEDIUM_THICKNESS.search(text or ""))


def term_contradicted(term: str | None, thickness_mm: float | None) -> bool:
    """True when the thickness term ``term`` (``"thin"``, ``"thick"``, ``"medium"``; None:
    no term) is contradicted by a cortex ``thickness_mm`` mm thick (None: unknown): at
    least :data:`MEDIUM_BAND_MM` outside the term's band (see there)."""
    if term is None or thickness_mm is None:
        return False
    if term == "thin":
        return thickness_mm >= THIN_MAX_MM
    if term == "thick":
        return thickness_mm < THICK_MIN_MM
    if term == "medium":
        return not THICK_MIN_MM - MEDIUM_BAND_MM <= thickness_mm < THIN_MAX_MM + MEDIUM_BAND_MM
    raise ValueError(f"thickness term {term!r}; expected thin, thick or medium")


def claim_contradicted(text: str, cortex_type: str | None, thickness_mm: float | None) -> bool:
    """True when ``text`` claims what a region of ``cortex_type`` (one of
    :data:`~cytowords.measure.vector.CORTEX_TYPES`; None: unknown) and ``thickness_mm``
    (mm; None: unknown) contradicts: a layer IV band (:func:`caption_iv_claim`) in agranular cortex, none in
    koniocortex or granular cortex (dysgranular contradicts neither), "thin" cortex
    (:func:`thickness_claim`) from :data:`THIN_MAX_MM` on, "thick" below
    :data:`THICK_MIN_MM`, "medium" thickness (:func:`medium_thickness_claim`) below 1.7 mm
    or from 3.5 mm on (:func:`term_contradicted`)."""
    iv = caption_iv_claim(text)
    if iv is True and cortex_type == "agranular":
        return True
    if iv is False and cortex_type in IV_PRESENT:
        return True
    if thickness_mm is None:
        return False
    if term_contradicted(thickness_claim(text), thickness_mm):
        return True
    return medium_thickness_claim(text) and term_contradicted("medium", thickness_mm)


def readout_contradicts(text: str, vector: np.ndarray | None) -> bool:
    """True when ``text`` claims what the region's readout vector contradicts
    (:func:`claim_contradicted` on its measured cortex type and thickness); never for None
    or the missing vector (nothing measured)."""
    if vector is None:
        return False
    v = vector_values(vector)
    if not v["measured"]:
        return False
    return claim_contradicted(text, v["cortex_type"], v["thickness_mm"])


def iv_undecided(text: str, vector: np.ndarray | None) -> bool:
    """True when ``text`` claims a layer IV or none (:func:`caption_iv_claim`) about a
    region whose cortex was measured but whose layer IV the readout left undecided (no
    cortex type in ``vector``: :attr:`cytowords.measure.layers.LayerEstimate.iv_undecided`);
    never for None or the missing vector (nothing measured)."""
    if vector is None:
        return False
    v = vector_values(vector)
    return v["measured"] and v["cortex_type"] is None and caption_iv_claim(text) is not None


#: a length in mm or µm (a layer I width may be stated in either)
LENGTH_NUMBER = re.compile(r"\d+(?:\.\d+)?\s*(?:mm|µm|μm|um)\b")


def layer_i_unread(text: str, vector: np.ndarray | None) -> bool:
    """True when ``text`` states layer I's width (it names layer I and gives a length in
    mm or µm) about a region whose cortex was measured but whose layer I the readout did
    not read (:func:`cytowords.measure.layers.layer_i_bottom` gave none): such a
    number would be the text's, not the region's. Never for None or the missing vector."""
    if vector is None or not LAYER_I_WORDS.search(text) or not LENGTH_NUMBER.search(text):
        return False
    v = vector_values(vector)
    return v["measured"] and v["layer_i_mm"] is None


#: the readout's decided white-matter border terms
#: (:attr:`cytowords.measure.Readout.wm_border`; "varies" and None decide nothing)
WM_BORDER_TERMS: tuple[str, ...] = ("sharp", "gradual")
_WM = r"(?:white[- ]matter|gr[ae]y[- /]white)"
_WM_PLACE = r"(?:to|with|into|against|at|from)\s+(?:the\s+)?(?:cortex\s+to\s+)?white[- ]matter"
_WM_EDGE = r"(?:border(?:line)?|boundary|transition|edge)"
_OF_AREA = r"(?:\s+of\s+(?:area\s+)?[\w.-]+)?"
_SHARP = r"(?:sharp(?:ly drawn)?|abrupt|clear|clean|distinct)"
#: a clause's claim of a sharp border between the cortex and the white matter
_WM_SHARP = re.compile(
    rf"(?<!no ){_SHARP}\s+(?:cortex[- ])?{_WM}\s+{_WM_EDGE}"
    rf"|(?<!no ){_SHARP}\s+(?:lower\s+)?{_WM_EDGE}\s+{_WM_PLACE}"
    rf"|{_WM}\s+{_WM_EDGE}{_OF_AREA}(?:\s+itself)?\s+(?:is\s+|are\s+)?(?:sharp|abrupt|clear|distinct)\b"
    r"|\bwhite[- ]matter\s+is\s+met\s+(?:abruptly|sharply)"
    rf"|{_WM_EDGE}\s+{_WM_PLACE}\s+(?:is|are)\s+(?:sharp|abrupt|clear|distinct)\b"
    r"|\bsharply\s+(?:bounded|delimited|demarcated|separated)\s+(?:against|from)\s+"
    r"(?:the\s+)?white[- ]matter"
    r"|\b(?:ends?|stops?)\s+sharply\s+(?:at|against)\s+(?:the\s+)?white[- ]matter"
    r"|\b(?:ends?|stops?)\s+(?:at|against)\s+(?:the\s+)?white[- ]matter\s+along\s+an?\s+"
    r"(?:[\w-]+,?\s+){0,2}?(?:sharp|clear|clean)\b",
    re.IGNORECASE,
)
#: a clause's claim of a gradual (indistinct) border between the cortex and the white matter
_WM_GRADUAL = re.compile(
    rf"\b(?:gradual|indistinct|blurred|diffuse)\s+(?:cortex[- ])?{_WM}\s+{_WM_EDGE}"
    rf"|\b(?:gradual|indistinct|blurred|diffuse)\s+{_WM_EDGE}\s+(?:from\s+layer\s+VI\s+)?{_WM_PLACE}"
    rf"|{_WM}\s+{_WM_EDGE}{_OF_AREA}(?:\s+itself)?\s+(?:is\s+|are\s+)?(?:gradual|indistinct|blurred|diffuse)\b"
    r"|\bwhite[- ]matter\s+(?:merge|blend)\s+gradually"
    rf"|{_WM_EDGE}\s+{_WM_PLACE}\s+(?:is|are)\s+(?:gradual|indistinct|blurred|diffuse)\b"
    r"|\b(?:pass(?:es)?|merges?|fades?|blends?|grades?)\s+(?:gradually\s+)?(?:into|with)\s+"
    r"(?:the\s+)?white[- ]matter"
    rf"|\bno\s+(?:sharp|clear|abrupt|clean)\s+{_WM_EDGE}\s+{_WM_PLACE}",
    re.IGNORECASE,
)


def caption_wm_border_claim(text: str) -> str | None:
    """What ``text`` says about the border between the cortex and the white matter:
    ``"sharp"`` ("a sharp white matter border", "sharply bounded against the white
    matter", "the cortex-white matter border is abrupt"), ``"gradual"`` ("passes gradually
    into the white matter", "a gradual transition into the white matter", "the grey-white
    border is gradual", "no sharp edge against the white matter") or None (no claim, or
    both). "Sharp lamination" is laminar contrast, no claim about this border."""
    sharp = bool(_WM_SHARP.search(text or ""))
    gradual = bool(_WM_GRADUAL.search(text or ""))
    if sharp == gradual:
        return None
    return "sharp" if sharp else "gradual"


def wm_border_contradicted(text: str, wm_border: str | None) -> bool:
    """True when ``text`` claims a sharp border to the white matter
    (:func:`caption_wm_border_claim`) and the region's readout decided "gradual", or a
    gradual one and it decided "sharp" (``wm_border``:
    :attr:`cytowords.measure.Readout.wm_border`; "varies" or None contradict nothing)."""
    if wm_border not in WM_BORDER_TERMS:
        return False
    claim = caption_wm_border_claim(text)
    return claim is not None and claim != wm_border


def claim_unsupported(
    text: str,
    vector: np.ndarray | None = None,
    supported: Collection[str] = (),
    wm_border: str | None = None,
) -> bool:
    """The rule for every caption shown about a region and every training target: True
    when ``text`` states what the region's readout ``vector`` contradicts
    (:func:`readout_contradicts`; None: nothing measured), a layer IV claim where the
    readout left layer IV undecided (:func:`iv_undecided`), a layer I width where it did
    not read layer I (:func:`layer_i_unread`) or special cells its
    measurement does not support (:func:`special_unsupported`; ``supported``: the kinds
    :meth:`cytowords.measure.Readout.special_support` gives) or a white-matter border the
    readout's decided term contradicts (:func:`wm_border_contradicted`; ``wm_border``:
    :attr:`cytowords.measure.Readout.wm_border`, passed beside the vector, which does not
    hold it). Such a clause is neither shown nor trained on."""
    return (
        special_unsupported(text, supported)
        or wm_border_contradicted(text, wm_border)
        or readout_contradicts(text, vector)
        or iv_undecided(text, vector)
        or layer_i_unread(text, vector)
    )
