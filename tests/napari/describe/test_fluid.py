"""The viewer stays fluid while many ROIs are described: napari redraws every text (and, for
a new colour, every edge) of a layer whenever its features change, so the results and status
changes of a job are drawn a few at a time, the results panel sets only the rows that
changed, and nothing written is lost when the layer goes before it was drawn."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from cytowords.describe import Describer, RegionDescription
from cytowords.napari.describe import results as rr
from cytowords.napari.describe import widget as describe_widget
from cytowords.napari.describe.autosave import autosave_path
from cytowords.napari.describe.widget import DescribeWidget
from tests.support.napari_helpers import add_section, rect, wait_idle

AREAS = ["hOc1", "hOc2", "4a"]


def _fast(self, section, roi, **kw) -> RegionDescription:
    """A stand-in for the model: area by the ROI's number, at once."""
    area = AREAS[int(roi.name.split()[-1]) % len(AREAS)]
    return RegionDescription(area, area, 0.9, False, 1.0, f"caption of {roi.name}", 10)


@pytest.fixture
def gated(monkeypatch):
    """ROI 1 is described at once, the others when the returned event is set."""
    gate = threading.Event()

    def describe(self, section, roi, **kw):
        if roi.name != "ROI 1":
            assert gate.wait(60), "the test never opened the gate"
        return _fast(self, section, roi, **kw)

    monkeypatch.setattr(Describer, "describe_roi", describe)
    yield gate
    gate.set()


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


def _rois(layer, n: int) -> None:
    """``n`` overlapping ROIs, each over 1 mm across (described, not set aside as small)."""
    layer.add_rectangles(
        [
            rect(
                10 + (k // 10) * 20, 110 + (k % 10) * 20, 150 + (k // 10) * 20, 250 + (k % 10) * 20
            )
            for k in range(n)
        ]
    )


def test_a_stream_of_results_is_drawn_in_a_few_canvas_updates(widget, qtbot, monkeypatch):
    """60 ROIs described at once (two status changes each: *describing*, then the result)
    redraw the layer's texts and the results panel a few times, not 120 times; all is drawn
    right at the end."""
    viewer, w, _ = widget
    monkeypatch.setattr(Describer, "describe_roi", _fast)
    layer = w.roi_layer()
    _rois(layer, 60)
    texts, features = [], []
    layer.text.events.connect(lambda e: texts.append(e.type))
    w.describe_all()
    layer.events.features.connect(lambda e: features.append(e))
    wait_idle(qtbot, w)
    assert list(layer.features["status"]) == ["done"] * 60
    assert 1 <= len(features) <= 30, len(features)
    assert texts.count("refresh") <= 30, texts.count("refresh")
    want = [AREAS[(k + 1) % len(AREAS)] for k in range(60)]
    assert [t.split(" ")[0] for t in layer.text.values] == want
    colours = np.array([rr.area_color(a) for a in want])
    from napari.utils.colormaps.standardize_color import transform_color

    np.testing.assert_allclose(layer.edge_color, transform_color(colours), atol=1e-6)
    table = w.results.table
    assert [table.item(k, 1).text() for k in range(60)] == want
    assert {table.item(k, 3).text() for k in range(60)} == {"accepted"}


def test_a_result_is_drawn_within_a_moment(widget, gated, qtbot):
    """A result that arrives while the job goes on is drawn a moment later (REDRAW_MS), with
    the next ROI's *describing*."""
    viewer, w, _ = widget
    layer = w.roi_layer()
    _rois(layer, 2)
    w.describe_all()
    qtbot.waitUntil(lambda: layer.features["status"].iloc[0] == "done", timeout=60000)
    # features are written at once; the canvas text follows within REDRAW_MS
    qtbot.waitUntil(lambda: layer.text.values[0] == "hOc2 90%", timeout=1000)
    assert list(layer.text.values) == ["hOc2 90%", "… describing"] and w.busy
    assert w.results.table.item(0, 1).text() == "hOc2"
    assert describe_widget.REDRAW_MS <= 200
    gated.set()
    wait_idle(qtbot, w)


def test_results_not_drawn_yet_are_kept_when_the_layer_is_closed(
    make_napari_viewer, tiny_bundle, qtbot, monkeypatch, gated
):
    """The layer closed after a result arrived and before it was drawn: the layer's features
    hold it, its text is drawn on removal, and the autosave file holds it."""
    monkeypatch.setattr(describe_widget, "REDRAW_MS", 600000)  # never by the timer
    viewer = make_napari_viewer()
    image = add_section(viewer)
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(tiny_bundle))
    w.scale_check.setChecked(False)
    layer = w.roi_layer()
    _rois(layer, 2)
    w.describe_all()
    qtbot.waitUntil(lambda: layer.features["status"].iloc[0] == "done", timeout=60000)
    # written, not drawn: the text is still that of before the click (queued is drawn later)
    assert rr.pending(layer) and layer.text.values[0] == ""
    viewer.layers.remove(layer)
    assert not rr.pending(layer)
    gated.set()
    wait_idle(qtbot, w)
    assert not rr.pending(layer)
    done = layer.features["status"] == "done"
    assert done.iloc[0] and layer.text.values[0] == "hOc2 90%"
    saved = json.loads(autosave_path(image).read_text())["features"]
    assert saved[0]["properties"]["area"] == "hOc2"


def test_the_results_panel_sets_only_the_rows_that_changed(make_napari_viewer) -> None:
    """A status change of one ROI of 40 sets that row's cells again, not the whole table."""
    viewer = make_napari_viewer()
    add_section(viewer)
    w = DescribeWidget(viewer)
    layer = w.roi_layer()
    _rois(layer, 40)
    table = w.results.table
    before = [table.item(k, 3) for k in range(40)]
    rr.set_status(layer, [7], "queued")
    after = [table.item(k, 3) for k in range(40)]
    assert after[7].text() == "queued"
    assert [k for k in range(40) if after[k] is not before[k]] == [7]


def test_queueing_many_rois_reads_the_layers_shapes_once(widget, monkeypatch) -> None:
    """napari builds the list of every shape's vertices at each read of ``Shapes.data``:
    making the jobs of 60 ROIs reads it a few times, not once or twice per ROI."""
    from napari.layers import Shapes

    viewer, w, image = widget
    layer = w.roi_layer()
    _rois(layer, 60)
    reads = []
    real = Shapes.data

    def counted(self):
        reads.append(1)
        return real.fget(self)

    monkeypatch.setattr(Shapes, "data", property(counted, real.fset))
    jobs, geoms, errors = rr.roi_jobs(layer, rr.ids_of(layer, range(60)), image)
    assert len(jobs) == 60 and len(geoms) == 60 and not errors
    assert len(reads) <= 5, len(reads)


def test_describe_all_draws_nothing_and_converts_each_roi_once_on_the_click(
    widget, qtbot, monkeypatch
) -> None:
    """*Describe all* on many ROIs holds the viewer for a moment only: the queued status is
    drawn on a later turn of the event loop (with the job's first results: napari redraws
    every text of the layer for it), and the image's pixel size is read once for all ROIs,
    not once per ROI; nothing is lost: every ROI is queued at once and then described."""
    from cytowords.napari.io import layers as io_layers

    viewer, w, image = widget
    layer = w.roi_layer()
    _rois(layer, 60)
    monkeypatch.setattr(Describer, "describe_roi", _fast)
    refreshes, sizes = [], []
    real_refresh = type(layer.text).refresh
    real_size = io_layers.pixel_size_um

    def refresh(self, *a, **kw):
        refreshes.append(1)
        return real_refresh(self, *a, **kw)

    def size(*a, **kw):
        sizes.append(1)
        return real_size(*a, **kw)

    monkeypatch.setattr(type(layer.text), "refresh", refresh)
    monkeypatch.setattr(io_layers, "pixel_size_um", size)
    w.describe_all()
    assert refreshes == [], "the click redrew the layer's texts"
    assert len(sizes) <= 3, len(sizes)
    assert set(layer.features["status"]) <= {"queued", "describing", "done"}
    wait_idle(qtbot, w)
    qtbot.waitUntil(lambda: not rr.pending(layer), timeout=5000)
    assert (layer.features["status"] == "done").all()
    assert layer.text.values.tolist() == [
        rr.label_text(r) for r in layer.features.to_dict("records")
    ]


def test_the_area_catalogue_is_loaded_before_the_first_job(
    make_napari_viewer, tiny_bundle, qtbot
) -> None:
    """The describer's area catalogue (a YAML file: parsing it holds Python's lock for long
    stretches, which stalled the viewer 0.4–0.6 s when the first job loaded it) is loaded by
    the widget's background thread when the widget is made, not by the first job."""
    from cytowords.atlas import load_atlas

    viewer = make_napari_viewer()
    add_section(viewer)
    load_atlas.cache_clear()
    DescribeWidget(viewer)
    qtbot.waitUntil(lambda: load_atlas.cache_info().currsize == 1, timeout=20000)
