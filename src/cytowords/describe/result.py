"""Results of describing a region: per-patch predictions and their aggregation.

Probabilities are over the model's in-scope areas (the "none" class of non-cortex regions,
if the model has one, is reported through ``rejected``). ``ood_score`` is the open-set score:
higher means less like any known area; a patch is rejected when its score exceeds the model's
calibrated threshold or when it is classified as "no known area".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class PatchResult:
    """One patch of a ROI: centre (µm), best area, its probability, open-set score, flag."""

    center_um: tuple[float, float]
    area: str
    probability: float
    ood_score: float
    rejected: bool


@dataclass
class RegionDescription:
    """The description of one ROI.

    Attributes:
        area: predicted area id (e.g. ``"hOc1"``), or ``"__none__"`` when rejected.
        area_name: the area's full name (or "not a known area").
        probability: mean probability of ``area`` over the accepted patches (0–1).
        rejected: True when the region matches no known area.
        ood_score: median open-set score of the patches (higher = less known).
        caption: generated cytoarchitectonic description.
        n_patches: number of patches read.
        top_k: best alternatives as ``(area id, probability)``.
        threshold: the model's rejection threshold on ``ood_score``.
        patches: per-patch detail.
    """

    area: str
    area_name: str
    probability: float
    rejected: bool
    ood_score: float
    caption: str
    n_patches: int
    top_k: list[tuple[str, float]] = field(default_factory=list)
    threshold: float = float("nan")
    patches: list[PatchResult] = field(default_factory=list)

    def to_dict(self, *, with_patches: bool = False) -> dict[str, Any]:
        """JSON-ready dict (``patches`` only when asked: it can be long)."""
        d = asdict(self)
        d["top_k"] = [{"area": a, "probability": p} for a, p in self.top_k]
        if not with_patches:
            d.pop("patches")
        return d


def aggregate(
    probs: np.ndarray,
    ood: np.ndarray,
    rejected: np.ndarray,
    area_ids: list[str],
    *,
    top_k: int = 3,
    min_accept_share: float = 0.5,
) -> tuple[int | None, np.ndarray, float, bool, np.ndarray]:
    """Aggregate per-patch predictions of one ROI.

    Args:
        probs: ``(M, A)`` per-patch probabilities over ``area_ids``.
        ood: ``(M,)`` open-set scores. rejected: ``(M,)`` per-patch rejection flags.
        min_accept_share: the ROI is rejected when fewer than this share of its patches
            are accepted.

    Returns:
        ``(best index or None, mean probabilities (A,), median ood, rejected, accepted mask)``.
    """
    probs = np.asarray(probs, dtype=float)
    ood = np.asarray(ood, dtype=float)
    accepted = ~np.asarray(rejected, dtype=bool)
    if probs.ndim != 2 or probs.shape[1] != len(area_ids) or len(probs) != len(ood):
        raise ValueError(f"inconsistent shapes: probs {probs.shape}, ood {ood.shape}")
    if len(probs) == 0:
        raise ValueError("no patches to aggregate")
    roi_rejected = accepted.mean() < min_accept_share
    use = accepted if accepted.any() else np.ones_like(accepted)
    mean = probs[use].mean(axis=0)
    best = None if roi_rejected else int(np.argmax(mean))
    return best, mean, float(np.median(ood)), bool(roi_rejected), accepted


def top_alternatives(mean: np.ndarray, area_ids: list[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable areas as ``(id, probability)``, best first."""
    order = np.argsort(mean)[::-1][:k]
    return [(area_ids[i], float(mean[i])) for i in order]
