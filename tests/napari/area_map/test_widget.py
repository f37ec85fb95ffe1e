"""The "Area map" widget in a real viewer with a real (tiny) model bundle."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from cytowords.napari.io.layers import camera
from tests.support.napari_helpers import SECTION_UM, Notes, area_map_widget, rect, wait_idle

#: how the test section's slide is read (a bright slide beside the tissue)
JUDGED_BRIGHT = "bright field (judged from the image)"


@pytest.fixture
def widget(make_napari_viewer, tiny_bundle):
    viewer, w, image = area_map_widget(make_napari_viewer, tiny_bundle)
    yield viewer, w, image
    w.cancel()


def test_area_map_of_a_roi_adds_named_labels(widget, qtbot) -> None:
    viewer, w, image = widget
    rois = viewer.add_shapes([rect(50, 50, 250, 350)], scale=image.scale, name="ROIs")
    rois.selected_data = {0}
    w.roi_choice.set_value(rois)
    w.region_combo.setCurrentText("selected ROI")
    n_before = len(viewer.layers)
    w.run()
    wait_idle(qtbot, w)
    assert len(viewer.layers) == n_before + 2
    labels, rejected = w.last_layers
    assert labels.name == "section area map" and rejected.name == "section area map rejected"
    s = labels.scale[-1]
    assert s == pytest.approx(256.0)  # default stride: half of the 512 µm patch
    # the map lies over the ROI (world µm), top-left tile centred half a tile in
    y0 = 50 * SECTION_UM - SECTION_UM / 2
    assert labels.translate[-2] == pytest.approx(y0 + s / 2, abs=s)
    h, w_ = labels.data.shape
    assert h * s == pytest.approx(200 * SECTION_UM, abs=s) and w_ > h
    present = {int(v) for v in np.unique(labels.data)} - {0}
    assert present, "some tiles over tissue are mapped"
    # hovering: the status bar reads features by label value
    feats = labels.features.set_index("index")
    for v in present:
        assert feats.loc[v, "area"] in ("hOc1", "hOc2", "4a", "4p", "44")
        assert feats.loc[v, "area_name"]
        rgba = labels.colormap.map(np.array([v]))[0]
        assert rgba[3] == 1.0
    v = next(iter(present))
    centre = labels.data_to_world(np.argwhere(labels.data == v)[0].astype(float))
    status = labels.get_status(centre, world=True)["coordinates"]
    assert feats.loc[v, "area_name"] in status, status
    assert rejected.data.shape == labels.data.shape and rejected.data.max() <= 1


def test_area_map_of_current_view_and_cancel(widget, qtbot) -> None:
    viewer, w, image = widget
    camera(viewer).center = (1600.0, 2400.0)
    camera(viewer).zoom = 1.0
    w.region_combo.setCurrentText("current view")
    y0, x0, y1, x1 = w.region_um(image)
    assert (y0 + y1) / 2 == pytest.approx(1600 + 4.0) and (x0 + x1) / 2 == pytest.approx(2404)
    n_before = len(viewer.layers)
    w.run()
    w.cancel()
    wait_idle(qtbot, w)
    assert len(viewer.layers) == n_before, "a cancelled map adds no layer"
    assert "cancel" in w.progress.status.text()


def test_area_map_errors_notify(widget, qtbot, tmp_path, tiny_bundle) -> None:
    viewer, w, image = widget
    w.region_combo.setCurrentText("selected ROI")
    with Notes() as notes:
        w.run()
    assert notes.any("no ROI selected"), notes.messages
    w.region_combo.setCurrentText("whole section")
    w.model.set_value(str(tmp_path / "missing"))
    with Notes() as notes:
        w.run()
    assert notes.any("missing", "does not exist"), notes.messages
    assert not w.busy
    # a view count the model has no calibrated threshold for: a notification, no layer
    w.model.set_value(w_model := str(tiny_bundle))
    w.views.setCurrentText("8")
    assert w.request(image).views == 8 and w.model.value() == w_model
    n_before = len(viewer.layers)
    with Notes() as notes:
        w.run()
        wait_idle(qtbot, w)
    assert notes.any("views=8", "calibrated for [1]"), notes.messages
    assert len(viewer.layers) == n_before and w.run_btn.isEnabled()
    w.views.setCurrentText("model default")
    assert w.request(image).views is None


def test_area_map_broken_bundle_notifies(widget, qtbot, tmp_path) -> None:
    import shutil

    viewer, w, image = widget
    broken = tmp_path / "broken"
    shutil.copytree(w.model.value(), broken)
    (broken / "weights.safetensors").write_bytes(b"garbage")
    w.model.set_value(str(broken))
    w.region_combo.setCurrentText("whole section")
    n_before = len(viewer.layers)
    with Notes() as notes:
        w.run()
        wait_idle(qtbot, w)
    assert notes.any("area map failed", "broken"), notes.messages
    assert len(viewer.layers) == n_before
    assert w.run_btn.isEnabled()


def _whole_section_map(w, qtbot):
    """Compute the whole section's map in the widget; its area Labels layer."""
    w.region_combo.setCurrentText("whole section")
    w.run()
    wait_idle(qtbot, w)
    return w.last_layers[0]


def test_area_map_layer_to_ome_zarr(widget, qtbot, tmp_path) -> None:
    from cytowords.napari.area_map.writer import write_area_map_zarr
    from cytowords.sections import open_section

    viewer, w, image = widget
    labels = _whole_section_map(w, qtbot)
    out = tmp_path / "map.ome.zarr"
    data, meta, _ = labels.as_layer_data_tuple()
    assert write_area_map_zarr(str(out), data, meta) == [str(out)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.ome.zarr"], "atomic"
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)["cytowords"]["area_map"]
    assert attrs["slide"] == labels.metadata["section_slide"] == JUDGED_BRIGHT
    back = open_section(out)
    areas = back.labels["areas"]
    np.testing.assert_array_equal(np.asarray(areas.levels[0]), labels.data)
    for v in {int(x) for x in np.unique(labels.data)} - {0}:
        assert areas.names[v] == labels.features.set_index("index").loc[v, "area"]
    rej = np.asarray(back.labels["rejected"].levels[0]).astype(bool)
    np.testing.assert_array_equal(rej, w.last_layers[1].data.astype(bool))
    with pytest.raises(ValueError, match="not an area map"):
        write_area_map_zarr(str(tmp_path / "x.zarr"), image.data, {"name": "section"})
    # opened again through the plugin, the map lies where it was computed
    reopened = viewer.open(str(out), plugin="napari-cytowords")
    areas_layer = next(ly for ly in reopened if ly.name.endswith("areas"))
    np.testing.assert_allclose(areas_layer.scale, labels.scale)
    np.testing.assert_allclose(areas_layer.translate, labels.translate, atol=1e-6)
    assert np.abs(np.asarray(labels.translate)).max() > 0  # a real offset was checked


def test_rejection_layer_tells_no_cortex_from_unknown_cortex(make_napari_viewer, tmp_path) -> None:
    """Rejected tiles: 1 (light grey, not a known area) and 2 (dark grey, no cortex); the
    layer's hover names both, and the writer's metadata keeps the no-cortex flags."""
    from cytowords.mapping import AreaMap
    from cytowords.napari.area_map.layers import (
        NO_CORTEX_TILE_COLOR,
        REJECTED_TILE_COLOR,
        area_map_layers,
    )

    labels = np.array([[0, 5, 5], [5, 7, 7]], np.int32)
    rejected = np.array([[False, True, False], [True, False, True]])
    no_cortex = np.array([[False, True, False], [False, False, True]])
    amap = AreaMap(
        labels=labels,
        probability=np.full(labels.shape, 0.5, np.float32),
        ood_score=np.zeros(labels.shape, np.float32),
        rejected=rejected,
        pixel_size_um=256.0,
        origin_um=(0.0, 0.0),
        area_table={5: ("4a", "Area 4a", "#aa0000"), 7: ("44", "Area 44", "#00aa00")},
        no_cortex=no_cortex,
    )
    np.testing.assert_array_equal(amap.rejection_codes(), [[0, 2, 0], [1, 0, 2]])
    viewer = make_napari_viewer()
    layers = [viewer.add_labels(d, **m) for d, m, _ in area_map_layers(amap, np.zeros(2))]
    rej = layers[1]
    np.testing.assert_array_equal(rej.data, amap.rejection_codes())
    names = rej.features.set_index("index")["area_name"]
    assert names[1] == "rejected: not a known area" and names[2] == "rejected: no cortex"
    light, dark = (rej.colormap.map(np.array([v]))[0] for v in (1, 2))
    assert light[0] == pytest.approx(int(REJECTED_TILE_COLOR[1:3], 16) / 255, abs=0.01)
    assert dark[0] == pytest.approx(int(NO_CORTEX_TILE_COLOR[1:3], 16) / 255, abs=0.01)
    np.testing.assert_array_equal(layers[0].metadata["no_cortex"], no_cortex)
    # saved from the layer, the OME-Zarr keeps both codes
    import zarr

    from cytowords.napari.area_map.writer import write_area_map_zarr

    data, meta, _ = layers[0].as_layer_data_tuple()
    out = write_area_map_zarr(str(tmp_path / "m.ome.zarr"), data, meta)[0]
    got = zarr.open_group(out, mode="r")["labels/rejected/0"][...]
    np.testing.assert_array_equal(got, amap.rejection_codes())


def test_area_map_layer_to_qupath_geojson(widget, qtbot, tmp_path) -> None:
    import json

    from napari.plugins.io import save_layers

    viewer, w, image = widget
    labels = _whole_section_map(w, qtbot)
    out = tmp_path / "areas.geojson"
    assert save_layers(str(out), [labels], plugin="napari-cytowords") == [str(out)]
    gj = json.loads(out.read_text())
    accepted = (labels.data > 0) & ~labels.metadata["rejected"]
    tiles = sum(
        f["properties"]["measurements"]["tiles"]
        for f in gj["features"]
        if not f["properties"]["classification"]["name"].startswith("Rejected")
    )
    assert tiles == int(accepted.sum()) > 0
    assert gj["properties"]["pixel_size_um"] == SECTION_UM
    assert gj["properties"]["slide"] == JUDGED_BRIGHT
    # every outline lies on the section image (full-resolution pixels)
    h, w_px = image.data.shape
    for f in gj["features"]:
        xy = np.asarray(f["geometry"]["coordinates"][0])
        assert xy[:, 0].min() >= -1 and xy[:, 0].max() <= w_px + 1
        assert xy[:, 1].min() >= -1 and xy[:, 1].max() <= h + 1


def test_maps_made_at_an_old_pixel_size_are_hidden_not_deleted(widget, qtbot) -> None:
    viewer, w, image = widget
    labels = _whole_section_map(w, qtbot)
    n_layers = len(viewer.layers)
    w.pixel_size.spin.setValue(2 * SECTION_UM)
    w.pixel_size.set_btn.click()
    assert len(viewer.layers) == n_layers  # nothing deleted
    assert labels.name.endswith("(old pixel size)") and not labels.visible
    assert not w.last_layers[1].visible
    assert tuple(image.scale) == (2 * SECTION_UM, 2 * SECTION_UM)


def test_maps_of_an_old_slide_reading_are_hidden_not_deleted(
    make_napari_viewer, qtbot, tiny_bundle, tmp_path
) -> None:
    """The image read again with another slide (its *Slide* row): the maps made of the
    old pixels are hidden and renamed, and one notification says so."""
    import tifffile

    from cytowords.napari.area_map.widget import AreaMapWidget
    from tests.support.napari_helpers import section_array

    path = tmp_path / "section.tif"
    per_um = 1.0 / SECTION_UM
    resolution = (per_um, per_um)
    tifffile.imwrite(
        path, section_array(), imagej=True, resolution=resolution, metadata={"unit": "um"}
    )
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(path), plugin="napari-cytowords")
    w = AreaMapWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(tiny_bundle))
    labels = _whole_section_map(w, qtbot)
    n_layers = len(viewer.layers)
    assert w.slide.combo.isEnabled()
    with Notes() as notes:
        w.slide.combo.setCurrentIndex(2)  # fluorescent
        wait_idle(qtbot, w)
    assert len(viewer.layers) == n_layers  # nothing deleted
    assert labels.name.endswith("(old slide reading)") and not labels.visible
    assert not w.last_layers[1].visible
    assert notes.any("area map layer(s) of 'section' were made with the old slide reading")
    assert np.array_equal(np.asarray(image.data), 255 - section_array())
    assert labels.metadata["section_slide"] == JUDGED_BRIGHT  # as it was made
    again = _whole_section_map(w, qtbot)
    assert again.metadata["section_slide"] == "fluorescent, read inverted (chosen)"
    w.cancel()


def test_a_second_map_keeps_the_first_hidden_and_summarises(widget, qtbot) -> None:
    viewer, w, image = widget
    first = [_whole_section_map(w, qtbot), w.last_layers[1]]
    second = [_whole_section_map(w, qtbot), w.last_layers[1]]
    assert all(ly in viewer.layers for ly in first + second)  # nothing deleted
    assert not any(ly.visible for ly in first) and all(ly.visible for ly in second)
    assert second[0].name != first[0].name and w.maps_of(image) == first + second
    text = w.progress.status.text()
    assert "1 earlier map(s) hidden" in text and "largest: " in text and "mm² accepted" in text


@pytest.fixture(scope="module")
def half_scale_pixels() -> np.ndarray:
    """Brain 204's virtual section rendered at 32 µm/px (as in tests/napari/describe/
    test_widget.py), to be added with a stated pixel size of 16 µm: half the truth, which
    the pixel size check calls suspect."""
    from cytowords.synth.section import virtual_section

    lazy = virtual_section(204, size_mm=(80, 60), pixel_size_um=32.0)
    return np.asarray(lazy.levels[0].compute())


def test_map_of_an_image_whose_pixel_size_is_wrong_is_not_made(
    make_napari_viewer, qtbot, half_scale_pixels
) -> None:
    """Issue #22: a map requested while the image's check runs waits for it in its worker
    and, the check finding the pixel size wrong, adds nothing: one notification naming the
    image and the check's reason, the widget ready again. Once the verdict is known a map
    is refused the same way at once."""
    from cytowords.napari.area_map.widget import AreaMapWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(half_scale_pixels, scale=(16.0, 16.0), name="b204 at 16 µm")
    w = AreaMapWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value("default")
    w.region_combo.setCurrentText("whole section")
    n_before = len(viewer.layers)
    for first in (True, False):
        with Notes() as notes:
            w.run()
            if first:  # the job started the check and waits for it in its thread
                assert w.pixel_size.pending(image) is not None and w._worker is not None
                assert "checking the pixel size" in w.progress.status.text()
            wait_idle(qtbot, w, timeout=180000)
        why = w.pixel_size.abstain_reason(image)
        assert why.startswith("pixel size looks off by about") and "stated 16 µm" in why
        refusals = [m for m in notes.messages if "not mapped" in m]
        assert refusals == [f"'b204 at 16 µm' not mapped: {why}"], notes.messages
        assert len(viewer.layers) == n_before and w.last_layers == []
        assert w.run_btn.isEnabled() and w.progress.status.text() == f"not mapped: {why}"
        assert w.pixel_size.pending(image) is None


def test_a_check_asked_for_while_another_runs_is_queued_and_waited_for(
    make_napari_viewer, qtbot, half_scale_pixels
) -> None:
    """Issue #22: one check runs at a time; a map of image B requested while image A's
    check runs gets B's check queued behind A's, waits for it and is refused with its
    reason (before, no check started for B and B was mapped at its wrong pixel size)."""
    from cytowords.napari.area_map.widget import AreaMapWidget

    viewer = make_napari_viewer()
    a = viewer.add_image(half_scale_pixels, scale=(16.0, 16.0), name="A")
    b = viewer.add_image(half_scale_pixels, scale=(16.0, 16.0), name="B")
    w = AreaMapWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value("default")
    w.region_combo.setCurrentText("whole section")
    w.image_choice.set_value(a)
    w.pixel_size.check()
    running = w.pixel_size.worker
    assert running is not None and w.pixel_size.pending(a) is not None
    w.image_choice.set_value(b)
    n_before = len(viewer.layers)
    with Notes() as notes:
        w.run()
        pending_b = w.pixel_size.pending(b)
        assert pending_b is not None and not pending_b.done  # queued behind A's
        assert w.pixel_size.worker is running  # still A's: one check at a time
        assert "queued" in w.pixel_size.status.text()
        wait_idle(qtbot, w, timeout=240000)
    assert pending_b.done and pending_b.result is not None
    why_a, why_b = w.pixel_size.abstain_reason(a), w.pixel_size.abstain_reason(b)
    assert why_a and why_b == pending_b.result.abstain_reason != ""
    assert [m for m in notes.messages if "not mapped" in m] == [f"'B' not mapped: {why_b}"]
    assert len(viewer.layers) == n_before and w.run_btn.isEnabled()
    assert w.pixel_size.pending(a) is None and w.pixel_size.pending(b) is None


def test_follow_view_of_an_image_whose_pixel_size_is_wrong_maps_nothing(
    make_napari_viewer, qtbot, half_scale_pixels
) -> None:
    """Issue #22: *Follow view* starts the image's pixel size check, waits for it in its
    worker (the GUI thread goes on), and, the check finding the pixel size wrong, maps
    nothing: one notification naming the image and the reason, not one per camera move,
    and no worker started for the later views. Before, the view was mapped at the wrong
    pixel size."""
    from cytowords.napari.area_map.widget import AreaMapWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(half_scale_pixels, scale=(16.0, 16.0), name="b204 at 16 µm")
    w = AreaMapWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value("default")
    cam = camera(viewer)
    cam.zoom, cam.center = float(viewer.canvas.size[1]) / 12000.0, (20000.0, 15000.0)
    n_before = len(viewer.layers)
    with Notes() as notes:
        w.follow.setChecked(True)
        w._live_timer.stop()
        w.refresh_live()  # what the debounce timer does: returns at once, the check runs
        pending = w.pixel_size.pending(image)
        assert pending is not None and not pending.done and w._live_worker is not None
        assert "after the pixel size check" in w.live_status.text()
        qtbot.waitUntil(lambda: not (w.busy or w.live_busy), timeout=180000)
        why = w.pixel_size.abstain_reason(image)
        assert why.startswith("pixel size looks off by about") and "stated 16 µm" in why
        # later views: refused at once (no worker), not notified again
        for centre in ((18000.0, 14000.0), (22000.0, 16000.0)):
            cam.center = centre
            qtbot.waitUntil(lambda: not w.live_busy, timeout=20000)
            assert w._live_worker is None
    refusals = [m for m in notes.messages if "not mapped" in m]
    assert refusals == [f"'b204 at 16 µm' not mapped: {why}"], notes.messages
    assert len(viewer.layers) == n_before and not w.live_layers(image)
    assert w.live_status.text() == f"live map: 'b204 at 16 µm' not mapped: {why}"
    w.follow.setChecked(False)


def test_follow_view_waits_for_the_check_in_its_worker_and_a_move_cancels_the_wait(
    widget, qtbot
) -> None:
    """Issue #22: while the image's check runs, a *Follow view* run waits for it in its
    worker; a camera move cancels the waiting run (the check still running); a check that
    ends suspect is refused with its reason, hiding the image's live layers, and a check
    that ends consistent maps the view again, showing them."""
    from cytowords.sections.scale_check import PendingCheck, ScaleCheck

    viewer, w, image = widget
    cam = camera(viewer)
    cam.zoom, cam.center = float(viewer.canvas.size[1]) / 1600.0, (1600.0, 2000.0)
    w.follow.setChecked(True)  # checked by its first run (the test image: not suspect)
    qtbot.waitUntil(lambda: bool(w.live_layers(image)), timeout=60000)
    qtbot.waitUntil(lambda: not (w.busy or w.live_busy), timeout=60000)
    labels, rejected = w.live_layers(image)
    assert labels.visible and w.pixel_size.abstain_reason(image) == ""

    f = (0.5, 0.71, 1.0, 1.41, 2.0)
    suspect = ScaleCheck(8.0, f, (0.0, 0.1, 0.1, 0.5, 0.5), 50)
    consistent = ScaleCheck(8.0, f, (0.1, 0.3, 0.5, 0.4, 0.1), 50)
    loaded: list = []  # Loaded events of the live runs: a run loaded its model and waits
    on_event = w._on_live_event

    def spy(ev, img, gen) -> None:
        loaded.extend([ev] if type(ev).__name__ == "Loaded" else [])
        on_event(ev, img, gen)

    w._on_live_event = spy
    for result, refused in ((suspect, True), (consistent, False)):
        pending = PendingCheck()
        w.pixel_size._pending[image] = pending  # a check of the image runs (by hand here)
        w.pixel_size._checked.pop(image, None)
        loaded.clear()
        cam.center = (1500.0, 2100.0)
        qtbot.waitUntil(lambda: len(loaded) == 1, timeout=20000)  # loaded, now waiting
        first = w._live_worker
        assert first is not None and "after the pixel size check" in w.live_status.text()
        qtbot.wait(300)
        assert w._live_worker is first and not pending.done  # still waiting
        cam.center = (1600.0, 2000.0)  # a move cancels the run waiting for the check ...
        qtbot.waitUntil(lambda: len(loaded) == 2, timeout=20000)  # ... the next one waits
        assert w._live_worker is not None and w._live_worker is not first
        assert not pending.done
        with Notes() as notes:
            w.pixel_size._checked[image] = result  # what the check records on the GUI thread
            del w.pixel_size._pending[image]
            pending.finish(result)
            qtbot.waitUntil(lambda: not w.live_busy, timeout=20000)
            qtbot.wait(100)
        if refused:
            assert notes.messages == [f"'section' not mapped: {suspect.abstain_reason}"]
            assert not labels.visible and not rejected.visible
            assert suspect.abstain_reason in w.live_status.text()
        else:
            assert not [m for m in notes.messages if "not mapped" in m], notes.messages
            assert labels.visible and rejected.visible
            assert (
                w.live_status.text().startswith("live map: ") and "tile(s)" in w.live_status.text()
            )
    w.follow.setChecked(False)


def _small_area_map_layers(viewer):
    from cytowords.mapping import AreaMap
    from cytowords.napari.area_map.layers import area_map_layers

    rng = np.random.default_rng(751)
    labels = rng.choice(np.array([0, 5, 7], np.int32), size=(40, 60))
    amap = AreaMap(
        labels=labels,
        probability=rng.random(labels.shape).astype(np.float32),
        ood_score=np.zeros(labels.shape, np.float32),
        rejected=labels == 0,
        pixel_size_um=256.0,
        origin_um=(0.0, 0.0),
        area_table={5: ("4a", "Area 4a", "#aa0000"), 7: ("44", "Area 44", "#00aa00")},
    )
    layers = [viewer.add_labels(d, **m) for d, m, _ in area_map_layers(amap, np.zeros(2))]
    return amap, layers


@pytest.mark.parametrize("close", ["layer", "viewer"])
def test_saved_from_the_viewer_the_store_is_written_off_the_gui_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, close
) -> None:
    """*File › Save* of an area map (from the running event loop) writes the OME-Zarr in a
    background thread (the GUI thread only checks the path and copies the arrays); closing
    the layer or the viewer while it writes leaves the store complete; a notification
    says when it is written."""
    import threading
    import time

    import zarr
    from qtpy.QtCore import QTimer

    import cytowords.mapping.write as mw
    from cytowords.napari.area_map.writer import wait_for_writes

    viewer = make_napari_viewer()
    amap, layers = _small_area_map_layers(viewer)
    want = np.array(layers[0].data)
    on_main, started = [], threading.Event()
    real = mw.write_final

    def slow(*a, **k):
        on_main.append(threading.current_thread() is threading.main_thread())
        started.set()
        time.sleep(0.5)  # a big map takes seconds: the user goes on meanwhile
        return real(*a, **k)

    monkeypatch.setattr(mw, "write_final", slow)
    out = tmp_path / "map.zarr"
    saved = []
    with Notes() as notes:
        QTimer.singleShot(
            0, lambda: saved.append(layers[0].save(str(out), plugin="napari-cytowords"))
        )
        qtbot.waitUntil(lambda: bool(saved), timeout=10000)
        assert saved[0] == [str(out)]
        assert started.wait(30)
        assert not out.exists()  # still being written: the GUI thread went on
        if close == "layer":
            viewer.layers.remove(layers[0])
            layers[0].data = np.zeros_like(want)  # nor does a change reach the file
        else:
            viewer.close()
        assert wait_for_writes(60)
        qtbot.wait(100)
    assert on_main == [False]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.zarr"], "atomic"
    g = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(g["labels/areas/0"][...], want)
    np.testing.assert_array_equal(g["labels/rejected/0"][...], amap.rejection_codes())
    if close == "layer":
        assert any(m == f"area map saved: {out}" for m in notes.messages), notes.messages


def test_a_background_save_that_fails_says_so_in_one_line(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
) -> None:
    from qtpy.QtCore import QTimer

    import cytowords.mapping.write as mw
    from cytowords.napari.area_map.writer import wait_for_writes

    viewer = make_napari_viewer()
    _, layers = _small_area_map_layers(viewer)

    def full(*a, **k):
        raise OSError("No space left on device\nmore detail")

    monkeypatch.setattr(mw, "write_final", full)
    out = tmp_path / "map.zarr"
    with Notes() as notes:
        QTimer.singleShot(0, lambda: layers[0].save(str(out), plugin="napari-cytowords"))
        qtbot.wait(200)
        assert wait_for_writes(60)
        qtbot.wait(100)
    assert f"area map not saved to {out}: No space left on device" in notes.messages
    assert list(tmp_path.iterdir()) == []  # no half store, no temporary folder left


@pytest.mark.parametrize("how", ["app.quit", "event loop ends"])
def test_quitting_while_an_area_map_is_written_in_the_background_keeps_it(tmp_path, how) -> None:
    """Python shuts its thread pools (zarr's) down before it joins the threads at exit: the
    background write must be waited for before, or the store would be lost."""
    import os
    import subprocess
    import sys

    code = f"""
import sys, time
import numpy as np
from qtpy.QtCore import QEventLoop, QTimer
from qtpy.QtWidgets import QApplication
import napari
import cytowords.mapping.write as mw
real = mw.write_final
def slow(*a, **k):
    time.sleep(1.5)  # still writing when the application quits
    return real(*a, **k)
mw.write_final = slow
viewer = napari.Viewer(show=False)
labels = np.zeros((20, 30), np.int32); labels[5:15, 5:25] = 5
md = {{"cytowords_area_map": True, "pixel_size_um": 256.0, "origin_um": [0.0, 0.0],
      "area_table": {{5: ["4a", "Area 4a", "#aa0000"]}}}}
layer = viewer.add_labels(labels, name="m area map", metadata=md)
app = QApplication.instance()
loop = app if {how!r} == "app.quit" else QEventLoop()
QTimer.singleShot(0, lambda: layer.save(sys.argv[1], plugin="napari-cytowords"))
QTimer.singleShot(50, lambda: (viewer.close(), loop.quit()))
loop.exec()
"""
    out = tmp_path / "m.zarr"
    env = {
        **os.environ,
        "QT_API": os.environ.get("QT_API", "pyqt6"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    run = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    import zarr

    assert int((zarr.open_group(str(out), mode="r")["labels/areas/0"][...] == 5).sum()) == 200


def test_selected_roi_of_a_qupath_file_is_placed_over_the_image(widget, tmp_path) -> None:
    """A QuPath export (image pixels) chosen as the ROI layer: the selected ROI is mapped
    where it was drawn (placed over the image, one note), not read as µm (an eighth of the
    region, in the image's corner, for an 8 µm/px image)."""
    from tests.support.qupath_files import feature_v05, polygon, write_v05

    viewer, w, image = widget
    ring = [[100.0, 50.0], [300.0, 50.0], [300.0, 250.0], [100.0, 250.0]]  # x, y px
    path = write_v05(tmp_path / "q.geojson", [feature_v05(polygon(ring), cls="A")])
    # two images and none selected: the reader cannot tell which one the file belongs to
    viewer.add_image(np.zeros((8, 8), np.uint8), name="another image")
    viewer.layers.selection.clear()
    (qupath,) = viewer.open(str(path), plugin="napari-cytowords")
    assert qupath.metadata["cytowords_in_image_pixels"]
    qupath.selected_data = {0}
    w.roi_choice.set_value(qupath)
    w.region_combo.setCurrentText("selected ROI")
    with Notes() as notes:
        y0, x0, y1, x1 = w.region_um(image)
    assert notes.any("in image pixels: placed over")
    s = SECTION_UM
    assert (y0, x0, y1, x1) == pytest.approx((50 * s, 100 * s, 250 * s, 300 * s), abs=s)


def test_closing_the_viewer_while_a_map_is_computed_raises_nothing(
    make_napari_viewer, tiny_bundle, qtbot, monkeypatch
) -> None:
    """The viewer is closed while its area map is computed (and the image's pixel size
    checked beside it): the job ends without adding layers to the closed viewer or touching
    its closed widgets (no traceback)."""
    import threading

    from qtpy.QtCore import QThreadPool

    import cytowords.mapping as mapping

    real, entered, release = mapping.compute_area_map, threading.Event(), threading.Event()

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(60), "the test never released the map"
        return real(*args, **kwargs)

    monkeypatch.setattr(mapping, "compute_area_map", held)
    viewer, w, _image = area_map_widget(make_napari_viewer, tiny_bundle)
    with qtbot.capture_exceptions() as raised:
        w.region_combo.setCurrentText("whole section")
        w.run()
        qtbot.waitUntil(entered.is_set, timeout=60000)
        viewer.close()
        release.set()
        assert QThreadPool.globalInstance().waitForDone(60000)
        qtbot.wait(200)  # the workers' last signals
    assert not raised, [str(e[1]) for e in raised]
