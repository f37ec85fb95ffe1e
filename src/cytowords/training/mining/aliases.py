"""Find and mask area names in text: ids, aliases, Brodmann numbers, with disambiguation.

A bare number never counts as an area: "44" is area 44 only with a designator ("area 44",
"BA 44", "Brodmann's area 44", "areas 44 and 45"), so "44 subjects" and "layer 1" are not
areas. Short codes such as "V1" are rejected next to arithmetic (``(V1 - V2)``) or in
sentences that define variables ("let V1 and V2 denote ..."). Lists such as
"areas 3a, 3b, 1 and 2" are expanded to one designator per item before matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cytowords.atlas import Atlas

MASK_TOKEN = "[AREA]"
_DESIGNATOR = re.compile(r"^(?:brodmann(?:'s)?\s+)?(?:area|field|ba)\s*(\S*\d\S*)$", re.IGNORECASE)
_DESIG_RE = r"(?:(?:[Bb]rodmann(?:'s)?|BROADMANN)\s+)?(?:[Aa]rea|AREA|[Ff]ield|BA)\s*"
_ITEM = r"(?:[A-Za-z]{0,4}\d[\w.]*|[A-Z][A-Za-z]{1,4}\d?)"
_LIST = re.compile(
    rf"\b((?:[Bb]rodmann(?:'s)?\s+)?(?:[Aa]reas|[Ff]ields|BAs))\s+({_ITEM}"
    rf"(?:\s*(?:,\s*and|,\s*or|,|and|or|/|&)\s*{_ITEM})+)"
)
_LIST_SEP = re.compile(r"(\s*(?:,\s*and|,\s*or|,|and|or|/|&)\s*)")
_NOT_AFTER = re.compile(
    r"(?:\blayers?|\blaminae?|\bsublayers?|\bFigs?\.?|\bFigure|\bTable|\bpanel)\s*$", re.I
)
_OPERATOR_LEFT = re.compile(r"(?:[=+*/^<>×−]|\s-)\s*$")
_OPERATOR_RIGHT = re.compile(r"^\s*(?:[=+*/^<>×−]|-\s)")
_VARIABLE_SENTENCE = re.compile(r"\blet\b|\bdenot|\bvariable", re.IGNORECASE)
_VARIABLE_CODE = re.compile(r"^[A-Z]\d{1,2}$")


@dataclass(frozen=True)
class Mention:
    """An area name found in a text: the ids it may mean (one id = unique), span and text."""

    ids: tuple[str, ...]
    start: int
    end: int
    text: str

    @property
    def unique(self) -> bool:
        return len(self.ids) == 1


def short_name(name: str) -> str:
    """An area's name without parenthetical parts: "primary visual cortex (V1)" -> first."""
    s = re.sub(r"\s*\([^()]*\)", "", name)
    s = re.sub(r"\s*\([^()]*\)", "", s)
    return re.sub(r"\s+", " ", s).strip(" ,")


def _token_re(tok: str) -> str:
    """Regex for one alias token: plain words match any case, codes keep their case."""
    if re.fullmatch(r"[a-z][a-z'\-]*|[A-Z][a-z'\-]+", tok):
        return f"(?i:{re.escape(tok)})"
    return re.escape(tok)


_WORD_START = re.compile(r"(?<![\w.\-/])\w")


def _first_chars(pattern: str) -> set[str]:
    """Characters a compiled alias pattern (from :func:`_alias_re`) can start with."""
    if pattern.startswith(_DESIG_RE):
        return set("AaBbFf")
    m = re.match(r"\(\?i:\\?(.)", pattern)
    if m:
        return {m.group(1).lower(), m.group(1).upper()}
    return {pattern[1] if pattern.startswith("\\") else pattern[0]}


def _alias_re(alias: str) -> str:
    alias = alias.replace("\u2019", "'").strip()
    m = _DESIGNATOR.match(alias)
    if m:
        return _DESIG_RE + re.escape(m.group(1))
    return r"\s+".join(_token_re(t) for t in alias.split())


def expand_lists(text: str) -> str:
    """Rewrite "areas 44 and 45" as "area 44 and area 45" (one designator per item)."""

    def repl(m: re.Match) -> str:
        word = "area"
        if m.group(1).lower().endswith("fields"):
            word = "field"
        elif m.group(1).endswith("BAs"):
            word = "BA"
        parts = _LIST_SEP.split(m.group(2))
        return "".join(p if i % 2 else f"{word} {p}" for i, p in enumerate(parts))

    return _LIST.sub(repl, text)


class AliasIndex:
    """All names of all areas of an atlas compiled into one matcher."""

    def __init__(self, atlas: Atlas):
        self.atlas = atlas
        by_pattern: dict[str, set[str]] = {}
        for area in atlas.areas.values():
            names = {*area.aliases, *area.shared_aliases, f"area {area.id}", short_name(area.name)}
            if not area.id.isdigit():
                names.add(area.id)
            for name in names:
                if name.strip():
                    by_pattern.setdefault(_alias_re(name), set()).add(area.id)
        order = sorted(by_pattern, key=lambda p: -len(p))
        self._ids = [tuple(sorted(by_pattern[p])) for p in order]
        # one matcher per first character, tried only where a word starts (fast scanning)
        buckets: dict[str, list[int]] = {}
        for i, pat in enumerate(order):
            for ch in _first_chars(pat):
                buckets.setdefault(ch, []).append(i)
        bound_r = r"(?![\w+]|\.\d|-\w)"

        def compile_bucket(idx: list[int], flags: int = 0) -> re.Pattern:
            body = "|".join(f"(?P<g{i}>{order[i]})" for i in idx)
            return re.compile(f"(?:{body}){bound_r}", flags)

        self._buckets = {ch: compile_bucket(idx) for ch, idx in buckets.items()}
        ci: dict[str, list[int]] = {}
        for ch, idx in buckets.items():
            ci.setdefault(ch.lower(), []).extend(i for i in idx if i not in ci.get(ch.lower(), []))
        self._buckets_ci = {
            ch: compile_bucket(sorted(idx), re.IGNORECASE) for ch, idx in ci.items()
        }

    def _scan(self, text: str, ignore_case: bool = False) -> list[Mention]:
        out: list[Mention] = []
        buckets = self._buckets_ci if ignore_case else self._buckets
        end = 0
        for start in _WORD_START.finditer(text):
            pos = start.start()
            if pos < end:
                continue
            ch = text[pos].lower() if ignore_case else text[pos]
            bucket = buckets.get(ch)
            m = bucket.match(text, pos) if bucket is not None else None
            if m:
                idx = int(m.lastgroup[1:])  # type: ignore[index]
                out.append(Mention(self._ids[idx], m.start(), m.end(), m.group(0)))
                end = m.end()
        return out

    def find(self, sentence: str, ignore_case: bool = False) -> list[Mention]:
        """Area mentions in one sentence (already list-expanded), with disambiguation."""
        variable_context = bool(_VARIABLE_SENTENCE.search(sentence))
        out = []
        for men in self._scan(sentence, ignore_case):
            left, right = sentence[: men.start], sentence[men.end :]
            if _NOT_AFTER.search(left):
                continue
            is_code = " " not in men.text.strip()
            if is_code and (_OPERATOR_LEFT.search(left) or _OPERATOR_RIGHT.search(right)):
                continue
            if is_code and variable_context and _VARIABLE_CODE.match(men.text):
                continue
            out.append(men)
        return out

    def mask(self, text: str, token: str = MASK_TOKEN) -> str:
        """Replace every name of every area (any case) by ``token``."""
        text = expand_lists(text.replace("\u2019", "'"))
        parts, pos = [], 0
        for men in self._scan(text, ignore_case=True):
            parts += [text[pos : men.start], token]
            pos = men.end
        masked = "".join(parts) + text[pos:]
        esc = re.escape(token)
        masked = re.sub(rf"{esc}\s*\(\s*{esc}(?:\s*,\s*{esc})*\s*\)", token, masked)
        return masked


@lru_cache(maxsize=4)
def alias_index(atlas: Atlas) -> AliasIndex:
    """The (cached) alias matcher of an atlas."""
    return AliasIndex(atlas)


def find_mentions(text: str, atlas: Atlas) -> list[Mention]:
    """Area mentions in a text, in order (lists expanded first; offsets refer to that)."""
    return alias_index(atlas).find(expand_lists(text.replace("\u2019", "'")))


def mask_aliases(text: str, atlas: Atlas, token: str = MASK_TOKEN) -> str:
    """Remove every alias and id of every area (in scope and unseen) from ``text``.

    Robust to case and to designator forms ("BA 17", "area 17", "Brodmann's area 17");
    names are replaced by ``token`` (default "[AREA]")."""
    return alias_index(atlas).mask(text, token)
