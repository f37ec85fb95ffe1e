"""Self-supervised spatial contrastive pretraining of a patch encoder (data-agnostic)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from cytowords.model.contrastive import contrastive_step
from cytowords.training.fit.common import (
    CancelLike,
    ProgressFn,
    load_module_tensors,
    module_tensors,
)
from cytowords.training.fit.loop import FitResult, run_loop

PatchBatchFn = Callable[[int], tuple[Tensor, Tensor]]


def pretrain_encoder(
    encoder: nn.Module,
    batches: PatchBatchFn,
    *,
    steps: int,
    pos_radius_um: float,
    temperature: float = 0.1,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    warmup: int = 20,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 200,
    on_progress: ProgressFn | None = None,
    cancel: CancelLike | Callable[[], bool] | None = None,
) -> FitResult:
    """Train ``encoder`` in place with the spatial contrastive loss.

    batches(step) -> (patches (B,1,H,W) float in [0,1], positions_um (B,P) in µm); it
    should be a deterministic function of ``step`` so a resumed run sees the same data.
    Patches within ``pos_radius_um`` of each other are positives. The encoder is left in
    eval mode. Returns a :class:`FitResult` (per-step losses)."""
    opt = torch.optim.AdamW(encoder.parameters(), lr=lr, weight_decay=weight_decay)

    def step_fn(step: int) -> float:
        patches, pos = batches(step)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return contrastive_step(
            encoder,
            patches,
            pos,
            opt,
            pos_radius_um=pos_radius_um,
            temperature=temperature,
            generator=gen,
        )

    res = run_loop(
        name="pretrain_encoder",
        steps=steps,
        step_fn=step_fn,
        optimizer=opt,
        lr=lr,
        warmup=warmup,
        get_tensors=lambda: module_tensors("encoder", encoder),
        set_tensors=lambda t: load_module_tensors("encoder", encoder, t),
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        on_progress=on_progress,
        cancel=cancel,
    )
    encoder.eval()
    return res
