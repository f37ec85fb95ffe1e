"""Cortex stage of the pipeline: the cortex detector (:mod:`cytowords.model.cortex`) on
frozen training embeddings, and its rates on the validation brains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from cytowords.atlas import NONE_ID
from cytowords.model.cortex import CortexConfig, CortexDetector

from .stage_vision import save_tensors, write_json
from .synthetic import is_novel

#: most optimiser steps, mini-batch size and learning rate of the detector's fit
CORTEX_STEPS = 2000
CORTEX_BATCH = 4096
CORTEX_LR = 1e-2


def cortex_targets(labels: np.ndarray, sections: np.ndarray) -> np.ndarray:
    """Bool per patch: the field shows cortex, i.e. it is labelled with an area or it is a
    fictitious area rendered for outlier exposure (:func:`is_novel`); the other
    ``__none__`` fields are white matter, background or artefacts."""
    return (np.asarray(labels).astype(str) != NONE_ID) | is_novel(sections)


def fit_cortex(
    emb: torch.Tensor,
    cortex: np.ndarray | torch.Tensor,
    *,
    hidden: int = 256,
    steps: int | None = None,
    seed: int = 0,
) -> CortexDetector:
    """Fit a :class:`CortexDetector` on embeddings ``(N, D)`` and bool targets ``(N,)``,
    the two classes weighted equally. steps: optimiser steps (default: about 20 passes
    over the data, at most :data:`CORTEX_STEPS`). ValueError when a class is missing."""
    y = torch.as_tensor(np.asarray(cortex), dtype=torch.float32)
    if len(y) != len(emb):
        raise ValueError(f"fit_cortex: {len(emb)} embeddings but {len(y)} targets")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise ValueError(
            "fit_cortex: needs both cortex fields and non-cortex fields (white matter, "
            f"background); got {n_pos} cortex of {len(y)}"
        )
    torch.manual_seed(seed)
    det = CortexDetector(CortexConfig(int(emb.shape[1]), hidden))
    x = emb.float()
    det.set_statistics(x)
    batch = min(CORTEX_BATCH, len(x))
    if steps is None:
        steps = int(min(CORTEX_STEPS, max(200, 20 * len(x) // batch)))
    w_pos = (len(y) - n_pos) / n_pos  # balance: both classes weigh the same in the loss
    opt = torch.optim.Adam(det.parameters(), lr=CORTEX_LR, weight_decay=1e-5)
    gen = torch.Generator().manual_seed(seed)
    det.train()
    for step in range(steps):
        for g in opt.param_groups:  # cosine decay
            g["lr"] = CORTEX_LR * 0.5 * (1 + np.cos(np.pi * step / steps))
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        yt = y[idx]
        weight = torch.where(yt > 0, torch.tensor(w_pos), torch.tensor(1.0))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(det(x[idx]), yt, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return det.eval()


def run_cortex(
    emb_train: torch.Tensor,
    labels: np.ndarray,
    sections: np.ndarray,
    folder: Path,
) -> CortexDetector | None:
    """Stage: fit the detector on the training embeddings and save it in ``folder``
    (``cortex.safetensors``, ``cortex.json``); None (and ``cortex.json`` saying why) when
    the training patches lack non-cortex or cortex fields."""
    folder.mkdir(parents=True, exist_ok=True)
    target = cortex_targets(labels, sections)
    try:
        det = fit_cortex(emb_train, target)
    except ValueError as exc:
        write_json(folder / "cortex.json", {"enabled": False, "reason": str(exc)})
        return None
    save_tensors(folder / "cortex.safetensors", det.state_dict())
    write_json(
        folder / "cortex.json",
        {
            "enabled": True,
            "config": det.config.to_dict(),
            "n_cortex": int(target.sum()),
            "n_novel": int(is_novel(sections).sum()),
            "n_noncortex": int((~target).sum()),
        },
    )
    return det


def load_cortex(folder: Path) -> CortexDetector | None:
    """The detector saved by :func:`run_cortex`, or None (none was trained)."""
    import json

    f = folder / "cortex.json"
    info = json.loads(f.read_text()) if f.is_file() else {}
    if not info.get("enabled"):
        return None
    det = CortexDetector(CortexConfig.from_dict(info["config"]))
    det.load_state_dict(load_file(str(folder / "cortex.safetensors")))
    return det.eval()


@torch.no_grad()
def cortex_metrics(det: CortexDetector, emb: torch.Tensor, labels: np.ndarray) -> dict[str, float]:
    """On validation embeddings: share of area fields read as cortex and of ``__none__``
    fields (white matter, background, artefacts) read as no cortex."""
    lab = np.asarray(labels).astype(str)
    cx = det.is_cortex(emb).numpy()
    area, none = lab != NONE_ID, lab == NONE_ID
    return {
        "val_cortex_recall": float(cx[area].mean()) if area.any() else float("nan"),
        "val_noncortex_detected": float((~cx[none]).mean()) if none.any() else float("nan"),
    }
