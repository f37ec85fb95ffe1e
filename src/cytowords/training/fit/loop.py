"""One generic, resumable optimisation loop used by every ``fit_*`` function."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cytowords.jobs import CancelFlag, is_cancelled
from cytowords.training.fit.common import (
    ProgressFn,
    cosine_lr,
    load_checkpoint,
    log,
    save_checkpoint,
    set_lr,
)


@dataclass
class FitResult:
    """Outcome of a loop: per-step losses, steps done, whether it was cancelled, seconds."""

    losses: list[float] = field(default_factory=list)
    steps_done: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def mean_loss(self, first: int | None = None, last: int | None = None) -> float:
        """Mean of the first ``first`` or last ``last`` losses (all when neither)."""
        xs = self.losses[:first] if first else self.losses[-last:] if last else self.losses
        return float(sum(xs) / max(1, len(xs)))


def run_loop(
    *,
    name: str,
    steps: int,
    step_fn: Callable[[int], float],
    optimizer: torch.optim.Optimizer,
    lr: float,
    warmup: int,
    get_tensors: Callable[[], dict[str, Tensor]],
    set_tensors: Callable[[dict[str, Tensor]], None],
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 200,
    log_every: int = 50,
    on_progress: ProgressFn | None = None,
    cancel: CancelFlag = None,
) -> FitResult:
    """Run ``step_fn(step) -> loss`` for ``steps`` steps with a cosine LR schedule.

    Resumes from ``checkpoint_dir/checkpoint`` when present (model tensors through
    ``set_tensors``, optimizer state, losses, step); saves a checkpoint every
    ``checkpoint_every`` steps, on cancellation and at the end. ``on_progress(done,
    total)`` is called after every step; ``cancel`` stops between steps."""
    if steps < 0:
        raise ValueError(f"{name}: steps must be >= 0, got {steps}")
    res = FitResult()
    start = 0
    ck = load_checkpoint(checkpoint_dir, optimizer)
    if ck is not None:
        tensors, state = ck
        set_tensors(tensors)
        start = int(state["step"])
        res.losses = list(state.get("losses", []))

    def save(step: int) -> None:
        if checkpoint_dir is not None:
            save_checkpoint(
                checkpoint_dir,
                get_tensors(),
                optimizer,
                {"step": step, "losses": res.losses, "name": name},
            )

    t0 = time.perf_counter()
    step = start
    for step in range(start, steps):
        if is_cancelled(cancel):
            res.cancelled = True
            save(step)
            log.info("%s: cancelled at step %d/%d", name, step, steps)
            break
        set_lr(optimizer, cosine_lr(step, steps, lr, warmup))
        loss = float(step_fn(step))
        res.losses.append(loss)
        if log_every and ((step + 1) % log_every == 0 or step == start):
            log.info("%s: step %d/%d loss %.4f", name, step + 1, steps, loss)
        if on_progress is not None:
            on_progress(step + 1, steps)
        if checkpoint_dir is not None and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            save(step + 1)
    else:
        step = steps
        save(steps)
    res.steps_done = step
    res.seconds = time.perf_counter() - t0
    return res
