"""Retrain only the captioner of an existing bundle (``cytowords train --from BUNDLE
--only captioner``), e.g. to couple a large language model to the bundled model.

The base bundle's encoder, area head, open-set scorer, test-time views and their
thresholds, non-cortex levels, cortex detector, domain model, scale head, area list, caption input
and atlas version are copied unchanged (a base bundle without a domain model gets one:
the ``domain`` stage fits it on the base bundle's vision parts); patches are cut at the base encoder's resolution from the
preset's data (or ``--data``), embedded with the base encoder, and only the captioner
(projector + the LM as ``caption_mode`` says) trains on them. The new bundle's metrics
are the base bundle's vision metrics plus the new caption metrics.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from cytowords.atlas import NONE_ID
from cytowords.model import load_bundle

from ..pipeline import (
    StageProgress,
    caption_and_save,
    embeddings,
    finish_data,
    patch_sets,
    progress_and_check,
    resolve_data,
)
from ..presets import Preset
from ..run_folder import Run
from .caption import readout_settings
from .domain import run_domain


def train_captioner_only(
    p: Preset,
    out_dir: str | Path,
    base: str | Path,
    *,
    data: Any = None,
    docs: str | Path | None = None,
    resume: bool = True,
    on_progress: StageProgress | None = None,
    cancel: Any = None,
    device: torch.device,
) -> Path:
    """A complete new bundle in ``out_dir/bundle``: ``base``'s vision parts + a captioner
    trained with preset ``p`` (its LM, ``caption_mode`` and caption settings; patch size
    and resolution come from the base encoder). Returns the bundle folder."""
    from cytowords.model import resolve_model_path

    base_dir = Path(resolve_model_path(base)).resolve()
    b = load_bundle(base_dir, "cpu", captioner=False)  # its own copy: training moves it
    cfg = b.config
    extra = dict(cfg.get("extra") or {})
    base_input = extra.get("caption_input", "embedding")
    # the base bundle's input, with or without the readout vector as the preset says (the
    # embedding and head probabilities come from the base bundle either way)
    if p.caption_input.removesuffix("+readout") == base_input.removesuffix("+readout"):
        base_input = p.caption_input
    extra["caption_input"] = base_input
    extra = {k: v for k, v in extra.items() if not k.startswith("readout_")}  # set anew below
    p = p.with_(
        pixel_size_um=float(b.pixel_size_um),
        patch_px=int(b.patch_px),
        **_encoder_arch(b.encoder),
        caption_input=base_input,
        tta_views=b.views,
        extra={**p.extra, "from_bundle": str(base_dir), "only": "captioner"},
    )
    out = Path(out_dir)
    run = Run(out, p, resume)
    if run.finished_bundle():
        return out / "bundle"
    prog, check = progress_and_check(on_progress, cancel)
    t0 = time.perf_counter()
    areas = list(b.area_ids)
    sections, _ = resolve_data(p, data)
    sets = patch_sets(p, sections, areas, out, data is None, prog, cancel)
    finish_data(run, out, sets, areas, t0)
    check()
    emb, val_views = embeddings(b.encoder, sets, b.views, out / "embed", prog)
    if val_views is not None:  # caption metrics on what the bundle computes
        emb = {**emb, "val": val_views.mean(0)}
    check()
    metrics = {
        k: v
        for k, v in (cfg.get("metrics") or {}).items()
        if not k.startswith(("val_label_match", "val_none_caption", "n_val_captions"))
        and k not in ("seconds", "splits", "n_patches", "captions_per_area")
    }
    metrics["base_bundle"] = str(base_dir)
    parts = {
        "encoder": b.encoder,
        "head": b.head,
        "scorer": b.scorer,
        "area_ids": areas,
        "views": b.views,
        "thresholds": dict(b.thresholds),
        "noncortex": dict(b.noncortex_levels),
        "cortex": b.cortex,
        "extra": {
            **extra,
            "preset": p.name,
            "none_label": NONE_ID,
            "base_bundle": str(base_dir),
            **readout_settings(p),
        },
    }
    for key in ("atlas_version", "rejection_caption"):
        if cfg.get(key):
            parts[key] = cfg[key]
    parts["fp16"] = cfg.get("weights_dtype") != "float32"
    if b.domain is not None:
        parts["domain"] = b.domain
        if not run.done("domain"):
            run.finish("domain", 0.0)  # kept as the base bundle has it
    else:
        parts["domain"] = run_domain(
            p,
            run,
            out,
            lambda: load_bundle(base_dir, "cpu", captioner=False),
            None if data is None else sections,
            check,
        )
    metrics["domain_cutoff"] = parts["domain"].cutoff
    if b.scale_head is not None:
        parts["scale_head"] = b.scale_head  # fitted on the same frozen encoder: kept
        if not run.done("scale_head"):
            run.finish("scale_head", 0.0)
    check()
    return caption_and_save(
        p, run, out, docs, sets, emb, metrics, parts, device, prog, check, cancel
    )


def _encoder_arch(encoder: Any) -> dict[str, Any]:
    """The preset fields that make the data stage read fields as ``encoder`` takes them
    (a dense-arch encoder: with its context)."""
    cfg = getattr(encoder, "config", None)
    if cfg is None or getattr(cfg, "arch", "field") == "field":
        return {"encoder_arch": "field"}
    return {"encoder_arch": cfg.arch, "encoder_dilations": tuple(cfg.dilations)}
