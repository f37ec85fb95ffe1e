"""Encoder pretraining (data-agnostic): the self-supervised spatial contrastive objective,
or supervised area classification (:func:`pretrain_encoder_supervised`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from cytowords.jobs import CancelFlag
from cytowords.model.contrastive import augment, contrastive_step
from cytowords.training.fit.common import (
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
    cancel: CancelFlag = None,
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


LabelBatchFn = Callable[[int], tuple[Tensor, Tensor]]


def pretrain_encoder_supervised(
    encoder: nn.Module,
    batches: LabelBatchFn,
    *,
    n_classes: int,
    steps: int,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    label_smoothing: float = 0.1,
    warmup: int = 20,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 200,
    on_progress: ProgressFn | None = None,
    cancel: CancelFlag = None,
    precision: str = "fp32",
) -> FitResult:
    """Train ``encoder`` in place as an area classifier (cross-entropy through a linear
    layer on the embedding, which is discarded afterwards), on augmented views.

    batches(step) -> (patches (B,1,H,W) float in [0,1], labels (B,) int in [0, n_classes));
    deterministic in ``step`` so a resumed run sees the same data. Augmentations are those
    of :func:`cytowords.model.contrastive.augment`. precision: ``"fp32"`` or ``"bf16"``
    (the forward pass under ``torch.autocast`` in bfloat16, weights, optimizer and loss
    in float32; about 1.4x faster on CPUs with AVX512-BF16/AMX, slower on CPUs without).
    The encoder is left in eval mode."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision {precision!r}; expected 'fp32' or 'bf16'")
    dim = int(encoder.embed_dim)
    torch.manual_seed(seed)
    linear = nn.Linear(dim, n_classes)
    params = list(encoder.parameters()) + list(linear.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    dev = next(encoder.parameters()).device
    linear.to(dev)

    def step_fn(step: int) -> float:
        encoder.train()
        x, y = batches(step)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        xa = augment(x.to(dev), generator=gen)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = linear(encoder.embed(xa))
        loss = torch.nn.functional.cross_entropy(
            logits.float(), y.to(dev).long(), label_smoothing=label_smoothing
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def get_tensors() -> dict[str, Tensor]:
        return module_tensors("encoder", encoder) | module_tensors("linear", linear)

    def set_tensors(t: dict[str, Tensor]) -> None:
        load_module_tensors("encoder", encoder, t)
        load_module_tensors("linear", linear, t)

    res = run_loop(
        name="pretrain_encoder_supervised",
        steps=steps,
        step_fn=step_fn,
        optimizer=opt,
        lr=lr,
        warmup=warmup,
        get_tensors=get_tensors,
        set_tensors=set_tensors,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        on_progress=on_progress,
        cancel=cancel,
    )
    encoder.eval()
    return res
