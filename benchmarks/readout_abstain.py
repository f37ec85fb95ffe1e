"""Does the model-free readout abstain where it must? Squares without a full ribbon.

On virtual sections of held-out brains, squares of ``--side-mm`` are drawn at random over
the section and sorted by the generator's truth on a 100 µm grid (``truth_at``'s relative
depth: < 0 glass, 0..1 cortex, > 1 white matter) into kinds the readout cannot measure a
thickness in:

- ``no white matter``: pia and cortex inside, no white matter (a crown's or a thick
  cortex's outer part; the grey/white border lies beyond the square);
- ``no pia``: cortex and white matter inside, no glass (the pial surface lies beyond);
- ``cortex only``: neither pia nor white matter (the middle of a thick cortex);
- ``white matter only``.

Each square is measured at ``--profile-um`` µm/px (as ``measure_accuracy.py``: the 2 µm/px
scan, no cells) and scored: how often a thickness is measured anyway (a ribbon that is not
there: a silent wrong answer), and how often a reason the readout gives is false for the
square ("no pia" where the truth has pia inside, "no white matter" where it has white
matter, "the ROI is white matter" where it holds cortex). A square measured anyway within
10 % of the truth's apparent thickness of its cortex is counted apart ("of them right"):
its missing part lies in the outer 50 µm the grid does not look at, and the readout found
a ribbon there; the others read a ribbon that is not there.

    PYTHONPATH=src python benchmarks/readout_abstain.py --brains 205 206 207 208 --per-kind 6

``--save FILE.jsonl``: each square's readout as one JSON line (as ``measure_accuracy.py
--save``), to compare two versions of the readout.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from cytowords.measure import measure_roi
from cytowords.synth import section_geometry, truth_at, truth_in_roi, virtual_section

KINDS = ("no white matter", "no pia", "cortex only", "white matter only")
#: a square of a kind must show at least this share of its kind's parts (glass, cortex,
#: white matter) on the truth's 100 µm grid, so that the kind is plain
MIN_SHARE = 0.05


def kind_of(rel: np.ndarray) -> str | None:
    """The square's kind from the truth's relative depths on its grid (None: a full ribbon
    or unclear)."""
    glass, wm = rel < 0, rel >= 1
    cortex = ~glass & ~wm
    g, c, w = glass.mean(), cortex.mean(), wm.mean()
    if w == 1.0:
        return "white matter only"
    if c < 0.5:
        return None
    if g >= MIN_SHARE and w == 0:
        return "no white matter"
    if g == 0 and w >= MIN_SHARE:
        return "no pia"
    if g == 0 and w == 0:
        return "cortex only"
    return None


def sample(seed: int, per_kind: int, side_um: float, rng) -> list[tuple[str, np.ndarray]]:
    """Up to ``per_kind`` squares of each kind (``(kind, vertices (y, x) µm)``)."""
    geom = section_geometry(seed)
    h_um, w_um = geom.size_um[1], geom.size_um[0]
    half = side_um / 2
    g = np.arange(-half + 50, half, 100.0)
    dy, dx = [a.ravel() for a in np.meshgrid(g, g, indexing="ij")]
    out: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    for _ in range(4000):
        if all(len(v) >= per_kind for v in out.values()):
            break
        y = rng.uniform(half + 500, h_um - half - 500)
        x = rng.uniform(half + 500, w_um - half - 500)
        rel = truth_at(geom, np.stack([y + dy, x + dx], 1))["rel_depth"]
        k = kind_of(rel)
        if k is None or len(out[k]) >= per_kind:
            continue
        out[k].append(np.array([[y - half, x - half], [y - half, x + half],
                                [y + half, x + half], [y + half, x - half]]))
    return [(k, v) for k in KINDS for v in out[k]]


#: a square measured anyway whose thickness is within this share of the truth's apparent
#: thickness of its cortex is counted as right as well: its missing part (pia, white
#: matter) lies in the outer 50 µm the truth's grid does not look at, and the readout
#: found a ribbon there
RIGHT_SHARE = 0.10


def is_right(section, v: np.ndarray, thickness_mm: float) -> bool:
    """Whether a thickness measured in square ``v`` is within :data:`RIGHT_SHARE` of the
    truth's apparent thickness of the cortex inside it (``truth_in_roi``)."""
    tr = truth_in_roi(section, v)
    if tr is None or not np.isfinite(tr["apparent_thickness_um"]):
        return False
    truth_mm = tr["apparent_thickness_um"] / 1000.0
    return abs(thickness_mm - truth_mm) <= RIGHT_SHARE * truth_mm


def false_reasons(kind: str, reasons: list[str]) -> list[str]:
    """The reasons that are false of a square of ``kind``."""
    has_pia = kind == "no white matter"
    has_wm = kind in ("no pia", "white matter only")
    has_cortex = kind != "white matter only"
    bad = []
    for r in reasons:
        if r.startswith("no pia") and has_pia:
            bad.append(r)
        elif r.startswith("no white matter") and has_wm:
            bad.append(r)
        elif "the ROI is white matter" in r and has_cortex:
            bad.append(r)
        elif r.startswith("not cortex: no tissue"):
            bad.append(r)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205, 206, 207, 208])
    ap.add_argument("--per-kind", type=int, default=6, help="squares of each kind per brain")
    ap.add_argument("--side-mm", type=float, default=3.0)
    ap.add_argument("--profile-um", type=float, default=16.0)
    ap.add_argument("--per-roi", action="store_true", help="print every square")
    ap.add_argument(
        "--save", default=None,
        help="JSON-lines file: each ROI's readout (Readout.to_dict with the traverses, and "
        "digests of its raw arrays), to compare two versions of the readout",
    )
    args = ap.parse_args()
    from measure_accuracy import readout_row  # the same rows as measure_accuracy --save
    save = open(args.save, "w") if args.save else None
    rng = np.random.default_rng(0)
    t0, c0 = time.time(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    # squares, measured anyway, of them within RIGHT_SHARE of the truth, a false reason
    tally = {k: [0, 0, 0, 0] for k in KINDS}
    for seed in args.brains:
        section = virtual_section(seed, pixel_size_um=2.0)
        for kind, v in sample(seed, args.per_kind, args.side_mm * 1000, rng):
            r = measure_roi(section, v, cells=False, profile_um=args.profile_um)
            if save is not None:
                save.write(json.dumps(readout_row(r, seed=seed, kind=kind, vertices=v.tolist())) + "\n")
            bad = false_reasons(kind, r.reasons)
            t = tally[kind]
            t[0] += 1
            right = bool(r.measured) and is_right(section, v, r.thickness_mm)
            t[1] += bool(r.measured)
            t[2] += right
            t[3] += bool(bad)
            if args.per_roi or r.measured or bad:
                c = v.mean(0)
                what = f"measured {r.thickness_mm:.2f} mm" if r.measured else "not measured"
                what += " (within 10 % of the truth: a ribbon at its edge)" if right else ""
                print(f"{seed} {kind:>17} at ({c[1]:.0f}, {c[0]:.0f}) µm: {what}"
                      + (f"; false: {' | '.join(bad)}" if bad else ""))
    print(f"\n{'kind':>17}  squares  measured anyway  (of them right)  a false reason")
    for k, (n, m, e, b) in tally.items():
        print(f"{k:>17}  {n:7d}  {m:15d}  {e:15d}  {b:14d}")
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
    print(f"{time.time() - t0:.0f} s wall, {cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
