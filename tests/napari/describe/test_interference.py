"""The user interferes with a running describe job: asks twice, cancels and asks again,
or chooses (or closes) another ROI layer. Nothing asked for is dropped silently, nothing is
described twice, and no result lands on another layer's shapes."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.napari.describe.widget import DescribeWidget
from tests.support.napari_helpers import Notes, add_section, held_describe, rect, wait_idle


@pytest.fixture
def widget(make_napari_viewer, tiny_bundle):
    viewer = make_napari_viewer()
    add_section(viewer)
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(tiny_bundle))
    w.scale_check.setChecked(False)  # the tiny bundle is untrained (see test_widget.py)
    yield viewer, w
    w.cancel()


def _three(layer) -> None:
    for k in range(3):
        layer.add_rectangles(rect(10 + 120 * k, 150, 100 + 120 * k, 450))


def test_describe_again_after_cancel_describes_them(widget, qtbot) -> None:
    """*Describe all* twice describes each ROI once; *Cancel* then *Describe all* before
    the cancelled job has ended describes them all (the request is not dropped)."""
    viewer, w = widget
    layer = w.roi_layer()
    _three(layer)
    with held_describe() as (entered, release, read):
        w.describe_all()
        w.describe_all()  # asked twice
        qtbot.waitUntil(entered.is_set, timeout=60000)
        release.set()
        wait_idle(qtbot, w)
    assert read == ["ROI 1", "ROI 2", "ROI 3"], read
    layer.data = [rect(20, 160, 110, 460), *layer.data[1:]]  # ROI 1 changed: stale
    with held_describe() as (entered, release, read):
        w.describe_all()
        qtbot.waitUntil(entered.is_set, timeout=60000)
        w.cancel()
        w.describe_all()  # the cancelled job has not ended yet
        release.set()
        wait_idle(qtbot, w)
    assert list(layer.features["status"]) == ["done"] * 3
    assert read[-3:] == ["ROI 1", "ROI 2", "ROI 3"], read


def test_choosing_another_roi_layer_mid_job_keeps_results_on_their_layer(widget, qtbot) -> None:
    """Another ROI layer is chosen while the first one's ROIs are described: the ROI being
    described gets its result on its own layer, the ones waiting get their status back
    (one notification says so), and the other layer's shapes are left alone."""
    viewer, w = widget
    first = w.roi_layer()
    _three(first)
    other = w.create_roi_layer()
    other.add_rectangles(rect(10, 150, 100, 450))  # the same shape and roi_id as ROI 1
    w.roi_choice.set_value(first)
    with held_describe() as (entered, release, read), Notes() as notes:
        w.describe_all()
        qtbot.waitUntil(entered.is_set, timeout=60000)
        w.roi_choice.set_value(other)
        release.set()
        wait_idle(qtbot, w)
    assert read == ["ROI 1"], read
    assert list(first.features["status"]) == ["done", "new", "new"]
    assert first.features["area"].iloc[0] != ""
    assert list(other.features["status"]) == ["new"] and other.features["area"].iloc[0] == ""
    said = [m for m in notes.messages if "not described" in m]
    assert len(said) == 1 and "2 queued ROI(s) of 'ROIs'" in said[0], notes.messages


def test_closing_the_roi_layer_mid_job_stops_it(widget, qtbot) -> None:
    """The ROI layer is closed while its ROIs are described: the job ends after the ROI
    being described (no work for a layer that is gone), without an error."""
    viewer, w = widget
    layer = w.roi_layer()
    _three(layer)
    with held_describe() as (entered, release, read), Notes() as notes:
        w.describe_all()
        qtbot.waitUntil(entered.is_set, timeout=60000)
        viewer.layers.remove(layer)
        release.set()
        wait_idle(qtbot, w)
    assert read == ["ROI 1"], read
    assert not [m for m in notes.messages if "error" in m.lower() or "failed" in m], notes.messages
    assert "closed" in w.progress.status.text()


def test_the_results_panel_never_shows_a_result_for_a_changed_or_deleted_roi(widget, qtbot) -> None:
    """A described ROI whose description is shown is edited: the description below the
    table, its table row and *Copy caption* stop showing the old result (the status says
    it changed); deleted: the description of another ROI is not shown in its place."""
    viewer, w = widget
    layer = w.roi_layer()
    layer.add_rectangles(rect(10, 150, 100, 450))
    layer.add_rectangles(rect(150, 150, 250, 450))
    w.describe_all()
    wait_idle(qtbot, w)
    old = layer.features.iloc[0]
    w.results.select_row(0)
    assert old["caption"] in w.results.detail.text()
    layer.data = [rect(20, 160, 110, 460), layer.data[1]]  # ROI 1 moved
    assert layer.features["status"].iloc[0] == "stale"
    text = w.results.detail.text()
    assert old["caption"] not in text and "stale" in text, text
    row = [w.results.table.item(0, c).text() for c in range(5)]
    assert row[2] == "" and row[3] == "stale" and old["caption"] not in row[4], row
    assert "describe again" in row[4]
    assert w.results.copy_caption() == ""
    layer.selected_data = {0}
    layer.remove_selected()  # ROI 2 is now row 0: not shown as if it had been selected
    assert w.results.selected_row() is None
    assert w.results.detail.text() == "Select a ROI to read its description."
    w.results.select_row(0)
    assert layer.features["caption"].iloc[0] in w.results.detail.text()


def test_closing_the_viewer_mid_job_raises_nothing(make_napari_viewer, tiny_bundle, qtbot):
    """The viewer is closed while a ROI is described and the image's pixel size is checked
    beside it: the jobs end without touching the closed widgets (no traceback)."""
    from qtpy.QtCore import QThreadPool

    viewer = make_napari_viewer()
    add_section(viewer)
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(tiny_bundle))
    w.scale_check.setChecked(False)
    _three(w.roi_layer())
    with qtbot.capture_exceptions() as raised:
        with held_describe() as (entered, release, read):
            w.describe_all()
            assert w.pixel_size.worker is not None  # the first job checks the pixel size
            qtbot.waitUntil(entered.is_set, timeout=60000)
            viewer.close()
            release.set()
            assert QThreadPool.globalInstance().waitForDone(60000)
        qtbot.wait(200)  # the workers' last signals
    assert not raised, [str(e[1]) for e in raised]


def test_a_status_change_that_keeps_the_colours_does_not_recolour_every_edge(
    make_napari_viewer,
) -> None:
    """Each ROI of a job turns *describing* then gets its result, on the GUI thread; napari
    redraws every edge of the layer when its edge colours are set (0.14 s for 500 ROIs on
    a 2-core machine), so they are set only when one changed."""
    from cytowords.napari.describe import results as rr

    viewer = make_napari_viewer()
    layer = viewer.add_shapes([rect(10, 10, 50, 50), rect(60, 60, 90, 90)], shape_type="rectangle")
    rr.prepare_layer(layer, 8.0)
    rr.set_status(layer, [0], "queued")
    recoloured = []
    layer.events.edge_color.connect(lambda e: recoloured.append(e))
    rr.set_status(layer, [0], "describing")  # gold, as queued
    assert layer.text.values[0] == "… describing" and not recoloured
    rr.set_status(layer, [0], "stale")  # grey
    assert recoloured  # napari emits it twice per set
    grey = np.array([int(rr.STALE_COLOR[k : k + 2], 16) / 255 for k in (1, 3, 5)])
    np.testing.assert_allclose(layer.edge_color[0][:3], grey, atol=1e-6)
