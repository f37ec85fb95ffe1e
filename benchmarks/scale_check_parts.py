"""What the pixel size check's acceptance curve is made of: its tiles split by truth.

Per brain (virtual section, 80 × 60 mm, rendered once at ``--pixel-um``): at each factor
``g`` (the tissue read at ``g ×`` its true size, a grid 2^(k/8)) the dense check's map of
its 16 tissue windows (:func:`cytowords.sections.scale_check.check_windows_map`, 1 view),
each tissue tile classed by the generator's truth at its centre: *cortex* of an area the
model knows, or *other* tissue (white matter, the tissue's edge). Per tile class: the share
accepted (read as a known area), the share named right, the median open-set score; and
the share of cortex tiles among the tissue tiles (which tissue the windows cover).

The check's acceptance is ``share_cortex × acc_cortex + (1 − share_cortex) × acc_other``;
the summary (``--summary FILE.jsonl``, no rendering) recombines it with each part held at
its value at the true size, to show which part moves the peak. ``--pixel-um 64`` renders
at the model's pixel size, as its training sections and fields were (no resampling at
×1); ``32`` is what ``section_scale_cues.py`` and ``roi_scale.py`` read (area means).

    python benchmarks/scale_check_parts.py --brains 200 201 202 --pixel-um 64 --out parts.jsonl
    python benchmarks/scale_check_parts.py --summary parts.jsonl
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def _mean(v: np.ndarray) -> float | None:
    return float(v.mean()) if v.size else None


def brain_rows(brain: int, pixel_um: float, factors: tuple[float, ...], bundle) -> list[dict]:
    """One row per factor: the check's tissue tiles of ``brain`` split by truth."""
    import dask.array as da

    from cytowords.atlas import load_atlas
    from cytowords.mapping.dense import dense_layout
    from cytowords.sections import Section
    from cytowords.sections.scale_check import (
        DENSE_WINDOWS,
        check_windows_map,
        rescaled,
        tissue_points,
    )
    from cytowords.synth import section_geometry, virtual_section

    atlas = load_atlas()
    known = [atlas.label_of(a) for a in bundle.area_ids]
    stride_um = dense_layout(bundle.encoder).stride_px * float(bundle.pixel_size_um)
    img = np.asarray(virtual_section(brain, size_mm=(80, 60), pixel_size_um=pixel_um).levels[0])
    sec = Section([da.from_array(img, chunks=1024)], [pixel_um], f"virtual-section-{brain}")
    geom = section_geometry(brain, size_mm=(80, 60))
    points = tissue_points(sec, DENSE_WINDOWS, 0)  # as check_pixel_size draws them
    rows = []
    for g in factors:
        s = rescaled(sec, g)
        m = check_windows_map(s, bundle, points * s.shape_um, stride_um)
        iy, ix = np.nonzero(m.labels > 0)
        yc = (m.origin_um[0] + (iy + 0.5) * m.pixel_size_um) / g  # true µm
        xc = (m.origin_um[1] + (ix + 0.5) * m.pixel_size_um) / g
        truth = np.asarray(geom.query(xc, yc)["label"]).astype(int)
        cortex = np.isin(truth, known)
        acc = ~m.rejected[iy, ix]
        right = acc & (m.labels[iy, ix] == truth)
        ood = m.ood_score[iy, ix]
        rows.append(
            dict(
                brain=brain,
                pixel_um=pixel_um,
                f=g,
                n=int(len(iy)),
                share_cortex=_round(_mean(cortex)),
                acc_all=_round(_mean(acc)),
                acc_cortex=_round(_mean(acc[cortex])),
                acc_other=_round(_mean(acc[~cortex])),
                right_cortex=_round(_mean(right[cortex])),
                ood_median_cortex=_round(float(np.median(ood[cortex])) if cortex.any() else None),
            )
        )
    return rows


def summary(rows: list[dict]) -> list[str]:
    """Median over brains of the peak factor and of the acceptance relative to the peak at
    ×1, ×0.8 and ×1.33, for the check as run and with parts held at their ×1 values."""
    brains = sorted({r["brain"] for r in rows})
    fs = sorted({r["f"] for r in rows})

    def grid(k: str) -> np.ndarray:
        by = {(r["brain"], r["f"]): r[k] for r in rows}
        return np.array([[np.nan if by[b, f] is None else by[b, f] for f in fs] for b in brains])

    s, ac, ao = grid("share_cortex"), grid("acc_cortex"), grid("acc_other")
    i1 = fs.index(1.0)
    s1, ac1, ao1 = s[:, [i1]], ac[:, [i1]], ao[:, [i1]]
    parts = {
        "the check as run": grid("acc_all"),
        "tile mix held at x1": s1 * ac + (1 - s1) * ao,
        "only cortex acceptance varies": s1 * ac + (1 - s1) * ao1,
        "only other-tissue acceptance varies": s1 * ac1 + (1 - s1) * ao,
        "only the tile mix varies": s * ac1 + (1 - s) * ao1,
    }

    def near(x: float) -> int:
        return int(np.argmin(np.abs(np.log(np.asarray(fs) / x))))

    out = [f"{len(brains)} brains, factors {fs[0]}..{fs[-1]}"]
    for name, a in parts.items():
        peak = np.array([fs[int(np.nanargmax(v))] for v in a])
        rel = a / np.nanmax(a, axis=1, keepdims=True)
        at = {x: float(np.nanmedian(rel[:, near(x)])) for x in (1.0, 0.8, 1.33)}
        out.append(
            f"{name}: peak x{np.median(peak):.2f} (median), relative to it "
            f"{at[1.0]:.2f} at x1, {at[0.8]:.2f} at x{fs[near(0.8)]}, "
            f"{at[1.33]:.2f} at x{fs[near(1.33)]}"
        )
    for k in ("acc_cortex", "acc_other", "share_cortex", "right_cortex", "ood_median_cortex"):
        med = np.nanmedian(grid(k), axis=0)
        out.append(f"{k} by factor (median): " + " ".join(f"{v:.3f}" for v in med))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+")
    ap.add_argument(
        "--pixel-um", type=float, default=64.0, help="µm/px the sections are rendered at"
    )
    ap.add_argument("--kmin", type=int, default=-8, help="smallest factor 2^(kmin/8)")
    ap.add_argument("--kmax", type=int, default=6, help="largest factor 2^(kmax/8)")
    ap.add_argument("--out", default=None, help="append the rows (JSON lines) here")
    ap.add_argument("--summary", default=None, help="summarise this rows file and stop")
    a = ap.parse_args()
    if a.summary:
        with open(a.summary) as f:
            print("\n".join(summary([json.loads(line) for line in f if line.strip()])))
        return
    if not a.brains:
        ap.error("--brains is required without --summary")
    import torch

    from cytowords.model import get_bundle

    torch.set_num_threads(1)
    bundle = get_bundle("default", "cpu", captioner=False)
    factors = tuple(round(2.0 ** (k / 8.0), 4) for k in range(a.kmin, a.kmax + 1))
    for b in a.brains:
        c0, t0 = time.process_time(), time.perf_counter()
        rows = brain_rows(b, a.pixel_um, factors, bundle)
        for r in rows:
            print(json.dumps(r), flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        print(f"brain {b}: {cpu:.1f} s CPU, {wall:.1f} s wall", flush=True)


if __name__ == "__main__":
    main()
