"""How separable are the synthetic areas for the classical GLI-profile method?

Trains the flip-invariant GLI classifier (cytowords.training.baselines.gli) on patches of
some brains and tests on other brains; reports overall and per-area accuracy (60-way) and,
for each hard pair, the 2-way accuracy of a classifier trained on that pair only. An
"oracle" variant samples the profile along the true depth axis (orientation known), to show
how much of the difficulty comes from unknown orientation.

    python benchmarks/gli_separability.py [--train-brains 4] [--test-brains 3]
        [--n-train 15] [--n-test 10] [--artefacts 0.1] [--depth-range 0.45 0.55]
        [--aligned] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.ndimage import map_coordinates

from cytowords.atlas import load_atlas
from cytowords.synth import sample_patches
from cytowords.training.baselines.gli import GLIClassifier


class OracleGLI(GLIClassifier):
    """GLI profiles along the true depth axis, pia side first (needs the sampling meta)."""

    def __init__(self, angles, **kw):
        super().__init__(**kw)
        self.angles = angles

    def profiles(self, patches):
        out = []
        for img, ang in zip(patches, self.angles):
            h, w = img.shape
            th = np.deg2rad(ang)
            dx, dy = -np.sin(th), np.cos(th)  # depth direction in image coordinates
            t = np.linspace(-w / 2, w / 2, self.n_bins)
            s = np.linspace(-0.3 * w, 0.3 * w, 24)
            tt, ss = np.meshgrid(t, s, indexing="ij")
            x = w / 2 + tt * dx - ss * dy
            y = h / 2 + tt * dy + ss * dx
            g = 1 - img.astype(float) / 255
            v = map_coordinates(g, [y.ravel(), x.ravel()], order=1, mode="nearest")
            out.append(v.reshape(self.n_bins, -1).mean(1))
        return np.stack(out)

    def distances(self, patches):  # orientation known: no flip search
        from cytowords.training.baselines.gli import features

        z = (features(self.profiles(patches)) - self.mu_) / self.sd_
        d = z[:, None, :] - self.means_[None]
        return np.einsum("ncf,fg,ncg->nc", d, self.prec_, d)


def aligned_upper_bound(train_b, test_b, n_train, n_test) -> dict:
    """GLI profiles with true orientation AND true depth (centre at 50 % depth, angle 0):
    the information in mean laminar profiles once registration is solved (shrinkage LDA)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA

    from cytowords.synth import Brain, render_patch

    atlas = load_atlas()

    def data(brains, n, seed0):
        xs, ys = [], []
        rng = np.random.default_rng(seed0)
        for b in brains:
            brain = Brain(b)
            for a in atlas.in_scope_ids:
                th = brain.thickness_um(a)
                for _ in range(n):
                    img = render_patch(
                        a,
                        brain,
                        size_um=2048,
                        pixel_size_um=16,
                        depth_offset=0.5 * th - 1024,
                        seed=int(rng.integers(1e9)),
                    )
                    xs.append(1 - img.astype(float).mean(1)[::2] / 255)
                    ys.append(a)
        return np.array(xs), np.array(ys)

    xtr, ytr = data(train_b, n_train, 0)
    xte, yte = data(test_b, n_test, 1)
    acc = float((LDA(solver="lsqr", shrinkage="auto").fit(xtr, ytr).predict(xte) == yte).mean())
    pairs = {}
    for a, b in atlas.hard_pairs:
        m, mt = np.isin(ytr, [a, b]), np.isin(yte, [a, b])
        clf = LDA(solver="lsqr", shrinkage="auto").fit(xtr[m], ytr[m])
        pairs[f"{a}/{b}"] = float((clf.predict(xte[mt]) == yte[mt]).mean())
    print(
        f"aligned upper bound: 60-way {acc:.3f}, hard pairs mean {np.mean(list(pairs.values())):.3f}"
    )
    return {"accuracy": acc, "hard_pairs_2way": pairs}


def run(args) -> dict:
    atlas = load_atlas()
    areas = atlas.in_scope_ids
    train_b = list(range(args.train_brains))
    test_b = list(range(1000, 1000 + args.test_brains))
    t0 = time.perf_counter()
    lo, hi = args.depth_range
    common = dict(
        rng_seed=1, artefacts=args.artefacts, size_px=128, pixel_size_um=16.0, depth_range=(lo, hi)
    )
    xtr, ytr, mtr = sample_patches(train_b, areas, args.n_train, **common)
    xte, yte, mte = sample_patches(test_b, areas, args.n_test, **{**common, "rng_seed": 2})
    t_render = time.perf_counter() - t0
    ytr, yte = np.array(ytr), np.array(yte)
    res = {
        "config": vars(args),
        "n_train": len(ytr),
        "n_test": len(yte),
        "render_s": round(t_render, 1),
    }
    for name, make in {
        "gli_mahalanobis": lambda a: GLIClassifier("mahalanobis"),
        "gli_centroid": lambda a: GLIClassifier("centroid"),
        "gli_oracle_orientation": lambda a: OracleGLI(a, kind="mahalanobis"),
    }.items():
        clf = make(mtr["angle"]).fit(xtr, list(ytr))
        if isinstance(clf, OracleGLI):
            clf.angles = mte["angle"]
        pred = np.array(clf.predict(xte))
        per_area = {a: float((pred[yte == a] == a).mean()) for a in areas}
        pairs = {}
        for a, b in atlas.hard_pairs:
            mtr_ab = np.isin(ytr, [a, b])
            mte_ab = np.isin(yte, [a, b])
            c2 = make([ang for ang, m in zip(mtr["angle"], mtr_ab) if m])
            c2.fit(xtr[mtr_ab], list(ytr[mtr_ab]))
            if isinstance(c2, OracleGLI):
                c2.angles = [ang for ang, m in zip(mte["angle"], mte_ab) if m]
            p2 = np.array(c2.predict(xte[mte_ab]))
            pairs[f"{a}/{b}"] = float((p2 == yte[mte_ab]).mean())
        res[name] = {
            "accuracy": float((pred == yte).mean()),
            "per_area": per_area,
            "hard_pairs_2way": pairs,
            "hard_pairs_mean": float(np.mean(list(pairs.values()))),
        }
        print(
            f"{name}: 60-way accuracy {res[name]['accuracy']:.3f}, "
            f"hard pairs 2-way mean {res[name]['hard_pairs_mean']:.3f}"
        )
        for k, v in pairs.items():
            print(f"   {k:14s} {v:.2f}")
    if args.aligned:
        res["aligned_profile_lda"] = aligned_upper_bound(train_b, test_b, 8, 6)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-brains", type=int, default=4)
    ap.add_argument("--test-brains", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=15)
    ap.add_argument("--n-test", type=int, default=10)
    ap.add_argument("--artefacts", type=float, default=0.1)
    ap.add_argument(
        "--depth-range",
        type=float,
        nargs=2,
        default=(0.15, 0.85),
        help="relative depth range of patch centres (0 pia, 1 white matter)",
    )
    ap.add_argument(
        "--aligned",
        action="store_true",
        help="also the aligned-profile upper bound (true depth and orientation)",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    res = run(args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
