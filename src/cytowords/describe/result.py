"""Results of describing a region: per-patch predictions and their aggregation.

Probabilities are over the model's in-scope areas (the "none" class of non-cortex regions,
if the model has one, is reported through ``rejected``). ``ood_score`` is the open-set score:
higher means less like any known area; a patch is rejected when its score exceeds the model's
calibrated threshold or when it is classified as "no known area".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class PatchResult:
    """One patch of a ROI: centre (µm), best area, its probability, open-set score, flag.

    ``votes`` is False for a field that reads as no cortex at all (white matter,
    background, or cortex unlike any known area: its open-set score is at the level of
    non-cortex fields); such fields do not count toward the ROI's verdict.
    ``quality`` is why the field's image is unfit to read (None: fit);
    ``reads_better_at`` the factor (true / stated pixel size) at which the field reads as
    another area and more like known cortex (it did not vote), None when it does not or
    was not read again (:mod:`cytowords.sections.roi_scale`).
    """

    center_um: tuple[float, float]
    area: str
    probability: float
    ood_score: float
    rejected: bool
    votes: bool = True
    quality: str | None = None
    reads_better_at: float | None = None


@dataclass
class RegionDescription:
    """The description of one ROI.

    Attributes:
        area: predicted area id (e.g. ``"hOc1"``), or ``"__none__"`` when rejected.
        area_name: the area's full name ("not a known area" when the model rejected it,
            :data:`ABSTAINED_NAME` when it was set aside with a ``rejection_reason``).
        probability: mean probability of ``area`` over the accepted patches (0–1).
        rejected: True when the region matches no known area.
        ood_score: median open-set score of the patches (higher = less known).
        caption: generated cytoarchitectonic description.
        n_patches: number of patches read.
        n_voting: patches that counted toward the verdict (the others read as no cortex:
            white matter or background of a loosely drawn ROI).
        n_accepted: voting patches accepted as a known area.
        top_k: best alternatives as ``(area id, probability)``.
        threshold: the model's rejection threshold on ``ood_score``.
        patches: per-patch detail.
        n_flagged: fields whose image is unfit to read (out of focus, JPEG blocks,
            clipped); they do not vote.
        flagged: those fields per reason (:data:`cytowords.sections.quality.REASONS` key).
        rejection_reason: why a rejected ROI was rejected when it is not the model's
            verdict (e.g. most of its fields are out of focus, or its tissue reads better
            at another pixel size than the stored one); empty otherwise.
        n_scale_flagged: fields that read as another area, and more like known cortex, at
            another pixel size; they do not vote.
        scale: what reading the ROI's fields at other pixel sizes showed
            (:meth:`cytowords.sections.roi_scale.RoiScale.to_dict`: median open-set
            score per factor, the suggested pixel size) and, with a bundle's scale head,
            its estimate over the ROI's accepted voting fields (``head_factor``: stated /
            true pixel size, None without fields; ``head_fields``); None when neither was
            made (the check is off, or the ROI was rejected before it).
        note: warnings for the user, one sentence each ("; "-joined): fields that did not
            vote for their image quality, a region smaller than one model field, a scan
            unlike the model's training sections.
        measurements: what the model-free readout measured in the ROI
            (:meth:`cytowords.measure.Readout.to_dict` without the traverse coordinates;
            ``{"not_measured": [reason]}`` when it could not measure; empty when not run).
        statements: the readout's sentences, then the measured thickness beside the atlas's
            for the predicted area.
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
    n_voting: int = 0
    n_accepted: int = 0
    n_flagged: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    rejection_reason: str = ""
    n_scale_flagged: int = 0
    scale: dict[str, Any] | None = None
    note: str = ""
    measurements: dict[str, Any] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)

    def add_note(self, text: str) -> None:
        """Append one warning sentence to :attr:`note` (no-op for an empty one or a
        repeat)."""
        if text and text not in self.note:
            self.note = f"{self.note}; {text}" if self.note else text

    def to_dict(self, *, with_patches: bool = False) -> dict[str, Any]:
        """JSON-ready dict (``patches`` only when asked: it can be long); a number that is
        not finite (the probability of a region set aside before the model's verdict) is
        ``None``, as JSON has no NaN."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
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
    abstain: np.ndarray | None = None,
    min_votes: int = 1,
) -> tuple[int | None, np.ndarray, float, bool, np.ndarray]:
    """Aggregate per-patch predictions of one ROI.

    Args:
        probs: ``(M, A)`` per-patch probabilities over ``area_ids``.
        ood: ``(M,)`` open-set scores. rejected: ``(M,)`` per-patch rejection flags.
        min_accept_share: the ROI is rejected when fewer than this share of its voting
            patches are accepted.
        abstain: ``(M,)`` bool, patches that do not vote (they read as non-cortex: a
            loosely drawn ROI's white matter and background); default: all vote.
        min_votes: the ROI is rejected when fewer patches vote (with all patches
            abstaining the ROI holds no cortex of a known area).

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
    votes = np.ones(len(probs), bool) if abstain is None else ~np.asarray(abstain, dtype=bool)
    if votes.shape != accepted.shape:
        raise ValueError(f"inconsistent shapes: abstain {votes.shape}, rejected {accepted.shape}")
    n_votes = int(votes.sum())
    roi_rejected = n_votes < max(1, min_votes) or accepted[votes].mean() < min_accept_share
    use = accepted if accepted.any() else np.ones_like(accepted)
    mean = probs[use].mean(axis=0)
    best = None if roi_rejected else int(np.argmax(mean))
    return best, mean, float(np.median(ood)), bool(roi_rejected), accepted


#: the description of a ROI set aside with a reason (image, scale, too few fields) before
#: the model's verdict: the model's rejection caption would say the region matches no
#: known area, which was not established
ABSTAINED_CAPTION = (
    "No area named: this region was not read reliably enough to name one (see the reason)."
)

#: the area name of a ROI set aside with a reason before the model's verdict (not "not a
#: known area", which the model did not judge)
ABSTAINED_NAME = "no area named"

#: a ROI is rejected for its image when more than this share of its tissue fields is
#: unfit to read: the few left are no sound basis for a verdict
MAX_FLAGGED_SHARE = 0.5


def quality_rejection(flagged: int, tissue_fields: int, summary: str) -> str:
    """The rejection reason when most of a ROI's tissue fields are unfit to read (``flagged``
    of ``tissue_fields``; ``summary`` as from
    :func:`cytowords.sections.quality.quality_summary`), else ``""``."""
    if tissue_fields and flagged > MAX_FLAGGED_SHARE * tissue_fields:
        return f"most fields are unfit to read ({summary}): no area is named"
    return ""


def accepted_share(accepted: np.ndarray, votes: np.ndarray | None = None) -> float:
    """Share of the voting patches that are accepted (0 when none votes)."""
    accepted = np.asarray(accepted, dtype=bool)
    v = np.ones_like(accepted) if votes is None else np.asarray(votes, dtype=bool)
    return float(accepted[v].mean()) if v.any() else 0.0


def top_alternatives(mean: np.ndarray, area_ids: list[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable areas as ``(id, probability)``, best first."""
    order = np.argsort(mean)[::-1][:k]
    return [(area_ids[i], float(mean[i])) for i in order]
