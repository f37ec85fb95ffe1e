"""Why does the readout find no white matter in a square whose truth shows some?

For the squares of ``measure_accuracy.py`` named by ``--pick SEED:AREA`` (same brains in
the same order), prints the truth's white matter inside the ROI and its window (area in
mm², its inscribed radius in µm, its share beyond layer I's reach from the glass) and the
stages of :func:`.ribbon._white_matter` (the window's density levels, the slide's white
and grey matter, the pale mask, its cores); with ``--png DIR`` a picture: OD, the pale
class (cyan), white matter (blue), pale band set aside (magenta), truth's 0/1 depth
(yellow), the ROI (white).

    PYTHONPATH=src python benchmarks/wm_missing.py --brains 205 206 --rois 14 --pick 206:FG2 --png /tmp/w
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from measure_accuracy import sample_rois
from scipy import ndimage as ndi
from skimage.filters import threshold_multiotsu
from thickness_tail import window

from cytowords.measure import ribbon as rb
from cytowords.measure.slide import slide_matter, slide_reference
from cytowords.synth import section_geometry, truth_at, virtual_section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", required=True)
    ap.add_argument("--rois", type=int, default=12)
    ap.add_argument("--pick", nargs="+", required=True, help="SEED:AREA")
    ap.add_argument("--png", default=None)
    args = ap.parse_args()
    picks = {(int(s.split(":")[0]), s.split(":")[1]) for s in args.pick}
    rng = np.random.default_rng(0)
    for seed in args.brains:
        rois = sample_rois(seed, args.rois, 3000.0, rng)
        if seed not in {s for s, _ in picks}:
            continue
        geom = section_geometry(seed)
        section = virtual_section(seed, pixel_size_um=2.0)
        for v, tr in rois:
            if (seed, tr["area"]) not in picks:
                continue
            rib, roi, origin, p = window(section, v)
            h, w = rib.od.shape
            ys, xs = np.mgrid[0:h, 0:w]
            pts = np.stack([(ys.ravel() + 0.5) * p + origin[0], (xs.ravel() + 0.5) * p + origin[1]], 1)
            t = truth_at(geom, pts)
            rel = t["rel_depth"].reshape(h, w)
            twm = (rel > 1) & rib.tissue
            glass = ~rib.tissue  # approx.: the window's non-tissue (glass or beyond the section)
            far = ndi.distance_transform_edt(~glass) * p > rb.LAYER_I_MAX_UM
            r_in = ndi.distance_transform_edt(twm).max() * p
            r_roi = ndi.distance_transform_edt(twm & roi).max() * p if (twm & roi).any() else 0
            ref = slide_reference(section.levels)
            matter = slide_matter(section.levels, section.pixel_size_um, ref)
            cand = rib.tissue & far
            vals = rib.density[cand]
            th = threshold_multiotsu(vals, classes=3)
            med_twm = float(np.median(rib.density[twm])) if twm.any() else float("nan")
            med_twm_far = float(np.median(rib.density[twm & far])) if (twm & far).any() else float("nan")
            mid = 0.5 * (matter[0] + matter[1])
            print(
                f"{seed} {tr['area']}: truth WM in ROI {(twm & roi).sum() * p * p / 1e6:.3f} mm² "
                f"(r {r_roi:.0f} µm), window {twm.sum() * p * p / 1e6:.2f} mm² (r {r_in:.0f} µm, "
                f"beyond LI reach {np.mean(far[twm]) if twm.any() else 0:.2f}) | slide wm/grey "
                f"{matter[0]:.3f}/{matter[1]:.3f} mid {mid:.3f} wm_like "
                f"{matter[0] + rb.WM_LIKE_SHARE * (matter[1] - matter[0]):.3f} | window otsu3 "
                f"{th[0]:.3f}/{th[1]:.3f} wm_level {rib.wm_level:.3f} grey {rib.grey_level:.3f} | "
                f"truth WM density med {med_twm:.3f} (far {med_twm_far:.3f}) | found wm "
                f"{rib.wm.sum() * p * p / 1e6:.2f} mm² (in ROI {(rib.wm & roi).sum()}) band "
                f"{0 if rib.pale_band is None else rib.pale_band.sum() * p * p / 1e6:.2f} mm² "
                f"(in ROI {0 if rib.pale_band is None else (rib.pale_band & roi).sum()}) "
                f"glass px {glass.sum()}",
                flush=True,
            )
            if args.png:
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot as plt

                os.makedirs(args.png, exist_ok=True)
                fig, axs = plt.subplots(1, 2, figsize=(12, 6), dpi=90)
                axs[0].imshow(rib.od, cmap="gray_r")
                ov = np.zeros((h, w, 4))
                ov[rib.wm] = (0, 0.3, 1, 0.4)
                if rib.pale_band is not None:
                    ov[rib.pale_band] = (1, 0, 1, 0.4)
                ov[rib.pia] = (0, 1, 0, 0.9)
                axs[0].imshow(ov)
                axs[1].imshow(rib.density, cmap="viridis")
                for ax in axs:
                    ax.contour(rel, levels=[0.0, 1.0], colors="yellow", linewidths=0.8)
                    ax.contour(roi.astype(float), levels=[0.5], colors="white", linewidths=0.6)
                    ax.contour(far.astype(float), levels=[0.5], colors="red", linewidths=0.5)
                    ax.set_axis_off()
                fig.tight_layout()
                fig.savefig(f"{args.png}/{seed}_{tr['area']}.png")
                plt.close(fig)


if __name__ == "__main__":
    main()
