"""Pixel size in the dock widgets: images without a physical scale are caught, not misread.

A section opened without its pixel size (napari's default scale of 1 ``pixel``) would be
read as 1 µm/px, i.e. a 4 mm model field would cover a few hundred µm of tissue and every
answer would be wrong. The widgets refuse such images with a message saying what to do, and
their *Pixel size* row sets the scale of the image and of the layers aligned with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from napari.components import ViewerModel
from napari.layers import Image

from cytowords.napari.area_map.widget import AreaMapWidget
from cytowords.napari.describe.widget import DescribeWidget
from cytowords.napari.io.layers import (
    LayerError,
    layer_pixel_size_um,
    pixel_size_problem,
    pixel_size_um,
    set_pixel_size,
)
from cytowords.napari.io.reader import read_section_layers
from cytowords.sections import PixelSizeMissingError, open_section
from tests.support.napari_helpers import (
    SECTION_UM,
    Notes,
    rect,
    section_array,
    wait_idle,
)


def test_pixel_size_from_scale_and_unit() -> None:
    assert layer_pixel_size_um(Image(np.zeros((4, 4)))) is None  # napari's default
    assert layer_pixel_size_um(Image(np.zeros((4, 4)), scale=(20, 20))) == 20.0
    mm = Image(np.zeros((4, 4)), scale=(0.02, 0.02), units=("mm", "mm"))
    assert layer_pixel_size_um(mm) == pytest.approx(20.0)
    assert "millimeter" in pixel_size_problem(mm)
    um = Image(np.zeros((4, 4)), scale=(8, 8), units=("µm", "µm"))
    assert pixel_size_problem(um) is None and pixel_size_um(um) == 8.0
    aniso = Image(np.zeros((4, 4)), scale=(8, 12), units=("µm", "µm"))
    assert "anisotropic" in pixel_size_problem(aniso)
    with pytest.raises(LayerError, match="no physical pixel size.*Pixel size"):
        pixel_size_um(Image(np.zeros((4, 4)), name="scan"))


def test_set_pixel_size_rescales_the_layers_aligned_with_the_image() -> None:
    viewer = ViewerModel()
    image = viewer.add_image(np.zeros((100, 100)))
    rois = viewer.add_shapes([rect(1, 1, 5, 5)], shape_type="rectangle")
    coarse = viewer.add_labels(np.zeros((25, 25), int), scale=(4, 4))
    elsewhere = viewer.add_image(np.zeros((10, 10)), translate=(50, 50), scale=(2, 2))
    other_scan = viewer.add_image(np.zeros((60, 80)))  # same origin and unit, other size
    overlay = viewer.add_image(np.ones((100, 100)))  # the same scan's other channel
    changed = set_pixel_size(viewer, image, 20.0)
    assert changed[0] is image
    assert set(map(id, changed)) == {id(image), id(rois), id(coarse), id(overlay)}
    assert tuple(other_scan.scale) == (1.0, 1.0)
    assert tuple(image.scale) == (20.0, 20.0) and str(image.units[-1]) == "micrometer"
    assert tuple(rois.scale) == (20.0, 20.0)  # ROIs stay on the same pixels
    assert tuple(coarse.scale) == (80.0, 80.0)  # a 4x coarser label image stays 4x coarser
    assert tuple(elsewhere.scale) == (2.0, 2.0) and tuple(elsewhere.translate) == (50, 50)
    assert pixel_size_um(image) == 20.0
    with pytest.raises(LayerError, match="positive"):
        set_pixel_size(viewer, image, 0.0)


def test_describe_refuses_image_without_pixel_size_then_works_once_set(
    make_napari_viewer, tiny_bundle, qtbot
) -> None:
    viewer = make_napari_viewer()
    viewer.add_image(section_array(), name="scan")  # no scale: 1 pixel
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(tiny_bundle))
    row = w.pixel_size
    assert row.value() is None and row.spin.text() == "not set"
    assert "no physical pixel size" in row.status.text()
    assert not row.set_btn.isEnabled()
    layer = w.roi_layer()
    layer.add_rectangles(rect(10, 10, 100, 200))
    with Notes() as notes:
        w.describe_all()
    assert not w.busy
    assert notes.any("scan", "no physical pixel size", "Pixel size")
    assert list(layer.features["status"]) == ["new"]  # nothing was queued

    row.spin.setValue(SECTION_UM)
    assert row.set_btn.isEnabled()
    row.set_btn.click()
    assert row.value() == SECTION_UM and "from the image" in row.status.text()
    assert tuple(layer.scale) == (SECTION_UM, SECTION_UM)  # the ROI followed the image
    w.describe_all()
    wait_idle(qtbot, w)
    assert list(layer.features["status"]) == ["done"]

    # a corrected pixel size makes the earlier description stale
    row.spin.setValue(2 * SECTION_UM)
    row.set_btn.click()
    assert list(layer.features["status"]) == ["stale"]
    assert "describe again" in layer.text.values[0]
    w.cancel()


def test_area_map_refuses_image_without_pixel_size(make_napari_viewer, tiny_bundle) -> None:
    viewer = make_napari_viewer()
    viewer.add_image(section_array(), name="scan")
    w = AreaMapWidget(viewer)
    w.model.set_value(str(tiny_bundle))
    with Notes() as notes:
        w.run()
    assert w._worker is None and not w.last_layers
    assert notes.any("scan", "no physical pixel size")


def test_reader_opens_tiff_without_resolution_in_pixels(tmp_path: Path) -> None:
    path = tmp_path / "noresolution.tif"
    tifffile.imwrite(path, section_array())
    with pytest.raises(PixelSizeMissingError, match="noresolution.tif.*--pixel-size-um"):
        open_section(path)
    with Notes() as notes:
        layers = read_section_layers(str(path))
    data, meta, kind = layers[0]
    assert kind == "image" and meta["units"] == ("pixel", "pixel")
    assert meta["scale"] == (1.0, 1.0) and meta["metadata"]["pixel_size_um"] is None
    assert notes.any("noresolution.tif", "Pixel size")
    assert pixel_size_problem(Image(data, **meta)) is not None


def test_unitless_scale_is_read_as_um_and_set_confirms_it(make_napari_viewer) -> None:
    viewer = make_napari_viewer()
    image = viewer.add_image(section_array(), scale=(20, 20), name="scan")  # unit: pixel
    w = AreaMapWidget(viewer)
    row = w.pixel_size
    assert row.value() == 20.0 and "read as µm" in row.status.text()
    assert row.set_btn.isEnabled()
    row.set_btn.click()
    assert str(image.units[-1]) == "micrometer" and tuple(image.scale) == (20.0, 20.0)
    assert "read as µm" not in row.status.text() and not row.set_btn.isEnabled()


def test_check_button_reports_a_verdict_without_blocking(make_napari_viewer, tiny_bundle, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(section_array(), scale=(SECTION_UM, SECTION_UM), units=("µm", "µm"))
    w = DescribeWidget(viewer)
    w.model.set_value(str(tiny_bundle))
    row = w.pixel_size
    row.check_btn.click()
    assert row.worker is not None and not row.check_btn.isEnabled()
    assert "checking" in row.status.text()
    qtbot.waitUntil(lambda: row.worker is None, timeout=60000)
    res = row.last_check
    assert res.verdict in ("consistent", "suspect", "inconclusive")
    assert res.stated_um == SECTION_UM and row.status.text() == res.message
    assert row.check_btn.isEnabled()


def test_first_describe_checks_the_pixel_size_once(make_napari_viewer, tiny_bundle, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(section_array(), scale=(SECTION_UM, SECTION_UM), units=("µm", "µm"))
    w = DescribeWidget(viewer)
    w.model.set_value(str(tiny_bundle))
    w.roi_layer().add_rectangles(rect(10, 10, 100, 200))
    w.describe_all()
    assert w.pixel_size.worker is not None  # started with the first job
    wait_idle(qtbot, w)
    qtbot.waitUntil(lambda: w.pixel_size.worker is None, timeout=60000)
    first = w.pixel_size.last_check
    assert first is not None and w.pixel_size._checked[image] is first
    w.describe_all()
    assert w.pixel_size.worker is None  # not again for the same image
    wait_idle(qtbot, w)
    assert w.pixel_size.status.text() == first.message  # the verdict stays on show
    w.pixel_size.spin.setValue(2 * SECTION_UM)
    w.pixel_size.set_btn.click()
    assert image not in w.pixel_size._checked  # a new pixel size is checked again


def test_automatic_check_fails_quietly_on_an_image_without_tissue(
    make_napari_viewer, tiny_bundle, qtbot
):
    viewer = make_napari_viewer()
    flat = np.full((300, 300), 200, np.uint8)  # no dark-on-bright contrast: no tissue
    image = viewer.add_image(flat, scale=(SECTION_UM, SECTION_UM), units=("µm", "µm"))
    w = DescribeWidget(viewer)
    w.model.set_value(str(tiny_bundle))
    w.roi_layer().add_rectangles(rect(10, 10, 100, 100))
    with Notes() as notes:
        w.describe_all()
        wait_idle(qtbot, w)
    assert "pixel size check failed" in w.pixel_size.status.text()
    assert not notes.any("pixel size check failed")  # no pop-up for the automatic check
    assert image in w.pixel_size._checked  # and not retried by the next job
    w.describe_all()
    assert w.pixel_size.worker is None
    wait_idle(qtbot, w)


def test_status_line_tells_an_unfamiliar_scan():
    from cytowords.napari.qt.pixel_size import check_is_bad, check_text
    from cytowords.sections.scale_check import ScaleCheck

    f = (0.5, 0.71, 1.0, 1.41, 2.0)
    known = ScaleCheck(32.0, f, (0.2, 0.5, 0.7, 0.6, 0.3), 96)
    assert check_text(known) == known.message and not check_is_bad(known)
    unknown = ScaleCheck(32.0, f, (0.02, 0.06, 0.10, 0.08, 0.03), 96)
    text = check_text(unknown)
    assert text.startswith("pixel size check inconclusive") and check_is_bad(unknown)
    assert "This scan looks unlike the sections the model was trained on: only 10%" in text
