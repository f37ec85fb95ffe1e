"""Does the field-quality check make bad fields abstain instead of being misread?

Renders in-scope fields (``cytowords.synth.sample_patches``, 96 px at the model's pixel
size, the field cut from the middle at an offset that is no multiple of 8, so JPEG's
block grid does not line up with the field) and degrades them the way real scans are
degraded: Gaussian blur of σ 1, 1.5, 2 px (at the model's resolution), JPEG at quality 30
and 50 (Pillow), and tissue rendered at ×0.75 and ×1.25 the model's pixel size (a
mis-stated scan). For each shift it prints the share of fields the model accepts and the
share wrong among those (the area named is not the area at the field's centre), before
and after the quality check of :mod:`cytowords.sections.quality` lets flagged fields
abstain, and with a stricter probability on top; then with the scale-consistency check of
:mod:`cytowords.sections.roi_scale` on top of the quality check (each field read again
at ×0.8 and ×1.25 the stated pixel size, same centre, through
:func:`cytowords.sections.read_fields`: it abstains when it reads as another area and
more familiar there), as the describer applies it to every field of a ROI it would name.

``--calibrate`` instead measures the check on the default model's *training* brains
(clean and shifted fields; never the test brains) and prints the thresholds the rules of
:mod:`cytowords.sections.quality` give.

    python benchmarks/field_quality.py [--brains 200 201 202] [--per-area 2]
    python benchmarks/field_quality.py --calibrate [--brains 0 1 2]
    python benchmarks/field_quality.py --brains 100 101 --per-area 3   # scale check,
        validation brains (its field margin was chosen there, never on 200-202)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cytowords.atlas import load_atlas
from cytowords.describe import Describer
from cytowords.sections import Section, read_fields
from cytowords.sections.quality import DEFAULT_THRESHOLDS, assess_fields, blockiness, focus
from cytowords.sections.roi_scale import DEFAULT_SCALE_LIMITS, inconsistent_fields
from cytowords.synth import sample_patches
from cytowords.training.data.synthetic import side_by_side
from cytowords.training.evaluate.shifts import defocus, jpeg_compress

SHIFTS = ("clean", "blur 1.0", "blur 1.5", "blur 2.0", "jpeg 30", "jpeg 50", "x0.75", "x1.25")
#: where the model's field is cut from the rendered 96 px field (not a multiple of 8)
OFFSET = 13
#: the stricter probability shown in the last columns
MIN_PROB = 0.6


def shifted_fields(brains, areas, per_area: int, px: int, um: float, rng_seed: int):
    """``{shift: (Section of the rendered fields side by side, centres µm, labels)}``:
    each rendered field (``px + 32`` px, degraded as a whole) is a cell of one mosaic
    section stated at the model's pixel size ``um``; the model's field of a cell, read at
    the stated size, is its ``[OFFSET, OFFSET + px)`` square."""
    big = px + 2 * OFFSET + 6
    kw = dict(size_px=big, rng_seed=rng_seed)
    renders = {
        f: sample_patches(brains, areas, per_area, pixel_size_um=um * f, **kw)[:2]
        for f in (1.0, 0.75, 1.25)
    }
    u8, lab = renders[1.0]
    raw = {
        "clean": u8,
        "blur 1.0": defocus(u8, 1.0),
        "blur 1.5": defocus(u8, 1.5),
        "blur 2.0": defocus(u8, 2.0),
        "jpeg 30": jpeg_compress(u8, 30),
        "jpeg 50": jpeg_compress(u8, 50),
    }
    out = {k: (v, lab) for k, v in raw.items()}
    out["x0.75"], out["x1.25"] = renders[0.75], renders[1.25]
    return {k: (*_mosaic(v, um, px), np.asarray(y)) for k, (v, y) in out.items()}


def _mosaic(cells: np.ndarray, um: float, px: int) -> tuple[Section, np.ndarray]:
    """The ``(M, n, n)`` uint8 fields side by side in one section stated at ``um`` µm/px,
    and the ``(M, 2)`` µm centres of their model fields (``OFFSET`` px into each cell)."""
    section, centres = side_by_side(cells, um)
    return section, centres - (cells.shape[1] / 2 - OFFSET - px / 2) * um


def read_scales(bundle, section: Section, centres: np.ndarray, factors) -> list:
    """Per factor (true / stated pixel size): ``(fields, probs, ood, rejected)`` of the
    fields read at that factor (same centres)."""
    out = []
    for f in factors:
        x = read_fields(section, centres, bundle.pixel_size_um / f, bundle.read_px)
        with torch.inference_mode():
            fp = bundle.predict(bundle.embed(x))
        out.append((x, fp.probs, fp.ood_score, fp.rejected))
    return out


def _share(wrong: np.ndarray, among: np.ndarray) -> str:
    return f"{wrong[among].mean():.3f}" if among.any() else "–"


def calibrate(fields) -> None:
    x, _ = fields["clean"]
    f, b = focus(x), blockiness(x)
    p1, p99 = float(np.nanpercentile(f, 1)), float(np.percentile(b, 99))
    print(
        f"clean training fields: {len(x)}; focus 1st percentile {p1:.3f}, blockiness 99th {p99:.3f}"
    )
    print(f"rules give min_focus = {p1 / 2:.3f}, max_blockiness = {1 + 2 * (p99 - 1):.3f}")
    print(f"in use: {DEFAULT_THRESHOLDS}\n")
    print("| fields (training brains) | flagged |\n|---|---|")
    for k, (x, _) in fields.items():
        print(f"| {k} | {assess_fields(x).flagged.mean():.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=None)
    ap.add_argument("--per-area", type=int, default=2, help="fields per area and brain")
    ap.add_argument("--calibrate", action="store_true", help="thresholds on training brains")
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    bundle = Describer(a.model, device="cpu").bundle
    areas = [x for x in load_atlas().in_scope_ids if x in bundle.area_ids]
    brains = a.brains or ([0, 1, 2] if a.calibrate else [200, 201, 202])
    fields = shifted_fields(
        brains,
        areas,
        a.per_area,
        bundle.read_px,
        bundle.pixel_size_um,
        rng_seed=5 if a.calibrate else 9,
    )
    if a.calibrate:
        calibrate(
            {k: (read_scales(bundle, s, c, (1.0,))[0][0], y) for k, (s, c, y) in fields.items()}
        )
        return
    ids = np.asarray(bundle.area_ids)
    lim = DEFAULT_SCALE_LIMITS
    print(f"model {a.model}, brains {brains}, {len(fields['clean'][2])} fields per shift")
    print(f"scale check: factors {lim.factors}, field margin {lim.field_margin}\n")
    print(
        "| fields | accepted | wrong among accepted | flagged by quality | accepted after "
        f"| wrong among accepted after | after, p ≥ {MIN_PROB}: accepted | wrong "
        "| flagged by scale | accepted after both | wrong among accepted after both |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for k, (section, centres, lab) in fields.items():
        (x, probs, ood, rej), *alt = read_scales(bundle, section, centres, (1.0, *lim.factors))
        wrong = ids[probs.argmax(1)] != lab
        acc = ~rej
        ok = ~assess_fields(x).flagged
        strict = acc & ok & (probs.max(1) >= MIN_PROB)
        at = inconsistent_fields(
            probs.argmax(1),
            ood,
            np.stack([p.argmax(1) for _, p, _, _ in alt]),
            np.stack([o for _, _, o, _ in alt]),
            lim.field_margin,
        )
        both = acc & ok & (at < 0)
        print(
            f"| {k} | {acc.mean():.3f} | {_share(wrong, acc)} | {1 - ok.mean():.3f} "
            f"| {(acc & ok).mean():.3f} | {_share(wrong, acc & ok)} | {strict.mean():.3f} "
            f"| {_share(wrong, strict)} | {(acc & (at >= 0)).mean():.3f} | {both.mean():.3f} "
            f"| {_share(wrong, both)} |",
            flush=True,
        )
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
