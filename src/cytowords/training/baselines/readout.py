"""Readout-feature baseline: the model-free readout of :mod:`cytowords.measure` per field.

Each field (the square the model sees) is measured with :func:`cytowords.measure.measure_roi`
on its section, without cells, at the field's own resolution (``profile_um`` = the model's
µm/px: measuring finer costs 2-8 s per field, too slow for thousands of fields). Features:
cortical thickness (median, SD, p10, p90, curvature ratio), layer I relative depth and
width, layer IV prominence, top and bottom, laminar contrast, grey/white border width, the
mean optical-density profile resampled to :data:`N_PROFILE` depths, and a flag per feature
that could not be measured (missing values take the training mean). Classifier: shrinkage
LDA on standardised features; open-set score = squared distance to the nearest class mean
in the discriminant space (a Mahalanobis distance under the pooled covariance).
"""

from __future__ import annotations

import math

import numpy as np

N_PROFILE = 16
SCALARS = (
    "thickness_mm",
    "thickness_sd_mm",
    "thickness_p10_mm",
    "thickness_p90_mm",
    "curvature_ratio",
    "wm_border_width_um",
)
LAYER_KEYS = (
    "layer_i_bottom",
    "layer_i_width_um",
    "iv_prominence",
    "iv_top",
    "iv_bottom",
    "laminar_contrast",
)
N_FEATURES = len(SCALARS) + len(LAYER_KEYS) + N_PROFILE


def field_polygon(centre_um, field_um: float) -> np.ndarray:
    """The square field around ``centre_um`` ``(y, x)`` as polygon vertices (µm)."""
    y, x = (float(v) for v in centre_um)
    h = field_um / 2.0
    return np.array([[y - h, x - h], [y - h, x + h], [y + h, x + h], [y + h, x - h]])


def readout_features(
    section, centres_um: np.ndarray, field_um: float, pixel_um: float
) -> np.ndarray:
    """Features ``(N, N_FEATURES)`` (nan where not measured) of fields of ``section``."""
    from cytowords.measure import MeasureError, measure_roi

    out = np.full((len(centres_um), N_FEATURES), np.nan)
    for i, c in enumerate(np.asarray(centres_um, dtype=np.float64)):
        try:
            r = measure_roi(section, field_polygon(c, field_um), cells=False, profile_um=pixel_um)
        except MeasureError:
            continue
        if not r.measured:
            continue
        row = [getattr(r, k) for k in SCALARS]
        lay = r.layers
        row += [getattr(lay, k) if lay is not None else math.nan for k in LAYER_KEYS]
        prof = np.asarray(r.profile_mean, dtype=np.float64)
        if len(prof) >= 2:
            x = np.linspace(0, 1, len(prof))
            row += list(np.interp(np.linspace(0, 1, N_PROFILE), x, prof))
        else:
            row += [math.nan] * N_PROFILE
        out[i] = np.asarray(row, dtype=np.float64)
    return out


class ReadoutClassifier:
    """Shrinkage LDA over readout features (see module docstring)."""

    def fit(self, feats: np.ndarray, labels) -> ReadoutClassifier:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        f = np.asarray(feats, dtype=np.float64)
        ok = np.isfinite(f)
        mean = np.where(ok, f, 0.0).sum(0) / np.maximum(ok.sum(0), 1)
        self.fill_ = np.where(ok.any(0), mean, 0.0)
        x = self._prep(f)
        # constant features carry nothing (and are singular); max - min is exact, where a
        # constant column's std can come out 1e-16 or 0 with the array's memory layout
        self.keep_ = np.ptp(x, axis=0) > 0
        x = x[:, self.keep_]
        self.mu_, self.sd_ = x.mean(0), x.std(0)
        z = (x - self.mu_) / self.sd_
        lab = np.asarray(labels).astype(str)
        try:
            self.lda_ = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(z, lab)
        except np.linalg.LinAlgError:  # too few fields for the estimated shrinkage
            self.lda_ = LinearDiscriminantAnalysis(solver="eigen", shrinkage=0.5).fit(z, lab)
        self.classes_ = [str(c) for c in self.lda_.classes_]
        t = self.lda_.transform(z)
        self.means_ = np.stack([t[lab == c].mean(0) for c in self.classes_])
        return self

    def _prep(self, f: np.ndarray) -> np.ndarray:
        miss = ~np.isfinite(f)
        return np.concatenate([np.where(miss, self.fill_, f), miss.astype(np.float64)], axis=1)

    def predict_score(self, feats: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Predicted area ids and open-set scores (higher = less familiar)."""
        x = self._prep(np.asarray(feats, dtype=np.float64))[:, self.keep_]
        z = (x - self.mu_) / self.sd_
        t = self.lda_.transform(z)
        d = ((t[:, None, :] - self.means_[None]) ** 2).sum(-1)
        return [self.classes_[i] for i in d.argmin(1)], d.min(1)
