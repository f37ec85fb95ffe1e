"""The demo viewer: a synthetic section, its ground truth (hidden), ROIs and both widgets.

Used by ``cytowords demo`` and ``scripts/screenshots.py``. The section is rendered lazily
(:func:`cytowords.synth.virtual_section`), so opening costs nothing but the coarsest level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..sections import Section
from .io.reader import _label_layer
from .io.shapes import polygon_um_to_data

LayerData = tuple[Any, dict[str, Any], str]


def section_layers(section: Section) -> list[LayerData]:
    """Layer data: the section as a multiscale image (µm) and its label images (hidden)."""
    from .io.reader import READ_KEY, contrast_limits

    p0 = section.pixel_size_um[0]
    limits = section.metadata.get("contrast_limits") or contrast_limits(section.levels[-1])
    meta = {
        "name": section.name,
        "scale": (p0, p0),
        "units": ("µm", "µm"),
        "multiscale": len(section.levels) > 1,
        "contrast_limits": tuple(float(v) for v in limits),
        "colormap": "gray",
        "metadata": {"pixel_size_um": list(section.pixel_size_um), READ_KEY: True},
    }
    data = section.levels if len(section.levels) > 1 else section.levels[0]
    layers: list[LayerData] = [(data, meta, "image")]
    for name, lab in section.labels.items():
        data, lmeta, kind = _label_layer(f"ground truth {name}", lab)
        lmeta["visible"] = False
        layers.append((data, lmeta, kind))
    return layers


#: sides (µm) of the demo's squares across the ribbon, tried in turn: one model field
#: (about 4.1 mm) and the 3 mm of the readout's benchmark (docs/measure_accuracy.md)
ACROSS_SIDES_UM = (4200.0, 3000.0)


def example_rois_um(section: Section, n: int = 2, side_um: float | None = None) -> list[np.ndarray]:
    """Up to ``n`` squares (µm, ``(y, x)`` corners) of distinct areas, drawn as a user
    should draw a region: across the ribbon from the pia to the white matter, one area
    covering >= 80 % of its cortex (:func:`cytowords.synth.squares_across_ribbon`; 4.2 mm
    squares, else 3 mm). Where a small section has too few of them, squares inside the
    cortex of one area complete the set (``side_um``, default 1.5 mm or less; they hold
    neither pia nor white matter, so the readout measures no thickness in them)."""
    from ..synth import squares_across_ribbon

    out: list[np.ndarray] = []
    seen: set[str] = set()
    if section.metadata.get("generator") == "cytowords.synth.virtual_section":
        for side in ACROSS_SIDES_UM:
            rng = np.random.default_rng(int(section.metadata.get("seed", 0)))
            for v, truth in squares_across_ribbon(section, n, side, rng, trace=False):
                if truth["area"] not in seen and len(out) < n:
                    seen.add(truth["area"])
                    out.append(v)
    if len(out) < n:
        out += _squares_inside_cortex(section, n - len(out), side_um)
    return out


def _squares_inside_cortex(section: Section, n: int, side_um: float | None) -> list[np.ndarray]:
    """Up to ``n`` squares where (nearly) all pixels of a coarse ground-truth label level
    carry one area label."""
    from scipy.ndimage import uniform_filter

    if not section.labels or n <= 0:
        return []
    if side_um is None:
        side_um = min(1500.0, min(section.shape_um) / 12.0)
    lab = next(iter(section.labels.values()))
    k = len(lab.levels) - 1
    while k > 0 and side_um / lab.pixel_size_um[k] < 6:
        k -= 1
    arr = np.asarray(lab.levels[k].compute(scheduler="threads"))
    p = lab.pixel_size_um[k]
    side = max(3, int(round(side_um / p)))
    values, counts = np.unique(arr[arr > 0], return_counts=True)
    out: list[np.ndarray] = []
    for v in values[np.argsort(-counts)]:
        share = uniform_filter((arr == v).astype(np.float32), size=side, mode="constant")
        if share.max() < 0.85:
            continue
        cy, cx = np.unravel_index(int(np.argmax(share)), share.shape)
        y0, x0 = (cy - side / 2) * p, (cx - side / 2) * p
        out.append(
            np.array(
                [[y0, x0], [y0, x0 + side_um], [y0 + side_um, x0 + side_um], [y0 + side_um, x0]]
            )
        )
        if len(out) == n:
            break
    return out


def open_demo(
    viewer,
    *,
    seed: int = 1,
    size_mm: tuple[float, float] = (80.0, 60.0),
    pixel_size_um: float = 2.0,
    model: str = "default",
    n_rois: int = 2,
) -> tuple[Any, Any]:
    """Fill ``viewer`` with the demo; returns ``(describe_widget, area_map_widget)``."""
    from ..synth import virtual_section
    from .area_map.widget import AreaMapWidget
    from .describe.widget import DescribeWidget

    section = virtual_section(seed, size_mm=size_mm, pixel_size_um=pixel_size_um)
    section.name = f"synthetic section {seed}"
    image = None
    for data, meta, kind in section_layers(section):
        layer = getattr(viewer, f"add_{kind}")(data, **meta)
        if image is None:
            image = layer
    describe = DescribeWidget(viewer)
    describe_dock = viewer.window.add_dock_widget(describe, name="Describe regions", area="right")
    describe.model.set_value(model)
    rois = describe.roi_layer()
    offset = np.asarray(image.translate[-2:]) - np.asarray(image.scale[-2:]) / 2.0
    for sq in example_rois_um(section, n=n_rois):
        rois.add_rectangles(polygon_um_to_data(sq + offset, rois.scale, rois.translate))
    area_map = AreaMapWidget(viewer)
    viewer.window.add_dock_widget(area_map, name="Area map", area="right", tabify=True)
    area_map.model.set_value(model)
    describe_dock.raise_()
    viewer.layers.selection.active = rois
    viewer.reset_view()
    return describe, area_map


def run_demo(args) -> int:
    """Back end of ``cytowords demo``: open the viewer, optionally describe, screenshot."""
    import napari

    viewer = napari.Viewer(title="cytowords demo", show=not args.no_show)
    describe, _ = open_demo(
        viewer,
        seed=args.seed,
        size_mm=tuple(args.size_mm),
        model=str(args.model),
        n_rois=args.rois,
    )
    if args.describe or args.screenshot:
        from qtpy.QtWidgets import QApplication

        if args.describe:
            describe.describe_all()
        app = QApplication.instance()
        while describe.busy:
            app.processEvents()
            describe.progress.cancel_event.wait(0.02)
    if args.screenshot:
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(args.screenshot), canvas_only=False)
        print(f"screenshot: {args.screenshot}")
    if args.screenshot or args.no_show:
        viewer.close()
        return 0
    napari.run()
    return 0
