"""Domain familiarity: how far a field's embedding lies from the embeddings of the tissue
the model was trained on, independently of the area head's open-set score.

A class-conditional Gaussian model with a shared covariance (Lee et al., 2018, "A simple
unified framework for detecting out-of-distribution samples"): the mean embedding of each
group of training fields (grouped by the area head's most probable output, the none class
included, so white matter and background have their own means) and one covariance pooled
over the groups, shrunk towards its mean variance. A field's *domain distance* is its
smallest Mahalanobis distance to a group mean (dimensionless, in standard deviations of
the training fields). The *cutoff* is a high quantile of the distances of held-aside
validation fields read as the pixel-size check reads them: a field within it looks like
tissue the model was trained on.

Stored in a bundle as :data:`DOMAIN_FILE` (safetensors, covered by ``hashes.json``); bundles
without it have no domain model (``ModelBundle.domain`` is None).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .tensor_file import load_tensor_file, save_tensor_file

#: the bundle file holding the domain model
DOMAIN_FILE = "domain.safetensors"
#: covariance shrinkage towards its mean variance (keeps the inverse stable with few fields
#: per dimension)
SHRINKAGE = 0.05


class DomainModel:
    """Class-conditional means and a shared whitening of training embeddings.

    Attributes:
        means: ``(C, D)`` float32 group means of the training embeddings.
        whiten: ``(D, D)`` float32 ``W`` with ``W Wᵀ = Σ⁻¹`` (Σ: the shrunk pooled
            covariance), so the Mahalanobis distance of ``e`` to ``m`` is ``‖(e - m) W‖``.
        cutoff: domain distance within which a field counts as familiar (inf: not
            calibrated).
        info: how it was fitted and calibrated (brains, fields, quantile), JSON-ready.
    """

    def __init__(
        self, means: torch.Tensor, whiten: torch.Tensor, cutoff: float, info: dict | None = None
    ) -> None:
        self.means = means.float().cpu()
        self.whiten = whiten.float().cpu()
        self.cutoff = float(cutoff)
        self.info = dict(info or {})
        self._centres = self.means @ self.whiten  # (C, D) whitened means

    @property
    def embed_dim(self) -> int:
        """Embedding size D it was fitted on."""
        return int(self.means.shape[1])

    def distance(self, emb: torch.Tensor | np.ndarray) -> np.ndarray:
        """``(B,)`` float32 smallest Mahalanobis distance of embeddings ``(B, D)`` to the
        group means (standard deviations of the training fields)."""
        e = torch.as_tensor(np.asarray(emb) if not torch.is_tensor(emb) else emb)
        e = e.detach().float().cpu()
        if e.ndim != 2 or e.shape[1] != self.embed_dim:
            raise ValueError(
                f"domain distance: embeddings of shape {tuple(e.shape)}; expected (B, "
                f"{self.embed_dim})"
            )
        if not len(e):
            return np.zeros(0, np.float32)
        dist = torch.cdist(e @ self.whiten, self._centres).min(dim=1).values
        return dist.numpy().astype(np.float32)

    def within(self, emb: torch.Tensor | np.ndarray) -> np.ndarray:
        """``(B,)`` bool: the fields' domain distance is within :attr:`cutoff`."""
        return self.distance(emb) <= self.cutoff

    def with_cutoff(self, cutoff: float, **info: object) -> DomainModel:
        """A copy with another cutoff (and ``info`` entries added)."""
        return DomainModel(self.means, self.whiten, cutoff, {**self.info, **info})

    def save(self, path: str | Path) -> Path:
        """Write it as safetensors to ``path`` (a bundle's :data:`DOMAIN_FILE`), atomically."""
        meta = {"cutoff": repr(self.cutoff), "info": json.dumps(self.info, sort_keys=True)}
        return save_tensor_file(path, {"means": self.means, "whiten": self.whiten}, meta)

    @classmethod
    def load(cls, path: str | Path) -> DomainModel:
        """Read a file written by :meth:`save` (ValueError, one line, when malformed)."""
        t, meta = load_tensor_file(path, "domain model")
        try:
            return cls(t["means"], t["whiten"], float(meta["cutoff"]), json.loads(meta["info"]))
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ValueError(f"domain model {path}: cannot read it ({exc})") from None


def fit_domain(emb: torch.Tensor | np.ndarray, groups: np.ndarray, **info: object) -> DomainModel:
    """Fit group means and the shared, shrunk covariance of training embeddings ``(N, D)``
    grouped by ``groups`` ``(N,)`` (int; groups with fewer than 2 fields are dropped).
    The cutoff is left at inf (calibrate it with :meth:`DomainModel.with_cutoff`)."""
    e = torch.as_tensor(np.asarray(emb, dtype=np.float64))
    g = np.asarray(groups)
    labels, counts = np.unique(g, return_counts=True)
    keep = labels[counts >= 2]
    if not len(keep):
        raise ValueError("fit_domain: no group with at least 2 fields")
    means, resid = [], []
    for lab in keep:
        x = e[torch.from_numpy(g == lab)]
        m = x.mean(0)
        means.append(m)
        resid.append(x - m)
    r = torch.cat(resid)
    cov = r.T @ r / max(1, len(r) - len(keep))
    d = cov.shape[0]
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * torch.trace(cov) / d * torch.eye(d, dtype=cov.dtype)
    vals, vecs = torch.linalg.eigh(cov)
    whiten = vecs / vals.clamp_min(1e-12).sqrt()  # (D, D): Σ⁻¹ = W Wᵀ
    info = {"groups": int(len(keep)), "fields": int(len(r)), "shrinkage": SHRINKAGE, **info}
    return DomainModel(torch.stack(means).float(), whiten.float(), float("inf"), info)
