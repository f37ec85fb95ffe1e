"""Cortex stage of the pipeline: the cortex detector (:mod:`cytowords.model.cortex`) on
frozen training embeddings, and its rates on the validation brains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from cytowords.atlas import NONE_ID
from cytowords.model.cortex import CortexConfig, CortexDetector

from ..data.synthetic import is_novel
from ..fit.binary_fit import fit_binary_mlp
from ..run_folder import save_tensors, write_json


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
    """Fit a :class:`CortexDetector` on embeddings ``(N, D)`` and bool targets ``(N,)``
    (:func:`cytowords.training.fit.binary_fit.fit_binary_mlp`, classes weighted equally).
    ValueError when a class is missing."""
    if len(np.asarray(cortex)) != len(emb):
        raise ValueError(f"fit_cortex: {len(emb)} embeddings but {len(np.asarray(cortex))} targets")
    return fit_binary_mlp(
        emb,
        cortex,
        hidden=hidden,
        steps=steps,
        seed=seed,
        what="cortex fields and non-cortex fields (white matter, background)",
    )


#: fields of structureless tissue (:mod:`cytowords.synth.structureless`) added to the
#: non-cortex side of the detector's training set (:func:`structureless_count`), and held
#: out to measure it
N_STRUCTURELESS, N_STRUCTURELESS_VAL = 4000, 500


def structureless_count(labels: np.ndarray, sections: np.ndarray) -> int:
    """How many structureless fields join the detector's training set:
    :data:`N_STRUCTURELESS`, at most as many as the other non-cortex training fields (so
    that white matter and background keep their weight on a small data spec)."""
    return min(N_STRUCTURELESS, int((~cortex_targets(labels, sections)).sum()))


def structureless_embeddings(
    encoder, size_px: int, pixel_um: float, n: int, seed: int
) -> torch.Tensor:
    """Embeddings ``(n, D)`` of ``n`` fields of tissue without lamination, ``size_px``
    square at ``pixel_um`` µm per pixel, from ``encoder`` (one view)."""
    from cytowords.synth.structureless import structureless_fields

    from .vision import embed_all

    return embed_all(encoder, structureless_fields(n, size_px, pixel_um, seed))


def run_cortex(
    emb_train: torch.Tensor,
    labels: np.ndarray,
    sections: np.ndarray,
    folder: Path,
    structureless: torch.Tensor | None = None,
) -> CortexDetector | None:
    """Stage: fit the detector on the training embeddings, plus the embeddings of
    ``structureless`` tissue fields as non-cortex, and save it in ``folder``
    (``cortex.safetensors``, ``cortex.json``); None (and ``cortex.json`` saying why) when
    the training patches lack non-cortex or cortex fields."""
    folder.mkdir(parents=True, exist_ok=True)
    target = cortex_targets(labels, sections)
    n_struct = 0 if structureless is None else len(structureless)
    if n_struct:
        emb_train = torch.cat([emb_train.float(), structureless.float()])
        target = np.concatenate([target, np.zeros(n_struct, bool)])
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
            "n_structureless": n_struct,
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
def cortex_metrics(
    det: CortexDetector,
    emb: torch.Tensor,
    labels: np.ndarray,
    structureless: torch.Tensor | None = None,
) -> dict[str, float]:
    """On validation embeddings: share of area fields read as cortex and of ``__none__``
    fields (white matter, background, artefacts) read as no cortex; with held-out
    ``structureless`` tissue embeddings, the share of those read as no cortex."""
    lab = np.asarray(labels).astype(str)
    cx = det.is_cortex(emb).numpy()
    area, none = lab != NONE_ID, lab == NONE_ID
    out = {
        "val_cortex_recall": float(cx[area].mean()) if area.any() else float("nan"),
        "val_noncortex_detected": float((~cx[none]).mean()) if none.any() else float("nan"),
    }
    if structureless is not None and len(structureless):
        out["val_structureless_detected"] = float((~det.is_cortex(structureless).numpy()).mean())
    return out
