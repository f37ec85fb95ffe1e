"""Accuracy of the model-free readout (cytowords.measure) on regions drawn as users draw them.

``measure_accuracy.py`` scores squares centred on mid-depth cortex, where pia and white
matter both run across the square. Users draw differently; on virtual sections of the
brains given, this script draws per brain up to ``--per-kind`` regions of each kind:

- ``edge``: a rectangle (2-5 × 1.5-4 mm) at any angle to the ribbon, placed over the
  grey matter so that its deepest corner or edge reaches 50-300 µm into the white matter
  (the white matter shows only along one edge or at one corner);
- ``polygon``: an irregular polygon (5-8 vertices 1.2-2.8 mm from its centre) placed the
  same way;
- ``strip``: a narrow strip (0.3-0.6 mm wide) across the ribbon (within 25° of the
  depth direction), 0.4-1.0 mm longer than the apparent thickness, centred on mid-depth;
- ``crown`` / ``fundus``: a square of 2.5-3.2 mm at any angle centred on the mid-depth of
  the most curved cortex (the unit depth direction converging with depth: a gyral crown;
  diverging: a sulcal fundus; |divergence| at least 0.25 /mm).

A region is kept by the truth test of ``measure_accuracy.py``: one area covers >= 80 % of
its cortex (``truth_in_roi``) and both the pia and the white matter are inside (points of
a 50 µm grid inside it with relative depth < 0 and > 1); for ``edge`` and ``polygon`` the
white matter must also cover at most 15 % of the region (it shows only at the edge). Each
region is measured at ``--profile-um`` µm/px without cells and scored as
``measure_accuracy.py`` scores its squares: the thickness against the apparent thickness
(the ribbon's width in the section plane, traced by ``truth_in_roi``), relative error
median and 90th percentile, and the false sentences: thickness off by > 15 %, layer IV
presence decided wrong, layer I beyond 60 µm or 30 % of the region's truth; and the
regions not measured (with the reasons, per kind and overall). The regions depend only on
the brain, ``--per-kind`` and ``--kinds`` (a generator seeded by the brain), so two
versions of the readout see the same regions.

    python benchmarks/roi_shapes.py [--brains 205 206] [--per-kind 3] [--profile-um 16]
        [--kinds edge polygon strip crown fundus]

Development brains: 200-212 and 700-751; 756-759 were first used (fresh) on 2026-12-07.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from measure_accuracy import within_layer_i
from skimage.measure import points_in_poly

from cytowords.measure import measure_roi
from cytowords.synth import section_geometry, truth_at, truth_in_roi, virtual_section

KINDS = ("edge", "polygon", "strip", "crown", "fundus")
#: the grid (µm) on which the depth direction and its divergence are read
GRID_UM = 200.0
#: at least this |divergence| of the unit depth direction (1/mm) on a crown or fundus
MIN_CURVATURE = 0.25
#: the white matter covers at most this share of an edge or polygon region
EDGE_WM_SHARE = 0.15


def depth_field(geom) -> dict:
    """The truth's relative depth on a :data:`GRID_UM` grid (margin 2 mm), its unit
    direction (deeper) and that direction's divergence (1/mm): ``ys``, ``xs`` (1-D µm),
    ``rel``, ``ny``, ``nx``, ``div`` (2-D)."""
    w, h = geom.size_um
    ys = np.arange(2000.0, h - 2000.0, GRID_UM)
    xs = np.arange(2000.0, w - 2000.0, GRID_UM)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    rel = truth_at(geom, np.stack([yy.ravel(), xx.ravel()], 1))["rel_depth"].reshape(yy.shape)
    gy, gx = np.gradient(rel, GRID_UM)
    norm = np.maximum(np.hypot(gy, gx), 1e-12)
    ny, nx = gy / norm, gx / norm
    div = (np.gradient(ny, GRID_UM, axis=0) + np.gradient(nx, GRID_UM, axis=1)) * 1000.0
    return {"ys": ys, "xs": xs, "rel": rel, "ny": ny, "nx": nx, "div": div, "grad": norm}


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return v @ np.array([[c, s], [-s, c]])


def _shape(kind: str, rng, n_dir: np.ndarray, thick_um: float) -> np.ndarray:
    """Vertices ``(K, 2)`` (y, x) µm around (0, 0) of a region of ``kind``; ``n_dir``: the
    unit depth direction (y, x), ``thick_um``: the apparent thickness there."""
    if kind in ("edge", "crown", "fundus"):
        if kind == "edge":
            a, b = rng.uniform(2000, 5000) / 2, rng.uniform(1500, 4000) / 2
        else:
            a = b = rng.uniform(2500, 3200) / 2
        v = np.array([[-a, -b], [-a, b], [a, b], [a, -b]])
        return _rotate(v, rng.uniform(0, np.pi))
    if kind == "polygon":
        k = int(rng.integers(5, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(1200, 2800, k)
        return np.stack([r * np.sin(ang), r * np.cos(ang)], 1)
    # strip: across the ribbon, within 25° of the depth direction
    half_w = rng.uniform(300, 600) / 2
    half_l = (thick_um + rng.uniform(400, 1000)) / 2
    v = np.array([[-half_l, -half_w], [-half_l, half_w], [half_l, half_w], [half_l, -half_w]])
    angle = np.arctan2(n_dir[1], n_dir[0]) + np.deg2rad(rng.uniform(-25, 25))
    # the y axis (the strip's length) turned to the depth direction
    return _rotate(v, angle)


def _inside_depths(geom, v: np.ndarray) -> np.ndarray:
    """Relative depth at the points of a 50 µm grid inside polygon ``v`` (µm)."""
    (ya, xa), (yb, xb) = v.min(0), v.max(0)
    yy, xx = np.mgrid[ya + 25 : yb : 50.0, xa + 25 : xb : 50.0]
    pts = np.stack([yy.ravel(), xx.ravel()], 1)
    pts = pts[points_in_poly(pts, v)]
    return truth_at(geom, pts)["rel_depth"] if len(pts) else np.zeros(0)


def sample_shapes(seed: int, per_kind: int, kinds=KINDS, tries: int = 400) -> list[tuple]:
    """``(kind, vertices, truth)`` of up to ``per_kind`` regions of each of ``kinds`` in
    brain ``seed`` (see the module's docstring), one area at most once per kind."""
    geom = section_geometry(seed)
    f = depth_field(geom)
    rng = np.random.default_rng([seed, 4242])
    rel, grad = f["rel"], f["grad"]
    ok = np.isfinite(rel) & (grad > 1e-5)
    out = []
    for kind in kinds:
        if kind in ("crown", "fundus"):
            sign = -1.0 if kind == "crown" else 1.0
            mid = ok & (np.abs(rel - 0.5) < 0.1) & (sign * f["div"] >= MIN_CURVATURE)
            cand = np.argwhere(mid)
            order = np.argsort(-sign * f["div"][mid])
            cand = cand[order]
        else:
            lo, hi = (0.35, 0.65) if kind == "strip" else (0.2, 0.6)
            cand = rng.permutation(np.argwhere(ok & (rel >= lo) & (rel <= hi)))
        used: set[str] = set()
        got = 0
        for iy, ix in cand[:tries]:
            if got == per_kind:
                break
            p = np.array([f["ys"][iy], f["xs"][ix]])
            n_dir = np.array([f["ny"][iy, ix], f["nx"][iy, ix]])
            t0 = truth_at(geom, p[None])
            area = str(t0["area"][0])
            if area in used:
                continue
            thick = float(t0["apparent_thickness_um"][0])
            rd = float(rel[iy, ix])
            v = _shape(kind, rng, n_dir, thick)
            if kind in ("edge", "polygon"):
                # the deepest vertex 50-350 µm into the white matter
                s_max = float((v @ n_dir).max())
                c = p + n_dir * ((1 - rd) * thick + rng.uniform(50, 300) - s_max)
            elif kind == "strip":
                c = p + n_dir * (0.5 - rd) * thick
            else:
                c = p
            v = v + c
            d = _inside_depths(geom, v)
            if d.size == 0 or d.min() >= 0 or d.max() <= 1:
                continue
            if kind in ("edge", "polygon") and np.mean(d > 1) > EDGE_WM_SHARE:
                continue
            tr = truth_in_roi(geom, v, step_um=100.0, trace=False)
            if tr is None or tr["area_share"] < 0.8:
                continue
            tr = truth_in_roi(geom, v, step_um=100.0)  # with the apparent width traced
            used.add(area)
            got += 1
            out.append((kind, v, tr))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205])
    ap.add_argument("--per-kind", type=int, default=3, help="regions of each kind per brain")
    ap.add_argument("--profile-um", type=float, default=16.0)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    args = ap.parse_args()
    t0 = time.time()
    rows: list[dict] = []
    for seed in args.brains:
        section = virtual_section(seed, pixel_size_um=2.0)
        for kind, v, tr in sample_shapes(seed, args.per_kind, tuple(args.kinds)):
            r = measure_roi(section, v, cells=False, profile_um=args.profile_um)
            row = {"kind": kind, "seed": seed, "area": tr["area"], "measured": r.measured}
            if not r.measured:
                print(f"{seed} {kind:>7} {tr['area']:>6}: not measured: {'; '.join(r.reasons)}")
                rows.append(row)
                continue
            true = tr["apparent_thickness_um"] / 1000
            e = (r.thickness_mm - true) / true
            row["err"] = e
            row["false_th"] = abs(e) > 0.15
            row["false_iv"] = r.layers.iv_present is not None and r.layers.iv_present != bool(
                tr["iv_present"]
            )
            # layer I not read (no sentence) is neither right nor false
            row["unread_l1"] = not np.isfinite(r.layers.layer_i_width_um)
            row["false_l1"] = not row["unread_l1"] and not bool(
                within_layer_i(
                    r.layers.layer_i_width_um - tr["layer_i_width_um"], tr["layer_i_width_um"]
                )
            )
            rows.append(row)
            print(
                f"{seed} {kind:>7} {tr['area']:>6}: thickness {r.thickness_mm:.2f} mm vs {true:.2f} "
                f"({e:+.0%}), n={r.n_traverses}"
                f"{f' ({r.n_set_aside} set aside)' if r.n_set_aside else ''}"
                f"{' (oblique)' if r.oblique else ''}; IV {r.layers.iv_present} vs {tr['iv_present']}; "
                f"layer I {r.layers.layer_i_width_um:.0f} vs {tr['layer_i_width_um']:.0f} µm"
                f"{'; ' + '; '.join(r.reasons) if r.reasons else ''}"
            )
    print(f"\n{len(rows)} regions, {time.time() - t0:.0f} s")
    for name in (*args.kinds, "all"):
        sel = [x for x in rows if name in ("all", x["kind"])]
        done = [x for x in sel if x["measured"]]
        if not sel:
            continue
        n, miss = len(done), len(sel) - len(done)
        fth = sum(x["false_th"] for x in done)
        fiv = sum(x["false_iv"] for x in done)
        fl1 = sum(x["false_l1"] for x in done)
        ul1 = sum(x["unread_l1"] for x in done)
        err = np.abs([x["err"] for x in done])
        stats = f"median {np.median(err):.1%}, 90th pct {np.percentile(err, 90):.1%}" if n else "-"
        print(
            f"{name:>7}: measured {n}, not measured {miss}/{len(sel)}; false sentences: "
            f"thickness > 15 % {fth}, layer IV {fiv}, layer I {fl1} (not read {ul1}), "
            f"total {fth + fiv + fl1}; "
            f"thickness |error| {stats}"
        )


if __name__ == "__main__":
    main()
