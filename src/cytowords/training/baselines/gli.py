"""Grey-level-index (GLI) profile baseline with a nearest-centroid / Mahalanobis classifier.

The classical observer-independent method (Schleicher et al.) samples the grey-level index
(area fraction of cell bodies) along profiles perpendicular to the cortical surface and
compares profile shapes. Patches here are unaligned (any angle, any depth), so per patch:

1. darkness ``g = 1 - I / 255`` approximates the GLI at coarse resolution;
2. the depth axis is the dominant gradient orientation of the smoothed image (structure
   tensor over the whole patch); its sign is unknown, so the classifier is flip-invariant:
   training profiles are flipped to agree with their class mean, and a test profile takes
   the better of both orientations;
3. features: the profile through the centre (``n_bins`` samples, averaged over a band
   across it) plus the 10 Schleicher features (mean, centre of gravity, sd, skewness,
   kurtosis of the profile and of its derivative);
4. classes: nearest centroid in standardised feature space, or Mahalanobis distance with a
   pooled, shrunk covariance.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates, sobel


def depth_axis_angle(img: np.ndarray, sigma: float = 2.0) -> float:
    """Angle (radians) of the dominant intensity gradient (the cortical depth axis)."""
    s = gaussian_filter(img.astype(np.float64), sigma)
    gx, gy = sobel(s, axis=1), sobel(s, axis=0)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    return 0.5 * np.arctan2(2 * jxy, jxx - jyy)


def gli_profile(img: np.ndarray, n_bins: int = 48, band_frac: float = 0.6) -> np.ndarray:
    """Darkness profile along the estimated depth axis through the patch centre."""
    h, w = img.shape
    th = depth_axis_angle(img)
    g = 1.0 - img.astype(np.float64) / 255.0
    half = 0.5 * min(h, w)
    t = np.linspace(-half, half, n_bins)
    s = np.linspace(-band_frac * half, band_frac * half, 24)
    tt, ss = np.meshgrid(t, s, indexing="ij")
    x = w / 2 + tt * np.cos(th) - ss * np.sin(th)
    y = h / 2 + tt * np.sin(th) + ss * np.cos(th)
    vals = map_coordinates(g, [y.ravel(), x.ravel()], order=1, mode="nearest")
    return vals.reshape(n_bins, -1).mean(axis=1)


def schleicher_features(profile: np.ndarray) -> np.ndarray:
    """Mean, centre of gravity, sd, skewness, kurtosis of a profile and of its derivative."""
    out = []
    for p in (profile, np.gradient(profile)):
        x = np.linspace(0, 1, len(p))
        a = np.abs(p) + 1e-9
        m = a.sum()
        mean_x = (x * a).sum() / m
        sd = np.sqrt(((x - mean_x) ** 2 * a).sum() / m) + 1e-9
        skew = ((x - mean_x) ** 3 * a).sum() / m / sd**3
        kurt = ((x - mean_x) ** 4 * a).sum() / m / sd**4
        out += [p.mean(), mean_x, sd, skew, kurt]
    return np.array(out)


def features(profiles: np.ndarray) -> np.ndarray:
    """Feature vectors ``(N, n_bins + 10)`` from profiles ``(N, n_bins)``."""
    return np.array([np.concatenate([p, schleicher_features(p)]) for p in profiles])


class GLIClassifier:
    """Flip-invariant GLI-profile classifier (``kind``: "mahalanobis" or "centroid")."""

    def __init__(self, kind: str = "mahalanobis", n_bins: int = 48, shrinkage: float = 0.2):
        if kind not in ("mahalanobis", "centroid"):
            raise ValueError(f"kind must be 'mahalanobis' or 'centroid', got {kind!r}")
        self.kind, self.n_bins, self.shrinkage = kind, n_bins, shrinkage

    def profiles(self, patches: np.ndarray) -> np.ndarray:
        """GLI profiles ``(N, n_bins)`` of uint8 patches ``(N, H, W)``."""
        return np.stack([gli_profile(p, self.n_bins) for p in patches])

    def fit(self, patches: np.ndarray, labels: list[str]) -> GLIClassifier:
        prof = self.profiles(patches)
        labels = np.asarray(labels)
        self.classes_ = sorted(set(labels.tolist()))
        aligned = prof.copy()
        for c in self.classes_:  # flip each profile to agree with its class mean
            idx = np.flatnonzero(labels == c)
            ref = prof[idx].mean(axis=0)
            for _ in range(3):
                fl = prof[idx][:, ::-1]
                use_fl = ((fl - ref) ** 2).sum(1) < ((prof[idx] - ref) ** 2).sum(1)
                aligned[idx] = np.where(use_fl[:, None], fl, prof[idx])
                ref = aligned[idx].mean(axis=0)
        f = features(aligned)
        self.mu_, self.sd_ = f.mean(0), f.std(0) + 1e-9
        z = (f - self.mu_) / self.sd_
        self.means_ = np.stack([z[labels == c].mean(0) for c in self.classes_])
        resid = z - self.means_[np.searchsorted(self.classes_, labels)]
        cov = np.cov(resid.T)
        cov = (1 - self.shrinkage) * cov + self.shrinkage * np.eye(len(cov)) * np.trace(cov) / len(
            cov
        )
        self.prec_ = np.linalg.inv(cov) if self.kind == "mahalanobis" else np.eye(len(cov))
        return self

    def distances(self, patches: np.ndarray) -> np.ndarray:
        """Squared distances ``(N, n_classes)`` (minimum over both profile orientations)."""
        prof = self.profiles(patches)
        best = None
        for p in (prof, prof[:, ::-1]):
            z = (features(p) - self.mu_) / self.sd_
            d = z[:, None, :] - self.means_[None]
            dist = np.einsum("ncf,fg,ncg->nc", d, self.prec_, d)
            best = dist if best is None else np.minimum(best, dist)
        return best

    def predict(self, patches: np.ndarray) -> list[str]:
        d = self.distances(patches)
        return [self.classes_[i] for i in d.argmin(1)]
