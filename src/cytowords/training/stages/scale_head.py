"""Scale-head stage: fit a bundle's scale head (:mod:`cytowords.model.scale_head`) on cortex
fields of training brains read at wrong pixel sizes, and set its band on validation brains.

A command that adds it to an existing bundle trained on the synthetic brains (as the domain
stage's command adds the domain model; not yet a stage of a training run):

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
import math
import time
from collections.abc import Sequence
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
from ..presets import VAL_BRAINS
from .domain import _check_brains

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
        print(json.dumps({"scale_head_calibration": "identity", "why": note}), flush=True)
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
    refit: bool = True,
) -> ScaleHead:
    """Fit and calibrate the scale head of the bundle in ``bundle_dir`` (module docstring),
    write it into the bundle with its figures in ``config.json`` and rewrite
    ``hashes.json`` (``out``: write the file there instead and leave the bundle as it is;
    the validation figures go to ``scale_head_validation.json`` beside it). ``refit``
    False: keep the bundle's regression (it must have a scale head) and fit only its
    calibration and band."""
    _check_brains(val_brains, "validation")
    t0 = time.process_time()
    bundle = load_bundle(bundle_dir, "cpu", captioner=False)  # its own copy: changed below
    val_secs = {int(b): brain_section(int(b)) for b in val_brains}
    if refit:
        _check_brains(train_brains, "training")
        head, figures = _fit_regression(bundle, train_brains, val_secs, n_fields)
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
    bundle: Any, train_brains: Sequence[int], val_secs: dict[int, Section], n_fields: int
) -> tuple[ScaleHead, dict]:
    """The ridge regression (uncalibrated, no band) on the training brains' fields, its
    strength chosen on the validation sections' fields, and its figures."""
    xs, ys = [], []
    for b in train_brains:
        e, y = cortex_fields(bundle, brain_section(int(b)), n_fields, int(b))
        xs.append(e.numpy())
        ys.append(y)
        print(json.dumps({"train_brain": int(b), "fields": len(y)}), flush=True)
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
