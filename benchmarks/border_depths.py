"""Depth registration of the border finder's profiles on synthetic sections (diagnostic).

Does the border finder miss borders because its profiles are sampled at the wrong depths?
For each path (as in ``benchmarks/borders.py``: paths along the pial outline of the
default, realistic generator's virtual sections) :func:`cytowords.measure.borders.find_borders`
runs once with its defaults; its traverses are then sampled again, at the same stations,
in several ways, and each set of profiles goes through the same statistics
(:func:`cytowords.measure.border_stats.detect_borders`, station and traverse truth, all
borders and those between differing profiles, as in ``benchmarks/borders.py``):

* ``default``: the finder's profiles (equivolumetric depths, the bend read from the
  traverses' spacing at the pia and at the white matter, :func:`column_bend`);
* ``default, resampled``: the same depths, interpolated from :data:`N_DENSE` equidistant
  samples as every variant below is (a control: what the interpolation alone changes);
* ``equidistant``: equal shares of each traverse's length (``equivolume=False``);
* ``true bend``: equivolumetric depths with the generator's bend ``k = κ T`` at each
  traverse (median over its middle 80 %) in place of the estimate (an oracle);
* ``true depth``: at the generator's own depth coordinate along each traverse (its volume
  axis: true relative depth, Bok's bend and the layer borders' undulation; also corrects
  traverses that end short of or beyond the white matter: an oracle, the best any depth
  registration could do on these traverses);
* ``true relative depth``: the generator's relative depth without the bend (traverse ends
  only), ``true relative depth + bend`` both (no undulation);
* ``layer I``: the default's profiles warped piecewise linearly so that each traverse's
  own layer I / II border (:func:`cytowords.measure.layers._layer_i`, read as the readout
  reads it on one traverse) falls on the path's median (landmark registration), and the
  same on the equidistant profiles.

Also printed: the bend estimate against the generator's (correlation, RMS error), the
depth error of each sampling on the generator's volume axis (RMS over all samples, and
of each traverse's mean: a shift), and the share of each tested feature's variance over
a path that lies within the true areas (station truth; 1 would be no difference between
areas at all).

    PYTHONPATH=src python benchmarks/border_depths.py --brains 205 206 209 210 211 212
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
from scipy import ndimage as ndi
from scipy.ndimage import gaussian_filter1d

import cytowords.measure.borders as borders_mod
from cytowords.measure import MeasureError
from cytowords.measure.border_stats import (
    FEATURE_NAMES,
    TESTED_FEATURES,
    detect_borders,
    profile_features,
)
from cytowords.measure.layers import PIA_EDGE_UM, _layer_i
from cytowords.measure.traverses import column_bend, depth_points, equivolume_depth
from cytowords.synth import virtual_section
from cytowords.synth.truth import _geometry, truth_at

sys.path.insert(0, str(Path(__file__).resolve().parent))
from borders import PROFILE_DIFFERENCE, Score, profile_difference  # noqa: E402

#: samples per traverse for the resampled variants (equidistant, then interpolated)
N_DENSE = 400
N = 100
ALPHA = (np.arange(N) + 0.5) / N
VARIANTS = (
    "default",
    "default, resampled",
    "equidistant",
    "true bend",
    "true depth",
    "true relative depth",
    "true relative depth + bend",
    "layer I",
    "layer I, equidistant",
)


def _resample(dense: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """Rows of ``dense`` (bin centres, equidistant) at relative depths ``depths``."""
    x = (np.arange(dense.shape[1]) + 0.5) / dense.shape[1]
    return np.stack([np.interp(d, x, row) for d, row in zip(depths, dense)])


def _invert(coord: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Relative depths along each traverse where ``coord`` (rows, on the dense bins)
    reaches ``want`` (its running maximum, so that it rises)."""
    x = (np.arange(coord.shape[1]) + 0.5) / coord.shape[1]
    w = np.broadcast_to(want, (len(coord), len(ALPHA)))
    return np.stack([np.interp(wi, np.maximum.accumulate(c), x) for wi, c in zip(w, coord)])


def layer_i_landmark(profiles: np.ndarray, lengths_um: np.ndarray) -> np.ndarray:
    """Each profile warped piecewise linearly (pia 0, white matter 1 fixed) so that its own
    layer I / II border falls on the median over the rows; rows without one unchanged."""
    depth = (np.arange(profiles.shape[1]) + 0.5) / profiles.shape[1]
    b = np.array(
        [
            _layer_i(gaussian_filter1d(q, 1.0, mode="nearest"), depth, PIA_EDGE_UM / L)
            for q, L in zip(profiles, lengths_um)
        ]
    )
    out = profiles.copy()
    if not np.isfinite(b).any():
        return out
    m = float(np.nanmedian(b))
    for i in np.flatnonzero(np.isfinite(b)):
        src = np.where(depth < m, depth * b[i] / m, b[i] + (depth - m) * (1 - b[i]) / (1 - m))
        out[i] = np.interp(src, depth, profiles[i])
    return out


def within_share(profiles: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Share of each tested feature's sum of squares over the path that lies within the
    runs of one true area."""
    f = profile_features(profiles)[:, [FEATURE_NAMES.index(n) for n in TESTED_FEATURES]]
    seg = np.concatenate([[0], np.cumsum(area[1:] != area[:-1])])
    within = sum(((f[seg == s] - f[seg == s].mean(0)) ** 2).sum(0) for s in np.unique(seg))
    return within / np.maximum(((f - f.mean(0)) ** 2).sum(0), 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205, 206])
    ap.add_argument("--paths", type=int, default=2, help="paths per brain")
    ap.add_argument("--length-mm", type=float, default=20.0)
    ap.add_argument("--min-support", type=float, nargs="+", default=[0.5, 0.75])
    args = ap.parse_args()
    captured: dict = {}
    original = borders_mod.profiles_along

    def capture(rib, trs, *a, **kw):
        out = original(rib, trs, *a, **kw)
        captured["rib"], captured["trs"] = rib, out[0]
        return out

    score: dict = {}
    err: dict = {v: [] for v in VARIANTS}
    share: dict = {v: [] for v in VARIANTS}
    k_pairs = []
    total_mm = 0.0
    t0 = time.time()
    for brain in args.brains:
        sec = virtual_section(brain)
        g = _geometry(sec)
        g._build()
        s = g._arclen
        starts = np.linspace(0, g.perimeter_um - args.length_mm * 1000, args.paths + 1)[:-1]
        for a in starts:
            path = g._poly[(s >= a) & (s <= a + args.length_mm * 1000)][:, ::-1]
            try:
                with mock.patch.object(borders_mod, "profiles_along", capture):
                    r = borders_mod.find_borders(sec, path)
            except MeasureError as exc:
                print(f"brain {brain} path at {a / 1000:.0f} mm: {exc}")
                continue
            rib, trs = captured["rib"], captured["trs"]
            p = rib.pixel_um
            origin = r.traverses_um[0][0] - (trs[0].points[0] + 0.5) * p
            img = ndi.gaussian_filter(rib.od, max(0.5, 8.0 / p))
            pts = np.concatenate([depth_points(t, N_DENSE) for t in trs], axis=1)
            dense = ndi.map_coordinates(img, pts, order=1, mode="nearest").reshape(-1, N_DENSE)
            um = (pts.T + 0.5) * p + origin
            depth, along, _, _, _, th, kk = g.local(um[:, 1], um[:, 0])
            vol = g.table_depth(depth, along, th, kk).reshape(-1, N_DENSE)
            rel = (depth / th).reshape(-1, N_DENSE)
            k_pts = np.zeros(len(um)) if kk is None else np.asarray(kk)
            k_true = np.median(k_pts.reshape(-1, N_DENSE)[:, N_DENSE // 10 : -N_DENSE // 10], 1)
            k_est = column_bend(trs)
            k_pairs.append((k_est, k_true))
            lengths = np.array([np.hypot(*np.diff(t, axis=0).T).sum() for t in r.traverses_um])
            d = {
                "default, resampled": np.stack([equivolume_depth(ALPHA, k) for k in k_est]),
                "equidistant": np.tile(ALPHA, (len(trs), 1)),
                "true bend": np.stack([equivolume_depth(ALPHA, k) for k in k_true]),
                "true depth": _invert(vol, ALPHA),
                "true relative depth": _invert(rel, ALPHA),
                "true relative depth + bend": _invert(
                    rel, np.stack([equivolume_depth(ALPHA, k) for k in k_true])
                ),
            }
            prof = {name: _resample(dense, dd) for name, dd in d.items()}
            prof = {"default": r.profiles, **prof}
            prof["layer I"] = layer_i_landmark(r.profiles, lengths)
            prof["layer I, equidistant"] = layer_i_landmark(prof["equidistant"], lengths)
            xd = (np.arange(N_DENSE) + 0.5) / N_DENSE
            for name, dd in d.items():
                err[name].append(np.stack([np.interp(di, xd, v) for di, v in zip(dd, vol)]) - ALPHA)
            st_area = truth_at(sec, r.station_um)["area"]
            mids = np.array([t[len(t) // 2] for t in r.traverses_um])
            truths = {"station": st_area, "traverse": truth_at(sec, mids)["area"]}
            bmin = min(r.block_sizes)
            total_mm += r.path_length_um / 1000
            for name, pr in prof.items():
                share[name].append(within_share(pr, st_area))
                for v in args.min_support:
                    det = detect_borders(pr, r.block_sizes, lengths_um=lengths, min_support=v)
                    got = r.positions_along_um[det["positions"]]
                    for tname, area in truths.items():
                        ch = np.flatnonzero(area[1:] != area[:-1]) + 1
                        ch = ch[(ch >= bmin) & (ch <= len(area) - bmin)]
                        true_um = r.positions_along_um[ch]
                        pairs = ["/".join(sorted((str(area[c - 1]), str(area[c])))) for c in ch]
                        differ = np.array(
                            [
                                profile_difference(g.brain, str(area[c - 1]), str(area[c]))
                                for c in ch
                            ]
                        )
                        for sub in ("all", "differing"):
                            sc = score.setdefault((name, v, tname, sub), Score())
                            sc.add(
                                true_um,
                                pairs,
                                got,
                                None if sub == "all" else differ >= PROFILE_DIFFERENCE,
                            )
            print(
                f"brain {brain} path at {a / 1000:.0f} mm: {len(trs)} traverses, bend "
                f"estimate vs true r = {np.corrcoef(k_est, k_true)[0, 1]:.2f} "
                f"({time.time() - t0:.0f} s)",
                flush=True,
            )
    if not k_pairs:
        print("no path ran")
        return
    ke = np.concatenate([e for e, _ in k_pairs])
    kt = np.concatenate([t for _, t in k_pairs])
    print(
        f"{len(k_pairs)} paths, {total_mm:.0f} mm. Bend k = κT: true median {np.median(kt):.2f} "
        f"(quartiles {np.percentile(kt, 25):.2f}, {np.percentile(kt, 75):.2f}; RMS "
        f"{np.sqrt(np.mean(kt**2)):.2f}); estimate vs true r = {np.corrcoef(ke, kt)[0, 1]:.2f}, "
        f"RMS error {np.sqrt(np.mean((ke - kt) ** 2)):.2f}"
    )
    for name in VARIANTS:
        line = f"{name}: within-area share of feature variance {np.mean(share[name]):.3f}"
        if err[name]:
            e = np.concatenate(err[name])
            line += (
                f"; depth error on the volume axis RMS {np.sqrt(np.mean(e**2)):.3f}, "
                f"of the traverse mean {np.sqrt(np.mean(e.mean(1) ** 2)):.3f}"
            )
        print(line)
        for v in args.min_support:
            parts = []
            for tname in ("station", "traverse"):
                al, df = score[name, v, tname, "all"], score[name, v, tname, "differing"]
                parts.append(
                    f"{tname} {al.found}/{al.n_true}, differing {df.found}/{df.n_true}, "
                    f"false {al.n_false} ({20 * al.n_false / total_mm:.2f} per 20 mm)"
                )
            print(f"  min support {v:g}: " + "; ".join(parts))
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
