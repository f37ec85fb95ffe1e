"""Model-free cues of an oblique cut against the generator's stretch (issue #21, session 22).

On the squares of ``measure_accuracy.sample_rois`` (pia and white matter in view), the
readout's ribbon and traverses (16 µm/px) are traced as in ``measure_roi``; then, on the
same window read at 4 µm/px, the 10–90 % rise distance (µm) of the intensity across the
pial edge and across the grey/white border is read along each traverse's end direction
(± 120 µm), and the traverse length's change per µm along the pia (a straight-line fit).
Prints per ROI the truth's stretch (apparent / perpendicular thickness) beside the cues,
and their Spearman correlations with the stretch over all ROIs:

    PYTHONPATH=src python benchmarks/oblique_cues.py --brains 205 206 207 208 209 210

Exploratory: nothing in the readout uses these cues (see CHANGELOG, Session 22).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from measure_accuracy import sample_rois
from scipy.ndimage import map_coordinates
from scipy.stats import spearmanr

from cytowords.measure.polygon import as_vertices, polygon_mask
from cytowords.measure.readout import MIN_TRAVERSE_UM
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import slide_reference
from cytowords.measure.traverses import trace_traverses
from cytowords.synth import virtual_section

COARSE_UM, FINE_UM = 16.0, 4.0


def rise_um(prof: np.ndarray, step_um: float) -> float:
    """10–90 % rise distance (µm) of an edge profile sampled every ``step_um`` µm."""
    lo, hi = np.median(prof[:5]), np.median(prof[-5:])
    if abs(hi - lo) < 1e-6:
        return float("nan")
    f = np.maximum.accumulate(np.clip((prof - lo) / (hi - lo), 0, 1))
    return float((np.searchsorted(f, 0.9) - np.searchsorted(f, 0.1)) * step_um)


def roi_cues(section, v: np.ndarray) -> dict[str, float] | None:
    """Cues of one ROI, or None where it has no pia, no white matter or < 4 traverses."""
    v = as_vertices(v)
    (ya, xa), (yb, xb) = v.min(0), v.max(0)
    p = COARSE_UM
    y0, x0 = math.floor((ya - 300) / p) * p, math.floor((xa - 300) / p) * p
    hh, ww = math.ceil((yb + 300 - y0) / p) * p, math.ceil((xb + 300 - x0) / p) * p
    img = section.read_window(y0, x0, hh, ww, p, fill=np.nan)
    outside = ~np.isfinite(img)
    rib = segment(np.where(outside, 0, img), p, slide_reference(section.levels), outside)
    roi = polygon_mask(v, (y0, x0), img.shape, p) & ~outside
    if not ((rib.pia & roi).any() and (rib.wm & roi).any()):
        return None
    trs = [t for t in trace_traverses(rib, roi) if t.length_um >= MIN_TRAVERSE_UM]
    if len(trs) < 4:
        return None
    fine = section.read_window(y0, x0, hh, ww, FINE_UM, fill=np.nan)
    fine = np.where(np.isfinite(fine), fine, np.nanmedian(fine))
    k = p / FINE_UM
    s = np.arange(-60, 61) * 0.5  # fine pixels, 2 µm steps
    pia, wm = [], []
    for t in trs:
        pts = t.points * k + (k - 1) / 2
        n = min(3, len(pts) - 1)
        for a, b, out in ((pts[0], pts[n], pia), (pts[-1 - n], pts[-1], wm)):
            d = (b - a) / (np.linalg.norm(b - a) + 1e-9)  # pia -> white matter
            c = pts[0] if out is pia else pts[-1]
            prof = map_coordinates(fine, (c[None] + s[:, None] * d[None]).T, order=1)
            out.append(rise_um(prof if prof[-1] > prof[0] else -prof, 0.5 * FINE_UM))
    lens = np.array([t.length_um for t in trs])
    starts = np.array([t.points[0] for t in trs], float) * p
    along = np.r_[0, np.cumsum(np.linalg.norm(np.diff(starts, axis=0), axis=1))]
    slope = abs(np.polyfit(along, lens, 1)[0]) if np.ptp(along) > 0 else float("nan")
    return {
        "thickness_um": float(np.median(lens)),
        "cv": float(np.std(lens) / np.median(lens)),
        "pia_um": float(np.nanmedian(pia)),
        "wm_um": float(np.nanmedian(wm)),
        "slope": float(slope),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205, 206, 207])
    ap.add_argument("--rois", type=int, default=14)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[float, dict[str, float]]] = []
    for seed in args.brains:
        section = virtual_section(seed, pixel_size_um=2.0)
        for v, tr in sample_rois(seed, args.rois, 3000.0, rng):
            c = roi_cues(section, v)
            if c is None:
                continue
            st = tr["apparent_thickness_um"] / tr["thickness_um"]
            rows.append((st, c))
            print(
                f"{seed} {tr['area']:>6} stretch {st:.3f} "
                + " ".join(f"{k} {x:.3g}" for k, x in c.items()),
                flush=True,
            )
    st = np.array([r[0] for r in rows])
    feats = {k: np.array([r[1][k] for r in rows]) for k in rows[0][1]}
    feats["wm/pia"] = feats["wm_um"] / feats["pia_um"]
    feats["wm/thickness"] = feats["wm_um"] / feats["thickness_um"]
    print(f"{len(rows)} ROIs, {int((st >= 1.1).sum())} stretched >= 1.1")
    for k, f in feats.items():
        r = spearmanr(st, f)
        print(
            f"{k:13s} Spearman {r.statistic:+.2f} (p {r.pvalue:.3f}); median stretched "
            f"{np.nanmedian(f[st >= 1.1]):.3g}, not {np.nanmedian(f[st < 1.1]):.3g}"
        )


if __name__ == "__main__":
    main()
