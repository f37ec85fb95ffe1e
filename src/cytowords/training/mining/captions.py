"""Assemble captions from attribute statements, and read back which area a caption names.

Every caption names its area first ("Area hOc1 (primary visual cortex): ...; ...."),
then joins two to four statements, at most :data:`MAX_WORDS` words; every caption carries at
least one of its area's most distinctive statements (:func:`distinctive_statements`: the
half whose words are rarest across areas, e.g. landmarks and hallmark cells). The fixed
:data:`REJECTION_CAPTION` stands for regions of no known area (id :data:`NONE_ID`).
"""

from __future__ import annotations

import itertools
import math
import random
import re
import zlib

from cytowords.atlas import NONE_ID, REJECTION_CAPTION, Atlas

from .aliases import alias_index, expand_lists, short_name
from .statements import Statement, resolve_subjects

MAX_WORDS = 60
_ATTR_ORDER = (
    "granularity",
    "thickness",
    "layers",
    "special_cells",
    "cell_size",
    "density",
    "lamination",
    "border",
)


def distinctive_statements(
    statements: dict[str, list[Statement]], share: float = 0.34
) -> dict[str, frozenset[str]]:
    """Per area, the lower-cased texts of its most distinctive statements: the top ``share``
    (at least one) ranked by the summed inverse area frequency of their words (a word used
    in the statements of few areas, such as "calcarine" or "Betz", weighs most)."""
    words = {
        a: [set(re.findall(r"[a-z][a-z-]{3,}", st.text.lower())) for st in items]
        for a, items in statements.items()
    }
    df: dict[str, int] = {}
    for sets in words.values():
        for w in set().union(*sets) if sets else ():
            df[w] = df.get(w, 0) + 1
    n = max(len(statements), 1)
    out = {}
    for a, items in statements.items():
        scored = {}
        for st, ws in zip(items, words[a]):
            scored[st.text.lower()] = sum(math.log(n / df[w]) for w in ws)
        ranked = sorted(scored, key=lambda t: (-scored[t], t))
        out[a] = frozenset(ranked[: max(1, round(share * len(ranked)))])
    return out


def caption_heads(area_id: str, name: str) -> list[str]:
    """The opening phrases a caption may use; all start with "Area <id>"."""
    short = short_name(name)
    heads = [f"Area {area_id}"]
    if short and short.lower() != f"area {area_id}".lower():
        heads.insert(0, f"Area {area_id} ({short})")
    return heads


def _order_key(st: Statement) -> tuple[int, str]:
    first = min((_ATTR_ORDER.index(a) for a in st.attributes if a in _ATTR_ORDER), default=99)
    return first, st.text


def assemble_captions(
    area_id: str,
    name: str,
    statements: list[Statement],
    *,
    min_captions: int = 20,
    max_captions: int = 80,
    generic: frozenset[str] = frozenset(),
    distinctive: frozenset[str] = frozenset(),
) -> list[tuple[str, list[Statement]]]:
    """Distinct captions for one area (deterministic for the same statements).

    ``generic``: lower-cased statement texts that other areas share ("layer II is dense");
    every caption then carries at least one statement specific to the area. ``distinctive``:
    lower-cased texts of the area's most telling statements; every caption then carries
    at least one of them (when the area has any).
    Returns (caption, statements used) pairs; fewer than ``min_captions`` only when there
    are too few statements to vary (callers report that)."""
    unique: dict[str, Statement] = {}
    for st in statements:
        unique.setdefault(st.text.lower(), st)
    stmts = list(unique.values())
    if not stmts:
        return []
    specific = any(st.text.lower() not in generic for st in stmts)
    telling = any(st.text.lower() in distinctive for st in stmts)
    rng = random.Random(zlib.crc32(area_id.encode()))
    heads = caption_heads(area_id, name)
    combos: list[tuple[Statement, ...]] = []
    for k in (2, 3, 1, 4):
        group = [
            c
            for c in itertools.combinations(stmts, k)
            if (k > 1 or len(c[0].text.split()) >= 6)
            and (not specific or any(st.text.lower() not in generic for st in c))
            and (not telling or any(st.text.lower() in distinctive for st in c))
        ]
        rng.shuffle(group)
        combos.extend(group[:max_captions])
    out: dict[str, list[Statement]] = {}
    head_words = [len(h.split()) for h in heads]

    def add(parts: tuple[Statement, ...], head_i: int) -> None:
        body = "; ".join(p.text for p in parts)
        if head_words[head_i] + len(body.split()) > MAX_WORDS:
            return
        caption = f"{heads[head_i]}: {body[0].lower() + body[1:] if body[1:2].islower() else body}."
        out.setdefault(caption, list(parts))

    for i, combo in enumerate(combos):
        if len(out) >= max_captions:
            break
        parts = tuple(sorted(combo, key=_order_key)) if i % 2 == 0 else combo
        add(parts, i % len(heads))
    if len(out) < min_captions:  # more variety: other heads and orders
        for combo in combos:
            for perm in itertools.permutations(combo):
                for h in range(len(heads)):
                    add(perm, h)
                if len(out) >= min_captions:
                    break
            if len(out) >= min_captions:
                break
    return list(out.items())


def parse_area(caption: str, atlas: Atlas) -> str | None:
    """The area a caption names as its subject (its first non-comparative area name).

    Returns :data:`NONE_ID` for the rejection caption, ``None`` when no area is named."""
    text = caption.strip()
    if not text:
        return None
    if text.lower().startswith(REJECTION_CAPTION.split(":")[0].lower()):
        return NONE_ID
    sentence = expand_lists(text.replace("\u2019", "'"))
    mentions = alias_index(atlas).find(sentence)
    subjects = resolve_subjects(sentence, mentions)
    if subjects:
        return subjects[0]
    # a generated caption may get the case of a code wrong ("area hoc1"): retry ignoring
    # case, but never trust two-letter codes that way ("vs" is not area VS)
    loose = [m for m in alias_index(atlas).find(sentence, ignore_case=True) if len(m.text) > 2]
    subjects = resolve_subjects(sentence, loose)
    if subjects:
        return subjects[0]
    head = re.match(r"\s*(?:[Aa]rea\s+)?(\S+?)[\s:(,]", sentence + " ")
    if head and head.group(1) in atlas.areas:
        return head.group(1)
    return None
