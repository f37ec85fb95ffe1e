"""Screenshots for the docs: ``xvfb-run -a python scripts/screenshots.py [--model DIR]``.

Writes ``docs/images/demo.png`` (demo with described ROIs), ``docs/images/results_panel.png``
and ``docs/images/area_map.png``. Without the bundled default model (and no --model), a tiny
untrained bundle from ``tests/support/tiny_bundle.py`` is used: the pictures then show the workflow,
not meaningful predictions.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _model(arg: str | None, tmp: Path) -> tuple[str, bool]:
    from cytowords.model import default_model_path

    if arg:
        return arg, False
    if default_model_path().is_dir():
        return "default", False
    sys.path.insert(0, str(ROOT))
    from tests.support.tiny_bundle import make_tiny_bundle

    return str(make_tiny_bundle(tmp / "tiny-untrained-bundle")), True


def _wait(widget, app) -> None:
    while widget.busy:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)


def _zoom_to(viewer, lo, hi, margin: float = 0.35) -> None:
    from cytowords.napari.io.layers import camera

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    pad = (hi - lo) * margin
    lo, hi = lo - pad, hi + pad
    camera(viewer).center = tuple((lo + hi) / 2)
    size = np.asarray(viewer.canvas.size, float)
    camera(viewer).zoom = float(np.min(size / (hi - lo)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", help="model bundle folder (default: bundled, else tiny)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    from cytowords.napari.demo import open_demo

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model, tiny = _model(args.model, Path(tmp))
        viewer = napari.Viewer(title="cytowords demo")
        viewer.window.resize(1500, 950)
        describe, area_map = open_demo(viewer, seed=args.seed, model=model, n_rois=3)
        app = QApplication.instance()
        _wait(describe, app)  # let the window lay out (canvas size) before zooming
        rois = describe.roi_layer()
        describe.describe_all()
        _wait(describe, app)
        world = np.concatenate(
            [np.asarray(d)[:, -2:] * rois.scale[-2:] + rois.translate[-2:] for d in rois.data]
        )
        _zoom_to(viewer, world.min(axis=0), world.max(axis=0))
        describe.parentWidget().raise_()
        _wait(describe, app)
        viewer.screenshot(str(args.out / "demo.png"), canvas_only=False)
        # the panel shows the first region whose thickness was measured (the demo's
        # squares run across the ribbon; a region may still be left unmeasured)
        th = np.asarray(rois.features["thickness_mm"], dtype=float)
        describe.results.select_row(
            int(np.flatnonzero(np.isfinite(th))[0]) if np.isfinite(th).any() else 0
        )
        _wait(describe, app)
        describe.grab().save(str(args.out / "results_panel.png"))
        # area map of the view around the first ROI
        first = np.asarray(rois.data[0])[:, -2:] * rois.scale[-2:] + rois.translate[-2:]
        c = first.mean(axis=0)
        _zoom_to(viewer, c - 6000, c + 6000, margin=0.0)
        area_map.region_combo.setCurrentText("current view")
        area_map.stride.setValue(256)  # map pixels of 256 µm (4 model pixels)
        area_map.run()
        _wait(area_map, app)
        rois.visible = True
        area_map.parentWidget().raise_()
        _wait(area_map, app)
        viewer.screenshot(str(args.out / "area_map.png"), canvas_only=False)
        viewer.close()
    note = " (tiny untrained bundle: workflow only)" if tiny else ""
    print(f"wrote demo.png, results_panel.png, area_map.png in {args.out}{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
