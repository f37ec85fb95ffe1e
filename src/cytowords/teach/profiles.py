"""The readout's alternative to embeddings: profile features of whole named regions,
validated leave-one-section-out, to report beside the embeddings' region accuracy
(:func:`cytowords.teach.teach` with ``compare_profiles``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .annotations import Annotation


def region_profile_features(section: Any, ann: Annotation, cancel: Any = None) -> np.ndarray | None:
    """The readout's description of a whole region: the ten profile-shape features of its
    mean laminar profile (:func:`cytowords.measure.border_stats.profile_features`) and its
    cortical thickness (mm); None when the readout cannot measure it."""
    from ..measure import MeasureError, measure_roi
    from ..measure.border_stats import profile_features

    try:
        r = measure_roi(section, ann.roi.vertices, cells=False, cancel=cancel)
    except MeasureError:
        return None
    if not r.measured:
        return None
    return np.r_[profile_features(r.profile_mean[None])[0], r.thickness_mm]


def profile_cv(
    sections: Sequence[Any], annotations: Sequence[Annotation], names: list[str], cancel: Any = None
) -> tuple[float, int]:
    """Leave-one-section-out accuracy of naming whole regions by their profile features
    (nearest class mean after standardising with the training regions) and the number of
    held-out regions it was tested on (NaN, 0 with one section or none measured)."""
    feats, ys, ss = [], [], []
    for a in annotations:
        f = region_profile_features(sections[a.section], a, cancel)
        if f is not None and np.isfinite(f).all():
            feats.append(f)
            ys.append(names.index(a.name))
            ss.append(a.section)
    if len(set(ss)) < 2:
        return float("nan"), 0
    F, y, sec = np.array(feats), np.array(ys), np.array(ss)
    right = []
    for g in np.unique(sec):
        tr, te = sec != g, sec == g
        mu, sd = F[tr].mean(0), F[tr].std(0) + 1e-9
        cls = np.unique(y[tr])
        means = np.stack([((F[tr][y[tr] == c] - mu) / sd).mean(0) for c in cls])
        for f, t in zip((F[te] - mu) / sd, y[te]):
            if t in cls:
                right.append(cls[np.argmin(((means - f) ** 2).sum(1))] == t)
    return (float(np.mean(right)) if right else float("nan")), len(right)
