"""Baselines evaluated on the same test patches as the model.

- ``linear_head``: the bundle's frozen encoder + multinomial logistic regression fitted
  on embeddings of TRAINING-brain patches (in-scope areas); open-set score = 1 - max prob.
- ``retrieval``: nearest-caption retrieval without generation: a test embedding goes to
  the nearest area centroid (cosine) of the training-brain embeddings and gets that
  area's first training caption; open-set score = cosine distance to that centroid.
- ``gli``: the classic grey-level-index profile method
  (:mod:`cytowords.training.baselines.gli`), fitted on the training-brain patches.
- ``oracle_text``: not a competitor but the ceiling the text side allows: each captioned
  in-scope patch gets a random training caption of its TRUE area (what a perfect vision
  model would at best emit); its masked 8-way accuracy bounds what any captioner trained on
  these documents can reach against these reference descriptions.
- chance: 1 / n areas for label match and classification, 1 / 8 for the 8-way test,
  0.5 AUROC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BaselinePrediction:
    """Per-test-patch predicted area ids and open-set scores (higher = more unfamiliar);
    ``captions`` only for caption-producing baselines."""

    pred: list[str]
    score: np.ndarray
    captions: list[str] | None = None


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return (train - mu) / sd, (test - mu) / sd


def linear_head(
    train_emb: np.ndarray, train_lab: list[str], test_emb: np.ndarray, seed: int = 0
) -> BaselinePrediction:
    """Logistic regression on standardised frozen embeddings."""
    from sklearn.linear_model import LogisticRegression

    xtr, xte = _standardise(np.asarray(train_emb, np.float64), np.asarray(test_emb, np.float64))
    clf = LogisticRegression(max_iter=500, C=1.0, random_state=seed)
    clf.fit(xtr, train_lab)
    prob = clf.predict_proba(xte)
    pred = [str(clf.classes_[i]) for i in prob.argmax(1)]
    return BaselinePrediction(pred, 1.0 - prob.max(1))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval(
    train_emb: np.ndarray, train_lab: list[str], test_emb: np.ndarray, captions: dict[str, str]
) -> BaselinePrediction:
    """Nearest area centroid (cosine) -> that area's training caption."""
    lab = np.asarray(train_lab, object)
    areas = list(dict.fromkeys(train_lab))
    cents = _unit(np.stack([np.asarray(train_emb)[lab == a].mean(0) for a in areas]))
    sim = _unit(np.asarray(test_emb, np.float64)) @ cents.T
    best = sim.argmax(1)
    pred = [areas[i] for i in best]
    return BaselinePrediction(pred, 1.0 - sim.max(1), [captions.get(a, a) for a in pred])


def training_captions(atlas) -> dict[str, list[str]]:
    """Area id -> captions mined from the training documents (split ``train``)."""
    from ..mining import mine_corpus

    out: dict[str, list[str]] = {}
    for rec in mine_corpus(None, atlas, split="train").captions:
        out.setdefault(rec.area, []).append(rec.caption)
    return out


def oracle_captions(truth: list[str], captions: dict[str, list[str]], seed: int = 0) -> list[str]:
    """A random training caption of each true area (fixed seed); empty when it has none."""
    rng = np.random.default_rng(seed)
    out = []
    for t in truth:
        cs = captions.get(t) or [""]
        out.append(cs[int(rng.integers(len(cs)))])
    return out


def gli_baseline(
    train_patches: np.ndarray, train_lab: list[str], test_patches: np.ndarray
) -> BaselinePrediction:
    """The GLI-profile method (Mahalanobis over profile features, flip-invariant) of
    :class:`cytowords.training.baselines.gli.GLIClassifier`; open-set score = the smallest
    squared Mahalanobis distance to a class."""
    from ..baselines.gli import GLIClassifier

    clf = GLIClassifier("mahalanobis").fit(train_patches, list(train_lab))
    d = clf.distances(test_patches)
    return BaselinePrediction([clf.classes_[i] for i in d.argmin(1)], d.min(1))


def chance(n_areas: int, k: int = 7) -> dict[str, float]:
    """What guessing scores: 1 / ``n_areas`` for the area and the caption's label, 1 /
    (``k`` + 1) for the masked (``k`` + 1)-way test, AUROC 0.5."""
    return {
        "classification_accuracy": 1 / n_areas,
        "label_match_accuracy": 1 / n_areas,
        "masked_8way_accuracy": 1 / (k + 1),
        "masked_8way_nearest_accuracy": 1 / (k + 1),
        "open_set_auroc": 0.5,
    }
