"""Fit the area head and the open-set scorer on (frozen) embeddings (data-agnostic)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from cytowords.jobs import CancelFlag
from cytowords.model.head import AreaHead, OpenSetScorer
from cytowords.training.fit.binary_fit import fit_binary_mlp
from cytowords.training.fit.common import (
    ProgressFn,
    load_module_tensors,
    module_tensors,
)
from cytowords.training.fit.loop import FitResult, run_loop


def fit_head(
    head: AreaHead,
    embeddings: Tensor,
    labels: Tensor,
    *,
    steps: int = 300,
    batch_size: int = 256,
    lr: float = 3e-3,
    weight_decay: float = 1e-3,
    balanced: bool = True,
    label_smoothing: float = 0.05,
    seed: int = 0,
    val: tuple[Tensor, Tensor] | None = None,
    checkpoint_dir: str | Path | None = None,
    on_progress: ProgressFn | None = None,
    cancel: CancelFlag = None,
) -> FitResult:
    """Train ``head`` in place with cross-entropy on ``embeddings (N, D)`` and integer
    ``labels (N,)`` (index into the head's classes). The input standardisation is set
    from the training embeddings. balanced: inverse-frequency class weights. With
    ``val=(emb, labels)`` the result's ``extra`` holds ``val_accuracy``."""
    if embeddings.ndim != 2 or labels.shape != (embeddings.shape[0],):
        raise ValueError(
            f"fit_head: embeddings {tuple(embeddings.shape)} and labels {tuple(labels.shape)} "
            "must be (N, D) and (N,)"
        )
    n_cls = head.config.n_classes
    if int(labels.max()) >= n_cls or int(labels.min()) < 0:
        raise ValueError(
            f"fit_head: labels must lie in [0, {n_cls}); got {labels.min()}..{labels.max()}"
        )
    emb = embeddings.float()
    lab = labels.long()
    head.set_input_stats(emb)
    weight = None
    if balanced:
        counts = torch.bincount(lab, minlength=n_cls).float()
        weight = torch.where(counts > 0, counts.sum() / (n_cls * counts.clamp_min(1)), 0.0)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)

    def step_fn(step: int) -> float:
        head.train()
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(0, len(emb), (min(batch_size, len(emb)),), generator=g)
        loss = F.cross_entropy(
            head(emb[idx]), lab[idx], weight=weight, label_smoothing=label_smoothing
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    res = run_loop(
        name="fit_head",
        steps=steps,
        step_fn=step_fn,
        optimizer=opt,
        lr=lr,
        warmup=min(20, steps // 10 + 1),
        get_tensors=lambda: module_tensors("head", head),
        set_tensors=lambda t: load_module_tensors("head", head, t),
        checkpoint_dir=checkpoint_dir,
        on_progress=on_progress,
        cancel=cancel,
        log_every=100,
    )
    head.eval()
    if val is not None:
        with torch.no_grad():
            pred = head(val[0].float()).argmax(1)
        res.extra["val_accuracy"] = float((pred == val[1].long()).float().mean())
    return res


@torch.no_grad()
def fit_scorer(
    head: AreaHead,
    embeddings: Tensor,
    labels: Tensor,
    val_in_scope: Tensor,
    *,
    mode: str = "mahalanobis",
    shrinkage: float = 0.1,
    reject_share: float = 0.03,
    novel: Tensor | None = None,
) -> OpenSetScorer:
    """Open-set scorer fit on training embeddings/labels (the head's none class, if any,
    is excluded from the in-scope classes) and calibrated so that ``reject_share`` of
    the in-scope validation embeddings ``val_in_scope (M, D)`` are rejected.

    novel: bool ``(N,)``, the training fields of fictitious areas
    (:func:`cytowords.training.data.synthetic.is_novel`); mode ``novelty`` trains its MLP on
    them against the in-scope fields and needs them."""
    n_cls = head.config.n_classes
    head.eval()
    in_scope = torch.ones(n_cls, dtype=torch.bool)
    if head.config.none_class:
        in_scope[-1] = False
    scorer = OpenSetScorer(head.config.embed_dim, n_cls, mode)
    if scorer.novelty is not None:
        known = in_scope[labels.long().clamp(0, n_cls - 1)] & (labels >= 0)
        fict = torch.zeros(len(labels), dtype=torch.bool) if novel is None else novel.bool()
        if len(fict) != len(labels) or not fict.any():
            raise ValueError(
                "fit_scorer: mode 'novelty' needs training fields of fictitious areas "
                "(Preset.novel_areas > 0, rendered on the synthetic brains), one flag per "
                f"training embedding; got {int(fict.sum())} of {len(fict)} flags for "
                f"{len(labels)} embeddings"
            )
        use = known | fict
        det = fit_binary_mlp(
            embeddings[use].float(), fict[use], what="fictitious-area and known-area fields"
        )
        scorer.novelty.load_state_dict(det.state_dict())
    scorer.fit(
        embeddings.float(),
        labels.long(),
        in_scope=in_scope,
        shrinkage=shrinkage,
        logits=head(embeddings.float()),
    )
    scores = scorer.score(val_in_scope.float(), head(val_in_scope.float()))
    scorer.calibrate(scores, reject_share)
    return scorer
