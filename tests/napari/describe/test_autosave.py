"""ROI autosave: described ROIs survive closing napari and come back with their results."""

from __future__ import annotations

import json
import os

from cytowords.napari.describe.autosave import DELAY_MS, autosave_dir, autosave_path
from cytowords.napari.describe.widget import DescribeWidget
from tests.support.napari_helpers import add_section, rect, wait_idle


def _widget(viewer, bundle) -> DescribeWidget:
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(bundle))
    return w


def test_described_rois_are_autosaved_and_restored(make_napari_viewer, tiny_bundle, qtbot):
    assert str(autosave_dir()) == os.environ["CYTOWORDS_AUTOSAVE_DIR"]
    viewer = make_napari_viewer()
    image = add_section(viewer)
    w = _widget(viewer, tiny_bundle)
    assert w.autosave.isHidden()  # nothing saved for this image yet
    layer = w.roi_layer()
    layer.add_rectangles(rect(10, 10, 100, 200))
    layer.add_polygons([rect(150, 150, 300, 400)])
    w.describe_all()
    wait_idle(qtbot, w)
    path = autosave_path(image)
    areas = list(layer.features["area"])
    assert all(areas)  # both described

    def saved_areas() -> list[str]:
        if not path.is_file():
            return []
        return [f["properties"].get("area") for f in json.loads(path.read_text())["features"]]

    # written a moment after the last change (each result is a change), with the results
    qtbot.waitUntil(lambda: saved_areas() == areas, timeout=10000)
    saved = json.loads(path.read_text())
    assert len(saved["features"]) == 2 and all(
        "caption" in f["properties"] for f in saved["features"]
    )
    w.cancel()
    viewer.close()

    # a new session on the same image: the widget offers the ROIs back
    viewer2 = make_napari_viewer()
    add_section(viewer2)
    w2 = _widget(viewer2, tiny_bundle)
    assert not w2.autosave.isHidden()
    assert w2.autosave.button.text().startswith("Restore 2 autosaved ROI(s)")
    w2.autosave.button.click()
    restored = w2.roi_layer()
    assert restored.name == "ROIs (restored)" and len(restored.data) == 2
    assert list(restored.features["area"]) == areas
    assert list(restored.features["status"]) == ["done", "done"]
    assert w2.results.table.rowCount() == 2 and w2.autosave.isHidden()
    qtbot.wait(2 * DELAY_MS)  # the empty layer it replaced is not saved over the file
    assert [f["properties"].get("area") for f in json.loads(path.read_text())["features"]] == areas
    w2.cancel()


def test_new_rois_instead_of_restoring_keep_the_old_file(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = add_section(viewer)
    path = autosave_path(image)
    path.parent.mkdir(parents=True)
    old = {
        "type": "FeatureCollection",
        "properties": {"pixel_size_um": 8.0},
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "ROI 1", "area": "hOc1"},
                "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [9, 1], [9, 9], [1, 1]]]},
            }
        ],
    }
    path.write_text(json.dumps(old))
    w = DescribeWidget(viewer)
    assert not w.autosave.isHidden()
    w.roi_layer().add_rectangles(rect(10, 10, 50, 50))  # drawn instead of restoring
    w.autosave.save_now()
    kept = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert len(kept) == 1 and kept[0].startswith(path.stem + "-")
    assert json.loads((path.parent / kept[0]).read_text()) == old
    assert len(json.loads(path.read_text())["features"]) == 1
    assert w.autosave.isHidden()


def test_rois_drawn_after_the_image_was_closed_keep_the_unrestored_file(make_napari_viewer):
    """ROIs autosaved earlier are offered, the image is closed and ROIs are drawn with no
    image open: they are saved to that image's file and the earlier ROIs are kept beside."""
    viewer = make_napari_viewer()
    image = add_section(viewer)
    path = autosave_path(image)
    path.parent.mkdir(parents=True)
    old = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]}
    path.write_text(json.dumps(old))
    w = DescribeWidget(viewer)
    assert not w.autosave.isHidden()
    viewer.layers.remove(image)
    assert w.autosave.isHidden()  # nothing to restore into with no image
    w.roi_layer().add_rectangles(rect(10, 10, 50, 50))
    assert w.autosave.save_now() == path
    kept = [p for p in path.parent.iterdir() if p != path]
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == old
    assert len(json.loads(path.read_text())["features"]) == 1


def test_autosaved_rois_come_back_on_the_same_pixels(make_napari_viewer):
    """ROIs drawn over an image with a translate (an OME-Zarr's translation): the autosave
    file holds QuPath's pixel coordinates (from the top-left pixel corner) and the restored
    layer describes the same section polygons."""
    import numpy as np

    from cytowords.napari.io.layers import shape_polygon_section_um
    from tests.support.napari_helpers import SECTION_UM, section_array

    def section_image(viewer):
        return viewer.add_image(
            section_array(), scale=(SECTION_UM, SECTION_UM), translate=(40.0, -24.0), name="t"
        )

    viewer = make_napari_viewer()
    image = section_image(viewer)
    w = DescribeWidget(viewer)
    layer = w.roi_layer()
    # from the top-left corner of pixel (10, 20) to the bottom-right one of pixel (29, 59)
    layer.add_rectangles(rect(9.5, 19.5, 29.5, 59.5))
    path = w.autosave.save_now()
    ring = json.loads(path.read_text())["features"][0]["geometry"]["coordinates"][0]
    np.testing.assert_allclose(
        sorted(map(tuple, ring[:4])), [(20, 10), (20, 30), (60, 10), (60, 30)]
    )
    before = shape_polygon_section_um(layer, 0, image)
    viewer.close()

    viewer2 = make_napari_viewer()
    image2 = section_image(viewer2)
    w2 = DescribeWidget(viewer2)
    restored = w2.autosave.restore()
    np.testing.assert_allclose(shape_polygon_section_um(restored, 0, image2), before, atol=1e-9)
    np.testing.assert_allclose(
        np.asarray(restored.data[0]) * restored.scale + restored.translate,
        np.asarray(layer.data[0]) * layer.scale + layer.translate,
        atol=1e-9,
    )
    w.cancel()
    w2.cancel()


def test_a_plain_shapes_layer_is_autosaved_in_its_image_pixels_after_the_image_closed(
    make_napari_viewer,
):
    """A plain napari Shapes layer (scale 1, no translate) chosen as the ROI layer over an
    image with a translate: its autosave holds that image's pixels, also for the ROIs drawn
    after the image was closed."""
    import numpy as np

    from tests.support.napari_helpers import SECTION_UM, section_array

    viewer = make_napari_viewer()
    image = viewer.add_image(
        section_array(), scale=(SECTION_UM, SECTION_UM), translate=(40.0, -24.0), name="t"
    )
    w = DescribeWidget(viewer)
    plain = viewer.add_shapes(name="plain")
    w.roi_choice.set_value(plain)
    assert w.roi_layer() is plain

    def world(y0, x0, y1, x1):  # pixel corners of the image -> world µm
        t = np.asarray(image.translate)
        return t + (rect(y0, x0, y1, x1) - 0.5) * SECTION_UM

    plain.add_rectangles(world(10, 20, 30, 60))
    path = w.autosave.save_now()
    viewer.layers.remove(image)
    plain.add_rectangles(world(100, 200, 140, 260))
    assert w.autosave.save_now() == path
    rings = [f["geometry"]["coordinates"][0] for f in json.loads(path.read_text())["features"]]
    for ring, (y0, x0, y1, x1) in zip(rings, [(10, 20, 30, 60), (100, 200, 140, 260)]):
        np.testing.assert_allclose(
            sorted(map(tuple, ring[:4])), [(x0, y0), (x0, y1), (x1, y0), (x1, y1)]
        )
    w.cancel()


def test_two_roi_layers_of_one_image_are_both_kept(make_napari_viewer):
    """Two ROI layers over one image, chosen in turn: the autosave file is only replaced by
    the layer it was written from; the other layer's ROIs are kept beside, so each
    layer's last ROIs are in one of the files."""
    viewer = make_napari_viewer()
    image = add_section(viewer)
    w = DescribeWidget(viewer)
    path = autosave_path(image)
    first = w.roi_layer()
    first.add_rectangles([rect(10, 150, 100, 450), rect(150, 150, 250, 450)])
    assert w.autosave.save_now() == path
    second = w.create_roi_layer()
    second.add_rectangles(rect(300, 150, 350, 450))
    w.autosave.save_now()
    w.roi_choice.set_value(first)
    first.add_rectangles(rect(360, 150, 390, 450))
    w.autosave.save_now()
    w.roi_choice.set_value(second)  # back again: the first one's 3 ROIs are kept too
    second.add_rectangles(rect(20, 20, 60, 60))
    w.autosave.save_now()
    counts = sorted(len(json.loads(p.read_text())["features"]) for p in path.parent.iterdir())
    assert counts == [1, 2, 2, 3], counts  # second: 1 then 2 (now); first: 2 then 3
    assert len(json.loads(path.read_text())["features"]) == 2
    w.cancel()


def test_a_layer_with_rois_does_not_replace_an_earlier_sessions_file(make_napari_viewer):
    """A ROI layer that already has ROIs (no restore offered) is bound to an image whose
    autosave file holds an earlier session's ROIs: they are kept beside at its first save."""
    viewer = make_napari_viewer()
    image = add_section(viewer)
    path = autosave_path(image)
    path.parent.mkdir(parents=True)
    old = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}] * 4}
    path.write_text(json.dumps(old))
    rois = viewer.add_shapes([rect(10, 150, 100, 450)], shape_type="rectangle", name="mine")
    w = DescribeWidget(viewer)
    assert w.roi_layer() is rois and w.autosave.isHidden()
    assert w.autosave.save_now() == path
    kept = [p for p in path.parent.iterdir() if p != path]
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == old
    w.cancel()


def test_closing_a_layer_its_file_holds_writes_nothing_again(make_napari_viewer, monkeypatch):
    """Closing a ROI layer whose last change is written already does not write its file
    again (hundreds of ROIs take a tenth of a second); a change not yet written is."""
    import cytowords.napari.describe.autosave as autosave

    viewer = make_napari_viewer()
    image = add_section(viewer)
    w = DescribeWidget(viewer)
    layer = w.roi_layer()
    layer.add_rectangles(rect(10, 10, 100, 200))
    assert w.autosave.save_now() == autosave_path(image)
    writes = []
    real = autosave.write_shapes_geojson

    def counted(path, data, meta, image=None):
        writes.append(meta["name"])
        return real(path, data, meta, image=image)

    monkeypatch.setattr(autosave, "write_shapes_geojson", counted)
    viewer.layers.remove(layer)
    assert writes == []
    w.create_roi_layer().add_rectangles(rect(10, 10, 100, 200))  # written within a second
    viewer.layers.remove(w.roi_layer())
    assert writes == ["ROIs"]
    assert len(json.loads(autosave_path(image).read_text())["features"]) == 1
