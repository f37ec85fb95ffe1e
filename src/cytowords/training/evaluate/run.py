"""Run the whole evaluation: test set, model, baselines, robustness shifts, report.

>>> from cytowords.training.evaluate import EvalOptions, run_evaluation
>>> metrics = run_evaluation(EvalOptions(model="default", out="eval"))  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cytowords.atlas import NONE_ID, load_atlas

from ..presets import TRAIN_BRAINS, VAL_BRAINS
from . import metrics as M
from .baselines import (
    chance,
    gli_baseline,
    linear_head,
    oracle_captions,
    retrieval,
    training_captions,
)
from .scoring import add_text_scores, run_model, stratified_subset, summarise
from .shifts import SHIFTS
from .testset import build_patch_set, eval_brains

Log = Callable[[str], None]
Progress = Callable[[str, int, int], None]


@dataclass
class EvalOptions:
    """Knobs of :func:`run_evaluation`.

    Headline (section-read, :mod:`.headline`): ``section_brains`` test brains of the
    development range (``published``: the published range), ``section_per_area`` fields
    per area and brain, ``headline_captions`` fields per area (and of non-cortex)
    captioned, once each; baselines trained on ``section_train_per_area`` fields per area
    of ``section_train_brains`` training brains, the readout baseline on
    ``readout_per_area`` fields per area and brain, ``bootstrap`` resamples. Sampler view
    (``sampler``): ``brains`` test brains from the start of the same range, ``per_area``
    patches per area over all of them; ``caption_patches``: stratified subset to caption,
    None = all; ``robust_per_area``: per area under each shift; ``train_per_area``:
    training-brain patches per area for its baselines."""

    model: str = "default"
    out: str = "evaluation"
    brains: int = 3
    per_area: int = 51
    caption_patches: int | None = None
    robustness: bool = True
    robust_per_area: int = 12
    robust_caption_patches: int | None = 600
    train_brains: tuple[int, ...] = TRAIN_BRAINS
    train_per_area: int = 16
    baselines: bool = True
    none_share: float = 0.1
    seed: int = 0
    batch_size: int = 64
    max_new_tokens: int = 96
    headline: bool = True
    published: bool = False
    section_brains: int = 10
    section_per_area: int = 5
    headline_captions: int = 2
    section_train_brains: int = 4
    section_train_per_area: int = 5
    readout_per_area: int = 1
    bootstrap: int = 1000
    section_size_mm: tuple[float, float] = (80.0, 60.0)
    sampler: bool = True
    extra: dict = field(default_factory=dict)


def _seeds(values) -> set[int]:
    """Synthetic brain seeds from ids like ``3``, ``"3"`` or ``"synth-3"``."""
    out = set()
    for v in values or []:
        m = re.fullmatch(r"(?:synth-?)?(\d+)", str(v))
        if m:
            out.add(int(m.group(1)))
    return out


def _check_brains(brains: list[int], config: dict) -> None:
    """Refuse test brains that the bundle (or the presets) used for training/calibration."""
    used = set(TRAIN_BRAINS) | set(VAL_BRAINS)
    for key in ("train_brains", "val_brains", "rendered_brains"):
        for sec in ("training", "preset"):
            used |= _seeds((config.get(sec) or {}).get(key))
    for split, ids in ((config.get("metrics") or {}).get("splits") or {}).items():
        if split != "test":
            used |= _seeds(ids)
    clash = sorted(set(brains) & used)
    if clash:
        raise ValueError(f"test brains {clash} were used for training or calibration")


def _baselines(
    bundle, opts: EvalOptions, test, test_emb, res, scorer, cache: Path, progress: Progress
) -> dict:
    atlas = load_atlas()
    areas = list(bundle.area_ids)
    tr = build_patch_set(
        list(opts.train_brains),
        patch_px=bundle.read_px,
        pixel_size_um=bundle.pixel_size_um,
        per_area=opts.train_per_area,
        in_scope=areas,
        unseen=[],
        none_share=0.0,
        rng_seed=opts.seed + 17,
        cache_dir=cache,
        on_progress=lambda d, t: progress("train patches", d, t),
    )
    tr_emb = bundle.embed(tr.patches).numpy()
    ins, uns = test.kind == "in_scope", test.kind == "unseen"
    truth = test.labels.astype(str)
    cap_in = res.captioned & ins
    out: dict[str, dict] = {}

    def summary(p) -> dict:
        pred = np.asarray(p.pred, object)
        d = {
            "classification_accuracy": M.rate((pred == truth)[ins]),
            "open_set_auroc": M.open_set_auroc(p.score[ins], p.score[uns]),
            "fpr_at_95tpr": M.fpr_at_tpr(p.score[ins], p.score[uns]),
        }
        if p.captions is not None:
            caps = [p.captions[i] for i in np.flatnonzero(cap_in)]
            d["label_match_accuracy"] = M.rate(M.label_match(caps, truth[cap_in], atlas))
            if scorer is not None:
                s = scorer.score(caps, truth[cap_in].tolist())
                d["masked_8way_accuracy"] = M.rate(s["random"])
                d["masked_8way_nearest_accuracy"] = M.rate(s["nearest"])
        return d

    progress("baselines", 0, 3)
    out["linear_head"] = summary(linear_head(tr_emb, tr.labels.tolist(), test_emb, opts.seed))
    progress("baselines", 1, 3)
    train_caps = training_captions(atlas)
    first = {a: cs[0] for a, cs in train_caps.items() if cs}
    out["retrieval"] = summary(retrieval(tr_emb, tr.labels.tolist(), test_emb, first))
    progress("baselines", 2, 3)
    if scorer is not None and cap_in.any():
        oc = oracle_captions(truth[cap_in].tolist(), train_caps, opts.seed)
        s = scorer.score(oc, truth[cap_in].tolist())
        out["oracle_text"] = {
            "label_match_accuracy": M.rate(M.label_match(oc, truth[cap_in], atlas)),
            "masked_8way_accuracy": M.rate(s["random"]),
            "masked_8way_nearest_accuracy": M.rate(s["nearest"]),
        }
    out["gli_profile"] = summary(gli_baseline(tr.patches, tr.labels.tolist(), test.patches))
    progress("baselines", 3, 3)
    k = scorer.k if scorer is not None else 7
    out["chance"] = {**chance(len(areas), k), "fpr_at_95tpr": 0.95}
    out["_train_patches"] = {"brains": list(opts.train_brains), "n": int(len(tr))}
    return out


def _claims(bundle, test, emb, res, cap_idx, atlas, opts: EvalOptions) -> dict:
    """Claim accuracy, verbatim share, distinct captions, specificity on the captioned
    in-scope fields (:mod:`.claims`)."""
    from .claims import evaluate_claims

    sel = np.asarray(cap_idx)[test.kind[cap_idx] == "in_scope"]
    pred = [res.pred[i] for i in sel]
    return evaluate_claims(
        bundle,
        test.labels[sel],
        test.brain[sel],
        emb[sel],
        pred,
        training_captions(atlas),
        seed=opts.seed,
        batch_size=opts.batch_size,
        max_new_tokens=opts.max_new_tokens,
    )


def run_evaluation(
    opts: EvalOptions, progress: Progress | None = None, log: Log | None = None
) -> dict:
    """Evaluate a bundle; writes the report into ``opts.out`` and returns the metrics dict
    (clean test set at top level; ``baselines``, ``robustness`` and ``protocol`` nested)."""
    from cytowords.model import load_bundle, resolve_model_path

    from .claims import caption_readouts, field_wm_borders
    from .text_scoring import TextScorer

    prog = progress or (lambda stage, d, t: None)
    say = log or (lambda msg: None)
    t0 = time.time()
    path = resolve_model_path(opts.model)
    bundle = load_bundle(path, device="cpu")
    atlas = load_atlas()
    brains = eval_brains(opts.brains, opts.published)
    _check_brains(brains, bundle.config)
    if opts.headline:
        _check_brains(eval_brains(opts.section_brains, opts.published), bundle.config)
    out = Path(opts.out)
    cache = out / "cache"
    areas = [a for a in bundle.area_ids if a != NONE_ID]
    say(f"model {path}: {len(areas)} areas, {bundle.patch_px} px at {bundle.pixel_size_um} µm/px")
    captions = opts.sampler or (opts.headline and opts.headline_captions > 0)
    scorer = TextScorer(atlas) if bundle.captioner is not None and captions else None
    headline = None
    if opts.headline:
        from .headline import run_headline

        headline = run_headline(bundle, opts, atlas, scorer, cache, prog, say)
    if not opts.sampler:
        if headline is None:
            raise ValueError("nothing to evaluate: both the headline and the sampler view are off")
        return _finish(opts, path, bundle, headline, headline["_set"], headline["_res"], {}, t0)
    test = build_patch_set(
        brains,
        patch_px=bundle.read_px,
        pixel_size_um=bundle.pixel_size_um,
        per_area=opts.per_area,
        in_scope=areas,
        unseen=atlas.unseen_ids,
        none_share=opts.none_share,
        rng_seed=opts.seed,
        cache_dir=cache,
        on_progress=lambda d, t: prog("test patches", d, t),
    )
    say(f"test set: {len(test)} patches from brains {brains}")
    cap_idx = stratified_subset(test.labels, opts.caption_patches, opts.seed)
    # each captioned field's simulated readout: read by a readout-conditioned captioner,
    # and what it contradicts left out of every shown caption
    truths, vectors, readout, _ = caption_readouts(
        bundle, test.labels, test.brain, cap_idx, opts.seed
    )
    wm = None
    if vectors is not None:
        wm = np.full(len(test), None, dtype=object)
        wm[cap_idx] = field_wm_borders(truths, vectors, test.brain[cap_idx], opts.seed)
    res, emb = run_model(
        bundle,
        test,
        cap_idx,
        batch_size=opts.batch_size,
        max_new_tokens=opts.max_new_tokens,
        readout=readout,
        wm_border=wm,
        on_progress=lambda d, t: prog("model", d, t),
    )
    add_text_scores(res, test, atlas, scorer)
    metrics = summarise(res, test)
    metrics["caption_claims"] = _claims(bundle, test, emb, res, cap_idx, atlas, opts)
    if opts.baselines:
        metrics["baselines"] = _baselines(bundle, opts, test, emb, res, scorer, cache, prog)
    if opts.robustness:
        rob = {}
        for shift in SHIFTS[1:]:
            ps = build_patch_set(
                brains,
                patch_px=bundle.read_px,
                pixel_size_um=bundle.pixel_size_um,
                per_area=opts.robust_per_area,
                in_scope=areas,
                unseen=atlas.unseen_ids,
                none_share=opts.none_share,
                shift=shift,
                rng_seed=opts.seed + 1,
                cache_dir=cache,
                on_progress=lambda d, t, s=shift: prog(f"{s} patches", d, t),
            )
            ci = stratified_subset(ps.labels, opts.robust_caption_patches, opts.seed)
            r, _ = run_model(
                bundle,
                ps,
                ci,
                batch_size=opts.batch_size,
                max_new_tokens=opts.max_new_tokens,
                on_progress=lambda d, t, s=shift: prog(f"{s} model", d, t),
            )
            add_text_scores(r, ps, atlas, scorer)
            rob[shift] = summarise(r, ps)
        metrics["robustness"] = rob
    metrics["protocol"] = {
        "model": str(path),
        "seed_range": "published" if opts.published else "development",
        "test_brains": brains,
        "per_area": opts.per_area,
        "patch_source": "cytowords.synth.sampling.sample_patches",
        "pixel_size_um": bundle.pixel_size_um,
        "patch_px": bundle.patch_px,
        "threshold": bundle.threshold,
        "views": bundle.views,
        "caption_patches": opts.caption_patches,
        "options": {k: v for k, v in asdict(opts).items() if k != "extra"},
    }
    return _finish(opts, path, bundle, headline, test, res, metrics, t0)


def _finish(opts: EvalOptions, path, bundle, headline, test, res, metrics: dict, t0) -> dict:
    """Write the report folder (headline files when there is a headline)."""
    from cytowords.atomic import atomic_write_text

    from .headline import headline_markdown
    from .report import _csv_text, metrics_json, per_area_rows, write_report

    atlas = load_atlas()
    areas = [a for a in bundle.area_ids if a != NONE_ID]
    out = Path(opts.out)
    if not metrics:  # sampler view off: the section set's plain summary at the top level
        metrics = summarise(res, test)
        metrics["protocol"] = {"model": str(path), "options": asdict(opts)}
    if headline is not None:
        h = {k: v for k, v in headline.items() if not k.startswith("_")}
        metrics["headline"] = h
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "headline.json", metrics_json(h))
        atomic_write_text(out / "headline.md", headline_markdown(h))
        rows = per_area_rows(headline["_set"], headline["_res"], areas)
        atomic_write_text(out / "headline_per_area.csv", _csv_text(rows))
    metrics["protocol"]["seconds"] = round(time.time() - t0, 1)
    write_report(out, metrics, test, res, areas, atlas)
    return metrics
