"""Projector: patch embedding -> k prefix vectors in a language model's input space.

ClipCap/LLaVA-style coupling: an MLP maps an embedding ``(B, D)`` to ``(B, k, H)``
where H is the hidden size of the causal language model's input embeddings
(``lm.get_input_embeddings().embedding_dim``). The output is scaled to the typical
norm of the LM's token embeddings so training starts in a sensible regime.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class ProjectorConfig:
    """embed_dim: encoder embedding size D; lm_dim: LM input-embedding size H;
    k: number of prefix vectors; hidden: MLP hidden width (0: ``max(D, H)``)."""

    embed_dim: int
    lm_dim: int
    k: int = 4
    hidden: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProjectorConfig:
        try:
            return cls(**{key: int(d[key]) for key in ("embed_dim", "lm_dim", "k", "hidden")})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"projector config {d!r} is invalid ({exc})") from None


class PrefixProjector(nn.Module):
    """MLP ``(B, D) -> (B, k, H)``; ``token_scale`` is the RMS of the LM's token
    embeddings (set with :meth:`match_lm`), applied after a LayerNorm."""

    def __init__(self, config: ProjectorConfig) -> None:
        super().__init__()
        if config.k < 1:
            raise ValueError(f"projector k must be >= 1, got {config.k}")
        self.config = config
        hid = config.hidden or max(config.embed_dim, config.lm_dim)
        self.in_norm = nn.LayerNorm(config.embed_dim)
        self.mlp = nn.Sequential(
            nn.Linear(config.embed_dim, hid),
            nn.GELU(),
            nn.Linear(hid, config.k * config.lm_dim),
        )
        self.out_norm = nn.LayerNorm(config.lm_dim, elementwise_affine=False)
        self.register_buffer("token_scale", torch.tensor(1.0))

    @torch.no_grad()
    def match_lm(self, lm: nn.Module) -> None:
        """Set ``token_scale`` to the RMS of ``lm.get_input_embeddings()`` weights."""
        w = lm.get_input_embeddings().weight
        if w.shape[1] != self.config.lm_dim:
            raise ValueError(
                f"projector lm_dim {self.config.lm_dim} does not match the language "
                f"model's input-embedding size {w.shape[1]}"
            )
        self.token_scale.fill_(float(w.float().pow(2).mean().sqrt()))

    def forward(self, emb: Tensor) -> Tensor:
        b = emb.shape[0]
        h = self.mlp(self.in_norm(emb.float()))
        h = h.view(b, self.config.k, self.config.lm_dim)
        return self.out_norm(h) * self.token_scale
