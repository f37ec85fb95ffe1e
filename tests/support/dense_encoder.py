"""A small built-in dense-architecture encoder and a bundle around it, for tests of dense
maps (the tiny bundle's head and scorer refitted on its embeddings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from cytowords.model import ModelBundle, load_bundle
from cytowords.model.encoder import CytoEncoder, EncoderConfig
from cytowords.sections import Section, read_fields


def dense_test_encoder(seed: int = 0) -> CytoEncoder:
    """A small built-in dense-architecture encoder (16 µm/px, 16-px fields, width 4) with
    random weights and random BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    cfg = EncoderConfig(
        pixel_size_um=16.0,
        patch_px=16,
        width=4,
        embed_dim=16,
        arch="dense",
        dilations=(1,),
        lcn_um=32.0,
    )
    enc = CytoEncoder(cfg)
    for m in enc.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return enc.eval()


def dense_bundle(tiny_path: Path, fit_on: Section, *, reject_share: float = 0.2) -> ModelBundle:
    """The tiny bundle's head and open-set scorer on a :class:`DenseTestEncoder`: head input
    statistics and scorer refitted on fields of ``fit_on``, the same threshold for 1, 2,
    4 and 8 views."""
    base = load_bundle(tiny_path, captioner=False)
    enc = dense_test_encoder()
    rng = np.random.default_rng(0)
    h, w = fit_on.shape_um
    centres = rng.uniform([0.3 * h, 0.1 * w], [0.7 * h, 0.9 * w], (200, 2))
    with torch.no_grad():
        emb = enc.embed(torch.from_numpy(read_fields(fit_on, centres, 16.0, enc.input_px))[:, None])
        base.head.set_input_stats(emb)
        n = len(base.area_ids) + 1
        lab = torch.arange(len(emb)) % n
        in_scope = torch.tensor([True] * (n - 1) + [False])
        base.scorer.fit(emb, lab, in_scope=in_scope, logits=base.head(emb))
        thr = base.scorer.calibrate(base.scorer.score(emb, base.head(emb)), reject_share)
    config = dict(base.config)
    config["tta"] = {"views": 1, "thresholds": {str(k): float(thr) for k in (1, 2, 4, 8)}}
    return ModelBundle(enc, base.head, base.scorer, None, config, base.device, base.cortex)
