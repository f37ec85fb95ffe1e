"""Would a density over perfectly registered laminar profiles reject the unseen areas?

Renders ideal fields (4 mm, pia at the top, no curvature, obliquity or border, centred at
mid-depth so the whole cortex is in view) of every in-scope area on training brains 0-15
and of in-scope and unseen areas on test brains 200-202. Profiles are the mean grey level
per row, either as rows (raw) or resampled to relative depth with the true thickness
(registered, plus the thickness). One Gaussian per area with a shared Ledoit-Wolf
covariance; open-set score = the smallest Mahalanobis distance. For comparison the
bundle's own open-set score on the same ideal fields. This is an oracle (the true
registration), an upper bound for any profile-density score, not a method.

    python benchmarks/registered_profiles.py [--model default]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.covariance import LedoitWolf

from cytowords.atlas import load_atlas
from cytowords.model import load_bundle, resolve_model_path
from cytowords.synth import Brain, render_patch
from cytowords.training.evaluate.metrics import open_set_auroc

FIELD_UM = 4096.0


def fields(brains, ids, per: int, seed: int, um: float, px: int, size_um: float = FIELD_UM):
    """Ideal fields of ``size_um`` µm centred at mid-depth: uint8 ``(N, px, px)``, area ids
    and true thickness (µm)."""
    xs, ys, ths = [], [], []
    rng = np.random.default_rng(seed)
    for b in brains:
        brain = Brain(b)
        for a in ids:
            th = brain.thickness_um(a)
            for _ in range(per):
                s = int(rng.integers(1_000_000_000))
                off = 0.5 * th - size_um / 2
                xs.append(
                    render_patch(
                        a, brain, size_um=size_um, pixel_size_um=um, depth_offset=off, seed=s
                    )
                )
                ys.append(a)
                ths.append(th)
    assert xs[0].shape == (px, px)
    return np.stack(xs), np.array(ys), np.array(ths)


def profiles(x: np.ndarray, th: np.ndarray, registered: bool, um: float) -> np.ndarray:
    rows = 1 - x.astype(float).mean(2) / 255
    if not registered:
        return rows
    n = rows.shape[1]
    out = []
    for r, t in zip(rows, th):
        depth = np.arange(n) * um + um / 2 - (FIELD_UM / 2 - 0.5 * t)  # µm below the pia
        out.append(np.r_[np.interp(np.linspace(0, 1, 40) * t, depth, r), t / 1000])
    return np.array(out)


def mahalanobis(f: np.ndarray, mu: np.ndarray, prec: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance ``(N, K)`` of profiles ``f`` to the area means ``mu``."""
    d = f[:, None, :] - mu[None]
    return np.einsum("nkd,de,nke->nk", d, prec, d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    a = ap.parse_args()
    b = load_bundle(resolve_model_path(a.model))
    um, px = b.pixel_size_um, b.patch_px
    unseen = list(load_atlas().unseen_ids)
    xtr, ytr, ttr = fields(range(16), b.area_ids, 4, 0, um, px)
    xin, yin, tin = fields(range(200, 203), b.area_ids, 6, 1, um, px)
    xun, yun, tun = fields(range(200, 203), unseen, 6, 2, um, px)
    print(f"ideal fields: {len(xtr)} training, {len(xin)} in-scope and {len(xun)} unseen test")
    win, wun = xin, xun  # what the bundle reads: each field with its encoder's context
    if b.read_px != px:  # the same fields (seeds, centres), rendered read_px wide
        wide = b.read_px * um
        win = fields(range(200, 203), b.area_ids, 6, 1, um, b.read_px, wide)[0]
        wun = fields(range(200, 203), unseen, 6, 2, um, b.read_px, wide)[0]
    e_in, e_un = b.embed(win), b.embed(wun)
    p_in, s_in, _ = b.classify(e_in)
    _, s_un, _ = b.classify(e_un)
    acc = float((np.asarray(b.area_ids)[p_in.argmax(1).numpy()] == yin).mean())
    print("| score | classification | AUROC | " + " | ".join(unseen) + " |")
    print("|---" * (3 + len(unseen)) + "|")

    def row(name, acc, si, su):
        thr = np.quantile(si, 0.95)
        per = " | ".join(f"{(su[yun == u] > thr).mean():.2f}" for u in unseen)
        print(f"| {name} | {acc:.3f} | {open_set_auroc(si, su):.3f} | {per} |")

    row(f"bundle ({b.views} views)", acc, s_in.numpy(), s_un.numpy())
    areas = list(b.area_ids)
    cls = np.array([areas.index(v) for v in ytr])
    for reg in (False, True):
        ftr, fin, fun = (profiles(x, t, reg, um) for x, t in ((xtr, ttr), (xin, tin), (xun, tun)))
        mu = np.stack([ftr[cls == k].mean(0) for k in range(len(areas))])
        prec = LedoitWolf().fit(ftr - mu[cls]).precision_

        din, dun = (mahalanobis(f, mu, prec) for f in (fin, fun))
        acc = float((np.asarray(areas)[din.argmin(1)] == yin).mean())
        row("registered profile" if reg else "raw profile", acc, din.min(1), dun.min(1))
    print("(per unseen area: share above the 95th percentile of the in-scope scores)")


if __name__ == "__main__":
    main()
