"""Seconds per *Follow view* map (napari Area map widget) by view size.

The bundled default model (``--model default``; without it a random-weight bundle of an
older dense geometry: 64 µm/px, 64-px fields, 8 px of context), 1 view, the stride the
widget chooses (:func:`cytowords.napari.area_map.live_view.live_stride_um`), on an
in-memory 40 × 40 mm section at 16 µm/px (dark textured tissue on bright glass), warm
(one map of each view first), the median of ``--repeats`` maps:

    python benchmarks/live_view.py --model default [SIDE_MM ...]   # default: 5 12 20
    python benchmarks/live_view.py --compare 5 12     # also with the per-field quality check

Prints per view: stride, map shape, tissue tiles, wall seconds, reading and model seconds.
The figures behind ``LIVE_MAX_VIEW_MM2`` come from here. ``--compare`` maps each view
also with the field-quality check run field by field (every field cut out of the block and
:func:`~cytowords.sections.quality.assess_fields`, as the dense path did before
:func:`~cytowords.sections.quality.assess_block`), in the same run, and prints the ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import torch

import cytowords.mapping.dense as dense_path
from cytowords.mapping import compute_area_map
from cytowords.model import (
    AreaHead,
    CytoEncoder,
    EncoderConfig,
    HeadConfig,
    OpenSetScorer,
    load_bundle,
    save_bundle,
)
from cytowords.napari.area_map.live_view import live_region, live_stride_um, model_strides
from cytowords.sections import Section
from cytowords.sections.quality import assess_fields

AREAS = ["hOc1", "hOc2", "4a", "4p", "44"]


def dense_bundle(folder: Path) -> Path:
    """Save a random-weight bundle with the default's dense encoder geometry."""
    torch.manual_seed(0)
    enc = CytoEncoder(
        EncoderConfig(
            pixel_size_um=64.0, patch_px=64, width=32, embed_dim=256, arch="dense", dilations=(1,)
        )
    ).eval()
    n = len(AREAS) + 1
    head = AreaHead(HeadConfig(embed_dim=256, n_classes=n, hidden=64, none_class=True)).eval()
    scorer = OpenSetScorer(256, n, "mahalanobis")
    with torch.no_grad():
        emb = torch.randn(300, 256)
        head.set_input_stats(emb)
        lab = torch.arange(len(emb)) % n
        scorer.fit(emb, lab, in_scope=torch.tensor([True] * len(AREAS) + [False]), logits=head(emb))
        scorer.calibrate(scorer.score(emb, head(emb)), 0.05)
    return save_bundle(
        folder / "dense", encoder=enc, head=head, scorer=scorer, area_ids=AREAS, fp16=False
    )


def tissue_section(side_mm: float = 40.0, px_um: float = 16.0) -> Section:
    """Glass with a band of dark texture over the middle 80 % of the rows; two levels."""
    n = int(side_mm * 1000 / px_um)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:n, 0:n]
    img = 120 + 40 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + rng.normal(0, 20, (n, n))
    glass = (yy < n // 10) | (yy > 9 * n // 10)
    img[glass] = 240 + rng.normal(0, 3, int(glass.sum()))
    img = np.clip(img, 0, 255).astype(np.uint8)
    half = img[: n // 2 * 2, : n // 2 * 2].reshape(n // 2, 2, n // 2, 2).mean(axis=(1, 3))
    levels = [da.from_array(img, chunks=1024), da.from_array(half.astype(np.uint8), chunks=1024)]
    return Section(levels, [px_um, 2 * px_um], name="bench")


def per_field_check(image, corners, n, tissue_threshold, thresholds):
    """The field-quality check field by field, in :func:`assess_block`'s place."""
    fields = np.stack([image[y : y + n, x : x + n] for y, x in corners])
    return assess_fields(fields, tissue_threshold, thresholds)


def timed_map(section, bundle, run: dict) -> tuple[float, object]:
    t = time.perf_counter()
    amap = compute_area_map(section, bundle, **run)
    return time.perf_counter() - t, amap


def main(
    sides: list[float], compare: bool = False, model: str | None = None, repeats: int = 1
) -> None:
    torch.set_num_threads(2)
    if model:
        from cytowords.model import get_bundle

        bundle = get_bundle(model, "cpu", captioner=False)
    else:
        bundle = load_bundle(dense_bundle(Path(tempfile.mkdtemp())), captioner=False)
    section = tissue_section()
    h, w = section.shape_um
    dense_check = dense_path.assess_block
    for side in sides:
        view = (h / 2 - side * 500, w / 2 - side * 500, h / 2 + side * 500, w / 2 + side * 500)
        region, why = live_region(view, section.shape_um, max_mm2=float("inf"))
        stride = live_stride_um(region, *model_strides(bundle))
        run = {"region_um": region, "stride_um": stride, "views": 1}
        compute_area_map(section, bundle, **run)  # warm: tissue mask, model
        timed = [timed_map(section, bundle, run) for _ in range(max(1, repeats))]
        secs, amap = sorted(timed, key=lambda t: t[0])[len(timed) // 2]
        st = amap.stats
        print(
            f"{side:g} × {side:g} mm view: stride {stride:g} µm, map {amap.labels.shape}, "
            f"{int((amap.labels > 0).sum())} tissue tiles, {secs:.2f} s "
            f"(all: {', '.join(f'{t:.2f}' for t, _ in timed)}) "
            f"(reading {st.get('read_s', 0):.2f} s, model {st.get('compute_s', 0):.2f} s; "
            f"{st.get('evaluation')})"
        )
        if compare:
            dense_path.assess_block = per_field_check
            try:
                old, old_map = timed_map(section, bundle, run)
            finally:
                dense_path.assess_block = dense_check
            same = np.array_equal(old_map.rejected, amap.rejected)
            print(
                f"  with the per-field quality check: {old:.2f} s (×{old / secs:.1f} the "
                f"dense check's time); same rejected tiles: {same}, unfit tiles "
                f"{old_map.stats.get('unfit')} vs {st.get('unfit')}"
            )


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sides", nargs="*", type=float, default=[5.0, 12.0, 20.0])
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--model", default=None, help="a bundle ('default': the bundled model)")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    main(a.sides, compare=a.compare, model=a.model, repeats=a.repeats)
