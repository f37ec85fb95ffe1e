"""Score one patch set with a model bundle: per-patch predictions and the metric summary."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cytowords.atlas import NONE_ID, Atlas

from . import metrics as M
from .testset import PatchSet


@dataclass
class PatchResults:
    """Per-patch outputs of a model on a :class:`PatchSet` (captions only where
    ``captioned``; ``nway``/``nway_nearest`` only meaningful for captioned in-scope).

    ``captions`` are generated freely (the paper's protocol); ``anchored`` are the
    captions ``cytowords describe`` shows: anchored on the head's predicted area
    (:meth:`ModelBundle.caption` with ``areas``), with their own parse and n-way scores;
    ``generated`` are the free captions as generated, before the shown caption leaves out
    what nothing measured backs (``generated`` of :meth:`ModelBundle.caption`)."""

    pred: list[str]
    score: np.ndarray
    rejected: np.ndarray
    captioned: np.ndarray
    captions: list[str] = field(default_factory=list)
    parsed: list[str | None] = field(default_factory=list)
    nway: np.ndarray | None = None
    nway_nearest: np.ndarray | None = None
    anchored: list[str] = field(default_factory=list)
    parsed_anchored: list[str | None] = field(default_factory=list)
    nway_anchored: np.ndarray | None = None
    nway_nearest_anchored: np.ndarray | None = None
    #: bool per patch: reads as cortex of any area (votes on a drawn region,
    #: :attr:`FieldPredictions.cortex`); None for bundles that cannot tell
    cortex: np.ndarray | None = None
    generated: list[str] = field(default_factory=list)


def stratified_subset(labels: np.ndarray, n: int | None, seed: int = 0) -> np.ndarray:
    """Indices of about ``n`` patches, the same quota ``ceil(n / groups)`` per label value
    (area id or ``__none__``), drawn at random with a fixed seed; None -> all patches."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    groups = list(dict.fromkeys(labels.tolist()))
    quota = max(1, math.ceil(n / len(groups)))
    rng = np.random.default_rng(seed)
    out = [rng.permutation(np.flatnonzero(labels == g))[:quota] for g in groups]
    return np.sort(np.concatenate(out))


def run_model(
    bundle,
    ps: PatchSet,
    cap_idx: np.ndarray,
    *,
    batch_size: int = 64,
    max_new_tokens: int = 96,
    anchored: bool = True,
    readout: np.ndarray | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    wm_border: np.ndarray | None = None,
) -> tuple[PatchResults, np.ndarray]:
    """Embed and classify every patch (batched) and caption the patches ``cap_idx``: freely
    and, with ``anchored``, once more anchored on the head's area (:attr:`PatchResults.
    anchored`). ``readout``: readout vectors ``(N, READOUT_DIM)`` per patch (None: "not
    measured"; :meth:`~cytowords.model.ModelBundle.caption`); ``wm_border``: the readout's
    white-matter border term per patch (None entries, or None: none). Returns the results and the embeddings
    ``(N, D)``. Progress counts embedding and caption batches."""
    n = len(ps)
    n_cap = len(cap_idx) if bundle.captioner is not None else 0
    per_batch = 2 if anchored else 1
    total = math.ceil(n / 256) + per_batch * math.ceil(n_cap / batch_size)
    done = 0
    embs = []
    for i in range(0, n, 256):
        embs.append(bundle.embed(ps.patches[i : i + 256]))
        done += 1
        if on_progress:
            on_progress(done, total)
    import torch

    emb = torch.cat(embs) if embs else torch.zeros((0, bundle.embed_dim))
    fp = bundle.predict(emb)
    pred = [bundle.area_ids[i] for i in fp.area_index.tolist()]
    captioned = np.zeros(n, bool)
    caps = [""] * n
    generated = [""] * n
    anchored_caps = [""] * n
    if n_cap:
        for j in range(0, n_cap, batch_size):
            idx = cap_idx[j : j + batch_size]
            e = emb[torch.as_tensor(idx)]
            r = None if readout is None else readout[idx]
            w = None if wm_border is None else [wm_border[i] for i in idx]
            raw: list[str] = []
            rows = bundle.caption(e, max_new_tokens, readout=r, wm_border=w, generated=raw)
            for i, c, g in zip(idx, rows, raw):
                caps[i] = c
                generated[i] = g
            if anchored:
                areas = [pred[i] for i in idx]
                anchored_rows = bundle.caption(
                    e, max_new_tokens, areas=areas, readout=r, wm_border=w
                )
                for i, c in zip(idx, anchored_rows):
                    anchored_caps[i] = c
            captioned[idx] = True
            done += per_batch
            if on_progress:
                on_progress(done, total)
    res = PatchResults(pred, fp.ood_score.astype(np.float64), fp.rejected, captioned, caps)
    res.anchored = anchored_caps if anchored else []
    res.cortex = fp.cortex
    res.generated = generated
    return res, emb.numpy()


def add_text_scores(res: PatchResults, ps: PatchSet, atlas: Atlas, scorer) -> None:
    """Parse every caption; masked n-way scores for captioned in-scope patches."""
    sel = np.flatnonzero(res.captioned & (ps.kind == "in_scope"))
    truth = [str(ps.labels[i]) for i in sel]
    for suffix, caps in (("", res.captions), ("_anchored", res.anchored)):
        if not caps:
            continue
        parsed: list[str | None] = [None] * len(caps)
        for i in np.flatnonzero(res.captioned):
            parsed[i] = M.parse_captions([caps[i]], atlas)[0]
        nway, nearest = np.zeros(len(ps), bool), np.zeros(len(ps), bool)
        if scorer is not None and len(sel):
            s = scorer.score([caps[i] for i in sel], truth)
            nway[sel], nearest[sel] = s["random"], s["nearest"]
        setattr(res, "parsed" + suffix, parsed)
        setattr(res, "nway" + suffix, nway)
        setattr(res, "nway_nearest" + suffix, nearest)


def summarise(res: PatchResults, ps: PatchSet) -> dict:
    """The metric summary (floats; nan where a metric has no patches)."""
    ins, uns, non = (ps.kind == k for k in ("in_scope", "unseen", "none"))
    truth = ps.labels.astype(str)
    pred = np.asarray(res.pred, object)
    correct = pred == truth
    cap_in = res.captioned & ins
    parsed = np.asarray(res.parsed if res.parsed else [None] * len(ps), object)
    lm = parsed == truth
    lm_pipe = lm & ~res.rejected
    has_caps = bool(res.captioned.any())
    nan = float("nan")
    m = {
        "n_patches": int(len(ps)),
        "n_in_scope": int(ins.sum()),
        "n_unseen": int(uns.sum()),
        "n_noncortex": int(non.sum()),
        "n_areas": int(len(set(truth[ins]))),
        "n_unseen_areas": int(len(set(truth[uns]))),
        "n_captioned": int(res.captioned.sum()),
        "n_captioned_in_scope": int(cap_in.sum()),
        "classification_accuracy": M.rate(correct[ins]),
        "open_set_classification_accuracy": M.rate((correct & ~res.rejected)[ins]),
        "label_match_accuracy": M.rate(lm[cap_in]) if has_caps else nan,
        "label_match_accuracy_pipeline": M.rate(lm_pipe[cap_in]) if has_caps else nan,
        "masked_8way_accuracy": M.rate(res.nway[cap_in]) if res.nway is not None else nan,
        "masked_8way_nearest_accuracy": (
            M.rate(res.nway_nearest[cap_in]) if res.nway_nearest is not None else nan
        ),
        **_anchored_metrics(res, truth, cap_in),
        "open_set_auroc": M.open_set_auroc(res.score[ins], res.score[uns]),
        "fpr_at_95tpr": M.fpr_at_tpr(res.score[ins], res.score[uns], 0.95),
        "unseen_rejection_rate": M.rate(res.rejected[uns]),
        "in_scope_false_rejection_rate": M.rate(res.rejected[ins]),
        "noncortex_rejection_rate": M.rate(res.rejected[non]),
        "noncortex_auroc": M.open_set_auroc(res.score[ins], res.score[non]),
        "unseen_caption_rejection_rate": (
            M.rate(parsed[res.captioned & uns] == NONE_ID) if has_caps else nan
        ),
        "noncortex_caption_rejection_rate": (
            M.rate(parsed[res.captioned & non] == NONE_ID) if has_caps else nan
        ),
    }
    if res.cortex is not None:  # which fields would vote on a drawn region
        m["in_scope_read_as_cortex_rate"] = M.rate(res.cortex[ins])
        m["unseen_read_as_cortex_rate"] = M.rate(res.cortex[uns])
        m["noncortex_detection_rate"] = M.rate(~res.cortex[non])
    m["classification_accuracy_per_brain"] = {
        str(b): M.rate(correct[ins & (ps.brain == b)]) for b in sorted(set(ps.brain.tolist()))
    }
    return m


def _anchored_metrics(res: PatchResults, truth: np.ndarray, cap_in: np.ndarray) -> dict:
    """Label match and masked n-way of the captions anchored on the head's area."""
    if not res.parsed_anchored or not cap_in.any():
        return {}
    parsed = np.asarray(res.parsed_anchored, object)
    out = {"label_match_accuracy_anchored": M.rate((parsed == truth)[cap_in])}
    if res.nway_anchored is not None:
        out["masked_8way_accuracy_anchored"] = M.rate(res.nway_anchored[cap_in])
        out["masked_8way_nearest_accuracy_anchored"] = M.rate(res.nway_nearest_anchored[cap_in])
    return out
