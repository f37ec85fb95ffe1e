"""The headline evaluation: section-read fields of >= 10 held-out brains, with 95 % CIs.

Model, GLI-profile baseline and readout-feature baseline are scored on the same fields
(:mod:`.sectionset`); every figure comes with a percentile interval from resampling brains
(:func:`.bootstrap.bootstrap_ci`). Near-miss unseen areas (:mod:`.nearmiss`) are reported
apart from the structurally distinct ones. Two views: all fields, and fields whose purity
(share of the footprint's cortex that is the centre's area) reaches the training
``min_purity``.

Thresholds: the model's rejection rates use the bundle's stored threshold (calibrated on
validation brains). "Rejection at 5 % in-scope false rejection" is a point of the ROC curve:
its threshold is the 95th percentile of the test's own in-scope scores in each resample,
so it says what the score could do, not what the stored threshold does.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cytowords.atlas import NONE_ID

from . import metrics as M
from .bootstrap import bootstrap_ci, pool, split_by_brain
from .nearmiss import near_misses
from .scoring import add_text_scores, run_model, stratified_subset
from .sectionset import build_section_set, generator_key, section_for, source_hash
from .testset import PatchSet, eval_brains, eval_seed_range

KEYS = (
    ("classification_accuracy", "classification accuracy (in-scope, closed set)"),
    ("label_match_accuracy", "label match (caption names the area)"),
    ("masked_8way_accuracy", "masked 8-way (random distractors)"),
    ("masked_8way_nearest_accuracy", "masked 8-way (7 nearest distractors)"),
    ("open_set_auroc", "open-set AUROC, all unseen"),
    ("open_set_auroc_near_miss", "open-set AUROC, near-miss unseen"),
    ("open_set_auroc_far", "open-set AUROC, other unseen"),
    ("unseen_rejection_at_5pct_frr", "unseen rejected at 5 % in-scope false rejection (ROC)"),
    ("near_miss_rejection_at_5pct_frr", "near misses rejected at 5 % in-scope FR (ROC)"),
    ("unseen_rejection_rate", "unseen rejected @ stored threshold"),
    ("near_miss_rejection_rate", "near misses rejected @ stored threshold"),
    ("in_scope_false_rejection_rate", "in-scope falsely rejected @ stored threshold"),
    ("noncortex_rejection_rate", "non-cortex rejected @ stored threshold"),
)
PAPER = {"label_match_accuracy": 0.906, "masked_8way_accuracy": 0.686}
GOALS = {
    "classification_accuracy": (">=", 0.95),
    "label_match_accuracy": (">=", 0.95),
    "open_set_auroc": (">=", 0.95),
    "open_set_auroc_near_miss": (">=", 0.90),
    "unseen_rejection_at_5pct_frr": (">=", 0.90),
    "in_scope_false_rejection_rate": ("<=", 0.05),
}
Progress = Callable[[str, int, int], None]


def _rate(flags: np.ndarray, sel: np.ndarray) -> float:
    return M.rate(flags[sel]) if sel.any() else math.nan


def headline_metrics(d: dict[str, np.ndarray]) -> np.ndarray:
    """The :data:`KEYS` statistics of pooled per-field arrays: ``kind``, ``truth``,
    ``pred``, ``score``, ``near`` (near-miss unseen), and optionally ``rejected``,
    ``captioned``, ``label_ok``, ``nway``, ``nway_nearest`` (all-nan when absent)."""
    kind, score = d["kind"], d["score"].astype(np.float64)
    ins, uns, non = kind == "in_scope", kind == "unseen", kind == "none"
    near = uns & d["near"].astype(bool)
    far = uns & ~near
    correct = d["pred"] == d["truth"]
    s_in = score[ins]
    thr = np.sort(s_in)[max(int(np.ceil(0.95 * len(s_in))) - 1, 0)] if len(s_in) else np.nan
    out = {
        "classification_accuracy": _rate(correct, ins),
        "open_set_auroc": M.open_set_auroc(s_in, score[uns]),
        "open_set_auroc_near_miss": M.open_set_auroc(s_in, score[near]),
        "open_set_auroc_far": M.open_set_auroc(s_in, score[far]),
        "unseen_rejection_at_5pct_frr": _rate(score > thr, uns) if len(s_in) else math.nan,
        "near_miss_rejection_at_5pct_frr": _rate(score > thr, near) if len(s_in) else math.nan,
    }
    rej = d.get("rejected")
    if rej is not None:
        rej = rej.astype(bool)
        out.update(
            unseen_rejection_rate=_rate(rej, uns),
            near_miss_rejection_rate=_rate(rej, near),
            in_scope_false_rejection_rate=_rate(rej, ins),
            noncortex_rejection_rate=_rate(rej, non),
        )
    cap = d.get("captioned")
    if cap is not None:
        cap_in = cap.astype(bool) & ins
        for key, col in (
            ("label_match_accuracy", "label_ok"),
            ("masked_8way_accuracy", "nway"),
            ("masked_8way_nearest_accuracy", "nway_nearest"),
        ):
            if col in d:
                out[key] = _rate(d[col].astype(bool), cap_in)
    return np.array([out.get(k, math.nan) for k, _ in KEYS], dtype=np.float64)


def with_ci(fields: dict[str, np.ndarray], n: int, seed: int) -> dict[str, dict]:
    """:func:`headline_metrics` of ``fields`` (with a ``brain`` array) and its 95 %
    bootstrap interval over brains: ``{key: {"value", "lo", "hi"}}`` plus counts."""
    brain = fields["brain"]
    rest = {k: v for k, v in fields.items() if k != "brain"}
    parts = split_by_brain(brain, **rest)
    if parts:
        val, lo, hi = bootstrap_ci(parts, lambda ps: headline_metrics(pool(ps)), n=n, seed=seed)
    else:  # no fields in this view
        val = lo = hi = np.full(len(KEYS), math.nan)
    out: dict[str, dict] = {
        k: {"value": float(v), "lo": float(a), "hi": float(b)}
        for (k, _), v, a, b in zip(KEYS, val, lo, hi)
    }
    kind = fields["kind"]
    out["_counts"] = {
        "brains": len(parts),
        "in_scope": int((kind == "in_scope").sum()),
        "unseen": int((kind == "unseen").sum()),
        "near_miss": int(((kind == "unseen") & fields["near"].astype(bool)).sum()),
        "noncortex": int((kind == "none").sum()),
        "captioned_in_scope": int(
            (
                fields.get("captioned", np.zeros(len(kind), bool)).astype(bool)
                & (kind == "in_scope")
            ).sum()
        ),
    }
    return out


def _fields(ps: PatchSet, near: set[str], pred, score, **extra) -> dict[str, np.ndarray]:
    d = {
        "brain": ps.brain,
        "kind": ps.kind.astype(str),
        "truth": ps.labels.astype(str),
        "pred": np.asarray(pred, dtype=str),
        "score": np.asarray(score, dtype=np.float64),
        "near": np.isin(ps.labels.astype(str), sorted(near)),
    }
    d.update({k: np.asarray(v) for k, v in extra.items() if v is not None})
    return d


def _subset(d: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in d.items()}


def readout_subset(ps: PatchSet, per_area: int, seed: int) -> np.ndarray:
    """Indices of cortex fields (in-scope and unseen) measured by the readout baseline:
    up to ``per_area`` per area and brain, at random with a fixed seed."""
    rng = np.random.default_rng(seed)
    out = []
    for b in np.unique(ps.brain):
        for a in np.unique(ps.labels[(ps.brain == b) & (ps.kind != "none")]):
            idx = np.flatnonzero((ps.brain == b) & (ps.labels == a))
            out.append(rng.permutation(idx)[:per_area])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, int)


def _readout_feats(
    ps: PatchSet, idx: np.ndarray, bundle, include_unseen: bool, size_mm, cache: Path
) -> np.ndarray:
    """Readout features of fields ``idx`` of ``ps`` (cached; sections re-rendered once)."""
    from ..baselines.readout import readout_features

    key = json.dumps(
        [
            generator_key(),
            source_hash("cytowords.measure"),
            ps.centres_um[idx].tolist(),
            ps.brain[idx].tolist(),
            bundle.patch_px,
            bundle.pixel_size_um,
            include_unseen,
            list(size_mm),
        ]
    )
    path = cache / f"readout_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return z["features"]
    field_um = bundle.patch_px * bundle.pixel_size_um
    feats = []
    for b in np.unique(ps.brain[idx]):
        sel = idx[ps.brain[idx] == b]
        sec = section_for(int(b), bundle.pixel_size_um, size_mm, include_unseen, cache)
        feats.append(
            (sel, readout_features(sec, ps.centres_um[sel], field_um, bundle.pixel_size_um))
        )
    out = np.zeros((len(idx), feats[0][1].shape[1]))
    pos = {int(i): k for k, i in enumerate(idx)}
    for sel, f in feats:
        out[[pos[int(i)] for i in sel]] = f
    from cytowords.atomic import atomic_file

    cache.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, suffix=".npz") as tmp:
        np.savez(tmp, features=out)
    return out


def caption_subset(labels: np.ndarray, per_label: int, seed: int) -> np.ndarray:
    """Indices of the fields to caption: ``per_label`` fields of every label value (area
    id or ``__none__``) drawn at random over all brains with a fixed seed (0: none)."""
    labels = np.asarray(labels)
    if per_label < 1 or not len(labels):
        return np.zeros(0, int)
    groups = len(set(labels.tolist()))
    return stratified_subset(labels, per_label * groups, seed)


def centre_crop(patches: np.ndarray, px: int) -> np.ndarray:
    """The central ``px`` × ``px`` of patches ``(N, H, W)`` (the field without the
    encoder's context)."""
    off = (patches.shape[1] - px) // 2
    return patches[:, off : off + px, off : off + px]


def run_headline(bundle, opts, atlas, scorer, cache: Path, progress: Progress, say) -> dict:
    """The headline evaluation (see module docstring); returns the ``headline`` dict of
    the metrics (values, intervals, counts, protocol) and the per-field results.

    Cost: every field goes through the encoder and head once (batched); only
    ``opts.headline_captions`` fields per area are captioned, once each (freely, the
    paper's protocol; with the field's readout simulated from the truth: read by a
    readout-conditioned captioner, and what it contradicts left out of every caption, as
    shown to the user), and the caption claims are scored on those same captions: against
    the truth of each field's own region (``caption_claims``; the readout simulated from
    that truth with the errors measured against it,
    :data:`~cytowords.training.data.readout_truth.REGION_NOISE`) and, beside it, against
    the truth of its area in that brain (``caption_claims_area``)."""
    from ..data.readout_truth import REGION_NOISE, brain_truth, region_truths
    from ..presets import get_preset
    from .baselines import chance, gli_baseline, training_captions
    from .claims import caption_readouts, claim_report, field_wm_borders

    t0 = time.time()
    areas = [a for a in bundle.area_ids if a != NONE_ID]
    brains = eval_brains(opts.section_brains, opts.published)
    rng_range = eval_seed_range(opts.published)
    nm = near_misses(atlas, areas, atlas.unseen_ids)
    near = set(nm.near)
    preset = (bundle.config.get("extra") or {}).get("preset") or "default"
    try:
        min_purity = get_preset(preset).min_purity
    except (KeyError, ValueError):
        min_purity = get_preset("default").min_purity
    test = build_section_set(
        brains,
        patch_px=bundle.patch_px,
        read_px=bundle.read_px,
        pixel_size_um=bundle.pixel_size_um,
        per_area=opts.section_per_area,
        in_scope=areas,
        unseen=atlas.unseen_ids,
        none_share=opts.none_share,
        size_mm=tuple(opts.section_size_mm),
        rng_seed=opts.seed,
        cache_dir=cache,
        on_progress=lambda d, t: progress("test sections", d, t),
    )
    t_set = time.time() - t0
    say(f"section test set: {len(test)} fields from brains {brains[0]}..{brains[-1]}")
    cap_idx = caption_subset(test.labels, opts.headline_captions, opts.seed)
    # each captioned field's readout simulated from its own region's truth with the errors
    # measured against that truth; the claims are scored against the region's truth, and
    # beside it against the area's truth in that brain
    region = (
        region_truths(
            test.brain[cap_idx],
            test.labels[cap_idx],
            test.centres_um[cap_idx],
            bundle.patch_px * bundle.pixel_size_um,
            size_mm=tuple(opts.section_size_mm),
            include_unseen=True,
        )
        if bundle.captioner is not None and len(cap_idx)
        else None
    )
    truths, vectors, readout, scans = caption_readouts(
        bundle, test.labels, test.brain, cap_idx, opts.seed, region, REGION_NOISE
    )
    # and its white-matter border term, passed beside the vector (which does not hold it)
    wm = None
    if vectors is not None:
        wm = np.full(len(test), None, dtype=object)
        wm[cap_idx] = field_wm_borders(truths, vectors, test.brain[cap_idx], opts.seed)
    res, _ = run_model(
        bundle,
        test,
        cap_idx,
        batch_size=opts.batch_size,
        max_new_tokens=opts.max_new_tokens,
        anchored=False,
        readout=readout,
        wm_border=wm,
        on_progress=lambda d, t: progress("model (sections)", d, t),
    )
    add_text_scores(res, test, atlas, scorer)
    claims: dict = {}
    claims_area: dict = {}
    if bundle.captioner is not None and len(cap_idx):
        keep = test.kind[cap_idx] == "in_scope"
        sel = cap_idx[keep]
        shown = [res.captions[i] for i in sel]
        by_referent = {
            "region": [t for t, k in zip(truths, keep) if k],
            "area": [brain_truth(int(test.brain[i]), str(test.labels[i])) for i in sel],
        }
        claims, claims_area = (
            claim_report(
                shown,
                test.labels[sel].tolist(),
                by_referent[ref],
                training_captions(atlas),
                None if vectors is None else vectors[keep],
                None if scans is None else scans[keep],
                referent=ref,
                brains=test.brain[sel],
                generated=[res.generated[i] for i in sel] if res.generated else None,
            )
            for ref in ("region", "area")
        )
        for c in (claims, claims_area):
            c["captions"] = "free (the label-match captions), not anchored"
    t_model = time.time() - t0 - t_set
    truth = test.labels.astype(str)
    parsed = np.asarray(res.parsed or [None] * len(test), object)
    model = _fields(
        test,
        near,
        res.pred,
        res.score,
        rejected=res.rejected,
        captioned=res.captioned,
        label_ok=parsed == truth,
        nway=res.nway,
        nway_nearest=res.nway_nearest,
    )
    pure = ~(test.purity < min_purity)  # non-cortex (nan purity) stays in both views
    methods: dict[str, dict] = {"model": model}
    if opts.baselines:
        train = build_section_set(
            list(opts.train_brains)[: opts.section_train_brains],
            patch_px=bundle.patch_px,
            pixel_size_um=bundle.pixel_size_um,
            per_area=opts.section_train_per_area,
            in_scope=areas,
            unseen=[],
            none_share=0.0,
            size_mm=tuple(opts.section_size_mm),
            rng_seed=opts.seed + 17,
            cache_dir=cache,
            on_progress=lambda d, t: progress("training sections", d, t),
        )
        progress("GLI baseline", 0, 1)
        g = gli_baseline(
            train.patches, train.labels.tolist(), centre_crop(test.patches, bundle.patch_px)
        )
        methods["gli_profile"] = _fields(test, near, g.pred, g.score)
        from ..baselines.readout import ReadoutClassifier

        ti = readout_subset(train, max(2, opts.readout_per_area), opts.seed + 3)
        si = readout_subset(test, opts.readout_per_area, opts.seed + 5)
        progress("readout baseline", 0, 2)
        ftr = _readout_feats(train, ti, bundle, False, opts.section_size_mm, cache)
        progress("readout baseline", 1, 2)
        fte = _readout_feats(test, si, bundle, True, opts.section_size_mm, cache)
        clf = ReadoutClassifier().fit(ftr, train.labels[ti])
        pred, score = clf.predict_score(fte)
        methods["readout_features"] = _fields(test.select(si), near, pred, score)
        methods["_readout_idx"] = si
        methods["_readout_train_n"] = len(ti)
        methods["_baseline_train"] = {
            "brains": list(opts.train_brains)[: opts.section_train_brains],
            "fields": int(len(train)),
        }
    t_base = time.time() - t0 - t_set - t_model
    progress("bootstrap", 0, 1)
    n, seed = opts.bootstrap, opts.seed
    table: dict[str, dict] = {
        "ours": with_ci(model, n, seed),
        "ours_pure": with_ci(_subset(model, pure), n, seed),
    }
    if "gli_profile" in methods:
        gli = methods["gli_profile"]
        table["gli_profile"] = with_ci(gli, n, seed)
        table["gli_profile_pure"] = with_ci(_subset(gli, pure), n, seed)
        si = methods["_readout_idx"]
        table["readout_features"] = with_ci(methods["readout_features"], n, seed)
        table["ours_readout_subset"] = with_ci(
            _subset(model, np.isin(np.arange(len(test)), si)), n, seed
        )
        table["gli_profile_readout_subset"] = with_ci(
            _subset(gli, np.isin(np.arange(len(test)), si)), n, seed
        )
    k = scorer.k if scorer is not None else 7
    table["chance"] = {
        **chance(len(areas), k),
        "open_set_auroc_near_miss": 0.5,
        "open_set_auroc_far": 0.5,
        "unseen_rejection_at_5pct_frr": 0.05,
        "near_miss_rejection_at_5pct_frr": 0.05,
    }
    per_near = {}
    s_in = res.score[test.kind == "in_scope"]
    for u in atlas.unseen_ids:
        sel = (test.kind == "unseen") & (truth == u)
        per_near[u] = {
            "near_miss": u in near,
            "nearest_in_scope": nm.nearest[u][0],
            "profile_distance": round(nm.nearest[u][1], 3),
            "n": int(sel.sum()),
            "auroc": M.open_set_auroc(s_in, res.score[sel]),
            "rejected_at_stored_threshold": _rate(res.rejected, sel),
        }
    per_area_n = {a: int((truth == a).sum()) for a in dict.fromkeys(truth[test.kind != "none"])}
    protocol = {
        "test_set": "fields read from whole held-out sections (cytowords.synth.virtual_section, "
        "include_unseen=True) with cytowords.sections.read_fields",
        "seed_range": "published" if opts.published else "development",
        "seed_range_seeds": [rng_range.start, rng_range.stop - 1],
        "brains": brains,
        "fields_per_area_and_brain": opts.section_per_area,
        "fields_per_area_min": min(per_area_n.values()) if per_area_n else 0,
        "fields": int(len(test)),
        "min_purity": min_purity,
        "pure_share_of_cortex_fields": float(
            np.mean(test.purity[test.kind != "none"] >= min_purity)
        ),
        "captioned": int(res.captioned.sum()),
        "captions_per_area": opts.headline_captions,
        "bootstrap_resamples": n,
        "bootstrap_seed": seed,
        "interval": "95 % percentile interval, brains resampled with replacement",
        "near_miss": nm.to_dict(),
        "generator": generator_key(),
        "caption_readout_noise": REGION_NOISE.to_dict(),
        "readout_fields": int(len(methods.get("_readout_idx", []))),
        "readout_training_fields": int(methods.get("_readout_train_n", 0)),
        "baseline_training": methods.get("_baseline_train"),
        "seconds": {
            "test_set": round(t_set, 1),
            "model": round(t_model, 1),
            "baselines": round(t_base, 1),
            "bootstrap": round(time.time() - t0 - t_set - t_model - t_base, 1),
        },
    }
    return {
        "table": table,
        "caption_claims": claims,
        "caption_claims_area": claims_area,
        "unseen_areas": per_near,
        "protocol": protocol,
        "_set": test,
        "_res": res,
    }


def _cell(entry) -> str:
    if entry is None:
        return "–"
    if isinstance(entry, (int, float)):
        return f"{entry:.3f}"
    v, lo, hi = entry.get("value"), entry.get("lo"), entry.get("hi")
    if v is None or not math.isfinite(v):
        return "–"
    if lo is None or not math.isfinite(lo):
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def headline_markdown(h: dict) -> str:
    """The headline table (value [95 % CI]) and the protocol as markdown."""
    t, p = h["table"], h["protocol"]
    cols = [
        ("ours", "ours, all fields"),
        ("ours_pure", f"ours, purity ≥ {p['min_purity']:g}"),
        ("gli_profile", "GLI profile"),
        ("gli_profile_pure", f"GLI, purity ≥ {p['min_purity']:g}"),
        ("chance", "chance"),
    ]
    cols = [c for c in cols if c[0] in t]
    lines = [
        f"# Headline evaluation ({p['seed_range']} test range, seeds "
        f"{p['seed_range_seeds'][0]}–{p['seed_range_seeds'][1]})",
        "",
        f"Fields read from whole held-out sections of {len(p['brains'])} brains "
        f"({p['brains'][0]}–{p['brains'][-1]}); value [95 % CI, bootstrap over brains, "
        f"{p['bootstrap_resamples']} resamples].",
        "",
        "| metric | paper (BigBrain) | goal | " + " | ".join(c[1] for c in cols) + " |",
        "|---" * (3 + len(cols)) + "|",
    ]
    for key, label in KEYS:
        goal = GOALS.get(key)
        cells = [label, _cell(PAPER.get(key)), f"{goal[0]} {goal[1]:.2f}" if goal else ""]
        cells += [_cell(t[c].get(key)) for c, _ in cols]
        lines.append("| " + " | ".join(cells) + " |")
    c = t["ours"]["_counts"]
    lines += [
        "",
        f"Fields: {p['fields']} ({c['in_scope']} in-scope, {c['unseen']} unseen of which "
        f"{c['near_miss']} near misses, {c['noncortex']} non-cortex); at least "
        f"{p['fields_per_area_min']} per area; {p['pure_share_of_cortex_fields']:.0%} of the "
        f"cortex fields reach purity {p['min_purity']:g} ({t['ours_pure']['_counts']['in_scope']} "
        f"in-scope); captioned {p['captioned']} ({c['captioned_in_scope']} in-scope).",
    ]
    if "readout_features" in t:
        lines += [
            "",
            f"## Readout-feature baseline (a subset: {p['readout_fields']} cortex fields, "
            f"trained on {p['readout_training_fields']} training-brain fields)",
            "",
            "| metric | readout features | ours, same fields | GLI, same fields |",
            "|---|---|---|---|",
        ]
        for key, label in KEYS:
            if key in ("label_match_accuracy",) or key.startswith("masked") or "stored" in label:
                continue
            lines.append(
                f"| {label} | {_cell(t['readout_features'].get(key))} | "
                f"{_cell(t['ours_readout_subset'].get(key))} | "
                f"{_cell(t['gli_profile_readout_subset'].get(key))} |"
            )
    nm = p["near_miss"]
    lines += [
        "",
        "## Unseen areas",
        "",
        f"Near-miss rule: {nm['rule']} (limit {nm['limit']:.2f}). Near misses: "
        + ", ".join(nm["near_miss_areas"])
        + ".",
        "",
        "| unseen area | near miss | nearest in-scope (distance) | fields | AUROC | "
        "rejected @ stored threshold |",
        "|---|---|---|---|---|---|",
    ]
    for u, r in h["unseen_areas"].items():
        lines.append(
            f"| {u} | {'yes' if r['near_miss'] else 'no'} | {r['nearest_in_scope']} "
            f"({r['profile_distance']:.2f}) | {r['n']} | {_cell(r['auroc'])} | "
            f"{_cell(r['rejected_at_stored_threshold'])} |"
        )
    lines += [
        "",
        "What these numbers do not show: real sections (all fields are synthetic); per-area "
        "AUROC and rejection above have no interval (few fields per area); the "
        "5 %-false-rejection figures use a threshold taken from the test's own in-scope "
        "scores (a ROC point, not the stored operating threshold).",
    ]
    return "\n".join(lines) + "\n"
