"""Seconds per *Follow view* map (napari Area map widget) by view size; GUI-thread time of
describing many ROIs (napari Describe widget, ``--rois``).

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

``--rois N`` describes N ROIs in the Describe widget of a napari viewer (under Xvfb) over
the widget tests' 400 × 500 px section at 8 µm/px (overlapping 1.1 mm squares), with a
stand-in for the model that returns a fixed result after ``--roi-seconds`` (default
0.005: the results come faster than the GUI draws them, the worst case), and prints the
GUI-thread time: per status change (each ROI turns *describing*, then gets its result),
per canvas redraw, in all, the longest time the event loop was blocked, and the time to
close the described layer:

    xvfb-run -a python benchmarks/live_view.py --rois 500
"""

from __future__ import annotations

import sys
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


def describe_rois(n: int, roi_seconds: float = 0.005) -> None:
    """GUI-thread time of describing ``n`` ROIs in the napari Describe widget (module doc)."""
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from cytowords.describe import Describer, RegionDescription
    from cytowords.napari.describe.widget import DescribeWidget

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the widget tests' helpers
    from tests.support.napari_helpers import add_section, rect
    from tests.support.tiny_bundle import make_tiny_bundle

    def stand_in(self, section, roi, **kw):
        time.sleep(roi_seconds)
        area = AREAS[int(roi.name.split()[-1]) % len(AREAS)]
        return RegionDescription(area, area, 0.9, False, 1.0, "a caption " * 20, 10)

    Describer.describe_roi = stand_in
    timed: dict[str, list[float]] = {"_on_event": [], "redraw": []}
    for name, runs in timed.items():
        real = getattr(DescribeWidget, name, None)
        if real is None:  # a widget that draws each status change at once
            continue

        def wrapped(*a, _real=real, _runs=runs):
            t = time.perf_counter()
            _real(*a)
            _runs.append(time.perf_counter() - t)

        setattr(DescribeWidget, name, wrapped)
    viewer = napari.Viewer(show=False)
    add_section(viewer)
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(make_tiny_bundle(Path(tempfile.mkdtemp()) / "tiny")))
    w.scale_check.setChecked(False)
    layer = w.roi_layer()
    layer.add_rectangles(
        [
            rect(
                10 + (k // 25) * 10, 110 + (k % 25) * 10, 150 + (k // 25) * 10, 250 + (k % 25) * 10
            )
            for k in range(n)
        ]
    )
    app = QApplication.instance()
    gaps, ends, last = [], [], [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        ends.append(now)
        last[0] = now

    beat = QTimer()
    beat.setInterval(10)
    beat.timeout.connect(tick)
    beat.start()
    t0 = time.perf_counter()
    w.describe_all()
    queued = time.perf_counter() - t0
    while w.busy:
        app.processEvents()
        time.sleep(0.001)
    wall = time.perf_counter() - t0
    beat.stop()
    ev, rd = np.array(timed["_on_event"]), np.array(timed["redraw"] or [0.0])
    done = int((layer.features["status"] == "done").sum())
    print(
        f"{n} ROIs ({done} described, {roi_seconds:g} s each): {len(ev)} status changes, "
        f"median {1000 * np.median(ev):.1f} ms, max {1000 * ev.max():.0f} ms; {len(rd)} "
        f"redraws, median {1000 * np.median(rd):.0f} ms, max {1000 * rd.max():.0f} ms; GUI "
        f"time {ev.sum() + rd.sum():.2f} s in {wall:.1f} s; queueing them {queued:.2f} s; "
        f"event loop blocked at most {max(gaps):.2f} s, ending {ends[np.argmax(gaps)] - t0:.2f} "
        f"s after *Describe all* ({sum(g > 0.1 for g in gaps)} times over 0.1 s)"
    )
    for _ in range(150):  # the autosave (a second after the last change) written
        app.processEvents()
        time.sleep(0.01)
    t = time.perf_counter()
    viewer.layers.remove(layer)
    print(f"closing the described layer: {time.perf_counter() - t:.2f} s")
    viewer.close()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sides", nargs="*", type=float, default=[5.0, 12.0, 20.0])
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--model", default=None, help="a bundle ('default': the bundled model)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--rois", type=int, default=0, help="describe this many ROIs instead")
    ap.add_argument("--roi-seconds", type=float, default=0.005)
    a = ap.parse_args()
    if a.rois:
        describe_rois(a.rois, a.roi_seconds)
    else:
        main(a.sides, compare=a.compare, model=a.model, repeats=a.repeats)
