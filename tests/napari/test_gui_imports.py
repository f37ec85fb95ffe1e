"""Making a dock widget imports no heavy module on the GUI thread: napari imports the
widget's module there when the user opens it from the Plugins menu, and torch (the model
code), scipy.signal (the readout) and matplotlib (the plots) take seconds on a busy core.
They are imported in a background thread (:mod:`cytowords.napari.qt.warm`) instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = (
    "torch",
    "scipy.signal",
    "matplotlib.figure",
    "cytowords.model",
    "cytowords.describe.describer",
)
WIDGETS = (
    "cytowords.napari.describe.widget",
    "cytowords.napari.describe.profile",
    "cytowords.napari.area_map.widget",
    "cytowords.napari.teach.widget",
    "cytowords.napari.teach.borders",
    "cytowords.napari.io.reader",
    "cytowords.napari.io.geojson_reader",
    "cytowords.napari.io.writers",
)


def test_widget_modules_import_no_heavy_module() -> None:
    code = (
        "import json, sys\n"
        f"for m in {WIDGETS!r}: __import__(m)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    env = {**os.environ, "QT_API": os.environ.get("QT_API", "pyqt6")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_warm_imports_imports_in_a_thread_once() -> None:
    from cytowords.napari.qt.warm import warm_imports

    thread = warm_imports("json", "cytowords.napari.tests_absent_module")
    # json is imported already, the absent module fails quietly in the thread
    if thread is not None:
        thread.join(60)
        assert not thread.is_alive()
    assert warm_imports("cytowords.napari.tests_absent_module") is None  # asked before


def test_model_chooser_imports_the_model_code_off_the_gui_thread() -> None:
    """Every widget with a model row makes a ModelChooser: its device list needs torch,
    which a background thread imports; the GUI thread imports none of it (on the 10^10 px
    audit the Describe widget held the GUI 5 s importing it), and the devices torch finds
    are offered once it is imported."""
    code = """
import json, sys, threading, time
main = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch" or name.startswith("cytowords.model"):
            main.append(threading.current_thread() is threading.main_thread())
        return None
from qtpy.QtWidgets import QApplication
app = QApplication([])
from cytowords.napari.qt.model_choice import ModelChooser
sys.meta_path.insert(0, Spy())
chooser = ModelChooser()
t = time.time()
timer = getattr(chooser, "_devices_timer", None)
while "cytowords.model" not in sys.modules or (timer is not None and timer.isActive()):
    app.processEvents(); time.sleep(0.02)
    assert time.time() - t < 240
from cytowords.model import available_devices
items = [chooser.device.itemText(i) for i in range(chooser.device.count())]
print(json.dumps([any(main), len(main) > 0, items == available_devices()]))
"""
    env = {
        **os.environ,
        "QT_API": os.environ.get("QT_API", "pyqt6"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    on_main, imported, devices = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported and not on_main  # imported, in the background thread only
    assert devices


def test_describe_leaves_out_small_rois_without_importing_the_readout() -> None:
    """The Describe widget leaves ROIs too small to hold a traverse out of a job on the GUI
    thread (before the job starts): that check must not import the readout (scipy.signal,
    seconds on a busy core), whose rule it applies (:mod:`cytowords.min_traverse`)."""
    code = """
import json, sys
from types import SimpleNamespace
import numpy as np
from napari.layers import Image, Shapes
from cytowords.napari.describe import results as rr
from cytowords.napari.describe.widget import DescribeWidget
image = Image(np.zeros((400, 400), np.uint8), scale=(8.0, 8.0), name="section")
layer = Shapes(scale=(8.0, 8.0), name="ROIs")
rr.prepare_layer(layer, 8.0)
for y0, x0, y1, x1 in ((10, 10, 100, 200), (300, 300, 304, 304)):  # 1.6 mm and 45 µm across
    layer.add_rectangles(np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float))
rr.assign_ids(layer)
fake = SimpleNamespace(_layer=layer, _geom={})
section = SimpleNamespace(shape_um=(3200.0, 3200.0))  # the image's extent
jobs = DescribeWidget._jobs(fake, image, section, rr.ids_of(layer, [0, 1]))
heavy = [m for m in ("cytowords.measure.readout", "scipy.signal") if m in sys.modules]
print(json.dumps([[j[0] for j in jobs], list(layer.features["status"]), heavy]))
"""
    env = {**os.environ, "QT_API": os.environ.get("QT_API", "pyqt6")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    kept, status, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert kept == [0] and status[1] == "error"  # the 45 µm square is left out
    assert heavy == []
    # one rule: the readout's shortest column is the light module's
    from cytowords import min_traverse
    from cytowords.measure import readout

    assert readout.MIN_TRAVERSE_UM is min_traverse.MIN_TRAVERSE_UM


def test_saving_an_area_map_from_the_viewer_imports_no_mapping_code_on_the_gui_thread() -> None:
    """*File › Save* of an area map (a map opened from a file: torch not imported yet) checks
    the layer and copies its arrays on the GUI thread; the mapping code (which imports
    torch, seconds) is imported by the writing thread."""
    code = """
import json, sys, threading, time
import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication
import napari
from cytowords.napari.area_map.writer import wait_for_writes
main = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch" or name.startswith("cytowords.mapping"):
            main.append(threading.current_thread() is threading.main_thread())
        return None
viewer = napari.Viewer(show=False)
labels = np.zeros((20, 30), np.int32); labels[5:15, 5:25] = 5
md = {"cytowords_area_map": True, "pixel_size_um": 256.0, "origin_um": [0.0, 0.0],
      "probability": np.full(labels.shape, 0.5, np.float32), "rejected": labels == 0,
      "area_table": {5: ["4a", "Area 4a", "#aa0000"]}}
layer = viewer.add_labels(labels, name="m area map", metadata=md)
out = sys.argv[1]
sys.meta_path.insert(0, Spy())
app = QApplication.instance()
QTimer.singleShot(0, lambda: layer.save(out, plugin="napari-cytowords"))  # as File > Save
QTimer.singleShot(1000, app.quit)
app.exec()  # the running event loop, as in the viewer
assert wait_for_writes(240)
import zarr
ok = bool((zarr.open_group(out, mode="r")["labels/areas/0"][...] == labels).all())
print(json.dumps([any(main), len(main) > 0, "cytowords.mapping" in sys.modules, ok]))
viewer.close()
"""
    import tempfile

    env = {
        **os.environ,
        "QT_API": os.environ.get("QT_API", "pyqt6"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", code, os.path.join(tmp, "m.zarr")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    assert out.returncode == 0, out.stderr[-2000:]
    on_main, imported, loaded, complete = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported and loaded and complete
    assert not on_main  # the mapping code (torch) was imported by the writing thread only
