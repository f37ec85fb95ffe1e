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
from functools import lru_cache

import numpy as np

from cytowords.atlas import Atlas

from .aliases import MASK_TOKEN, mask_aliases

_WORD = re.compile(r"[a-z0-9]+(?:['.\-][a-z0-9]+)*")
_BREAK = re.compile(re.escape(MASK_TOKEN.lower()) + r"|[.;:!?()\[\]]")


def masked_segments(text: str, atlas: Atlas) -> list[list[str]]:
    """Lower-case word runs of ``text`` after masking area names; a masked name and
    sentence punctuation end a run (n-grams never span them)."""
    return [list(s) for s in _segments(text, atlas)]


@lru_cache(maxsize=65536)
def _segments(text: str, atlas: Atlas) -> tuple[tuple[str, ...], ...]:
    # cached: the checks read the same few thousand captions several times
    masked = mask_aliases(text, atlas).lower()
    out = []
    for piece in _BREAK.split(masked):
        words = _WORD.findall(piece)
        if words:
            out.append(tuple(words))
    return tuple(out)


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
    ref_grams = {a: ngrams(_segments(references[a], atlas), n) for a in areas}
    cap_grams = {
        a: set().union(*(ngrams(_segments(c, atlas), n) for c in captions[a])) for a in areas
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
    ref = _segments(reference, atlas)
    caps = [s for c in captions for s in _segments(c, atlas)]
    n = 0
    while ngrams(ref, n + 1) & ngrams(caps, n + 1):  # a shared run of n+1 holds one of n
        n += 1
    return n


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
        return " . ".join(" ".join(s) for s in _segments(text, atlas))

    ref_text = [flat(references[a]) for a in areas]
    queries = [(a, flat(c)) for a in areas for c in dict.fromkeys(captions[a])]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=_WORD.pattern)
    x = vec.fit_transform(ref_text + [q for _, q in queries])
    sims = (x[len(areas) :] @ x[: len(areas)].T).toarray()
    truth = np.array([areas.index(a) for a, _ in queries])
    rng = np.random.default_rng(seed)
    # k distinct other areas per query: a random permutation of the others, first k
    others = np.argsort(rng.random((len(queries), len(areas))), axis=1)
    others = np.array([row[row != t][:k] for row, t in zip(others, truth)])
    cand = np.column_stack([truth, others])
    s = np.take_along_axis(sims, cand, axis=1)
    top = s >= s.max(axis=1, keepdims=True) - 1e-12
    hits = np.where(top[:, 0], 1.0 / top.sum(axis=1), 0.0)  # ties: a random pick
    return float(hits.mean())
