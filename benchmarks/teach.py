"""Teach areas from annotations on sections of one brain, map them on other brains.

Annotations: for each of ``--areas`` on two sections of brain ``--brain`` (two virtual
sections of the same individual: the same seed, slides of different sizes, so the
folding differs), the outline of the area's largest piece of cortex, written as QuPath
GeoJSON with the area as its class and read back with
:func:`cytowords.teach.annotations_from_geojson`. :func:`cytowords.teach.teach` fits the
model (timed); :func:`cytowords.mapping.compute_area_map` maps whole sections of
``--test-brains`` with the saved bundle. Scored per map tile whose centre lies in the
cortex (synthetic truth): accuracy over tiles of the taught areas (named right and
accepted) and the share of tiles of every other area called "other" (rejected).

    OMP_NUM_THREADS=2 nice -n 10 python benchmarks/teach.py --brain 301 --test-brains 302 303 304
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import measure

from cytowords.synth import virtual_section
from cytowords.synth.truth import truth_at
from cytowords.teach import annotations_from_geojson, save_taught, teach

SECTION_SIZES_MM = [(80, 60), (76, 58)]
LABEL_LEVEL_UM = 64.0


def area_outlines(section, areas: list[str]) -> dict:
    """QuPath GeoJSON (full-resolution pixels) with the outline of each area's largest
    piece of cortex, classified by the area id."""
    lab = section.labels["areas"]
    k = int(np.argmin([abs(p - LABEL_LEVEL_UM) for p in lab.pixel_size_um]))
    p = lab.pixel_size_um[k]
    img = np.asarray(lab.levels[k].compute())
    px0 = section.pixel_size_um[0]
    label_of = {a: v for v, a in lab.names.items()}
    feats = []
    for a in areas:
        comp, n = ndi.label(img == label_of[a])
        if n == 0:
            continue
        big = comp == (np.argmax(np.bincount(comp.ravel())[1:]) + 1)
        contour = max(measure.find_contours(np.pad(big, 1).astype(float), 0.5), key=len)[::2]
        xy = [[(c - 1 + 0.5) * p / px0, (r - 1 + 0.5) * p / px0] for r, c in contour]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [xy + [xy[0]]]},
                "properties": {"objectType": "annotation", "classification": {"name": a}},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brain", type=int, default=301)
    ap.add_argument("--test-brains", type=int, nargs="*", default=[302, 303, 304])
    ap.add_argument("--areas", nargs="+", default=["hOc1", "4p", "44", "7A", "Te1.0"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--views", type=int, default=None, help="views per field (default: base's)")
    ap.add_argument("--compare-profiles", action="store_true", help="also validate profiles")
    args = ap.parse_args()
    import torch

    from cytowords.mapping import compute_area_map

    tmp = Path(tempfile.mkdtemp(prefix="teach-bench-"))
    sections, anns = [], []
    for i, size in enumerate(SECTION_SIZES_MM):
        sec = virtual_section(args.brain, size_mm=size)
        gj = tmp / f"section{i}.geojson"
        gj.write_text(json.dumps(area_outlines(sec, args.areas)), encoding="utf-8")
        a, _ = annotations_from_geojson(gj, i, sec.pixel_size_um[0])
        sections.append(sec)
        anns += a
    t0 = time.perf_counter()
    taught = teach(sections, anns, device=args.device, views=args.views)
    fit_s = time.perf_counter() - t0
    if args.compare_profiles:
        from cytowords.teach.profiles import profile_cv

        acc, n = profile_cv(sections, anns, taught.names)
        print(f"profile features (readout, whole regions): {acc:.0%} of {n} held-out regions")
    print(taught.cv.table())
    print(f"fitting: {fit_s:.1f} s on {torch.get_num_threads()} torch thread(s)")
    out = save_taught(taught, tmp / "taught")
    right = n_in = other = n_out = 0
    for brain in args.test_brains:
        sec = virtual_section(brain)
        t1 = time.perf_counter()
        amap = compute_area_map(sec, str(out), device=args.device, scheduler="sync")
        rows, cols = np.nonzero(amap.labels > 0)
        centres = np.array(amap.origin_um) + (np.stack([rows, cols], 1) + 0.5) * amap.pixel_size_um
        truth = truth_at(sec, centres)
        cortex = (truth["rel_depth"] >= 0) & (truth["rel_depth"] < 1)
        table = {lab: aid for lab, (aid, _, _) in amap.area_table.items()}
        pred = np.array([table.get(int(v), "") for v in amap.labels[rows, cols]])
        rej = amap.rejected[rows, cols]
        inside = cortex & np.isin(truth["area"], args.areas)
        outside = cortex & ~np.isin(truth["area"], args.areas)
        r_b = int((inside & ~rej & (pred == truth["area"])).sum())
        o_b = int((outside & rej).sum())
        right, n_in, other, n_out = (
            right + r_b,
            n_in + int(inside.sum()),
            other + o_b,
            n_out + int(outside.sum()),
        )
        print(
            f"brain {brain}: taught areas {r_b}/{int(inside.sum())} tiles named right; "
            f"other cortex {o_b}/{int(outside.sum())} called other ({time.perf_counter() - t1:.0f} s)"
        )
    print(
        f"accuracy over the taught areas: {right / max(n_in, 1):.3f} ({right}/{n_in}); "
        f"other cortex called other: {other / max(n_out, 1):.3f} ({other}/{n_out}); "
        f"fitting {fit_s:.0f} s"
    )


if __name__ == "__main__":
    main()
