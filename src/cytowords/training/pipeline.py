"""``train()``: rebuild a model bundle from labelled sections and documents, stage by stage.

Stages (each writes its outputs and a JSON loss log into ``out_dir/<stage>/``; finished
stages are skipped on resume, unfinished fit loops resume from their checkpoints):

a. ``data``      labelled patches of the train and validation brains (cached ``.npz``)
b. ``encoder``   self-supervised spatial contrastive pretraining, then frozen
c. ``head``      area head (+ ``__none__`` class) on frozen embeddings
d. ``scorer``    open-set scorer; threshold calibrated on the validation brains
   ``cortex``    cortex detector (cortex of any area vs white matter, background)
   ``domain``    domain model (familiarity): class means of training-field embeddings,
                 cutoff calibrated on the validation sections
   ``scale_head`` scale head (how large the tissue looks): ridge regression of log
                 (stated / true pixel size) on cortex fields of training sections read at
                 wrong scales, band set on the validation sections
e. ``captioner`` captions mined from documents, LM + tokenizer, captioner training
f. ``bundle``    metrics on the validation brains and the model bundle (fp16) in
                 ``out_dir/bundle`` (written atomically: a cancelled run leaves none)

Progress: ``on_progress(stage, done, total)``; cancel: a ``threading.Event`` (or callable)
checked between steps, raising :class:`~cytowords.jobs.Cancelled`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.model import resolve_device, save_bundle
from cytowords.model.bundle.lm import check_caption_mode
from cytowords.model.captioner import draft_texts
from cytowords.model.encoder import probe_encoder
from cytowords.training.mining import REJECTION_CAPTION
from cytowords.training.mining.documents import check_documents, skipped_summary

from ..jobs import Cancelled, is_cancelled
from .data.caption_targets import template_texts
from .data.patches import PatchSet, areas_in, build_patch_set
from .data.spec import LabelledSection, check_brain_splits
from .data.spec_check import CheckedSpec, check_data_spec, patch_configs
from .presets import Preset, get_preset
from .run_folder import STAGES, Run, cached_tensors, write_json
from .stages.caption import (
    caption_features,
    caption_metrics,
    mine,
    readout_settings,
    run_captioner,
)
from .stages.cortex import (
    N_STRUCTURELESS_VAL,
    cortex_metrics,
    load_cortex,
    run_cortex,
    structureless_count,
    structureless_embeddings,
)
from .stages.domain import STAGE_DIR, VISION_DIR, run_domain, vision_bundle
from .stages.scale_head import run_scale_head
from .stages.scorer import (
    load_scorer,
    load_thresholds,
    noncortex_levels,
    run_scorer,
    vision_metrics,
)
from .stages.vision import (
    class_index,
    embed_all,
    embed_views_all,
    load_encoder,
    load_head,
    run_head,
    run_pretrain,
)

StageProgress = Callable[[str, int, int], None]


def _synthetic_sections(p: Preset) -> list[LabelledSection]:
    from .data.synthetic import virtual_labelled_section

    out = []
    for split, seeds in (("train", p.train_brains), ("val", p.val_brains)):
        for s in seeds:
            out.append(
                virtual_labelled_section(
                    s, split, size_um=p.section_size_um, pixel_size_um=p.pixel_size_um
                )
            )
    return out


def resolve_data(p: Preset, data: Any) -> tuple[list[LabelledSection], list[str]]:
    """``(sections, area ids)``: the preset's synthetic brains or the user's data, with at
    least one train and one validation brain."""
    atlas = load_atlas()
    areas = None
    if data is None:
        sections = _synthetic_sections(p)
        areas = list(p.extra.get("areas") or atlas.in_scope_ids)
    elif isinstance(data, (str, Path, CheckedSpec)):
        checked = data if isinstance(data, CheckedSpec) else check_data_spec(data, p)
        sections, areas = checked.spec.sections, checked.areas
    else:
        sections = list(data)
    splits = check_brain_splits(sections)
    if not splits["train"] or not splits["val"]:
        raise ValueError(
            "training needs sections of at least one train brain and one val brain (the "
            f"validation brains calibrate the rejection threshold); got {splits}"
        )
    if areas is None:
        areas = areas_in([s for s in sections if s.split == "train"], atlas)
    return sections, [a for a in areas if a != NONE_ID]


def train(
    preset: str | Preset,
    out_dir: str | Path,
    *,
    data: str | Path | CheckedSpec | list[LabelledSection] | None = None,
    docs: str | Path | None = None,
    resume: bool = True,
    on_progress: StageProgress | None = None,
    cancel: Any = None,
    device: str = "auto",
    base_bundle: str | Path | None = None,
    only: str | None = None,
    strict_docs: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Path:
    """Train a model bundle; returns the bundle folder ``out_dir/bundle``.

    Args:
        preset: ``smoke``, ``default``, ``gpu-large``, ``llm`` or a :class:`Preset`. Its
            ``lm_path`` and ``caption_mode`` (``projector``, ``lora``, ``full``) are
            checked against the language model before any training starts.
        out_dir: run folder (checkpoints, logs, caches, the bundle).
        data: None for the preset's synthetic brains; a data spec YAML path (checked
            first: :func:`~cytowords.training.data.spec_check.check_data_spec` raises
            :class:`~cytowords.training.data.spec.DataSpecError` listing every mistake), a
            :class:`~cytowords.training.data.spec_check.CheckedSpec` or a list of
            :class:`LabelledSection` for your own labelled sections.
        docs: folder of documents to mine captions from (None: builtin corpus, split train).
            Read first; an unreadable document (a broken PDF, a text file that is not
            UTF-8, ...) is skipped, its line and a closing count passed to ``on_warning``;
            ValueError when none is readable.
        strict_docs: the first unreadable document of ``docs`` raises ValueError instead.
        on_warning: ``on_warning(line)`` for each skipped document and the count (None:
            :func:`warnings.warn`).
        resume: continue a run in ``out_dir`` (False: start over).
        on_progress: ``on_progress(stage, done, total)``.
        cancel: ``threading.Event`` or callable; raises :class:`~cytowords.jobs.Cancelled`.
        device: ``cpu``, ``cuda`` or ``auto``.
        base_bundle: with ``only="captioner"``: a bundle whose encoder, head, scorer,
            views, thresholds, non-cortex levels and cortex detector are kept as they are;
            only the captioner is trained (:mod:`cytowords.training.stages.from_bundle`).
        only: ``"captioner"`` (needs ``base_bundle``) or None (every stage).
    """
    p = get_preset(preset)
    dev = resolve_device(device)
    if only is not None or base_bundle is not None:
        if only != "captioner" or base_bundle is None:
            raise ValueError(
                "training on a base bundle needs both base_bundle and only='captioner' "
                "(--from BUNDLE --only captioner): the captioner is the one stage retrained"
            )
    p = p.with_(caption_mode=check_caption_mode(p.caption_mode, p.lm_path, dev))
    if docs is not None and str(docs) != "builtin":
        # a bad folder or file is found now, not after the vision stages
        skipped, total = check_documents(docs, strict=strict_docs)
        for line in [*skipped, skipped_summary(skipped, total)] if skipped else []:
            (on_warning or warnings.warn)(line)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, p.threads))
    if base_bundle is not None:
        from .stages.from_bundle import train_captioner_only

        return train_captioner_only(
            p,
            out_dir,
            base_bundle,
            data=data,
            docs=docs,
            resume=resume,
            on_progress=on_progress,
            cancel=cancel,
            device=dev,
        )
    out = Path(out_dir)
    if p.encoder_torchscript:  # the user's network checked before any work
        probe_encoder(load_encoder(p, out / "encoder"))
    run = Run(out, p, resume)
    if run.finished_bundle():
        return out / "bundle"
    prog, check = progress_and_check(on_progress, cancel)

    # a. data
    t0 = time.perf_counter()
    sections, areas = resolve_data(p, data)
    sets = patch_sets(p, sections, areas, out, data is None, prog, cancel)
    finish_data(run, out, sets, areas, t0)
    check()
    # b. encoder
    if p.encoder_torchscript and not run.done("encoder"):
        run.finish("encoder", 0.0)  # a real CytoNet: no pretraining, used frozen
    if not run.done("encoder"):
        t0 = time.perf_counter()
        enc, log = run_pretrain(p, sets["train"], out / "encoder", prog("encoder"), cancel, areas)
        if log["cancelled"]:
            check()
        run.finish("encoder", time.perf_counter() - t0)
    enc = load_encoder(p, out / "encoder")
    # embeddings (cached with the head stage)
    t0 = time.perf_counter()
    emb, val_views = embeddings(enc, sets, p.tta_views, out / "head", prog)
    labels = {k: class_index(v.labels, areas) for k, v in sets.items()}
    check()
    # c. head
    if not run.done("head"):
        _, log = run_head(p, areas, emb, labels, out / "head", prog("head"), cancel)
        if log["cancelled"]:
            check()
        run.finish("head", time.perf_counter() - t0)
    head = load_head(p, len(areas), out / "head")
    # d. scorer
    if not run.done("scorer"):
        t0 = time.perf_counter()
        calibrate = None
        if p.calibrate_on_sections:
            from .data.synthetic import is_rendered

            calibrate = torch.from_numpy(~is_rendered(sets["val"].sections))
        from .data.synthetic import is_novel

        novel = torch.from_numpy(is_novel(sets["train"].sections))
        run_scorer(p, head, len(areas), emb, labels, out / "scorer", calibrate, val_views, novel)
        run.finish("scorer", time.perf_counter() - t0)
    scorer = load_scorer(p, len(areas), out / "scorer")
    thresholds = load_thresholds(out / "scorer", scorer)
    noncortex = noncortex_levels(
        head,
        scorer,
        emb["val"] if val_views is None else val_views,
        labels["val"],
        len(areas),
        thresholds,
    )
    if val_views is not None:  # metrics on what the bundle computes: the averaged views
        emb = {**emb, "val": val_views.mean(0)}
    size_px = int(sets["train"].patches.shape[-1])
    if not run.done("cortex"):
        t0 = time.perf_counter()
        tr = sets["train"]
        n = structureless_count(tr.labels, tr.sections)
        struct = structureless_embeddings(enc, size_px, p.pixel_size_um, n, seed=0)
        run_cortex(emb["train"], tr.labels, tr.sections, out / "cortex", struct)
        run.finish("cortex", time.perf_counter() - t0)
    cortex = load_cortex(out / "cortex")
    check()
    metrics: dict[str, Any] = vision_metrics(head, scorer, emb["val"], labels["val"], len(areas))
    if cortex is not None:
        struct_val = structureless_embeddings(
            enc, size_px, p.pixel_size_um, N_STRUCTURELESS_VAL, seed=1
        )
        metrics.update(cortex_metrics(cortex, emb["val"], sets["val"].labels, struct_val))
    metrics["threshold"] = float(scorer.threshold)
    parts = {
        "encoder": enc,
        "head": head,
        "scorer": scorer,
        "area_ids": areas,
        "views": p.tta_views,
        "thresholds": thresholds,
        "noncortex": noncortex,
        "cortex": cortex,
        "extra": {
            "caption_input": p.caption_input,
            "preset": p.name,
            "none_label": NONE_ID,
            **readout_settings(p),
        },
    }
    seen = {"rejection_caption": REJECTION_CAPTION, "atlas_version": load_atlas().version}
    vision = {**parts, **seen, "fp16": True}  # as the bundle stage writes them
    parts["domain"] = run_domain(
        p,
        run,
        out,
        lambda: vision_bundle(out / STAGE_DIR / VISION_DIR, vision),
        None if data is None else sections,
        check,
    )
    metrics["domain_cutoff"] = parts["domain"].cutoff
    check()
    scale = run_scale_head(
        p,
        run,
        out,
        lambda folder: save_bundle(folder, captioner=None, **vision),
        None if data is None else sections,
        check,
        prog("scale_head"),
    )
    if scale is not None:
        parts["scale_head"] = scale
    check()
    return caption_and_save(p, run, out, docs, sets, emb, metrics, parts, dev, prog, check, cancel)


def progress_and_check(
    on_progress: StageProgress | None, cancel: Any
) -> tuple[Callable[[str], Callable[[int, int], None]], Callable[[], None]]:
    """``prog(stage)`` (a per-stage progress callback) and ``check()`` (raises
    :class:`~cytowords.jobs.Cancelled` once ``cancel`` is set)."""

    def prog(stage: str) -> Callable[[int, int], None]:
        return lambda d, t: on_progress(stage, d, t) if on_progress else None

    def check() -> None:
        if is_cancelled(cancel):
            raise Cancelled("training cancelled; run again with resume to continue")

    return prog, check


def patch_sets(
    p: Preset,
    sections: list[LabelledSection],
    areas: list[str],
    out: Path,
    synthetic: bool,
    prog: Callable[[str], Callable[[int, int], None]],
    cancel: Any,
) -> dict[str, PatchSet]:
    """Labelled train and validation patches at the preset's resolution (cached in
    ``out/data``); synthetic brains add the fields rendered by the generator."""
    sets: dict[str, PatchSet] = {}
    for split, c in patch_configs(p).items():
        secs = [s for s in sections if s.split == split]
        sets[split] = build_patch_set(
            secs,
            areas,
            c,
            cache=out / "data" / f"{split}.npz",
            on_progress=prog(f"data:{split}"),
            cancel=lambda: is_cancelled(cancel),
        )
        if synthetic:  # synthetic brains: add fields rendered by the generator
            from .data.synthetic import preset_rendered_set

            extra = preset_rendered_set(
                p,
                split,
                areas,
                out / "data" / f"{split}_rendered.npz",
                on_progress=prog(f"data:{split}:rendered"),
                cancel=lambda: is_cancelled(cancel),
            )
            if extra is not None:
                sets[split] = PatchSet.concat([sets[split], extra], p.read_px)
    return sets


def finish_data(run: Run, out: Path, sets: dict[str, PatchSet], areas: list[str], t0: float):
    """Write ``data/summary.json`` and mark the data stage done (once)."""
    if not run.done("data"):
        counts = {
            k: {"n": len(v), "brains": sorted(set(v.brains.tolist()))} for k, v in sets.items()
        }
        write_json(out / "data" / "summary.json", {"areas": areas, **counts})
        run.finish("data", time.perf_counter() - t0)


def embeddings(
    enc: Any,
    sets: dict[str, PatchSet],
    views: int,
    folder: Path,
    prog: Callable[[str], Callable[[int, int], None]],
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Frozen-encoder embeddings per split (cached in ``folder``) and, for ``views`` > 1,
    every view of the validation patches ``(views, N, D)`` (for calibration + metrics)."""
    emb = cached_tensors(
        folder / "embeddings.safetensors",
        lambda: {k: embed_all(enc, v, progress=prog(f"embed:{k}")) for k, v in sets.items()},
    )
    val_views = None
    if views > 1:
        val_views = cached_tensors(
            folder / f"val_views{views}.safetensors",
            lambda: {"views": embed_views_all(enc, sets["val"], views, progress=prog("embed:val"))},
        )["views"]
    return emb, val_views


def caption_and_save(
    p: Preset,
    run: Run,
    out: Path,
    docs: str | Path | None,
    sets: dict[str, PatchSet],
    emb: dict[str, torch.Tensor],
    metrics: dict[str, Any],
    parts: dict[str, Any],
    dev: torch.device,
    prog: Callable[[str], Callable[[int, int], None]],
    check: Callable[[], None],
    cancel: Any,
) -> Path:
    """Stages e (captioner) and f (caption metrics, ``metrics.json``, the bundle).

    emb: embeddings per split (validation: as the bundle computes them); metrics: the
    vision metrics so far; parts: the :func:`cytowords.model.save_bundle` arguments
    besides the captioner (``encoder``, ``head``, ``scorer``, ``area_ids``, ...; by
    default the rejection caption, this atlas's version and fp16 weights)."""
    atlas = load_atlas()
    areas = parts["area_ids"]
    t0 = time.perf_counter()
    captions = mine(docs, atlas, areas, out / "captioner")
    feats = {k: caption_features(p, parts["head"], emb[k]) for k in emb}
    cap, clog = run_captioner(
        p,
        feats["train"],
        sets["train"].labels,
        captions,
        out / "captioner",
        dev,
        prog("captioner"),
        cancel,
        brains=sets["train"].brains,
    )
    if clog["cancelled"]:
        check()
    if not run.done("captioner"):
        run.finish("captioner", time.perf_counter() - t0)
    t0 = time.perf_counter()
    metrics = dict(metrics)
    val = sets["val"]
    metrics.update(
        caption_metrics(p, cap, feats["val"], val.labels, areas, atlas, dev, brains=val.brains)
    )
    metrics["splits"] = {k: sorted(set(v.brains.tolist())) for k, v in sets.items()}
    metrics["n_patches"] = {k: len(v) for k, v in sets.items()}
    metrics["captions_per_area"] = {a: len(c) for a, c in captions.items()}
    check()
    run.finish("bundle", time.perf_counter() - t0)
    metrics["seconds"] = dict(run.state["seconds"])
    metrics["seconds"]["total"] = round(sum(run.state["seconds"].values()), 1)
    write_json(out / "metrics.json", metrics)
    cap.to("cpu")
    cap.draft_texts = draft_texts([*(c for cs in captions.values() for c in cs), *template_texts()])
    kw = {"rejection_caption": REJECTION_CAPTION, "atlas_version": atlas.version, "fp16": True}
    return save_bundle(
        out / "bundle",
        captioner=cap,
        metrics={k: v for k, v in metrics.items() if k != "caption_examples"},
        lm_path=p.lm_path,
        **{**kw, **parts},
    )


__all__ = ["STAGES", "train"]
_ = np  # numpy used by helpers' type hints
