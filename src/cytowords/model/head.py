"""Area classification head and open-set scorer over (frozen) patch embeddings.

* :class:`AreaHead`: standardisation + linear layer or small MLP -> area logits.
  An optional learned "none" class (white matter, background, artefacts; label
  ``__none__``) is simply the last logit; see :class:`HeadConfig`.
* :class:`OpenSetScorer`: Mahalanobis distance to the in-scope class means with one
  shared, shrunk covariance, optionally combined with the energy or max-softmax score
  of the head's logits (``msp``: softmax over the areas only; ``msp_none``: softmax over
  the areas and the none class, so that a head trained with outlier exposure lowers the
  top area probability of unfamiliar cortex), or, alone, ``none_odds``: the log-odds of
  the learned none class, ``logit_none - logsumexp(area logits)`` (needs a head whose last
  class is the none class), or ``novelty``: the logit of a small MLP trained to tell
  fictitious-area fields from the training areas' fields (its weights are part of the
  scorer; fitted by :func:`cytowords.training.fit.fit_scorer`). Higher score = less like
  any known area. ``distance_ratio``: the squared Mahalanobis distance to the nearest
  class mean divided by that to the second nearest (0..1; needs two classes; fields
  further than ``distance_cap`` from every mean score above 1): free of the scale of the
  distances, which grows on brains and scans the means were not taken from
  (used by models taught from annotations, :mod:`cytowords.teach`).
  ``calibrate`` sets the rejection threshold from in-scope validation scores.

All state lives in registered buffers/parameters, so ``state_dict()`` is plain tensors
(safetensors-friendly).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cytowords.model.cortex import CortexConfig, CortexDetector

SCORE_MODES = (
    "mahalanobis",
    "energy",
    "msp",
    "msp_none",
    "mahalanobis+energy",
    "mahalanobis+msp",
    "mahalanobis+msp_none",
    "none_odds",
    "novelty",
    "distance_ratio",
)


@dataclass(frozen=True)
class HeadConfig:
    """embed_dim: input size; n_classes: logits (areas, plus 1 if ``none_class``);
    hidden: 0 for a linear head, else the MLP hidden width; none_class: whether the last
    class is the learned ``__none__`` (not an area) class."""

    embed_dim: int
    n_classes: int
    hidden: int = 0
    dropout: float = 0.1
    none_class: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadConfig:
        try:
            return cls(
                **{k: d[k] for k in ("embed_dim", "n_classes", "hidden", "dropout", "none_class")}
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"head config {d!r} is invalid (missing {exc})") from None


class AreaHead(nn.Module):
    """Embedding ``(B, D)`` -> logits ``(B, n_classes)``; inputs are standardised with
    stored mean/std (set by :meth:`set_input_stats`)."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        d, c = config.embed_dim, config.n_classes
        self.register_buffer("in_mean", torch.zeros(d))
        self.register_buffer("in_std", torch.ones(d))
        if config.hidden > 0:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(d, config.hidden),
                nn.GELU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, c),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(d, c))

    @torch.no_grad()
    def set_input_stats(self, emb: Tensor) -> None:
        """Store per-dimension mean/std of training embeddings ``(N, D)``."""
        self.in_mean.copy_(emb.float().mean(0))
        self.in_std.copy_(emb.float().std(0).clamp_min(1e-4))

    def forward(self, emb: Tensor) -> Tensor:
        return self.net((emb.float() - self.in_mean) / self.in_std)


class OpenSetScorer(nn.Module):
    """Open-set score: min Mahalanobis distance (squared, divided by D) to in-scope class
    means under a shared shrunk covariance, optionally plus a logit-based score, each
    standardised with its in-scope training statistics. ``rejected = score > threshold``.
    """

    def __init__(self, embed_dim: int, n_classes: int, mode: str = "mahalanobis") -> None:
        super().__init__()
        if mode not in SCORE_MODES:
            raise ValueError(f"OpenSetScorer mode {mode!r} unknown; expected one of {SCORE_MODES}")
        self.mode = mode
        self.register_buffer("means", torch.zeros(n_classes, embed_dim))
        self.register_buffer("precision", torch.eye(embed_dim))
        self.register_buffer("class_used", torch.zeros(n_classes, dtype=torch.bool))
        # standardisation (mean, std) of the Mahalanobis and logit scores on training data
        self.register_buffer("maha_stats", torch.tensor([0.0, 1.0]))
        self.register_buffer("logit_stats", torch.tensor([0.0, 1.0]))
        self.register_buffer("threshold", torch.tensor(float("inf")))
        #: ``novelty`` mode: binary MLP, fictitious-area (high) vs known-area fields
        self.novelty: CortexDetector | None = None
        if mode == "distance_ratio":
            #: squared distance to the nearest mean beyond which a field scores above 1
            #: (always rejected, however the ratio falls): unlike every class
            self.register_buffer("distance_cap", torch.tensor(float("inf")))
        if mode == "novelty":
            self.novelty = CortexDetector(CortexConfig(embed_dim))

    @torch.no_grad()
    def fit(
        self,
        emb: Tensor,
        labels: Tensor,
        *,
        in_scope: Tensor | None = None,
        shrinkage: float = 0.1,
        logits: Tensor | None = None,
    ) -> OpenSetScorer:
        """Fit class means and the shared covariance on training embeddings ``(N, D)``
        with integer labels ``(N,)``. in_scope: bool ``(n_classes,)`` marking the classes
        that count as known areas (e.g. False for ``__none__``); default all present.
        shrinkage in [0, 1] blends the covariance with ``tr(S)/D * I``. logits ``(N, C)``
        of the head are needed for the modes that combine a logit score."""
        emb = emb.float()
        n_cls, d = self.means.shape
        used = torch.zeros(n_cls, dtype=torch.bool)
        used[labels.unique().long()] = True
        if in_scope is not None:
            used &= in_scope.bool().cpu()
        if not used.any():
            raise ValueError("OpenSetScorer.fit: no in-scope class has training embeddings")
        if self.mode == "none_odds" and (in_scope is None or bool(in_scope[-1])):
            raise ValueError(
                "OpenSetScorer.fit: mode 'none_odds' needs a head whose last class is the "
                "learned none class (in_scope[-1] False); this head has none, use 'energy'"
            )
        centred = []
        for c in torch.nonzero(used).flatten().tolist():
            e = emb[labels == c]
            self.means[c] = e.mean(0)
            centred.append(e - self.means[c])
        xc = torch.cat(centred)
        cov = xc.t() @ xc / max(1, xc.shape[0] - 1)
        cov = (1 - shrinkage) * cov + shrinkage * cov.trace() / d * torch.eye(d)
        self.precision.copy_(torch.linalg.pinv(cov, hermitian=True))
        self.class_used.copy_(used)
        keep = used[labels.long()]
        m = self._mahalanobis(emb[keep])
        self.maha_stats.copy_(torch.stack([m.mean(), m.std().clamp_min(1e-6)]))
        if self.novelty is not None:  # trained beforehand (fit_scorer): its statistics only
            s = self.novelty(emb[keep])
            self.logit_stats.copy_(torch.stack([s.mean(), s.std().clamp_min(1e-6)]))
        elif self.mode not in ("mahalanobis", "distance_ratio"):
            if logits is None:
                raise ValueError(f"OpenSetScorer.fit: mode {self.mode!r} needs the head logits")
            s = self._logit_score(logits[keep].float())
            self.logit_stats.copy_(torch.stack([s.mean(), s.std().clamp_min(1e-6)]))
        return self

    def class_distances(self, emb: Tensor) -> Tensor:
        """Squared Mahalanobis distance ``(B, n_classes)`` of each embedding to each class
        mean (inf for classes without training embeddings)."""
        x = emb.float()
        xp = x @ self.precision
        mp = self.means @ self.precision
        d2 = (xp * x).sum(1, keepdim=True) - 2 * xp @ self.means.t() + (mp * self.means).sum(1)
        d2 = d2.clamp_min(0.0)
        return d2.masked_fill(~self.class_used[None], float("inf"))

    def _mahalanobis(self, emb: Tensor) -> Tensor:
        return self.class_distances(emb).min(1).values / self.means.shape[1]

    def _logit_score(self, logits: Tensor) -> Tensor:
        lg = logits[:, : self.means.shape[0]]
        if self.mode == "none_odds":  # log p(none) - log p(any area)
            return lg[:, -1] - torch.logsumexp(lg[:, self.class_used], 1)
        if self.mode.endswith("msp_none"):  # the none logit takes its share of the mass
            return 1.0 - torch.softmax(lg, 1)[:, self.class_used].max(1).values
        lg = lg[:, self.class_used]
        if self.mode.endswith("msp"):
            return 1.0 - torch.softmax(lg, 1).max(1).values
        return -torch.logsumexp(lg, 1)  # energy: higher = less familiar

    def score(self, emb: Tensor, logits: Tensor | None = None) -> Tensor:
        """Open-set score ``(B,)`` of embeddings ``(B, D)``; higher = more unfamiliar."""
        if self.mode == "distance_ratio":
            two = self.class_distances(emb).topk(2, dim=1, largest=False).values
            ratio = two[:, 0] / two[:, 1].clamp_min(1e-12)
            far = two[:, 0] > self.distance_cap
            return torch.where(far, 1.0 + two[:, 0] / self.distance_cap, ratio)
        parts = []
        if self.mode.startswith("mahalanobis"):
            parts.append((self._mahalanobis(emb) - self.maha_stats[0]) / self.maha_stats[1])
        if self.novelty is not None:
            s = self.novelty(emb)
            parts.append((s - self.logit_stats[0]) / self.logit_stats[1])
        elif self.mode != "mahalanobis":
            if logits is None:
                raise ValueError(f"OpenSetScorer.score: mode {self.mode!r} needs logits")
            s = self._logit_score(logits.float())
            parts.append((s - self.logit_stats[0]) / self.logit_stats[1])
        return torch.stack(parts).sum(0)

    @torch.no_grad()
    def calibrate(self, scores_val_in_scope: Tensor, reject_share: float = 0.03) -> float:
        """Set the threshold so that ``reject_share`` of the given in-scope validation
        scores lie above it (are rejected). Returns the threshold."""
        if not 0.0 <= reject_share < 1.0:
            raise ValueError(f"calibrate: reject_share must be in [0, 1), got {reject_share}")
        s = scores_val_in_scope.detach().float().flatten().cpu()
        if s.numel() == 0:
            raise ValueError("calibrate: no validation scores given")
        self.threshold.fill_(float(torch.quantile(s, 1.0 - reject_share)))
        return float(self.threshold)

    def reject(self, scores: Tensor) -> Tensor:
        """Bool ``(B,)``: scores above the calibrated threshold."""
        return scores > self.threshold
