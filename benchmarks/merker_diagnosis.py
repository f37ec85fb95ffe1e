"""Why the readout loses regions on a Merker-like (silver-stain) contrast: per ROI, the
slide's and the window's levels against the generator's truth.

The ROIs of ``benchmarks/readout_shifts.py`` (the same selection and random stream) are
measured on the clean scan and on ``--shift`` (default ``Merker-like``); for each ROI the
window's segmentation (``ribbon.segment``) is kept and compared, pixel by pixel, with the
truth (``truth_at``: relative depth, < 0 glass, >= 1 white matter). Printed per ROI, as
optical densities (natural log, the readout's unit):

- the slide's white / grey matter (``slide_matter``), their mid-point and the
  ``WM_LIKE_SHARE`` level (the pale-band rule of ``ribbon._white_matter``);
- the window's density (``Ribbon.density``) median in the true white matter deeper than
  300 µm under the border (``wm``), within 300 µm of it (``wm@border``), in the deepest
  fifth of the true cortex (``deep``) and over the true cortex (``cortex``);
- the window's white/grey levels (``Ribbon.wm_level``, ``grey_level``), what was taken as
  white matter and set aside as a pale band (its share of true white matter and its median
  density);
- under the tissue threshold (``ribbon._pale_tissue``): the level pale tissue must exceed
  and the noise it is read from, the true white matter's share above the threshold and in
  the final tissue, its smoothed OD, the true glass's;
- the readout's glass inside the true white matter (deeper than 100 µm under the border):
  its parts (up to six), each with its size (px), inscribed radius (µm), median smoothed
  OD, share of true white matter and whether it reaches the window's edge;
- where the pia was placed: the true depth (µm) of the readout's pia pixels (median; > 0:
  inside the true cortex), and the OD of the true layer I's outer 50 µm against the tissue
  threshold (``TISSUE_SHARE`` of the slide's typical tissue OD).

    PYTHONPATH=src python benchmarks/merker_diagnosis.py --brains 322 323 --rois 12
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage as ndi

from cytowords.measure import measure_roi
from cytowords.measure import readout as _readout
from cytowords.measure import ribbon as _ribbon
from cytowords.measure import slide as _slide
from cytowords.synth import section_geometry
from cytowords.synth.truth import truth_at


def main() -> None:
    import tempfile
    from pathlib import Path

    from measure_accuracy import sample_rois
    from readout_shifts import finest_level, reading, shifted, write_and_open

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[322, 323])
    ap.add_argument("--rois", type=int, default=12)
    ap.add_argument("--shift", default="Merker-like")
    ap.add_argument("--profile-um", type=float, default=16.0)
    ap.add_argument("--all", action="store_true", help="print measured ROIs too")
    ap.add_argument("--pick", nargs="*", default=[], help="SEED:AREA (only these ROIs, printed "
                    "measured or not)")
    ap.add_argument("--png", default=None, help="folder for a picture per printed ROI")
    ap.add_argument("--dump", default=None, help="folder for the window's segment() input "
                    "and truth per printed ROI (.npz)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="merker_diag_"))
    kept: list = []
    orig = _readout.segment

    def spy(img, p, ref, outside, matter):
        rib = orig(img, p, ref, outside, matter)
        kept.append((rib, ref, matter, img, outside))
        return rib

    _readout.segment = spy
    pale_args: list = []
    orig_pale = _ribbon._pale_tissue

    def spy_pale(img, glass, smooth, tissue, outside, pixel_um, *a):
        pale_args[:] = [(img, glass, smooth, tissue, outside, pixel_um, *a)]
        return orig_pale(img, glass, smooth, tissue, outside, pixel_um, *a)

    _ribbon._pale_tissue = spy_pale
    picks = {(int(k.split(":")[0]), k.split(":")[1]) for k in args.pick}
    for seed in args.brains:
        rois = sample_rois(seed, args.rois, 3000.0, rng)  # every brain: the same stream
        if picks and not any(s == seed for s, _ in picks):
            continue
        base, px = finest_level(seed, 16.0)
        geom = section_geometry(seed)
        secs = {}
        for name in ("clean", args.shift):
            _slide._REF_CACHE.clear()
            _slide._MATTER_CACHE.clear()
            kind, data = shifted(name, base, seed)
            secs[name] = write_and_open(kind, data, px, work, f"{seed}-{name.replace(' ', '_')}")
        for i, (v, tr) in enumerate(rois):
            if picks and (seed, tr["area"]) not in picks:
                continue
            rows = {}
            for name, sec in secs.items():
                _slide._REF_CACHE.clear()
                _slide._MATTER_CACHE.clear()
                kept.clear()
                r = measure_roi(sec, v, cells=False, profile_um=args.profile_um)
                rows[name] = (r, reading(r, tr), kept[-1])
            r, row, (rib, ref, matter, img_in, out_in) = rows[args.shift]
            if row["measured"] and not (args.all or picks):
                continue
            p = args.profile_um
            y0, x0, _, _ = _readout.window_um(v, p)
            h, w = rib.od.shape
            yy, xx = np.mgrid[0:h, 0:w]
            pts = np.stack([(yy.ravel() + 0.5) * p + y0, (xx.ravel() + 0.5) * p + x0], 1)
            t = truth_at(geom, pts)
            rel = t["rel_depth"].reshape(h, w)
            th = t["thickness_um"].reshape(h, w)
            twm = rel >= 1
            tcx = (rel >= 0) & (rel < 1)
            d_border = ndi.distance_transform_edt(twm) * p
            dens = rib.density

            def med(m, dens=dens):
                return f"{np.median(dens[m]):.3f}" if m.any() else "-"

            c = rows["clean"][1]
            print(f"{seed} roi{i} {tr['area']:>6} clean {format(c['th'], '.2f') if c['measured'] else 'lost'}"
                  f" {args.shift}: " + (f"{row['th']:.2f} (truth {row['true_th']:.2f}) L1 {row['l1']:.0f}"
                                         f" (truth {row['true_l1']:.0f})" if row["measured"] else
                                         "lost: " + "; ".join(r.reasons)[:200]))
            if matter is not None:
                mw, mg = matter
                print(f"   slide wm {mw:.3f} grey {mg:.3f} mid {(mw + mg) / 2:.3f} wm_like "
                      f"{mw + _ribbon.WM_LIKE_SHARE * (mg - mw):.3f} tissue_od {ref[1]:.3f}")
            else:
                print(f"   slide matter None; ref {ref}")
            print(f"   window wm_level {rib.wm_level:.3f} grey_level {rib.grey_level:.3f}; truth: "
                  f"wm {med(twm & (d_border > 300))} wm@border {med(twm & (d_border <= 300))} "
                  f"deep {med(tcx & (rel > 0.8))} cortex {med(tcx)}; true wm px {int(twm.sum())}")
            wm = rib.wm
            if pale_args:
                img_, glass_, smooth_, tis_, out_, pum = pale_args[0][:6]
                cand = ~tis_ & ~out_
                logi = np.log(np.maximum(img_, glass_ * 1e-3).astype(np.float32))
                fine = logi - ndi.gaussian_filter(logi, max(0.7, 15.0 / pum))
                dev = fine[cand]
                noise = 1.4826 * float(np.median(np.abs(dev - np.median(dev)))) if dev.size else float("nan")
                glass_t = rel < 0
                print(f"   pale-tissue: level {_ribbon.GLASS_OD_SPREAD + _ribbon.PALE_NOISE * noise:.3f} (noise {noise:.4f}); "
                      f"true wm: above-threshold share {tis_[twm].mean():.2f}, final tissue share {rib.tissue[twm].mean():.2f}, "
                      f"smooth OD median {np.median(smooth_[twm]):.3f} p10 {np.percentile(smooth_[twm], 10):.3f}; "
                      f"true glass px {int(glass_t.sum())} smooth OD p90 {np.percentile(smooth_[glass_t], 90) if glass_t.any() else float('nan'):.3f}")
            print(f"   read wm px {int(wm.sum())} (true wm share {twm[wm].mean() if wm.any() else 0:.2f},"
                  f" median {med(wm)}); pale band "
                  + (f"px {int(rib.pale_band.sum())} true-wm share {twm[rib.pale_band].mean():.2f} "
                     f"median {med(rib.pale_band)} deep-wm-share "
                     f"{(twm & (d_border > 300))[rib.pale_band].mean():.2f}"
                     if rib.pale_band is not None else "none"))
            if pale_args:
                # what is glass inside the true white matter: components of the readout's
                # glass (not tissue) that overlap the true white matter deeper than 100 µm
                smooth_ = pale_args[0][2]
                gl = ~rib.tissue & ~pale_args[0][4]
                lab, n = ndi.label(gl)
                ids = np.unique(lab[twm & (d_border > 100)])
                ids = ids[ids > 0]
                edge = np.zeros(n + 1, bool)
                edge[np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))] = True
                dist = ndi.distance_transform_edt(gl) * p
                parts = []
                for k in ids[:6]:
                    m = lab == k
                    parts.append(f"{int(m.sum())}px r{dist[m].max():.0f} od{np.median(smooth_[m]):.3f}"
                                 f" wm{twm[m].mean():.2f}{' edge' if edge[k] else ''}")
                print(f"   glass in true wm: {len(ids)} parts " + "; ".join(parts))
            if rib.pia.any():
                pd = (rel * th)[rib.pia]
                ok = np.isfinite(pd)
                outer = tcx & (rel * th < 50)
                print(f"   pia true depth median {np.median(pd[ok]):.0f} µm (10/90 {np.percentile(pd[ok], 10):.0f}"
                      f"/{np.percentile(pd[ok], 90):.0f}); true L1 outer 50 µm od median "
                      f"{np.median(rib.od[outer]) if outer.any() else float('nan'):.3f} vs threshold "
                      f"{_ribbon.TISSUE_SHARE * ref[1]:.3f}")
            if args.dump:
                Path(args.dump).mkdir(parents=True, exist_ok=True)
                np.savez_compressed(
                    Path(args.dump) / f"{seed}_{tr['area']}_{args.shift.replace(' ', '_')}.npz",
                    img=img_in, outside=out_in, pixel_um=p, ref=np.asarray(ref),
                    matter=np.asarray(matter if matter is not None else (np.nan, np.nan)),
                    rel=rel, th=th, clean_img=rows["clean"][2][3], clean_ref=np.asarray(rows["clean"][2][1]),
                    clean_matter=np.asarray(rows["clean"][2][2]), roi=v, y0x0=np.asarray([y0, x0]),
                    true_th=row["true_th"])
            if args.png:
                picture(Path(args.png) / f"{seed}_{tr['area']}_{args.shift.replace(' ', '_')}.png",
                        rib, rows["clean"][2][0], rel, th, p, ref, f"{seed} {tr['area']}")
        for pth in work.glob(f"{seed}-*"):
            import shutil

            shutil.rmtree(pth) if pth.is_dir() else pth.unlink()


def picture(path, rib, clean, rel, th, p, ref, title) -> None:
    """The shifted and clean window's OD with the readout's masks, the truth's pia and
    white-matter border, and the OD across the true depth (µm from the true pia)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(1, 4, figsize=(22, 5.5))
    for a, r, name in ((ax[0], rib, "shifted"), (ax[1], clean, "clean")):
        a.imshow(r.od, cmap="gray_r", vmin=0, vmax=np.percentile(r.od, 99))
        a.contour(rel, [0, 1], colors=["lime", "cyan"], linewidths=0.8)
        a.contour(r.tissue, [0.5], colors="orange", linewidths=0.6)
        ys, xs = np.nonzero(r.pia)
        a.plot(xs, ys, ",", color="red")
        a.set_title(f"{title} {name} OD; truth pia lime, wm cyan; tissue orange, pia red")
    over = np.zeros(rib.od.shape + (3,))
    over[..., 0] = rib.tissue * 0.5
    over[..., 2] = rib.wm
    over[..., 1] = rib.pale_band if rib.pale_band is not None else 0
    over[rib.pia] = (1, 0, 0)
    ax[2].imshow(over)
    ax[2].contour(rel, [0, 1], colors=["lime", "cyan"], linewidths=0.8)
    ax[2].set_title("tissue (dark red), wm (blue), pale band (green), pia (red)")
    d = rel * th
    ok = np.isfinite(d)
    bins = np.arange(-400, 3600, 32.0)
    k = np.digitize(d[ok], bins)
    for r, name in ((rib, "shifted"), (clean, "clean")):
        sm = ndi.gaussian_filter(r.od, max(0.7, 15.0 / p))[ok]
        med = [np.median(sm[k == j]) if (k == j).sum() > 20 else np.nan for j in range(1, len(bins))]
        ax[3].plot(bins[:-1] + 16, med, label=f"{name} smoothed OD")
    ax[3].axhline(_ribbon.TISSUE_SHARE * ref[1], color="k", ls=":", label="tissue threshold")
    pd = d[rib.pia & ok]
    if pd.size:
        ax[3].axvline(np.median(pd), color="r", label="readout pia (median true depth)")
    ax[3].legend(fontsize=7)
    ax[3].set_xlabel("true depth from the true pia (µm; <0 glass)")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


if __name__ == "__main__":
    main()
