"""How independent are reference descriptions of the caption documents? (masked text)

The masked 8-way test only measures what captions say about the tissue if its reference
descriptions were written apart from the caption documents. Three checks on masked text
(every area name replaced by :data:`~cytowords.training.mining.aliases.MASK_TOKEN`):

- :func:`ngram_overlap`: the share of a reference's word 5-grams found in its own area's
  captions, beside the mean share found in each other area's captions;
- :func:`tfidf_nway_accuracy`: a plain lexical matcher (TF-IDF cosine) that sends each
  caption to the nearest of 8 candidate references; near 1.0 means the references repeat
  the captions' wording;
- :func:`longest_shared_run`: the longest run of consecutive words a reference shares
  with any of its own area's captions (a copied clause shows as a long run).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cytowords.atlas import Atlas

from .aliases import MASK_TOKEN, mask_aliases

_WORD = re.compile(r"[a-z0-9]+(?:['.\-][a-z0-9]+)*")
_BREAK = re.compile(r"[.;:!?()\[\]]|" + re.escape(MASK_TOKEN.lower()))


def masked_segments(text: str, atlas: Atlas) -> list[list[str]]:
    """Lower-case word runs of ``text`` after masking area names; a masked name and
    sentence punctuation end a run (n-grams never span them)."""
    masked = mask_aliases(text, atlas).lower()
    out = []
    for piece in _BREAK.split(masked):
        words = _WORD.findall(piece)
        if words:
            out.append(words)
    return out


def ngrams(segments: Sequence[Sequence[str]], n: int = 5) -> set[tuple[str, ...]]:
    """Word n-grams within each segment."""
    return {tuple(s[i : i + n]) for s in segments for i in range(len(s) - n + 1)}


@dataclass(frozen=True)
class Overlap:
    """Per-area shares of a reference's n-grams found in captions (0-1): ``own`` (its own
    area's captions) and ``other`` (mean over every other area's captions)."""

    own: dict[str, float]
    other: dict[str, float]

    @property
    def mean_own(self) -> float:
        return float(np.mean(list(self.own.values())))

    @property
    def mean_other(self) -> float:
        return float(np.mean(list(self.other.values())))


def ngram_overlap(
    references: Mapping[str, str],
    captions: Mapping[str, Sequence[str]],
    atlas: Atlas,
    n: int = 5,
) -> Overlap:
    """Masked word n-gram overlap of each reference with the captions of every area
    (areas with both a reference and captions only)."""
    areas = [a for a in references if captions.get(a)]
    ref_grams = {a: ngrams(masked_segments(references[a], atlas), n) for a in areas}
    cap_grams = {
        a: set().union(*(ngrams(masked_segments(c, atlas), n) for c in captions[a]))
        for a in areas
    }
    own, other = {}, {}
    for a in areas:
        g = ref_grams[a]
        if not g:
            continue
        own[a] = len(g & cap_grams[a]) / len(g)
        other[a] = float(np.mean([len(g & cap_grams[b]) / len(g) for b in areas if b != a]))
    return Overlap(own, other)


def longest_shared_run(reference: str, captions: Sequence[str], atlas: Atlas) -> int:
    """Longest run of consecutive words (masked text) shared by ``reference`` and any of
    ``captions``."""
    caps = [masked_segments(c, atlas) for c in captions]
    best = 0
    for seg in masked_segments(reference, atlas):
        for other in (s for cs in caps for s in cs):
            # longest common substring of two word lists (dynamic programming)
            prev = [0] * (len(other) + 1)
            for w in seg:
                cur = [0] * (len(other) + 1)
                for j, v in enumerate(other, 1):
                    if w == v:
                        cur[j] = prev[j - 1] + 1
                        best = max(best, cur[j])
                prev = cur
    return best


def tfidf_nway_accuracy(
    references: Mapping[str, str],
    captions: Mapping[str, Sequence[str]],
    atlas: Atlas,
    *,
    k: int = 7,
    seed: int = 0,
) -> float:
    """Share of captions whose nearest masked reference (TF-IDF of word 1- and 2-grams,
    sublinear tf, cosine) among their true area and ``k`` random other areas is the true
    one; ties count as a random pick among the tied candidates. Each distinct caption of
    every area with a reference is one draw."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    areas = [a for a in references if captions.get(a)]
    if len(areas) < 2:
        raise ValueError("n-way matcher: fewer than 2 areas have references and captions")
    k = min(k, len(areas) - 1)

    def flat(text: str) -> str:
        return " . ".join(" ".join(s) for s in masked_segments(text, atlas))

    ref_text = [flat(references[a]) for a in areas]
    queries = [(a, flat(c)) for a in areas for c in dict.fromkeys(captions[a])]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=_WORD.pattern)
    vec.fit(ref_text + [q for _, q in queries])
    refs = vec.transform(ref_text)
    sims = (vec.transform([q for _, q in queries]) @ refs.T).toarray()
    pos = {a: i for i, a in enumerate(areas)}
    rng = np.random.default_rng(seed)
    hits = 0.0
    for row, (a, _) in zip(sims, queries):
        others = [i for i in range(len(areas)) if i != pos[a]]
        cand = [pos[a], *rng.choice(others, size=k, replace=False)]
        s = row[cand]
        top = np.flatnonzero(s >= s.max() - 1e-12)
        hits += (1.0 / len(top)) if 0 in top else 0.0
    return hits / len(queries)
