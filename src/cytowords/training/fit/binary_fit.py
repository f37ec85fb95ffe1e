"""Fit a small binary MLP (:class:`cytowords.model.cortex.CortexDetector`) on frozen
embeddings: the cortex detector and the ``novelty`` open-set score use it."""

from __future__ import annotations

import numpy as np
import torch

from cytowords.model.cortex import CortexConfig, CortexDetector

#: most optimiser steps, mini-batch size and learning rate of a binary MLP fit
BINARY_STEPS = 2000
BINARY_BATCH = 4096
BINARY_LR = 1e-2


def fit_binary_mlp(
    emb: torch.Tensor,
    target: np.ndarray | torch.Tensor,
    *,
    hidden: int = 256,
    steps: int | None = None,
    seed: int = 0,
    what: str = "positive and negative fields",
) -> CortexDetector:
    """Fit a :class:`CortexDetector` on embeddings ``(N, D)`` and bool targets ``(N,)``,
    the two classes weighted equally (Adam, cosine decay). steps: optimiser steps
    (default: about 20 passes over the data, at most :data:`BINARY_STEPS`). ValueError
    when the counts differ or a class is missing (``what`` names the classes)."""
    # callers may run under no_grad (fit_scorer) or inference_mode (benchmarks): train
    # outside both, on plain copies of the inputs
    with torch.inference_mode(False), torch.enable_grad():
        y = torch.as_tensor(np.asarray(target), dtype=torch.float32).clone()
        if len(y) != len(emb):
            raise ValueError(f"fit_binary_mlp: {len(emb)} embeddings but {len(y)} targets")
        n_pos = int(y.sum())
        if n_pos == 0 or n_pos == len(y):
            raise ValueError(f"needs both {what}; got {n_pos} positive of {len(y)}")
        torch.manual_seed(seed)
        det = CortexDetector(CortexConfig(int(emb.shape[1]), hidden))
        x = emb.detach().float().clone()
        det.set_statistics(x)
        batch = min(BINARY_BATCH, len(x))
        if steps is None:
            steps = int(min(BINARY_STEPS, max(200, 20 * len(x) // batch)))
        w_pos = (len(y) - n_pos) / n_pos  # balance: both classes weigh the same in the loss
        det.train()
        _fit_loop(det, x, y, steps, batch, w_pos, seed)
    return det.eval()


def _fit_loop(det, x, y, steps: int, batch: int, w_pos: float, seed: int) -> None:
    opt = torch.optim.Adam(det.parameters(), lr=BINARY_LR, weight_decay=1e-5)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for g in opt.param_groups:  # cosine decay
            g["lr"] = BINARY_LR * 0.5 * (1 + np.cos(np.pi * step / steps))
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        yt = y[idx]
        weight = torch.where(yt > 0, torch.tensor(w_pos), torch.tensor(1.0))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(det(x[idx]), yt, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
