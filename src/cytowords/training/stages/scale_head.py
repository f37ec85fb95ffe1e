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
smallest median absolute error on the same kind of fields of the validation brains.
Calibration: the validation sections read by
:func:`~cytowords.sections.scale_check.estimate_scale` with their pixel size stated at each
of :data:`CAL_FACTORS` × the true one (:data:`CAL_DRAWS` draws of its random tissue points
each, :data:`BAND_DRAWS` at the true size); the line through the section-level medians of
the regression's output against the known ``log s``, inverted
(:func:`~cytowords.model.scale_head.fit_calibration`), maps the output to ``log s``. Band:
the :data:`BAND_QUANTILES` range of the calibrated section-level medians at the true size.
Test brains (seeds 200 and up) are refused. ``--recalibrate`` keeps the bundle's fitted
regression and fits only the calibration and the band. Writes
:data:`~cytowords.model.scale_head.SCALE_HEAD_FILE`, its validation figures under
``"scale_head"`` in ``config.json``, and ``hashes.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
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
from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead, fit_calibration, fit_ridge
from cytowords.sections import Section, read_fields
from cytowords.sections.scale_check import estimate_scale, rescaled
from cytowords.synth.section import virtual_section

from ..evaluate.sectionset import materialise
from ..presets import VAL_BRAINS, Preset
from ..run_folder import write_json
from .domain import VISION_DIR, _check_brains

#: progress of the fit (one JSON line per training brain); shown by ``main``
_log = logging.getLogger(__name__)

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
#: the calibration reads the validation sections stated at these factors × the true size
#: (1 included: its :data:`BAND_DRAWS` draws) ...
CAL_FACTORS = (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4)
#: ... each with this many draws of the check's random tissue points (not 1)
CAL_DRAWS = 3
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


def section_medians(
    bundle: Any, sections: Sequence[Section], factor: float, draws: int
) -> list[float]:
    """Section-level medians of the uncalibrated head output
    (:meth:`~cytowords.model.scale_head.ScaleHead.predict_raw`) on ``sections`` with their
    pixel size stated at ``factor ×`` the true one, :func:`estimate_scale` with seeds
    ``0 .. draws - 1`` (estimates with too few fields left out)."""
    head = bundle.scale_head
    raw = ScaleHead(head.weight, head.bias)  # the uncalibrated output, whatever the file holds
    bundle.scale_head = raw
    out = []
    try:
        for sec in sections:
            s = sec if factor == 1.0 else rescaled(sec, factor)
            for seed in range(draws):
                est = estimate_scale(s, bundle, seed=seed)
                if est is not None and est.enough:
                    out.append(float(np.median(est.log_s)))
    finally:
        bundle.scale_head = head
    return out


def calibrate(
    bundle: Any, head: ScaleHead, sections: Sequence[Section], draws: int = BAND_DRAWS
) -> tuple[ScaleHead, dict]:
    """``head`` with its calibration and band fitted on the validation ``sections`` (module
    docstring) and the figures: the calibration, the band, and per factor the median of
    the section-level estimates before and after calibration (as a factor). When no
    calibration can be fitted (the medians do not rise with the factor, or too few
    sections had enough fields) the head stays uncalibrated and ``calibration_failed``
    says why."""
    bundle.scale_head = head
    raw: dict[float, list[float]] = {}
    for f in CAL_FACTORS:
        raw[f] = section_medians(bundle, sections, f, draws if f == 1.0 else CAL_DRAWS)
    xs = np.concatenate([np.full(len(v), math.log(f)) for f, v in raw.items()])
    ys = np.concatenate([np.asarray(v) for v in raw.values()])
    note = ""
    try:
        a, b = fit_calibration(ys, xs)
    except ValueError as exc:  # e.g. an untrained encoder: left uncalibrated, said why
        a, b, note = 0.0, 1.0, str(exc)
        _log.info(json.dumps({"scale_head_calibration": "identity", "why": note}))
    medians = [a + b * v for v in raw[1.0]]
    lo, hi = (float(q) for q in np.quantile(medians, BAND_QUANTILES))
    figures = {
        "calibration": [round(a, 5), round(b, 5)],
        **({"calibration_failed": note} if note else {}),
        "calibration_factors": list(CAL_FACTORS),
        "calibration_draws": CAL_DRAWS,
        "val_estimate_by_factor": {
            str(f): {
                "raw": round(math.exp(float(np.median(v))), 4),
                "calibrated": round(math.exp(a + b * float(np.median(v))), 4),
                "sections": len(v),
            }
            for f, v in raw.items()
        },
        "band_log": [round(lo, 4), round(hi, 4)],
        "band_factor": [round(math.exp(lo), 4), round(math.exp(hi), 4)],
        "band_sections": len(medians),
        "band_quantiles": list(BAND_QUANTILES),
        "medians_log": medians,
    }
    return head.with_calibration(a, b).with_band(lo, hi), figures


def fit_bundle_scale_head(
    bundle_dir: str | Path,
    train_brains: Sequence[int] = FIT_BRAINS,
    val_brains: Sequence[int] = VAL_BRAINS,
    *,
    n_fields: int = FIELDS_PER_BRAIN,
    draws: int = BAND_DRAWS,
    out: str | Path | None = None,
    section_of: Callable[[int], Section] = brain_section,
    refit: bool = True,
) -> ScaleHead:
    """Fit and calibrate the scale head of the bundle in ``bundle_dir`` (module docstring),
    write it into the bundle with its figures in ``config.json`` and rewrite
    ``hashes.json`` (``out``: write the file there instead and leave the bundle as it is;
    the validation figures go to ``scale_head_validation.json`` beside it).
    ``section_of(brain)``: the brain's section (the training run's stage passes its own).
    ``refit`` False: keep the bundle's regression (it must have a scale head) and fit only
    its calibration and band."""
    _check_brains(val_brains, "validation")
    t0 = time.process_time()
    bundle = load_bundle(bundle_dir, "cpu", captioner=False)  # its own copy: changed below
    if refit:
        _check_brains(train_brains, "training")
    val_secs = {int(b): section_of(int(b)) for b in val_brains}
    if refit:
        head, figures = _fit_regression(bundle, train_brains, section_of, val_secs, n_fields)
    else:
        if bundle.scale_head is None:
            raise ValueError(f"bundle {bundle_dir}: no {SCALE_HEAD_FILE} to recalibrate")
        head = ScaleHead(bundle.scale_head.weight, bundle.scale_head.bias)
        figures = dict(bundle.scale_head.info)  # the regression's figures, band's replaced
        if "fit_cpu_s" not in figures:
            figures["fit_cpu_s"] = figures.pop("cpu_s", None)
    head, cal = calibrate(bundle, head, list(val_secs.values()), draws)
    medians = cal.pop("medians_log")
    figures = {
        **figures,
        "val_brains": [int(b) for b in val_brains],
        **cal,
        "section_pixel_um": SECTION_PIXEL_UM,
        "cpu_s": round(time.process_time() - t0, 1),
    }
    head = ScaleHead(head.weight, head.bias, head.band, figures, head.calibration)
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


def _fit_regression(
    bundle: Any,
    train_brains: Sequence[int],
    section_of: Callable[[int], Section],
    val_secs: dict[int, Section],
    n_fields: int,
) -> tuple[ScaleHead, dict]:
    """The ridge regression (uncalibrated, no band) on the training brains' fields (their
    sections from ``section_of``, one at a time), its strength chosen on the validation
    sections' fields (by brain), and its figures."""
    xs, ys = [], []
    for b in train_brains:
        e, y = cortex_fields(bundle, section_of(int(b)), n_fields, int(b))
        xs.append(e.numpy())
        ys.append(y)
        _log.info(json.dumps({"train_brain": int(b), "fields": len(y)}))
    x, y = np.concatenate(xs), np.concatenate(ys)
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
    figures = {
        "file": SCALE_HEAD_FILE,
        "train_brains": [int(b) for b in train_brains],
        "train_fields": int(len(y)),
        "val_fields": int(len(vy_)),
        "s_range": [S_MIN, S_MAX],
        "ridge": ridge,
        "val_median_abs_error_log": round(float(np.median(np.abs(err))), 4),
        "val_rmse_log": round(float(np.sqrt(np.mean(err**2))), 4),
        "val_errors_by_ridge": {str(k): round(v, 4) for k, v in errors.items()},
    }
    return ScaleHead(w, c), figures


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
    ap.add_argument(
        "--recalibrate",
        action="store_true",
        help="keep the bundle's fitted regression; fit only the calibration and the band",
    )
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    h = fit_bundle_scale_head(
        a.bundle,
        a.train,
        a.val,
        n_fields=a.fields,
        draws=a.draws,
        out=a.out,
        refit=not a.recalibrate,
    )
    print(json.dumps({"bias": h.bias, "band": h.band, **h.info}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
