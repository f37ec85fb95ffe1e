"""Why is a shown thickness far off? The tail of ``measure_accuracy.py``, ROI by ROI.

Draws the same squares as ``measure_accuracy.py`` (``sample_rois`` with its generator of
seed 0, brains in the order given: the squares of a brain depend on the brains before it)
and, for the ROIs named by ``--pick SEED:AREA`` (all when none), measures each as that
script does (2 µm/px scan, 16 µm/px profile, no cells) and compares every kept traverse
with the generator's truth (``truth_at``'s relative depth 0 pia .. 1 white matter at its
two ends, ``apparent_width_um`` through its middle):

- ``pia``: median relative depth of the pial ends (0: right);
- ``wm``: median relative depth of the deep ends (1: right; < 0.9: a band inside the
  cortex read as white matter; > 1.1: the border put inside the white matter);
- ``len/width``: median traverse length over the truth's apparent width through the
  traverse's middle (1: the traverse follows the ribbon as the truth's path does);
- ``short``: traverses the readout dropped as shorter than ``MIN_TRAVERSE_UM``.

A cause per ROI (``wm-shallow``, ``wm-deep``, ``pia``, ``path``: ends right but the path
longer or shorter than the ribbon's width, ``ok``) and, with ``--png DIR``, a picture of
the window: the OD, the white-matter mask (blue), the pia (green), the truth's pia and
white-matter lines (yellow contours of the relative depth 0 and 1), the traverses (red).

    PYTHONPATH=src python benchmarks/thickness_tail.py --brains 205 206 --pick 206:hIP7 --png /tmp/t
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from measure_accuracy import sample_rois

from cytowords.measure import measure_roi
from cytowords.measure.polygon import polygon_mask
from cytowords.measure.readout import MIN_TRAVERSE_UM, N_DEPTH, window_um
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import slide_matter, slide_reference
from cytowords.measure.traverses import profiles_along, trace_traverses
from cytowords.synth import section_geometry, truth_at, virtual_section
from cytowords.synth.truth import apparent_width_um


def window(section, v: np.ndarray, p: float = 16.0):
    """The readout's window of ROI ``v`` (as :func:`measure_roi`: margin, grid) and its
    ribbon (no illumination flattening: the virtual sections are evenly lit)."""
    y0, x0, hh, ww = window_um(v, p)
    img = section.read_window(y0, x0, hh, ww, p, fill=np.nan)
    outside = ~np.isfinite(img)
    img = np.where(outside, 0, img)
    ref = slide_reference(section.levels)
    matter = slide_matter(section.levels, section.pixel_size_um, ref)
    rib = segment(img, p, ref, outside, matter)
    roi = polygon_mask(v, (y0, x0), img.shape, p) & ~outside
    return rib, roi, (y0, x0), p


def diagnose(geom, r, rib, roi, origin, p) -> dict:
    """Per-ROI figures (see the module docstring) from the readout ``r`` and its ribbon."""
    trs = trace_traverses(rib, roi) if rib.pia.any() and rib.wm.any() else []
    all_trs, _, _ = profiles_along(rib, trs, N_DEPTH) if trs else ([], None, None)
    short = sum(t.length_um < MIN_TRAVERSE_UM for t in all_trs)
    out = {"traced": len(all_trs), "short": short}
    if not r.traverses_um:
        return out
    pia_pts = np.array([t[0] for t in r.traverses_um])
    wm_pts = np.array([t[-1] for t in r.traverses_um])
    mid_pts = np.array([t[len(t) // 2] for t in r.traverses_um])
    lengths = np.array([np.hypot(*np.diff(t, axis=0).T).sum() for t in r.traverses_um])
    width = apparent_width_um(geom, mid_pts)
    out["pia"] = float(np.median(truth_at(geom, pia_pts)["rel_depth"]))
    wm_rel = truth_at(geom, wm_pts)["rel_depth"]
    out["wm"] = float(np.median(wm_rel))
    out["wm_shallow_share"] = float(np.mean(wm_rel < 0.9))
    out["len_over_width"] = float(np.nanmedian(lengths / width))
    out["width_spread"] = float(np.nanpercentile(width, 90) / np.nanpercentile(width, 10))
    if out["wm"] < 0.9:
        cause = "wm-shallow"
    elif out["wm"] > 1.1:
        cause = "wm-deep"
    elif abs(out["pia"]) > 0.1:
        cause = "pia"
    elif abs(out["len_over_width"] - 1) > 0.1:
        cause = "path"
    else:
        cause = "ok"
    out["cause"] = cause
    return out


def picture(path: str, geom, r, rib, roi, origin, p) -> None:
    """PNG of the window: OD (grey), white matter (blue), pia (green), the ROI's outline
    (white), the truth's relative depth 0 and 1 (yellow), the kept traverses (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = rib.od.shape
    ys, xs = np.mgrid[0:h:2, 0:w:2]
    pts = np.stack([(ys.ravel() + 0.5) * p + origin[0], (xs.ravel() + 0.5) * p + origin[1]], 1)
    rel = truth_at(geom, pts)["rel_depth"].reshape(ys.shape)
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    ax.imshow(rib.od, cmap="gray_r")
    ov = np.zeros((h, w, 4))
    ov[rib.wm] = (0, 0.3, 1, 0.35)
    ov[rib.pia] = (0, 1, 0, 0.9)
    ax.imshow(ov)
    ax.contour(xs, ys, rel, levels=[0.0, 1.0], colors="yellow", linewidths=0.8)
    ax.contour(roi.astype(float), levels=[0.5], colors="white", linewidths=0.6)
    for t in r.traverses_um:
        q = (t - np.asarray(origin)) / p - 0.5
        ax.plot(q[:, 1], q[:, 0], "r-", lw=0.6)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", required=True)
    ap.add_argument("--rois", type=int, default=12)
    ap.add_argument("--pick", nargs="*", default=[], help="SEED:AREA (all ROIs when none)")
    ap.add_argument("--png", default=None, help="folder for a picture per picked ROI")
    args = ap.parse_args()
    picks = {(int(s.split(":")[0]), s.split(":")[1]) for s in args.pick}
    want = {s for s, _ in picks}
    rng = np.random.default_rng(0)
    t0 = time.process_time()
    for seed in args.brains:
        rois = sample_rois(seed, args.rois, 3000.0, rng)
        if picks and seed not in want:
            continue
        geom = section_geometry(seed)
        section = virtual_section(seed, pixel_size_um=2.0)
        for v, tr in rois:
            if picks and (seed, tr["area"]) not in picks:
                continue
            r = measure_roi(section, v, cells=False, profile_um=16.0)
            rib, roi, origin, p = window(section, v)
            d = diagnose(geom, r, rib, roi, origin, p)
            true = tr["apparent_thickness_um"] / 1000
            e = (r.thickness_mm - true) / true if r.measured else float("nan")
            print(
                f"{seed} {tr['area']:>6}: shown {r.thickness_mm:.2f} vs {true:.2f} ({e:+.0%}) "
                f"n={r.n_traverses} traced {d['traced']} short {d['short']} "
                f"sd/med {r.thickness_sd_mm / r.thickness_mm if r.measured else float('nan'):.2f} "
                f"p10/p90 {r.thickness_p10_mm:.2f}/{r.thickness_p90_mm:.2f} "
                f"oblique {r.oblique} | truth at ends: pia {d.get('pia', float('nan')):+.2f} "
                f"wm {d.get('wm', float('nan')):.2f} (shallow {d.get('wm_shallow_share', float('nan')):.2f}) "
                f"len/width {d.get('len_over_width', float('nan')):.2f} width p90/p10 "
                f"{d.get('width_spread', float('nan')):.2f} -> {d.get('cause', 'not measured')}",
                flush=True,
            )
            if args.png and r.measured:
                import os

                os.makedirs(args.png, exist_ok=True)
                picture(f"{args.png}/{seed}_{tr['area']}.png", geom, r, rib, roi, origin, p)
    print(f"{time.process_time() - t0:.0f} s CPU")


if __name__ == "__main__":
    main()
