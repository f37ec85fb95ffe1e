"""Train the embedding -> text coupling (projector, optionally the LM) (data-agnostic)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from cytowords.jobs import CancelFlag
from cytowords.model.captioner import Captioner
from cytowords.training.fit.common import (
    ProgressFn,
    load_module_tensors,
    module_tensors,
)
from cytowords.training.fit.loop import FitResult, run_loop

CaptionBatchFn = Callable[[int], tuple[Tensor, list[str]]]


def fit_captioner(
    captioner: Captioner,
    batches: CaptionBatchFn,
    *,
    steps: int,
    mode: str = "full",
    lr: float = 1e-3,
    lm_lr: float | None = None,
    weight_decay: float = 0.01,
    warmup: int = 20,
    grad_clip: float = 1.0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 200,
    on_progress: ProgressFn | None = None,
    cancel: CancelFlag = None,
) -> FitResult:
    """Train ``captioner`` in place with next-token loss.

    batches(step) -> (embeddings (B, D), captions list[str]) — deterministic in ``step``
    for exact resumption. mode: "projector" (LM frozen), "full" (projector + LM;
    "projector+lm" is accepted for it) or "lora" (needs peft). lm_lr: learning-rate factor base for the LM parameters (default
    ``lr``); the cosine schedule scales all groups by the same factor."""
    trainable = captioner.set_train_mode(mode)
    mode = captioner.train_mode
    proj_ids = {id(p) for p in captioner.projector.parameters()}
    groups = [{"params": [p for p in trainable if id(p) in proj_ids], "base": 1.0}]
    others = [p for p in trainable if id(p) not in proj_ids]
    if others:
        groups.append({"params": others, "base": (lm_lr or lr) / lr})
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)

    def step_fn(step: int) -> float:
        for g in opt.param_groups:  # per-group factor on top of the shared schedule
            g["lr"] = g["lr"] * g["base"]
        captioner.train()
        if mode == "projector":
            captioner.lm.eval()
        emb, caps = batches(step)
        loss = captioner.loss(emb, caps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(trainable, grad_clip)
        opt.step()
        return float(loss.detach())

    only_trainable = mode != "full"

    def get_tensors() -> dict[str, Tensor]:
        t = module_tensors("projector", captioner.projector)
        if mode != "projector":
            t |= module_tensors("lm", captioner.lm, trainable_only=only_trainable)
        return t

    def set_tensors(t: dict[str, Tensor]) -> None:
        load_module_tensors("projector", captioner.projector, t)
        if mode != "projector":
            load_module_tensors("lm", captioner.lm, t)

    res = run_loop(
        name="fit_captioner",
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
    captioner.eval()
    return res
