"""Does the field-quality check make bad fields abstain instead of being misread?

Renders in-scope fields (``cytowords.synth.sample_patches``, 96 px at the model's pixel
size, the field cut from the middle at an offset that is no multiple of 8, so JPEG's
block grid does not line up with the field) and degrades them the way real scans are
degraded: Gaussian blur of σ 1, 1.5, 2 px (at the model's resolution), JPEG at quality 30
and 50 (Pillow), and tissue rendered at ×0.75 and ×1.25 the model's pixel size (a
mis-stated scan). For each shift it prints the share of fields the model accepts and the
share wrong among those (the area named is not the area at the field's centre), before
and after the quality check of :mod:`cytowords.describe.quality` lets flagged fields
abstain, and with a stricter probability on top.

``--calibrate`` instead measures the check on the default model's *training* brains
(clean and shifted fields; never the test brains) and prints the thresholds the rules of
:mod:`cytowords.describe.quality` give.

    python benchmarks/field_quality.py [--brains 200 201 202] [--per-area 2]
    python benchmarks/field_quality.py --calibrate [--brains 0 1 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cytowords.atlas import load_atlas
from cytowords.describe import Describer
from cytowords.describe.quality import DEFAULT_THRESHOLDS, assess_fields, blockiness, focus
from cytowords.synth import sample_patches
from cytowords.training.evaluate.shifts import defocus, jpeg_compress

SHIFTS = ("clean", "blur 1.0", "blur 1.5", "blur 2.0", "jpeg 30", "jpeg 50", "x0.75", "x1.25")
#: where the model's field is cut from the rendered 96 px field (not a multiple of 8)
OFFSET = 13
#: the stricter probability shown in the last columns
MIN_PROB = 0.6


def shifted_fields(brains, areas, per_area: int, px: int, um: float, rng_seed: int):
    """``{shift: (fields (M, px, px) float32 in [0, 1], labels)}``."""
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
    return {
        k: (
            v[:, OFFSET : OFFSET + px, OFFSET : OFFSET + px].astype(np.float32) / 255.0,
            np.asarray(y),
        )
        for k, (v, y) in out.items()
    }


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
        bundle.patch_px,
        bundle.pixel_size_um,
        rng_seed=5 if a.calibrate else 9,
    )
    if a.calibrate:
        calibrate(fields)
        return
    ids = np.asarray(bundle.area_ids)
    print(f"model {a.model}, test brains {brains}, {len(fields['clean'][1])} fields per shift\n")
    print(
        "| fields | accepted | wrong among accepted | flagged by quality | accepted after "
        f"| wrong among accepted after | after, p ≥ {MIN_PROB}: accepted | wrong |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k, (x, lab) in fields.items():
        with torch.inference_mode():
            probs, _, rej = bundle.classify(bundle.embed(x))
        wrong = ids[probs.argmax(1).numpy()] != lab
        acc = ~rej.numpy()
        ok = ~assess_fields(x).flagged
        strict = acc & ok & (probs.max(1).values.numpy() >= MIN_PROB)

        print(
            f"| {k} | {acc.mean():.3f} | {_share(wrong, acc)} | {1 - ok.mean():.3f} | {(acc & ok).mean():.3f} "
            f"| {_share(wrong, acc & ok)} | {strict.mean():.3f} | {_share(wrong, strict)} |",
            flush=True,
        )
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
