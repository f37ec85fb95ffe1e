"""Scale-head stage: fit a bundle's scale head (:mod:`cytowords.model.scale_head`) on cortex
fields of training brains read at wrong pixel sizes, and set its band on validation brains.

A stage of :func:`cytowords.training.pipeline.train` (``scale_head``, after ``domain``;
:func:`run_scale_head`, its file ``OUT/scale_head/scale_head.safetensors`` goes into the
bundle; the preset's ``scale_head_brains``, ``scale_head_fields`` and ``scale_head_draws``
size it, and with your data it reads your labelled train and val sections), and a command
that adds it to an existing bundle trained on the synthetic brains:

    python -m cytowords.training.stages.scale_head BUNDLE [--train 0 1 ...] [--val 100 101]

Fit: on each training brain's virtual section (:data:`SECTION_MM` at
:data:`SECTION_PIXEL_UM`, rendered once), :data:`FIELDS_PER_BRAIN` fields centred on random
cortex cells (area label > 0, never ``__none__``), each read as the pixel-size check reads
(:func:`cytowords.sections.read_fields` at the model's pixel size, one view) from the section
with its pixel size stated ``s ×`` the true one (:func:`~cytowords.sections.scale_check.rescaled`),
``s`` log-uniform in [:data:`S_MIN`, :data:`S_MAX`]; the frozen embeddings are regressed on
``log s`` (ridge, closed form). The ridge strength is the one of :data:`RIDGES` with the
smallest median absolute error on the same kind of fields of the validation brains. Band:
the validation sections read at their true size by
:func:`~cytowords.sections.scale_check.estimate_scale` (:data:`BAND_DRAWS` draws of its
random tissue points each); the band is the :data:`BAND_QUANTILES` range of those
section-level medians. Test brains (seeds 200 and up) are refused. Writes
:data:`~cytowords.model.scale_head.SCALE_HEAD_FILE`, its validation figures under
``"scale_head"`` in ``config.json``, and ``hashes.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cytowords.model import load_bundle
from cytowords.model.bundle.files import write_hashes
from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead, fit_ridge
from cytowords.sections import Section, read_fields
from cytowords.sections.scale_check import estimate_scale, rescaled
from cytowords.synth.section import virtual_section

from ..evaluate.sectionset import materialise
from ..presets import VAL_BRAINS, Preset
from ..run_folder import write_json
from .domain import VISION_DIR, _check_brains

#: training brains (the dense-cpu preset's first 24 of the default bundle's 80)
FIT_BRAINS = tuple(range(24))
#: cortex fields per brain
FIELDS_PER_BRAIN = 800
#: the range of stated / true pixel size the fields are read at (log-uniform)
S_MIN, S_MAX = 0.6, 1.6
#: log s is quantised to this many steps per unit (fields of one factor read together)
S_STEPS = 32
#: the ridge strengths tried (penalty on standardised weights, in fields)
RIDGES = (1.0, 10.0, 100.0, 1000.0, 10000.0)
#: draws of the check's random tissue points per validation section for the band
BAND_DRAWS = 10
#: the band: this range of the validation section-level medians at the true size
BAND_QUANTILES = (0.025, 0.975)
#: the virtual sections: width × height (mm) and level-0 pixel size (µm)
SECTION_MM = (80.0, 60.0)
SECTION_PIXEL_UM = 32.0
#: cortex cells are picked on a grid of this spacing (µm)
CELL_UM = 256.0
#: the stage's name and its outputs' folder in a training run
STAGE_DIR = "scale_head"


def brain_section(seed: int) -> Section:
    """The brain's virtual section (:data:`SECTION_MM` at :data:`SECTION_PIXEL_UM`), in memory."""
    return materialise(virtual_section(seed, size_mm=SECTION_MM, pixel_size_um=SECTION_PIXEL_UM))


def cortex_fields(
    bundle: Any, section: Section, n: int, seed: int
) -> tuple[torch.Tensor, np.ndarray]:
    """``(embeddings (n', D), log s (n',))`` of ``n`` fields centred on random cortex cells
    (area label > 0) of ``section``, each read at its own ``s`` (log-uniform in
    [:data:`S_MIN`, :data:`S_MAX`], quantised to :data:`S_STEPS` per unit) as the check
    reads a section stated at ``s ×`` its true pixel size."""
    h, w = section.shape_um
    lab = section.labels["areas"].read_window(0.0, 0.0, h, w, CELL_UM)
    ys, xs = np.nonzero(lab > 0)
    rng = np.random.default_rng([seed, 17])
    pick = rng.choice(len(ys), size=min(n, len(ys)), replace=False)
    centres = (np.stack([ys[pick], xs[pick]], 1) + 0.5) * CELL_UM
    u = rng.uniform(math.log(S_MIN), math.log(S_MAX), len(pick))
    u = np.round(u * S_STEPS) / S_STEPS
    embs, logs = [], []
    for v in np.unique(u):
        m = u == v
        s = float(np.exp(v))
        patches = read_fields(
            rescaled(section, s), centres[m] * s, bundle.pixel_size_um, bundle.read_px
        )
        with torch.inference_mode():
            embs.append(bundle.embed(patches, views=1))
        logs.append(np.full(int(m.sum()), v))
    return torch.cat(embs), np.concatenate(logs)


def fit_bundle_scale_head(
    bundle_dir: str | Path,
    train_brains: Sequence[int] = FIT_BRAINS,
    val_brains: Sequence[int] = VAL_BRAINS,
    *,
    n_fields: int = FIELDS_PER_BRAIN,
    draws: int = BAND_DRAWS,
    out: str | Path | None = None,
    section_of: Callable[[int], Section] = brain_section,
) -> ScaleHead:
    """Fit and calibrate the scale head of the bundle in ``bundle_dir`` (module docstring),
    write it into the bundle with its figures in ``config.json`` and rewrite
    ``hashes.json`` (``out``: write the file there instead and leave the bundle as it is;
    the validation figures go to ``scale_head_validation.json`` beside it).
    ``section_of(brain)``: the brain's section (the training run's stage passes its own)."""
    _check_brains(train_brains, "training")
    _check_brains(val_brains, "validation")
    t0 = time.process_time()
    bundle = load_bundle(bundle_dir, "cpu", captioner=False)  # its own copy: changed below
    xs, ys = [], []
    for b in train_brains:
        e, y = cortex_fields(bundle, section_of(int(b)), n_fields, int(b))
        xs.append(e.numpy())
        ys.append(y)
        print(json.dumps({"train_brain": int(b), "fields": len(y)}), flush=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    val_secs = {int(b): section_of(int(b)) for b in val_brains}
    vx, vy = [], []
    for b, sec in val_secs.items():
        e, t = cortex_fields(bundle, sec, n_fields, b)
        vx.append(e.numpy())
        vy.append(t)
    vx_, vy_ = np.concatenate(vx), np.concatenate(vy)
    errors = {}
    for r in RIDGES:
        w, c = fit_ridge(x, y, r)
        errors[r] = float(np.median(np.abs(vx_ @ w + c - vy_)))
    ridge = min(errors, key=errors.get)
    w, c = fit_ridge(x, y, ridge)
    err = vx_ @ w + c - vy_
    head = ScaleHead(w, c)
    bundle.scale_head = head
    medians = []
    for sec in val_secs.values():
        for seed in range(draws):
            est = estimate_scale(sec, bundle, seed=seed)
            if est is not None and est.enough:
                medians.append(float(np.median(est.log_s)))
    lo, hi = (float(q) for q in np.quantile(medians, BAND_QUANTILES))
    figures = {
        "file": SCALE_HEAD_FILE,
        "train_brains": [int(b) for b in train_brains],
        "val_brains": [int(b) for b in val_brains],
        "train_fields": int(len(y)),
        "val_fields": int(len(vy_)),
        "s_range": [S_MIN, S_MAX],
        "ridge": ridge,
        "val_median_abs_error_log": round(float(np.median(np.abs(err))), 4),
        "val_rmse_log": round(float(np.sqrt(np.mean(err**2))), 4),
        "val_errors_by_ridge": {str(k): round(v, 4) for k, v in errors.items()},
        "band_log": [round(lo, 4), round(hi, 4)],
        "band_factor": [round(math.exp(lo), 4), round(math.exp(hi), 4)],
        "band_sections": len(medians),
        "band_quantiles": list(BAND_QUANTILES),
        "section_pixel_um": SECTION_PIXEL_UM,
        "cpu_s": round(time.process_time() - t0, 1),
    }
    head = head.with_band(lo, hi, **figures)
    if out is not None:
        head.save(out)
        Path(out).with_name("scale_head_validation.json").write_text(
            json.dumps({**figures, "medians_log": medians}, indent=1), encoding="utf-8"
        )
    else:
        root = Path(bundle_dir)
        head.save(root / SCALE_HEAD_FILE)
        cfg_path = root / "config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        cfg["scale_head"] = figures
        from cytowords.atomic import atomic_file

        with atomic_file(cfg_path) as tmp:
            Path(tmp).write_text(json.dumps(cfg, indent=1), encoding="utf-8")
        write_hashes(root)
    return head


def stage_sections(
    p: Preset, data: Sequence[Any] | None
) -> tuple[dict[int, Callable[[], Section]], list[int], list[int], dict[str, Any]]:
    """``(section factory by seed, training seeds, validation seeds, info)`` of the
    ``scale_head`` stage; ``info``: the brain names and section pixel size for the head's
    figures. Synthetic brains (``data`` None): the first ``scale_head_brains`` training
    brains and the validation brains of the preset as virtual sections of its size at
    :data:`SECTION_PIXEL_UM` (or the model's pixel size where that is finer); your data:
    the first ``scale_head_brains`` train and the first 100 val
    :class:`~cytowords.training.data.spec.LabelledSection` with a label image (label > 0
    is cortex unless named white matter, background or ``__none__``; ROI-only sections
    are left out), as seeds 0, 1, ... and 100, 101, ..."""
    if data is None:
        h_um, w_um = p.section_size_um
        size_mm = (float(w_um) / 1000.0, float(h_um) / 1000.0)
        px = min(SECTION_PIXEL_UM, float(p.pixel_size_um))

        def render(seed: int) -> Callable[[], Section]:
            return lambda: materialise(virtual_section(seed, size_mm=size_mm, pixel_size_um=px))

        train = [int(b) for b in p.train_brains[: p.scale_head_brains]]
        val = [int(b) for b in p.val_brains]
        return {b: render(b) for b in train + val}, train, val, {"section_pixel_um": px}

    def labelled(s: Any) -> Callable[[], Section]:
        return lambda: replace(s.section, labels={**s.section.labels, "areas": _cortex(s)})

    tr = [s for s in data if s.split == "train" and s.labels is not None]
    tr = tr[: p.scale_head_brains]
    va = [s for s in data if s.split == "val" and s.labels is not None][:100]
    sections = {i: labelled(s) for i, s in enumerate(tr)}
    sections.update({100 + i: labelled(s) for i, s in enumerate(va)})
    info = {
        "train_brains": [s.brain for s in tr],
        "val_brains": [s.brain for s in va],
        "section_pixel_um": sorted({float(s.section.pixel_size_um[0]) for s in tr + va}),
    }
    return sections, list(range(len(tr))), [100 + i for i in range(len(va))], info


def _cortex(ls: Any) -> Any:
    """The label image of a :class:`~cytowords.training.data.spec.LabelledSection` with
    the values named as no area (white matter, background, ``__none__``) set to 0."""
    import dask.array as da

    from ..data.spec import NONE_NAMES

    names = {**ls.labels.names, **ls.label_names}
    none = [v for v, n in names.items() if str(n).strip().casefold() in NONE_NAMES]
    if not none:
        return ls.labels
    return replace(ls.labels, levels=[da.where(da.isin(v, none), 0, v) for v in ls.labels.levels])


def run_scale_head(
    p: Preset,
    run: Any,
    out: Path,
    save_vision: Callable[[Path], Any],
    data: Sequence[Any] | None,
    check: Callable[[], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScaleHead | None:
    """The ``scale_head`` stage of a training run in ``out`` (``run``: its
    :class:`~cytowords.training.run_folder.Run`): the head saved by a finished stage, or
    :func:`fit_bundle_scale_head` now on :func:`stage_sections` with the preset's
    ``scale_head_fields`` and ``scale_head_draws``, saved to
    ``out/scale_head/scale_head.safetensors`` (figures and validation medians in
    ``scale_head_validation.json`` beside it). None, recorded in ``scale_head.json``, when
    your data has no train or no val section with a label image, or when no validation
    section gives enough fields for the band. ``save_vision(folder)`` saves the vision
    parts as a bundle there (``out/scale_head/vision``, removed afterwards);
    ``progress(done, total)`` counts training sections."""
    folder = out / STAGE_DIR
    path, note = folder / SCALE_HEAD_FILE, folder / "scale_head.json"
    if run.done(STAGE_DIR):
        if path.is_file():
            return ScaleHead.load(path)
        if note.is_file() and not json.loads(note.read_text(encoding="utf-8"))["fitted"]:
            return None
    t0 = time.perf_counter()
    sections, train, val, info = stage_sections(p, data)
    folder.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)

    def finish(reason: str | None) -> None:
        write_json(note, {"fitted": reason is None, **({"reason": reason} if reason else {})})
        run.finish(STAGE_DIR, time.perf_counter() - t0)

    if not train or not val:
        finish("no train or no val section with a label image (ROIs only)")
        return None
    done = 0

    def section_of(seed: int) -> Section:
        nonlocal done
        if check is not None:
            check()
        if progress is not None and seed in train:
            progress(done, len(train))
            done += 1
        return sections[seed]()

    vision = folder / VISION_DIR
    shutil.rmtree(vision, ignore_errors=True)
    save_vision(vision)
    tmp = folder / (SCALE_HEAD_FILE + ".fit")
    try:
        head = fit_bundle_scale_head(
            vision,
            train,
            val,
            n_fields=p.scale_head_fields,
            draws=p.scale_head_draws,
            out=tmp,
            section_of=section_of,
        )
    except IndexError:  # np.quantile of no section-level median
        shutil.rmtree(vision, ignore_errors=True)
        finish("no validation section gave enough fields read as a known area for the band")
        return None
    shutil.rmtree(vision, ignore_errors=True)
    if progress is not None:
        progress(len(train), len(train))
    head = head.with_band(*head.band, **info)  # brain names (your data), section pixel size
    figures = folder / "scale_head_validation.json"
    write_json(figures, {**json.loads(figures.read_text(encoding="utf-8")), **info})
    head.save(path)
    tmp.unlink(missing_ok=True)
    finish(None)
    return head


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", help="bundle folder to add the scale head to")
    ap.add_argument("--train", type=int, nargs="+", default=list(FIT_BRAINS))
    ap.add_argument("--val", type=int, nargs="+", default=list(VAL_BRAINS))
    ap.add_argument("--fields", type=int, default=FIELDS_PER_BRAIN)
    ap.add_argument("--draws", type=int, default=BAND_DRAWS)
    ap.add_argument("--out", default=None, help="write the file here, not into the bundle")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    h = fit_bundle_scale_head(a.bundle, a.train, a.val, n_fields=a.fields, draws=a.draws, out=a.out)
    print(json.dumps({"bias": h.bias, "band": h.band, **h.info}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
