"""Scorer stage of the pipeline: the open-set scorer, its thresholds per view count, the
non-cortex levels, and the validation metrics of head and scorer."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from cytowords.model import AreaHead, OpenSetScorer
from cytowords.model.tta import VIEW_COUNTS
from cytowords.training.fit import fit_scorer

from ..presets import Preset
from ..run_folder import save_tensors, write_json


def run_scorer(
    p: Preset,
    head: AreaHead,
    n_areas: int,
    emb: dict[str, torch.Tensor],
    labels: dict[str, torch.Tensor],
    folder: Path,
    calibrate: torch.Tensor | None = None,
    val_views: torch.Tensor | None = None,
    novel: torch.Tensor | None = None,
) -> OpenSetScorer:
    """Stage d: open-set scorer on in-scope training embeddings; threshold calibrated on
    the in-scope patches of the validation brains (``reject_share`` rejected), only those
    where the bool mask ``calibrate`` (one per validation patch) is True when given.

    val_views: per-view validation embeddings ``(V, N, D)``
    (:func:`embed_views_all`); then the threshold is calibrated for every view count
    ``k <= V`` on the ``k``-view embeddings, written to ``thresholds.json``
    (``{"k": threshold}``), and the scorer keeps the one for ``p.tta_views``.
    novel: bool per training patch, the fictitious-area fields (for mode ``novelty``)."""
    folder.mkdir(parents=True, exist_ok=True)
    tr = labels["train"] >= 0
    val_in = (labels["val"] >= 0) & (labels["val"] < n_areas)
    if calibrate is not None:
        val_in &= calibrate
    scorer = fit_scorer(
        head,
        emb["train"][tr],
        labels["train"][tr],
        emb["val"][val_in],
        mode=p.scorer_mode,
        reject_share=p.reject_share,
        novel=None if novel is None else novel[tr],
    )
    table = {1: float(scorer.threshold)}
    if val_views is not None:
        with torch.no_grad():
            for k in (k for k in VIEW_COUNTS if k <= len(val_views)):
                e = val_views[:k].mean(0)[val_in].float()
                table[k] = scorer.calibrate(scorer.score(e, head(e)), p.reject_share)
        scorer.threshold.fill_(table[p.tta_views])
    write_json(folder / "thresholds.json", {str(k): v for k, v in table.items()})
    save_tensors(folder / "scorer.safetensors", scorer.state_dict())
    return scorer


#: share of the validation brains' non-cortex fields whose open-set score reaches a
#: bundle's non-cortex level (:func:`noncortex_levels`)
NONCORTEX_SHARE = 0.95
#: fewest non-cortex validation fields to set a non-cortex level from
MIN_NONCORTEX_FIELDS = 5


@torch.no_grad()
def noncortex_levels(
    head: AreaHead,
    scorer: OpenSetScorer,
    val: torch.Tensor,
    val_labels: torch.Tensor,
    n_areas: int,
    thresholds: dict[int, float],
) -> dict[int, float]:
    """Per view count ``k`` of ``thresholds``: the open-set score that
    :data:`NONCORTEX_SHARE` of the validation non-cortex fields (label ``__none__``: white
    matter, background, artefacts; validation brains carry no fictitious areas) reach on
    ``k``-view embeddings, and never below the rejection threshold for ``k``. A field
    scoring at or above it reads as no cortex at all and does not vote on a ROI
    (:func:`cytowords.describe.result.aggregate`).

    val: validation embeddings ``(N, D)`` (1 view) or per view ``(V, N, D)``. Returns {}
    when fewer than :data:`MIN_NONCORTEX_FIELDS` fields are non-cortex."""
    none = val_labels == n_areas
    if int(none.sum()) < MIN_NONCORTEX_FIELDS:
        return {}
    views = val if val.dim() == 3 else val[None]
    out = {}
    for k, thr in sorted(thresholds.items()):
        if k > len(views):
            continue
        e = views[:k].mean(0)[none].float()
        s = scorer.score(e, head(e))
        level = float(torch.quantile(s, 1.0 - NONCORTEX_SHARE, interpolation="lower"))
        out[int(k)] = max(level, float(thr))
    return out


def load_thresholds(folder: Path, scorer: OpenSetScorer) -> dict[int, float]:
    """Threshold per view count from ``thresholds.json`` (older runs: the scorer's, 1 view)."""
    f = folder / "thresholds.json"
    if not f.is_file():
        return {1: float(scorer.threshold)}
    return {int(k): float(v) for k, v in json.loads(f.read_text()).items()}


def load_scorer(p: Preset, n_areas: int, folder: Path) -> OpenSetScorer:
    sc = OpenSetScorer(p.embed_dim, n_areas + 1, p.scorer_mode)
    sc.load_state_dict(load_file(str(folder / "scorer.safetensors")))
    return sc.eval()


@torch.inference_mode()
def vision_metrics(
    head: AreaHead, scorer: OpenSetScorer, emb: torch.Tensor, lab: torch.Tensor, n_areas: int
) -> dict[str, float]:
    """Classification accuracy (areas only) and rejection rates on validation embeddings."""
    logits = head(emb)
    score = scorer.score(emb, logits)
    rejected = scorer.reject(score) | (logits.argmax(1) == n_areas)
    ins = (lab >= 0) & (lab < n_areas)
    none = lab == n_areas
    pred = logits[:, :n_areas].argmax(1)
    out = {
        "val_accuracy": float((pred[ins] == lab[ins]).float().mean())
        if ins.any()
        else float("nan"),
        "val_false_rejection": float(rejected[ins].float().mean()) if ins.any() else float("nan"),
        "val_none_rejected": float(rejected[none].float().mean()) if none.any() else float("nan"),
        "val_accepted_accuracy": float(
            (pred[ins & ~rejected] == lab[ins & ~rejected]).float().mean()
        )
        if (ins & ~rejected).any()
        else float("nan"),
        "n_val_in_scope": int(ins.sum()),
        "n_val_none": int(none.sum()),
    }
    return out
