"""Time to first frame when browsing the virtual synthetic section in napari.

Run under a display (``xvfb-run -a python benchmarks/napari_browse.py``). Prints the time
from adding the plugin's sample data (80 × 60 mm at 2 µm/px = 40,000 × 30,000 px, rendered
lazily) to the first drawn canvas, the time to redraw after zooming into a 2 × 2 mm field at
full resolution, and whether the canvas shows tissue (not a blank frame).
"""

from __future__ import annotations

import time

import numpy as np


def _drawn(viewer, app, timeout_s: float = 120.0) -> float:
    """Process events until the canvas shows non-uniform content; returns seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        app.processEvents()
        shot = viewer.screenshot(canvas_only=True, flash=False)
        if shot[..., :3].std() > 5:
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise TimeoutError("the canvas stayed blank")


def main() -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from cytowords.napari.io.sample import make_sample_section

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    t0 = time.perf_counter()
    for data, meta, kind in make_sample_section():
        getattr(viewer, f"add_{kind}")(data, **meta)
    t_add = time.perf_counter() - t0
    t_first = _drawn(viewer, app)
    img = viewer.layers[0]
    h, w = np.asarray(img.data[0].shape) * img.scale[-2:]
    viewer.camera.center = (h / 2, w / 2)
    viewer.camera.zoom = viewer.window._qt_viewer.canvas.size[0] / 2000.0  # ~2 mm across
    t1 = time.perf_counter()
    t_zoom = _drawn(viewer, app)
    print(f"sample added in {t_add:.2f} s; first frame after {t_first:.2f} s more")
    print(
        f"zoom to 2 mm at full resolution: drawn after {t_zoom:.2f} s ({time.perf_counter() - t1:.2f} s)"
    )
    viewer.close()


if __name__ == "__main__":
    main()
