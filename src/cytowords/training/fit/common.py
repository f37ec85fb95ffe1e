"""Shared plumbing of the generic training loops: progress, cancellation, learning-rate
schedule and resumable checkpoints (safetensors tensors + a JSON state file)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from cytowords.atomic import atomic_directory
from cytowords.jobs import Progress

log = logging.getLogger("cytowords.training")

ProgressFn = Progress
CKPT_NAME = "checkpoint"


def cosine_lr(step: int, total: int, base_lr: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 5% of ``base_lr``."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def module_tensors(
    prefix: str, module: nn.Module, trainable_only: bool = False
) -> dict[str, Tensor]:
    """``{prefix.name: tensor}`` of a module's state (only trainable parameters when asked),
    cloned so tied weights do not share memory (safetensors refuses shared tensors)."""
    if trainable_only:
        items = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    else:
        items = list(module.state_dict().items())
    return {f"{prefix}.{n}": t.detach().cpu().clone().contiguous() for n, t in items}


def load_module_tensors(prefix: str, module: nn.Module, tensors: dict[str, Tensor]) -> None:
    p = prefix + "."
    sub = {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}
    module.load_state_dict(sub, strict=False)


def save_checkpoint(
    out_dir: str | Path,
    tensors: dict[str, Tensor],
    optimizer: torch.optim.Optimizer | None,
    state: dict[str, Any],
) -> Path:
    """Write ``out_dir/checkpoint/`` atomically: ``tensors.safetensors`` (model tensors and
    the optimizer's tensor state) and ``state.json`` (step, losses, optimizer scalars)."""
    all_t = dict(tensors)
    opt_meta: dict[str, Any] = {}
    if optimizer is not None:
        sd = optimizer.state_dict()
        for idx, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    all_t[f"__opt__.{idx}.{k}"] = v.detach().cpu().clone().contiguous()
                else:
                    opt_meta[f"{idx}.{k}"] = v
        opt_meta["__param_groups__"] = sd["param_groups"]
    target = Path(out_dir) / CKPT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(target, overwrite=True) as tmp:
        save_file(all_t, str(tmp / "tensors.safetensors"))
        payload = {"state": state, "optimizer": opt_meta}
        (tmp / "state.json").write_text(json.dumps(payload), encoding="utf-8")
    return target


def load_checkpoint(
    out_dir: str | Path | None, optimizer: torch.optim.Optimizer | None
) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """Read ``out_dir/checkpoint/`` if present: ``(model tensors, state)``; the optimizer
    state is restored in place. None when there is no checkpoint."""
    if out_dir is None:
        return None
    d = Path(out_dir) / CKPT_NAME
    if not (d / "state.json").is_file():
        return None
    payload = json.loads((d / "state.json").read_text(encoding="utf-8"))
    tensors = load_file(str(d / "tensors.safetensors"))
    if optimizer is not None and payload["optimizer"]:
        meta = dict(payload["optimizer"])
        groups = meta.pop("__param_groups__")
        st: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith("__opt__."):
                _, idx, name = k.split(".", 2)
                st.setdefault(int(idx), {})[name] = v
        for k, v in meta.items():
            idx, name = k.split(".", 1)
            st.setdefault(int(idx), {})[name] = v
        optimizer.load_state_dict({"state": st, "param_groups": groups})
    model_t = {k: v for k, v in tensors.items() if not k.startswith("__opt__.")}
    log.info("resumed from %s at step %s", d, payload["state"].get("step"))
    return model_t, payload["state"]
