"""Vision stages of the pipeline: spatial contrastive pretraining, embeddings, head (the scorer stage is in scorer.py).

Each stage reads/writes files in its own folder of the run directory so a resumed run skips
finished stages (the generic fit loops resume unfinished ones from their checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from scipy.spatial import cKDTree

from cytowords.atlas import NONE_ID
from cytowords.model import (
    AreaHead,
    CytoEncoder,
    ExternalEncoder,
    HeadConfig,
)
from cytowords.model.tta import per_view_embeddings
from cytowords.training.fit import (
    fit_head,
    pretrain_encoder,
    pretrain_encoder_supervised,
)

from ..data.patches import PatchSet
from ..presets import Preset
from ..run_folder import save_tensors, write_json

SECTION_GAP_UM = 1e8  # positions of different sections are this far apart (never positives)


def contrastive_batches(
    ps: PatchSet, pairs: int, radius_um: float, seed: int = 0, positives: str = "spatial"
) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """``batches(step)``: ``pairs`` random anchors, each with a partner, deterministic in step.

    positives "spatial": the partner is a random patch closer than ``radius_um`` on the same
    section and positions are ``(y, x, section * gap)`` µm (self-supervised). "label": the
    partner is a patch of the same label from another brain when possible and positions
    put all patches of one label at one point (supervised contrastive)."""
    if positives not in ("spatial", "label"):
        raise ValueError(f"pretrain positives {positives!r}; expected 'spatial' or 'label'")
    _, inv = np.unique(ps.sections, return_inverse=True)
    if positives == "spatial":
        pos3 = np.column_stack([ps.positions_um, inv * SECTION_GAP_UM]).astype(np.float64)
        neigh = cKDTree(pos3).query_ball_point(pos3, r=radius_um)
        neigh = [np.array([j for j in nb if j != i], np.int64) for i, nb in enumerate(neigh)]
    else:
        _, lab = np.unique(ps.labels, return_inverse=True)
        pos3 = np.column_stack([lab * SECTION_GAP_UM, np.zeros((len(lab), 2))])
        groups = {k: np.nonzero(lab == k)[0] for k in np.unique(lab)}
        neigh = []
        for i in range(len(ps)):
            g = groups[lab[i]]
            other = g[ps.brains[g] != ps.brains[i]]
            neigh.append(other if len(other) else g[g != i])
    has = np.array([len(nb) > 0 for nb in neigh])
    anchors_pool = np.nonzero(has)[0] if has.any() else np.arange(len(ps))

    def batches(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed * 1_000_003 + step)
        a = rng.choice(anchors_pool, size=min(pairs, len(anchors_pool)), replace=False)
        b = np.array([neigh[i][rng.integers(len(neigh[i]))] if len(neigh[i]) else i for i in a])
        idx = np.concatenate([a, b])
        x = torch.from_numpy(ps.patches[idx].astype(np.float32) / 255.0)[:, None]
        return x, torch.from_numpy(pos3[idx]).float()

    return batches


def label_batches(
    ps: PatchSet, areas: list[str], batch: int, seed: int = 0
) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """``batches(step)``: ``batch`` random patches and their head class index (areas in
    order, then ``__none__``), deterministic in step; patches of other labels are skipped."""
    cls = class_index(ps.labels, areas)
    pool = np.flatnonzero(cls.numpy() >= 0)
    if not len(pool):
        raise ValueError("classification pretraining: no patch carries a training area label")

    def batches(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed * 1_000_003 + step)
        idx = rng.choice(pool, size=min(batch, len(pool)), replace=False)
        x = torch.from_numpy(ps.patches[idx].astype(np.float32) / 255.0)[:, None]
        return x, cls[idx]

    return batches


def run_pretrain(
    p: Preset, train: PatchSet, folder: Path, progress: Callable, cancel, areas: list[str]
) -> tuple[CytoEncoder, dict]:
    """Stage b: pretraining of a fresh encoder (resumable): the contrastive objective or,
    with ``pretrain_objective="classification"``, supervised area classification."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    enc = CytoEncoder(p.encoder_config())
    common = dict(
        steps=p.pretrain_steps,
        lr=p.pretrain_lr,
        warmup=max(1, min(50, p.pretrain_steps // 10)),
        checkpoint_dir=folder,
        checkpoint_every=100,
        on_progress=progress,
        cancel=cancel,
    )
    if p.pretrain_objective == "classification":
        res = pretrain_encoder_supervised(
            enc,
            label_batches(train, areas, p.pretrain_batch),
            n_classes=len(areas) + 1,
            precision=p.pretrain_precision,
            **common,
        )
    else:  # "contrastive" (Preset validates the objective)
        res = pretrain_encoder(
            enc,
            contrastive_batches(
                train, p.pretrain_pairs, p.pos_radius_um, positives=p.pretrain_positives
            ),
            pos_radius_um=p.pos_radius_um,
            temperature=p.temperature,
            **common,
        )
    log = {"losses": res.losses, "seconds": res.seconds, "cancelled": res.cancelled}
    write_json(folder / "losses.json", log)
    if not res.cancelled:
        save_tensors(folder / "encoder.safetensors", enc.state_dict())
    return enc, log


def load_encoder(p: Preset, folder: Path) -> CytoEncoder | ExternalEncoder:
    """The pretrained built-in encoder, or the user's TorchScript CytoNet."""
    if p.encoder_torchscript:
        return ExternalEncoder(
            p.encoder_torchscript,
            pixel_size_um=p.pixel_size_um,
            patch_px=p.patch_px,
            embed_dim=p.embed_dim,
        ).eval()
    enc = CytoEncoder(p.encoder_config())
    enc.load_state_dict(load_file(str(folder / "encoder.safetensors")))
    return enc.eval()


@torch.inference_mode()
def embed_all(
    encoder,
    ps: PatchSet | np.ndarray,
    batch: int = 256,
    progress: Callable | None = None,
    views: int = 1,
) -> torch.Tensor:
    """Frozen-encoder embeddings ``(N, D)`` of a patch set or of uint8 patches ``(N, H, W)``,
    averaged over ``views`` mirror/rotation views (:mod:`cytowords.model.tta`)."""
    if views == 1:
        fn = lambda x: encoder.embed(x).float()  # noqa: E731
        return _embed_batches(ps, batch, progress, fn, (0, encoder.embed_dim))
    return embed_views_all(encoder, ps, views, batch, progress).mean(0)


def embed_views_all(
    encoder, ps: PatchSet | np.ndarray, views: int, batch: int = 256, progress=None
) -> torch.Tensor:
    """Embeddings of every view separately, ``(views, N, D)``: the mean over the first
    ``k`` views is the ``k``-view embedding."""
    fn = lambda x: per_view_embeddings(encoder, x, views).float()  # noqa: E731
    return _embed_batches(ps, batch, progress, fn, (views, 0, encoder.embed_dim))


def _embed_batches(ps, batch: int, progress, fn, empty: tuple[int, ...]) -> torch.Tensor:
    """``fn`` on batches of float patches ``(b, 1, H, W)``, joined along the patch axis
    (the one that is 0 in ``empty``, the shape returned for no patches)."""
    patches = ps.patches if isinstance(ps, PatchSet) else np.asarray(ps)
    if len(patches) == 0:
        return torch.zeros(empty)
    out = []
    for i in range(0, len(patches), batch):
        x = torch.from_numpy(patches[i : i + batch].astype(np.float32) / 255.0)[:, None]
        with torch.no_grad():
            out.append(fn(x))
        if progress:
            progress(min(i + batch, len(patches)), len(patches))
    return torch.cat(out, empty.index(0))


def class_index(labels: np.ndarray, areas: list[str]) -> torch.Tensor:
    """Head class index per label (areas in order, then ``__none__``); -1 for others."""
    idx = {a: i for i, a in enumerate(areas)}
    idx[NONE_ID] = len(areas)
    return torch.tensor([idx.get(str(lab), -1) for lab in labels], dtype=torch.long)


def run_head(
    p: Preset,
    areas: list[str],
    emb: dict[str, torch.Tensor],
    labels: dict[str, torch.Tensor],
    folder: Path,
    progress: Callable,
    cancel,
) -> tuple[AreaHead, dict]:
    """Stage c: area head with the ``__none__`` class on frozen embeddings (resumable)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    head = AreaHead(
        HeadConfig(p.embed_dim, len(areas) + 1, hidden=p.head_hidden, dropout=0.2, none_class=True)
    )
    tr = labels["train"] >= 0
    va = labels["val"] >= 0
    res = fit_head(
        head,
        emb["train"][tr],
        labels["train"][tr],
        steps=p.head_steps,
        lr=p.head_lr,
        val=(emb["val"][va], labels["val"][va]),
        checkpoint_dir=folder,
        on_progress=progress,
        cancel=cancel,
    )
    log = {"losses": res.losses, "seconds": res.seconds, "cancelled": res.cancelled, **res.extra}
    write_json(folder / "losses.json", log)
    if not res.cancelled:
        save_tensors(folder / "head.safetensors", head.state_dict())
    return head, log


def load_head(p: Preset, n_areas: int, folder: Path) -> AreaHead:
    head = AreaHead(
        HeadConfig(p.embed_dim, n_areas + 1, hidden=p.head_hidden, dropout=0.2, none_class=True)
    )
    head.load_state_dict(load_file(str(folder / "head.safetensors")))
    return head.eval()
