"""A small fully convolutional encoder with the dense contract, for tests of dense maps.

Trunk: a stride-``s`` stem (kernel = stride) and a valid 3 × 3 convolution; pooling: a box
filter over the trunk positions of one field window (``patch_px + 2 * context_px`` px);
projection: 1 × 1. Every output depends only on its own window, as the contract requires:
``dense_embed`` output ``(i, j)`` is ``embed`` of the window starting at ``(i*s, j*s)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cytowords.model import load_bundle
from cytowords.model.model_bundle import ModelBundle
from cytowords.sections import Section, read_fields


class DenseTestEncoder(nn.Module):
    """Encoder protocol plus ``dense_embed``, ``context_px`` and ``feature_stride_px``."""

    def __init__(
        self,
        *,
        patch_px: int = 16,
        context_px: int = 4,
        stride_px: int = 4,
        width: int = 8,
        embed_dim: int = 16,
        pixel_size_um: float = 16.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        window = patch_px + 2 * context_px
        if window % stride_px:
            raise ValueError("the field window must be a multiple of the stride")
        torch.manual_seed(seed)
        self.patch_px, self.context_px, self.feature_stride_px = patch_px, context_px, stride_px
        self.pixel_size_um, self.embed_dim = float(pixel_size_um), embed_dim
        self.stem = nn.Conv2d(1, width, stride_px, stride_px)
        self.conv = nn.Conv2d(width, width, 3)
        self.proj = nn.Conv2d(width, embed_dim, 1)
        self.pool = window // stride_px - 2  # trunk positions across one window

    def dense_embed(self, x: Tensor) -> Tensor:
        f = F.relu(self.conv(F.relu(self.stem(x - 0.5))))
        return self.proj(F.avg_pool2d(f, self.pool, stride=1))

    def embed(self, x: Tensor) -> Tensor:
        return self.dense_embed(x).mean((-2, -1))


def dense_bundle(tiny_path: Path, fit_on: Section, *, reject_share: float = 0.2) -> ModelBundle:
    """The tiny bundle's head and open-set scorer on a :class:`DenseTestEncoder`: head input
    statistics and scorer refitted on fields of ``fit_on``, the same threshold for 1, 2,
    4 and 8 views."""
    base = load_bundle(tiny_path, captioner=False)
    enc = DenseTestEncoder().eval()
    rng = np.random.default_rng(0)
    h, w = fit_on.shape_um
    centres = rng.uniform([0.3 * h, 0.1 * w], [0.7 * h, 0.9 * w], (200, 2))
    window = enc.patch_px + 2 * enc.context_px
    with torch.no_grad():
        emb = enc.embed(torch.from_numpy(read_fields(fit_on, centres, 16.0, window))[:, None])
        base.head.set_input_stats(emb)
        n = len(base.area_ids) + 1
        lab = torch.arange(len(emb)) % n
        in_scope = torch.tensor([True] * (n - 1) + [False])
        base.scorer.fit(emb, lab, in_scope=in_scope, logits=base.head(emb))
        thr = base.scorer.calibrate(base.scorer.score(emb, base.head(emb)), reject_share)
    config = dict(base.config)
    config["tta"] = {"views": 1, "thresholds": {str(k): float(thr) for k in (1, 2, 4, 8)}}
    return ModelBundle(enc, base.head, base.scorer, None, config, base.device, base.cortex)
