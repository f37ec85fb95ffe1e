"""Where the area head fails: accuracy by field geometry on rendered held-out patches.

Renders in-scope test patches with ``cytowords.synth.sample_patches`` (the generator of
``cytowords evaluate``), once without and once always with a neighbouring area's border in
the field, and prints the area head's 60-way accuracy split by border distance (µm from
the field centre), relative depth of the centre, obliquity and curvature, plus how often
the head names the neighbour instead. A field's label is the area at its centre.

    python benchmarks/field_breakdown.py [--model default] [--brains 200 201 202] [--per-area 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from cytowords.atlas import load_atlas
from cytowords.describe import Describer
from cytowords.synth import sample_patches


def _classify(bundle, patches: np.ndarray) -> np.ndarray:
    probs, _, _ = bundle.classify(bundle.embed(patches))
    return np.asarray(bundle.area_ids)[probs.argmax(1).numpy()]


def _row(name: str, ok: np.ndarray, mask: np.ndarray, extra: str = "") -> None:
    n = int(mask.sum())
    acc = float(ok[mask].mean()) if n else float("nan")
    print(f"| {name} | {n} | {acc:.3f} |{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[200, 201, 202])
    ap.add_argument("--per-area", type=int, default=8, help="patches per area and brain")
    args = ap.parse_args()
    torch.set_num_threads(2)
    bundle = Describer(args.model, device="cpu").bundle
    areas = [a for a in load_atlas().in_scope_ids if a in bundle.area_ids]
    kw = dict(size_px=bundle.read_px, pixel_size_um=bundle.pixel_size_um)
    p, lab, meta = sample_patches(
        args.brains, areas, args.per_area, rng_seed=7, neighbour_prob=0.0, **kw
    )
    ok = _classify(bundle, p) == np.asarray(lab)
    rel = np.asarray(meta["centre_depth_rel"])
    obl = np.asarray(meta["obliquity"])
    curv = np.abs(np.asarray(meta["curvature"]))
    print(f"model {args.model}, brains {args.brains}, {len(lab)} fields without a border\n")
    print("| fields | n | accuracy |\n|---|---|---|")
    _row("all, no border in view", ok, np.ones_like(ok))
    for lo, hi in ((0.15, 0.3), (0.3, 0.7), (0.7, 0.85)):
        _row(f"centre at depth {lo:.2f}-{hi:.2f}", ok, (rel >= lo) & (rel < hi + 1e-9))
    _row("obliquity < 10°", ok, obl < 10)
    _row("obliquity > 20°", ok, obl > 20)
    _row("|curvature| < 0.1 /mm", ok, curv < 0.1)
    _row("|curvature| > 0.3 /mm", ok, curv > 0.3)
    p, lab, meta = sample_patches(
        args.brains, areas, args.per_area, rng_seed=8, neighbour_prob=1.0, **kw
    )
    pred = _classify(bundle, p)
    ok = pred == np.asarray(lab)
    nb = np.asarray([str(x) for x in meta["neighbour"]])
    has = np.asarray([x is not None for x in meta["neighbour"]])
    dist = np.abs(np.asarray(meta["border_um"]))
    print(f"\n{int(has.sum())} fields with a neighbour's border in view\n")
    print("| border from the centre | n | accuracy | head names the neighbour |\n|---|---|---|---|")
    for lo, hi in ((300, 500), (500, 700), (700, 1000)):
        m = has & (dist >= lo) & (dist <= hi)
        _row(f"{lo}-{hi} µm", ok, m, f" {float((pred == nb)[m].mean()):.3f} |")


if __name__ == "__main__":
    main()
