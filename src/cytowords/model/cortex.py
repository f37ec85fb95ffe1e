"""The cortex detector: does a field show cortex (of any area, known or not), or only white
matter, background and artefacts?

The area head's ``__none__`` class and the open-set score lump both together: cortex of an
area the model never learned scores like white matter. A drawn region must treat them
differently: a field of white matter says nothing about the region's area and should not
vote, while a field of unknown cortex is evidence that the region is not a known area. The
detector is a small MLP on the frozen encoder embeddings, trained on fields of known areas
and of fictitious areas (cortex) against white matter, background and artefact fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class CortexConfig:
    """embed_dim: encoder embedding size; hidden: MLP width; threshold: probability of
    cortex below which a field reads as no cortex."""

    embed_dim: int
    hidden: int = 256
    threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CortexConfig:
        cfg = cls(int(d["embed_dim"]), int(d.get("hidden", 256)), float(d.get("threshold", 0.5)))
        if not 0.0 < cfg.threshold < 1.0:
            raise ValueError(f"cortex threshold must be in (0, 1), got {cfg.threshold}")
        return cfg


class CortexDetector(nn.Module):
    """Logit of "this field shows cortex" from an embedding ``(B, D)``; the embeddings are
    standardised with the training statistics kept as buffers (``mean``, ``std``)."""

    def __init__(self, config: CortexConfig) -> None:
        super().__init__()
        self.config = config
        d = config.embed_dim
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        self.net = nn.Sequential(
            nn.Linear(d, config.hidden), nn.GELU(), nn.Linear(config.hidden, 1)
        )

    def set_statistics(self, emb: Tensor) -> None:
        """Standardise inputs with the mean and standard deviation of ``emb`` ``(N, D)``."""
        self.mean.copy_(emb.float().mean(0))
        self.std.copy_(emb.float().std(0).clamp_min(1e-6))

    def forward(self, emb: Tensor) -> Tensor:
        return self.net((emb.float() - self.mean) / self.std)[:, 0]

    @torch.no_grad()
    def probability(self, emb: Tensor) -> Tensor:
        """Probability ``(B,)`` that each field shows cortex."""
        return torch.sigmoid(self(emb))

    @torch.no_grad()
    def is_cortex(self, emb: Tensor) -> Tensor:
        """Bool ``(B,)``: the probability of cortex reaches the configured threshold."""
        return self.probability(emb) >= self.config.threshold
