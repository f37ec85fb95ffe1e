"""Observer-independent borders on synthetic sections (:mod:`cytowords.measure.borders`).

Paths follow the pial surface of virtual sections (the synthetic outline); the true borders
are where the area under the middle of consecutive traverses changes
(:func:`cytowords.synth.truth.truth_at`). Only true borders with a smallest block of
traverses on both sides can be found. Reports the share of true borders found within 1 mm
along the path, false borders per 20 mm of path and the area pairs missed.

    PYTHONPATH=src python benchmarks/borders.py --brains 205 206 --paths 2 --length-mm 20
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from cytowords.measure import MeasureError
from cytowords.measure.borders import find_borders
from cytowords.synth import virtual_section
from cytowords.synth.truth import _geometry, truth_at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205, 206])
    ap.add_argument("--paths", type=int, default=2, help="paths per brain")
    ap.add_argument("--length-mm", type=float, default=20.0)
    ap.add_argument("--spacing-um", type=float, default=100.0)
    args = ap.parse_args()
    found = n_true = n_false = 0
    total_mm = 0.0
    missed: Counter = Counter()
    hit_pairs: Counter = Counter()
    t0 = time.time()
    for brain in args.brains:
        sec = virtual_section(brain)
        g = _geometry(sec)
        g._build()
        s = g._arclen
        starts = np.linspace(0, g.perimeter_um - args.length_mm * 1000, args.paths + 1)[:-1]
        for a in starts:
            sel = (s >= a) & (s <= a + args.length_mm * 1000)
            path = g._poly[sel][:, ::-1]
            try:
                r = find_borders(sec, path, spacing_um=args.spacing_um)
            except MeasureError as exc:
                print(f"brain {brain} path at {a / 1000:.0f} mm: {exc}")
                continue
            mids = np.array([t[len(t) // 2] for t in r.traverses_um])
            area = truth_at(sec, mids)["area"]
            ch = np.flatnonzero(area[1:] != area[:-1]) + 1
            bmin = min(r.block_sizes)
            ch = ch[(ch >= bmin) & (ch <= len(area) - bmin)]
            true_um = r.positions_along_um[ch]
            got = r.border_along_um
            for c, t in zip(ch, true_um):
                pair = f"{area[c - 1]}/{area[c]}"
                if len(got) and np.min(np.abs(got - t)) <= 1000:
                    found += 1
                    hit_pairs[pair] += 1
                else:
                    missed[pair] += 1
            n_true += len(true_um)
            false = [b for b in got if not len(true_um) or np.min(np.abs(true_um - b)) > 1000]
            n_false += len(false)
            total_mm += r.path_length_um / 1000
            print(
                f"brain {brain} path at {a / 1000:.0f} mm: {len(r.profiles)} traverses, "
                f"{len(true_um)} true, {len(got)} found, {len(false)} false "
                f"({time.time() - t0:.0f} s)"
            )
    print(
        f"true borders found within 1 mm: {found}/{n_true} = {found / max(n_true, 1):.0%}; "
        f"false borders: {n_false} over {total_mm:.0f} mm = "
        f"{20 * n_false / max(total_mm, 1e-9):.2f} per 20 mm; {time.time() - t0:.0f} s"
    )
    print("missed pairs:", ", ".join(f"{p} ×{n}" for p, n in missed.most_common()) or "none")
    print("found pairs:", ", ".join(f"{p} ×{n}" for p, n in hit_pairs.most_common()) or "none")


if __name__ == "__main__":
    main()
