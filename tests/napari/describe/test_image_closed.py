"""The image is closed while the "Describe regions" widget describes its ROIs: nothing the
user drew or computed is lost, and nothing is marked as an error."""

from __future__ import annotations

import json
import threading

import pytest

from cytowords.napari.describe.autosave import autosave_path
from cytowords.napari.describe.widget import DescribeWidget
from tests.support.napari_helpers import Notes, add_section, held_describe, rect, wait_idle


@pytest.fixture
def widget(make_napari_viewer, tiny_bundle):
    viewer = make_napari_viewer()
    image = add_section(viewer)
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(tiny_bundle))
    w.scale_check.setChecked(False)  # the tiny bundle is untrained (see test_widget.py)
    yield viewer, w, image
    w.cancel()


def _saved(path) -> list[dict]:
    if not path.is_file():
        return []
    return [f["properties"] for f in json.loads(path.read_text())["features"]]


def test_closing_the_image_keeps_queued_rois_pending_and_finishes_the_running_one(
    widget, qtbot
) -> None:
    """Closing the image mid-job: the ROI being described is finished and kept; the ROIs
    not yet started go back to what they showed before (no error), one notification says
    how many were not described and why; with the image open again they are described."""
    viewer, w, image = widget
    layer = w.roi_layer()
    for k in range(3):
        layer.add_rectangles(rect(10 + 120 * k, 150, 100 + 120 * k, 450))
    w.describe_rows([2])
    wait_idle(qtbot, w)
    earlier = layer.features.iloc[2].copy()
    assert earlier["status"] == "done"
    with held_describe() as (entered, release, read), Notes() as notes:
        w.describe_all()
        qtbot.waitUntil(entered.is_set, timeout=60000)
        layer.add_rectangles(rect(20, 300, 60, 480))  # queued behind the running job
        w.describe_rows([3])
        qtbot.waitUntil(lambda: layer.features["status"].iloc[0] == "describing", timeout=10000)
        assert list(layer.features["status"])[1:] == ["queued"] * 3
        viewer.layers.remove(image)
        release.set()
        wait_idle(qtbot, w)
    assert read == ["ROI 1"], read
    status = list(layer.features["status"])
    assert status == ["done", "new", "done", "new"], status
    assert layer.features["area"].iloc[0] != ""
    assert layer.features["area"].iloc[2] == earlier["area"]  # its earlier result is kept
    assert layer.features["caption"].iloc[2] == earlier["caption"]
    said = [m for m in notes.messages if "not described" in m]
    assert len(said) == 1, notes.messages
    assert "3 queued ROI(s)" in said[0] and "'section'" in said[0] and "closed" in said[0]
    assert not [m for m in notes.messages if "no image layer" in m], notes.messages
    assert "closed" in w.progress.status.text()

    add_section(viewer)  # opened again: the user describes them
    w.describe_all()
    wait_idle(qtbot, w)
    assert list(layer.features["status"]) == ["done"] * 4


def test_results_and_shapes_reach_the_autosave_while_no_image_is_open(widget, qtbot) -> None:
    """The image is closed while a ROI is described: its result, and a shape drawn with no
    image open, are written to the image's autosave file."""
    viewer, w, image = widget
    path = autosave_path(image)
    layer = w.roi_layer()
    layer.add_rectangles(rect(10, 150, 100, 450))
    with held_describe() as (entered, release, _):
        w.describe_all()
        qtbot.waitUntil(entered.is_set, timeout=60000)
        viewer.layers.remove(image)
        assert w.image_choice.value() is None
        release.set()
        wait_idle(qtbot, w)
    area = layer.features["area"].iloc[0]
    assert layer.features["status"].iloc[0] == "done" and area
    qtbot.waitUntil(lambda: [p.get("area") for p in _saved(path)] == [area], timeout=10000)
    layer.add_rectangles(rect(200, 150, 300, 450))  # drawn while no image is open
    qtbot.waitUntil(lambda: len(_saved(path)) == 2, timeout=10000)
    assert [p.get("area") for p in _saved(path)][0] == area


def test_a_roi_started_as_the_image_closes_is_described_and_not_counted(
    widget, qtbot, monkeypatch
) -> None:
    """The worker has started the next ROI when the image is closed, before the viewer has
    heard of it (its row still shows "queued"): that ROI is described, and the notification
    counts only the ROIs left undescribed."""
    from cytowords.describe import Describer

    viewer, w, image = widget
    layer = w.roi_layer()
    for k in range(3):
        layer.add_rectangles(rect(10 + 120 * k, 150, 100 + 120 * k, 450))
    gates = {f"ROI {k}": threading.Event() for k in (1, 2)}
    entered = {name: threading.Event() for name in gates}
    real = Describer.describe_roi

    def held(self, section, roi, **kw):
        if roi.name in gates:
            entered[roi.name].set()
            assert gates[roi.name].wait(60), "the test never released the description"
        return real(self, section, roi, **kw)

    monkeypatch.setattr(Describer, "describe_roi", held)
    with Notes() as notes:
        try:
            w.describe_all()
            qtbot.waitUntil(entered["ROI 1"].is_set, timeout=60000)
            gates["ROI 1"].set()
            # the GUI thread is held here: the worker's "ROI 2 started" waits in the queue
            assert entered["ROI 2"].wait(60)
            assert list(layer.features["status"])[1:] == ["queued", "queued"]
            viewer.layers.remove(image)
        finally:
            gates["ROI 2"].set()
        wait_idle(qtbot, w)
    status = list(layer.features["status"])
    assert status == ["done", "done", "new"], status
    said = [m for m in notes.messages if "not described" in m]
    assert len(said) == 1 and "1 queued ROI(s)" in said[0], notes.messages


def test_cancelled_after_the_image_closed_still_says_what_was_not_described(widget, qtbot) -> None:
    """The image is closed mid-job, then the job is cancelled before its running ROI is
    done: every ROI gets its earlier status back and the one notification still says how
    many queued ROIs were not described and why."""
    viewer, w, image = widget
    layer = w.roi_layer()
    for k in range(3):
        layer.add_rectangles(rect(10 + 120 * k, 150, 100 + 120 * k, 450))
    with held_describe() as (entered, release, _), Notes() as notes:
        w.describe_all()
        qtbot.waitUntil(entered.is_set, timeout=60000)
        qtbot.waitUntil(lambda: layer.features["status"].iloc[0] == "describing", timeout=10000)
        viewer.layers.remove(image)
        w.cancel()
        release.set()
        wait_idle(qtbot, w)
    assert list(layer.features["status"]) == ["new"] * 3
    said = [m for m in notes.messages if "not described" in m]
    assert len(said) == 1 and "2 queued ROI(s)" in said[0], notes.messages
