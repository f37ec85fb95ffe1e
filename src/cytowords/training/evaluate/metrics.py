"""Evaluation metrics as pure functions (numpy in, floats/arrays out).

Conventions:
- Open-set scores: higher = more unfamiliar (as :class:`cytowords.model.OpenSetScorer`).
- :func:`open_set_auroc`: probability that an unseen-area patch scores higher than an
  in-scope patch (ties count half); 1.0 = perfect separation, 0.5 = chance.
- :func:`fpr_at_tpr`: the usual out-of-distribution convention: accept in-scope patches
  (positives) with a threshold that keeps ``tpr`` (95 %) of them, and report the share of
  unseen patches that are accepted too (false positives). Lower is better.
- Label match: a caption is correct when :func:`parse_area` returns the reference id.
- Masked n-way: caption and candidate descriptions are compared by cosine similarity of
  their (already masked) sentence embeddings; correct when the true area is the nearest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from cytowords.atlas import Atlas

from ..mining import mask_aliases, parse_area


def accuracy(pred: Sequence[str], truth: Sequence[str]) -> float:
    """Share of positions where ``pred`` equals ``truth`` (nan when empty)."""
    if len(pred) != len(truth):
        raise ValueError(f"accuracy: {len(pred)} predictions for {len(truth)} labels")
    if not len(truth):
        return float("nan")
    return float(np.mean([p == t for p, t in zip(pred, truth)]))


def parse_captions(captions: Sequence[str], atlas: Atlas) -> list[str | None]:
    """Area id named by each caption (``NONE_ID`` for the rejection caption, None if none)."""
    return [parse_area(c, atlas) for c in captions]


def label_match(captions: Sequence[str], truth: Sequence[str], atlas: Atlas) -> np.ndarray:
    """Bool per caption: does the area it names (aliases included) equal the reference id?"""
    if len(captions) != len(truth):
        raise ValueError(f"label_match: {len(captions)} captions for {len(truth)} labels")
    return np.array([p == t for p, t in zip(parse_captions(captions, atlas), truth)], bool)


def mask_captions(captions: Sequence[str], atlas: Atlas) -> list[str]:
    """Every alias/id of every area replaced by ``[AREA]`` (see :func:`mask_aliases`)."""
    return [mask_aliases(c, atlas) for c in captions]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def random_distractors(
    truth: Sequence[str], candidates: Sequence[str], k: int = 7, seed: int = 0
) -> list[list[str]]:
    """For each true id, ``k`` other ids drawn without replacement from ``candidates``
    (fixed ``seed``: the same draw on every run)."""
    rng = np.random.default_rng(seed)
    cands = list(candidates)
    out = []
    for t in truth:
        pool = [c for c in cands if c != t]
        if len(pool) < k:
            raise ValueError(f"random_distractors: need {k} distractors, only {len(pool)} areas")
        out.append([pool[i] for i in rng.choice(len(pool), k, replace=False)])
    return out


def nearest_distractors(
    ref_emb: dict[str, np.ndarray], candidates: Sequence[str], k: int = 7
) -> dict[str, list[str]]:
    """For each candidate id, the ``k`` other candidates whose reference-description
    embeddings are most similar (cosine) to its own: the hardest text distractors."""
    ids = list(candidates)
    m = _unit(np.stack([ref_emb[i] for i in ids]))
    sim = m @ m.T
    np.fill_diagonal(sim, -np.inf)
    return {a: [ids[j] for j in np.argsort(-sim[i], kind="stable")[:k]] for i, a in enumerate(ids)}


def masked_nway(
    caption_emb: np.ndarray,
    truth: Sequence[str],
    distractors: Sequence[Sequence[str]],
    ref_emb: dict[str, np.ndarray],
) -> np.ndarray:
    """Bool per caption: is the true area's reference embedding the nearest (cosine) among
    the true area and its distractors? Ties count as wrong (the true area must win)."""
    cap = _unit(np.atleast_2d(caption_emb))
    if len(cap) != len(truth) or len(truth) != len(distractors):
        raise ValueError("masked_nway: captions, truth and distractors differ in length")
    out = np.zeros(len(truth), bool)
    for i, (t, ds) in enumerate(zip(truth, distractors)):
        s_true = float(_unit(ref_emb[t]) @ cap[i])
        s_other = max(float(_unit(ref_emb[d]) @ cap[i]) for d in ds)
        out[i] = s_true > s_other
    return out


def open_set_auroc(score_in: np.ndarray, score_unseen: np.ndarray) -> float:
    """AUROC of ``score`` separating unseen (positive) from in-scope patches; ties half."""
    a = np.asarray(score_in, np.float64).ravel()
    b = np.asarray(score_unseen, np.float64).ravel()
    if not len(a) or not len(b):
        return float("nan")
    ranks = rankdata(np.concatenate([a, b]), method="average")
    r_b = ranks[len(a) :].sum()
    return float((r_b - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))


def fpr_at_tpr(score_in: np.ndarray, score_unseen: np.ndarray, tpr: float = 0.95) -> float:
    """Share of unseen patches accepted when the threshold accepts ``tpr`` of in-scope ones
    (accept = score <= threshold; threshold = the ``tpr`` quantile of in-scope scores)."""
    a = np.asarray(score_in, np.float64).ravel()
    b = np.asarray(score_unseen, np.float64).ravel()
    if not len(a) or not len(b):
        return float("nan")
    thr = np.sort(a)[max(int(np.ceil(tpr * len(a))) - 1, 0)]
    return float(np.mean(b <= thr))


def rate(flags: np.ndarray) -> float:
    """Mean of a bool array (nan when empty)."""
    f = np.asarray(flags, bool)
    return float(f.mean()) if f.size else float("nan")


def confusion_matrix(
    pred: Sequence[str], truth: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """Counts ``(len(labels), len(labels))``: rows = truth, columns = prediction; pairs with
    an id outside ``labels`` are ignored."""
    idx = {a: i for i, a in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), np.int64)
    for p, t in zip(pred, truth):
        if p in idx and t in idx:
            cm[idx[t], idx[p]] += 1
    return cm


def top_confusions(
    cm: np.ndarray, labels: Sequence[str], n: int = 10
) -> list[tuple[str, str, int]]:
    """The ``n`` largest off-diagonal cells as ``(true, predicted, count)``."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:n]
    out = []
    for f in flat:
        i, j = np.unravel_index(f, off.shape)
        if off[i, j] > 0:
            out.append((labels[i], labels[j], int(off[i, j])))
    return out


def per_group_mean(flags: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """Mean of ``flags`` per group value (e.g. accuracy per area), in first-seen order."""
    f = np.asarray(flags, np.float64)
    g = np.asarray(list(groups), object)
    return {k: float(f[g == k].mean()) for k in dict.fromkeys(g.tolist())}
