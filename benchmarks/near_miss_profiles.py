"""Is the information that separates a near miss from its in-scope neighbour in the pixels?

For pairs of an unseen near-miss area and its closest in-scope area (and two in-scope hard
pairs), renders 4 mm fields centred at mid-depth with the true orientation
(``cytowords.synth.render_patch``), takes the mean grey-level profile across the cortex,
trains a 2-way shrinkage LDA on brains 0-7 and tests on brains 200-202, at 64, 32 and
16 µm/px. This is supervised and registration-free, so an upper bound on what a laminar
profile carries, not a method: an open-set model never sees the unseen area.

    python benchmarks/near_miss_profiles.py [--per-brain 12]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from cytowords.synth import Brain, render_patch

PAIRS = (
    ("hIP3", "hIP4"),
    ("OP3", "OP2"),
    ("Te1.2", "Te1.0"),
    ("Fo2", "Fo1"),
    ("Id1", "Ig1"),
    ("4a", "4p"),
    ("Te1.0", "Te1.1"),
)
FIELD_UM = 4096.0


def profiles(brains, areas, n: int, seed: int, um: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean absorbance profiles (pia at the top) of ``n`` fields per area and brain."""
    xs, ys = [], []
    rng = np.random.default_rng(seed)
    for b in brains:
        brain = Brain(b)
        for a in areas:
            offset = 0.5 * brain.thickness_um(a) - FIELD_UM / 2
            for _ in range(n):
                img = render_patch(
                    a,
                    brain,
                    size_um=FIELD_UM,
                    pixel_size_um=um,
                    depth_offset=offset,
                    seed=int(rng.integers(1_000_000_000)),
                )
                xs.append(1 - img.astype(float).mean(1) / 255)
                ys.append(a)
    return np.array(xs), np.array(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-brain", type=int, default=12)
    a = ap.parse_args()
    areas = sorted({x for p in PAIRS for x in p})
    print("| µm/px | " + " | ".join(f"{x}/{y}" for x, y in PAIRS) + " |")
    print("|---" * (len(PAIRS) + 1) + "|")
    for um in (64.0, 32.0, 16.0):
        t0 = time.perf_counter()
        xtr, ytr = profiles(range(8), areas, a.per_brain, 0, um)
        xte, yte = profiles(range(200, 203), areas, a.per_brain, 1, um)
        accs = []
        for x, y in PAIRS:
            m, mt = np.isin(ytr, [x, y]), np.isin(yte, [x, y])
            lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(xtr[m], ytr[m])
            accs.append(float((lda.predict(xte[mt]) == yte[mt]).mean()))
        row = " | ".join(f"{v:.2f}" for v in accs)
        print(f"| {um:g} | {row} |  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
