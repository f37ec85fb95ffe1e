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

