"""Making a dock widget imports no heavy module on the GUI thread: napari imports the
widget's module there when the user opens it from the Plugins menu, and torch (the model
code), scipy.signal (the readout) and matplotlib (the plots) take seconds on a busy core.
They are imported in a background thread (:mod:`cytowords.napari.qt.warm`) instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("torch", "scipy.signal", "matplotlib.figure", "cytowords.model", "cytowords.describe")
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


def test_describe_widget_default_max_patches_is_the_describers() -> None:
    from cytowords.describe import DescribeParams
    from cytowords.napari.describe.widget import DEFAULT_MAX_PATCHES

    assert DEFAULT_MAX_PATCHES == DescribeParams().max_patches


def test_warm_imports_imports_in_a_thread_once() -> None:
    from cytowords.napari.qt.warm import warm_imports

    thread = warm_imports("json", "cytowords.napari.tests_absent_module")
    # json is imported already, the absent module fails quietly in the thread
    if thread is not None:
        thread.join(60)
        assert not thread.is_alive()
    assert warm_imports("cytowords.napari.tests_absent_module") is None  # asked before
