"""Plain-text helpers for mining: passages, sentences and removal of citation noise."""

from __future__ import annotations

import re

_ABBREV = re.compile(
    r"(?:\bet al|\be\.g|\bi\.e|\bFigs?|\bcf|\bapprox|\bvs|\bNo|\bca|\bresp|\bSuppl|\bEq|"
    r"\bref|\bvol|\bpp)\.$"
)
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"']|[a-z]{1,3}[A-Z0-9])")
_YEAR_PAREN = re.compile(r"\s*\([^()]*\b(?:1[89]\d\d|20\d\d)[a-z]?\b[^()]*\)")
_FIG_PAREN = re.compile(
    r"\s*\((?:see\s+|cf\.\s+)?(?:Figs?\.|Figures?|Tables?|Suppl\w*|Eq\.)[^()]*\)", re.IGNORECASE
)
_FIG_INLINE = re.compile(r"\b(?:Figs?\.|Figures?|Tables?)\s*\d+[A-Za-z]?(?:[-–,]\s*\d*[A-Za-z]?)*")
_STAT_PAREN = re.compile(
    r"\s*\([^()]*(?:\bp\s*[<=>]|\b[rntF]\s*=|\bF\(|\bSD\b|\+/-|±|\bmean\b)[^()]*\)"
)
_REFERENCE_HEADING = re.compile(
    r"^\W*(?:\d+\.?\s*)?(references|bibliography|literature cited|literature)\W*$", re.IGNORECASE
)


def is_reference_heading(line: str) -> bool:
    """True for a heading that opens a references list ("References", "## Bibliography")."""
    return bool(_REFERENCE_HEADING.match(line.strip()))


def split_sentences(passage: str) -> list[str]:
    """Split a passage into sentences, keeping abbreviations (et al., Fig., e.g.) intact."""
    text = re.sub(r"\s+", " ", passage).strip()
    if not text:
        return []
    pieces = _SPLIT.split(text)
    out: list[str] = []
    for piece in pieces:
        if out and _ABBREV.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return [s.strip() for s in out if s.strip()]


def strip_citations(sentence: str) -> str:
    """Remove literature citations, figure/table references and statistics in parentheses."""
    s = _YEAR_PAREN.sub("", sentence)
    s = _FIG_PAREN.sub("", s)
    s = _STAT_PAREN.sub("", s)
    s = _FIG_INLINE.sub("", s)
    s = re.sub(r"\(\s*[;,]?\s*\)", "", s)
    s = re.sub(r"\s+([,.;:])", r"\1", s)
    return re.sub(r"\s+", " ", s).strip()


def clean_markdown_line(line: str) -> str:
    """Drop markdown emphasis/list markup from one line of text."""
    line = re.sub(r"^\s*(?:[-*+]|\d+\.)\s+(?=\S)", "", line)
    line = re.sub(r"(\*\*|__|\*|`)", "", line)
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)


def looks_like_heading(line: str) -> bool:
    """A short line without closing punctuation (section titles in txt/PDF text)."""
    s = line.strip()
    return bool(s) and len(s) < 70 and not re.search(r"[.:;,!?)]$", s)
