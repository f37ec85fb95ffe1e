"""``train()``: rebuild a model bundle from labelled sections and documents, stage by stage.

Stages (each writes its outputs and a JSON loss log into ``out_dir/<stage>/``; finished
stages are skipped on resume, unfinished fit loops resume from their checkpoints):

a. ``data``      labelled patches of the train and validation brains (cached ``.npz``)
b. ``encoder``   self-supervised spatial contrastive pretraining, then frozen
c. ``head``      area head (+ ``__none__`` class) on frozen embeddings
d. ``scorer``    open-set scorer; threshold calibrated on the validation brains
   ``cortex``    cortex detector (cortex of any area vs white matter, background)
e. ``captioner`` captions mined from documents, LM + tokenizer, captioner training
f. ``bundle``    metrics on the validation brains and the model bundle (fp16) in
                 ``out_dir/bundle`` (written atomically: a cancelled run leaves none)

Progress: ``on_progress(stage, done, total)``; cancel: a ``threading.Event`` (or callable)
checked between steps, raising :class:`TrainingCancelled`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.model import resolve_device, save_bundle
from cytowords.model.encoder import probe_encoder
from cytowords.training.mining import REJECTION_CAPTION

from .data import PatchSet, areas_in, build_patch_set
from .presets import Preset, get_preset
from .run_folder import STAGES, Run, TrainingCancelled, cached_tensors, is_set
from .spec import LabelledSection, check_brain_splits
from .spec_check import CheckedSpec, check_data_spec, patch_configs
from .stage_caption import caption_features, caption_metrics, mine, run_captioner
from .stage_cortex import cortex_metrics, load_cortex, run_cortex
from .stage_scorer import (
    load_scorer,
    load_thresholds,
    noncortex_levels,
    run_scorer,
    vision_metrics,
)
from .stage_vision import (
    class_index,
    embed_all,
    embed_views_all,
    load_encoder,
    load_head,
    run_head,
    run_pretrain,
    write_json,
)

StageProgress = Callable[[str, int, int], None]


def _synthetic_sections(p: Preset) -> list[LabelledSection]:
    from .synthetic import virtual_labelled_section

    out = []
    for split, seeds in (("train", p.train_brains), ("val", p.val_brains)):
        for s in seeds:
            out.append(
                virtual_labelled_section(
                    s, split, size_um=p.section_size_um, pixel_size_um=p.pixel_size_um
                )
            )
    return out


def _resolve_data(p: Preset, data: Any) -> tuple[list[LabelledSection], list[str]]:
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
) -> Path:
    """Train a model bundle; returns the bundle folder ``out_dir/bundle``.

    Args:
        preset: ``smoke``, ``default``, ``gpu-large``, ``llm`` or a :class:`Preset`.
        out_dir: run folder (checkpoints, logs, caches, the bundle).
        data: None for the preset's synthetic brains; a data spec YAML path (checked
            first: :func:`~cytowords.training.spec_check.check_data_spec` raises
            :class:`~cytowords.training.spec.DataSpecError` listing every mistake), a
            :class:`~cytowords.training.spec_check.CheckedSpec` or a list of
            :class:`LabelledSection` for your own labelled sections.
        docs: folder of documents to mine captions from (None: builtin corpus, split train).
        resume: continue a run in ``out_dir`` (False: start over).
        on_progress: ``on_progress(stage, done, total)``.
        cancel: ``threading.Event`` or callable; raises :class:`TrainingCancelled`.
        device: ``cpu``, ``cuda`` or ``auto``.
    """
    p = get_preset(preset)
    out = Path(out_dir)
    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, p.threads))
    if p.encoder_torchscript:  # the user's network checked before any work
        probe_encoder(load_encoder(p, out / "encoder"))
    run = Run(out, p, resume)
    atlas = load_atlas()
    if run.done("bundle") and (out / "bundle" / "config.json").is_file():
        return out / "bundle"

    def prog(stage: str) -> Callable[[int, int], None]:
        return lambda d, t: on_progress(stage, d, t) if on_progress else None

    def check() -> None:
        if is_set(cancel):
            raise TrainingCancelled("training cancelled; run again with resume to continue")

    # a. data
    t0 = time.perf_counter()
    sections, areas = _resolve_data(p, data)
    sets: dict[str, PatchSet] = {}
    for split, c in patch_configs(p).items():
        secs = [s for s in sections if s.split == split]
        sets[split] = build_patch_set(
            secs,
            areas,
            c,
            cache=out / "data" / f"{split}.npz",
            on_progress=prog(f"data:{split}"),
            cancel=lambda: is_set(cancel),
        )
        if data is None:  # synthetic brains: add fields rendered by the generator
            from .synthetic import preset_rendered_set

            extra = preset_rendered_set(
                p,
                split,
                areas,
                out / "data" / f"{split}_rendered.npz",
                on_progress=prog(f"data:{split}:rendered"),
                cancel=lambda: is_set(cancel),
            )
            if extra is not None:
                sets[split] = PatchSet.concat([sets[split], extra], p.patch_px)
    if not run.done("data"):
        counts = {
            k: {"n": len(v), "brains": sorted(set(v.brains.tolist()))} for k, v in sets.items()
        }
        write_json(out / "data" / "summary.json", {"areas": areas, **counts})
        run.finish("data", time.perf_counter() - t0)
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
    emb = cached_tensors(
        out / "head" / "embeddings.safetensors",
        lambda: {k: embed_all(enc, v, progress=prog(f"embed:{k}")) for k, v in sets.items()},
    )
    labels = {k: class_index(v.labels, areas) for k, v in sets.items()}
    val_views = None
    if p.tta_views > 1:  # every view of the validation patches, for calibration + metrics
        val_views = cached_tensors(
            out / "head" / f"val_views{p.tta_views}.safetensors",
            lambda: {
                "views": embed_views_all(enc, sets["val"], p.tta_views, progress=prog("embed:val"))
            },
        )["views"]
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
            from .synthetic import is_rendered

            calibrate = torch.from_numpy(~is_rendered(sets["val"].sections))
        from .synthetic import is_novel

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
    if not run.done("cortex"):
        t0 = time.perf_counter()
        run_cortex(emb["train"], sets["train"].labels, sets["train"].sections, out / "cortex")
        run.finish("cortex", time.perf_counter() - t0)
    cortex = load_cortex(out / "cortex")
    check()
    # e. captioner
    t0 = time.perf_counter()
    captions = mine(docs, atlas, areas, out / "captioner")
    feats = {k: caption_features(p, head, emb[k]) for k in emb}
    cap, clog = run_captioner(
        p,
        feats["train"],
        sets["train"].labels,
        captions,
        out / "captioner",
        dev,
        prog("captioner"),
        cancel,
    )
    if clog["cancelled"]:
        check()
    if not run.done("captioner"):
        run.finish("captioner", time.perf_counter() - t0)
    # f. metrics + bundle
    t0 = time.perf_counter()
    metrics: dict[str, Any] = vision_metrics(head, scorer, emb["val"], labels["val"], len(areas))
    metrics.update(caption_metrics(p, cap, feats["val"], sets["val"].labels, areas, atlas, dev))
    if cortex is not None:
        metrics.update(cortex_metrics(cortex, emb["val"], sets["val"].labels))
    metrics["threshold"] = float(scorer.threshold)
    metrics["splits"] = {k: sorted(set(v.brains.tolist())) for k, v in sets.items()}
    metrics["n_patches"] = {k: len(v) for k, v in sets.items()}
    metrics["captions_per_area"] = {a: len(c) for a, c in captions.items()}
    check()
    run.finish("bundle", time.perf_counter() - t0)
    metrics["seconds"] = dict(run.state["seconds"])
    metrics["seconds"]["total"] = round(sum(run.state["seconds"].values()), 1)
    write_json(out / "metrics.json", metrics)
    cap.to("cpu")
    bundle = save_bundle(
        out / "bundle",
        encoder=enc,
        head=head,
        scorer=scorer,
        area_ids=areas,
        captioner=cap,
        rejection_caption=REJECTION_CAPTION,
        atlas_version=atlas.version,
        metrics={k: v for k, v in metrics.items() if k != "caption_examples"},
        fp16=True,
        lm_path=p.lm_path,
        views=p.tta_views,
        thresholds=thresholds,
        noncortex=noncortex,
        cortex=cortex,
        extra={"caption_input": p.caption_input, "preset": p.name, "none_label": NONE_ID},
    )
    return bundle


__all__ = ["STAGES", "TrainingCancelled", "train"]
_ = np  # numpy used by helpers' type hints
