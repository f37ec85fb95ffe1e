"""What each variation of the realistic generator costs the bundled model (issue #24).

Scores the bundled model on section-read test fields (the headline protocol's field
sampling, :func:`cytowords.training.evaluate.sectionset.build_section_set`, and metrics,
:func:`cytowords.training.evaluate.headline.headline_metrics`) of development brains, once
with the full realistic generator, once with each component of the realistic model
switched off (``virtual_section(..., realism_off={component})``, see
``cytowords.synth.brain.REALISM_COMPONENTS``) and once with the ``classic`` generator. The
test brains, their seeds and the field sampling are the same in every condition; only the
switched-off component changes (where it moves the folds or the borders, the fields land
elsewhere).

Prints per condition the in-scope classification accuracy, the open-set AUROC (unseen vs
in-scope) and the in-scope false rejection at the bundle's stored threshold, each with its
95 % bootstrap interval over brains, and the paired difference to full realism (the same
brains resampled together; positive accuracy / AUROC difference: the component costs that
much). Then the 10 in-scope areas with the lowest accuracy under full realism and the
component whose removal helps each most. ``cell_shape`` is left out by default: it only
changes cells drawn at <= 20 µm/px, and the bundled model reads 64 µm/px (pixel-identical;
tests/synth/test_realism_off.py).

Per-condition fields are kept in ``--out`` (``fields_<condition>.npz``); a rerun reuses
them, so an interrupted run resumes.

    python benchmarks/variation_cost.py [--brains 200 201 202 203 204] [--per-area 2]
        [--conditions full classic vessels ...] [--out /work/runs/variation-cost]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.synth.brain import REALISM_COMPONENTS
from cytowords.training.evaluate.bootstrap import bootstrap_ci, pool, split_by_brain
from cytowords.training.evaluate.headline import KEYS, _fields, headline_metrics
from cytowords.training.evaluate.nearmiss import near_misses
from cytowords.training.evaluate.scoring import run_model
from cytowords.training.evaluate.sectionset import build_section_set
from cytowords.training.evaluate.testset import DEV_TEST_SEEDS
from cytowords.training.presets import get_preset

#: the headline statistics reported per condition (keys of headline.KEYS)
REPORT = (
    ("classification_accuracy", "classif."),
    ("open_set_auroc", "AUROC"),
    ("in_scope_false_rejection_rate", "in-scope FR"),
)
DEFAULT_OFF = tuple(c for c in REALISM_COMPONENTS if c != "cell_shape")


def _generator(cond: str) -> tuple[str, frozenset[str]]:
    """``(variation, realism_off)`` of a condition name."""
    if cond == "full":
        return "realistic", frozenset()
    if cond == "classic":
        return "classic", frozenset()
    if cond not in REALISM_COMPONENTS:
        raise SystemExit(
            f"unknown condition {cond!r}: full, classic or one of {sorted(REALISM_COMPONENTS)}"
        )
    return "realistic", frozenset({cond})


def _score(cond: str, bundle, args, atlas, near: set[str], out: Path) -> dict[str, np.ndarray]:
    """Per-field arrays (``headline._fields``) of one condition (cached in ``out``)."""
    path = out / f"fields_{cond}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    variation, off = _generator(cond)
    areas = [a for a in bundle.area_ids if a != NONE_ID]
    t0 = time.time()
    test = build_section_set(
        args.brains,
        patch_px=bundle.patch_px,
        read_px=bundle.read_px,
        pixel_size_um=bundle.pixel_size_um,
        per_area=args.per_area,
        in_scope=areas,
        unseen=atlas.unseen_ids,
        none_share=0.1,
        rng_seed=args.seed,
        variation=variation,
        realism_off=off,
    )
    t1 = time.time()
    res, _ = run_model(bundle, test, np.zeros(0, int), anchored=False)
    d = _fields(test, near, res.pred, res.score, rejected=res.rejected, purity=test.purity)
    print(
        f"  {cond}: {len(test)} fields, sections {t1 - t0:.0f} s, model {time.time() - t1:.0f} s",
        flush=True,
    )
    from cytowords.atomic import atomic_file

    with atomic_file(path, suffix=".npz") as tmp:
        np.savez(tmp, **d)
    return d


def _ci(d: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = split_by_brain(d["brain"], **{k: v for k, v in d.items() if k != "brain"})
    return bootstrap_ci(parts, lambda ps: headline_metrics(pool(ps)), n=n, seed=0)


def _diff_ci(d: dict, full: dict, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paired difference ``condition - full`` with brains resampled together."""

    def split(x):
        return split_by_brain(x["brain"], **{k: v for k, v in x.items() if k != "brain"})

    if sorted(set(d["brain"].tolist())) != sorted(set(full["brain"].tolist())):
        raise SystemExit("conditions hold different brains; delete the cached fields in --out")
    pairs = list(zip(split(d), split(full)))
    return bootstrap_ci(
        pairs,
        lambda ps: (
            headline_metrics(pool([a for a, _ in ps])) - headline_metrics(pool([b for _, b in ps]))
        ),
        n=n,
        seed=0,
    )


def _fmt(v: float, lo: float, hi: float, signed: bool = False) -> str:
    if not math.isfinite(v):
        return "–"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def _per_area(d: dict[str, np.ndarray]) -> dict[str, tuple[float, int]]:
    ins = d["kind"] == "in_scope"
    ok = d["pred"] == d["truth"]
    return {
        a: (float(ok[ins & (d["truth"] == a)].mean()), int((ins & (d["truth"] == a)).sum()))
        for a in dict.fromkeys(d["truth"][ins].tolist())
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=list(DEV_TEST_SEEDS[:5]))
    ap.add_argument(
        "--per-area",
        type=int,
        default=2,
        help="fields per area and brain (2: 10 per area over 5 brains, ~25 min for 12 conditions)",
    )
    ap.add_argument(
        "--conditions", nargs="+", default=["full", *DEFAULT_OFF, "classic"], metavar="COND"
    )
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="choice of the field centres")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/work/runs/variation-cost")
    args = ap.parse_args()
    bad = [b for b in args.brains if b not in DEV_TEST_SEEDS]
    if bad:
        raise SystemExit(
            f"brains {bad} are outside the development test range "
            f"{DEV_TEST_SEEDS.start}..{DEV_TEST_SEEDS.stop - 1}"
        )
    conds = list(dict.fromkeys(["full", *args.conditions]))
    for c in conds:
        _generator(c)
    torch.set_num_threads(args.threads)
    from cytowords.model import load_bundle, resolve_model_path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atlas = load_atlas()
    bundle = load_bundle(resolve_model_path(args.model), device="cpu")
    areas = [a for a in bundle.area_ids if a != NONE_ID]
    near = set(near_misses(atlas, areas, atlas.unseen_ids).near)
    print(
        f"model {args.model}: {bundle.patch_px} px at {bundle.pixel_size_um:g} µm/px; "
        f"brains {args.brains}; {args.per_area} fields per area and brain",
        flush=True,
    )
    t0 = time.time()
    fields = {c: _score(c, bundle, args, atlas, near, out) for c in conds}
    idx = [k for k, _ in KEYS]
    cols = [idx.index(k) for k, _ in REPORT]
    full = fields["full"]
    c0 = full["kind"]
    min_purity = get_preset((bundle.config.get("extra") or {}).get("preset", "default")).min_purity
    print(
        f"\nfields per condition (full): {(c0 == 'in_scope').sum()} in-scope, "
        f"{(c0 == 'unseen').sum()} unseen, {(c0 == 'none').sum()} non-cortex; "
        f"95 % CI: {args.bootstrap} bootstrap resamples over {len(args.brains)} brains; "
        f"'pure': fields whose footprint's cortex is >= {min_purity:g} the centre's area\n"
    )
    head = " | ".join(f"{lab} | Δ {lab}" for _, lab in REPORT)
    print(f"| condition | {head} | classif. pure | Δ classif. pure | pure share |")
    print("|---" * (4 + 2 * len(REPORT)) + "|")
    j_cls = idx.index("classification_accuracy")
    for c in conds:
        d = fields[c]
        v, lo, hi = _ci(d, args.bootstrap)
        pure = ~(d["purity"] < min_purity)  # non-cortex (nan) stays, as in the headline
        pf = {k: x[pure] for k, x in d.items()}
        pv, plo, phi = _ci(pf, args.bootstrap)
        if c == "full":
            dv = dlo = dhi = pdv = pdlo = pdhi = np.full(len(KEYS), np.nan)
            full_pure = pf
        else:
            dv, dlo, dhi = _diff_ci(d, full, args.bootstrap)
            pdv, pdlo, pdhi = _diff_ci(pf, full_pure, args.bootstrap)
        cells = []
        for j in cols:
            cells += [_fmt(v[j], lo[j], hi[j]), _fmt(dv[j], dlo[j], dhi[j], signed=True)]
        j = j_cls
        cells += [_fmt(pv[j], plo[j], phi[j]), _fmt(pdv[j], pdlo[j], pdhi[j], signed=True)]
        cells.append(f"{np.mean(d['purity'][d['kind'] != 'none'] >= min_purity):.2f}")
        name = {"full": "full realism", "classic": "classic generator"}.get(c, f"no {c}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    acc = {c: _per_area(fields[c]) for c in conds}
    worst = sorted(acc["full"], key=lambda a: acc["full"][a][0])[:10]
    offs = [c for c in conds if c != "full"]
    print(
        "\n| area (10 lowest, full realism) | accuracy (fields) | removal that helps most "
        "(ties: all) | accuracy then | classic generator |"
    )
    print("|---|---|---|---|---|")
    for a in worst:
        base, n = acc["full"][a]
        gains = {c: acc[c][a][0] - base for c in offs if c != "classic" and a in acc[c]}
        top = max(gains.values(), default=0.0)
        best = [c for c, g in gains.items() if g == top] if top > 0 else []
        label = " / ".join(best) if best else "none"
        then = f"{base + top:.2f}" if best else "–"
        cl = f"{acc['classic'][a][0]:.2f}" if "classic" in acc and a in acc["classic"] else "–"
        print(f"| {a} | {base:.2f} ({n}) | {label} | {then} | {cl} |")
    print(f"\ntotal {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
