"""The slide chosen in napari (the *Slide* row of the Describe and Area map widgets): the
section is read again from its file as fluorescent (inverted) or as stored, in place of the
layer's data, and every widget then measures what is shown. Hand-made gyrus
(tests/support/gyrus.py) and its fluorescence twin (tests/sections/test_dark_field.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from napari.layers import Image

from cytowords.measure import measure_roi
from cytowords.napari.describe.widget import DescribeWidget
from cytowords.napari.io.layers import SLIDE_READING_KEY, new_roi_layer, section_from_layer
from cytowords.napari.io.slide import SLIDE_KEY, slide_of
from cytowords.napari.qt.layer_choice import LayerChoice
from cytowords.napari.qt.slide import SlideRow
from cytowords.slide_reading import SECTION_KEY
from tests.sections.test_black_background import ROI, _write
from tests.sections.test_dark_field import fluorescence_twin
from tests.support.gyrus import PX, T, gyrus_image
from tests.support.napari_helpers import Notes, rect, wait_idle


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("slide")
    fl = fluorescence_twin(gyrus_image())
    big = np.repeat(np.repeat(fl, 2, axis=0), 2, axis=1)  # 1400 × 1000 px: two levels
    per_um = 2.0 / PX
    tifffile.imwrite(
        tmp / "fluor.tif", big, imagej=True, resolution=(per_um, per_um), metadata={"unit": "um"}
    )
    return {
        "fluor": tmp / "fluor.tif",
        # inside the tissue: no slide in view, so the reader cannot judge it
        "fluor_crop": _write(tmp / "fluor_crop.tif", fl[300:600, 100:400]),
    }


def _describe(make_napari_viewer, tiny_bundle, path: Path):
    viewer = make_napari_viewer()
    with Notes():
        (image,) = viewer.open(str(path), plugin="napari-cytowords")
    w = DescribeWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(tiny_bundle))
    w.scale_check.setChecked(False)
    return viewer, w, image


def _choose(qtbot, w, slide: str) -> Notes:
    with Notes() as notes:
        w.slide.combo.setCurrentIndex(("auto", "bright", "dark").index(slide))
        wait_idle(qtbot, w)
    return notes


def test_an_unjudged_fluorescent_crop_is_read_inverted_in_place(
    make_napari_viewer, qtbot, tiny_bundle, files
) -> None:
    """The crop opens as stored, with a note that says where to choose the slide; chosen
    fluorescent, the same layer shows and gives the widgets the inverted pixels; its ROI
    layer, name, place and scale stay; one notification says what was done."""
    raw = tifffile.imread(files["fluor_crop"])
    viewer, w, image = _describe(make_napari_viewer, tiny_bundle, files["fluor_crop"])
    assert np.array_equal(np.asarray(image.data), raw)
    assert "choose Slide › fluorescent in the Describe regions" in image.metadata["slide"]
    assert w.slide.value() == "auto" and w.slide.combo.isEnabled()
    assert "no empty slide along the image's border" in w.slide.status.text()
    rois = w.roi_layer()
    rois.add_rectangles(rect(10, 10, 100, 200))
    rois_data = [d.copy() for d in rois.data]
    before = section_from_layer(image)  # a widget read it before: not read again
    assert np.array_equal(np.asarray(before.levels[0]), raw)
    layers, scale = list(viewer.layers), tuple(image.scale)
    other = SlideRow(viewer, LayerChoice(viewer, Image))  # another widget's row
    notes = _choose(qtbot, w, "dark")
    assert other.value() == "dark" and "fluorescence, as given" in other.status.text()
    assert list(viewer.layers) == layers and viewer.layers["fluor_crop"] is image
    assert tuple(image.scale) == scale
    assert w.roi_layer() is rois and all(
        np.array_equal(a, b) for a, b in zip(rois.data, rois_data, strict=True)
    )
    assert np.array_equal(np.asarray(image.data), 4095 - raw)
    assert np.array_equal(np.asarray(section_from_layer(image).levels[0]), 4095 - raw)
    shown = np.asarray(image.data)
    assert image.contrast_limits == pytest.approx([shown.min(), shown.max()], abs=1)
    assert image.metadata[SLIDE_KEY] == "dark" and slide_of(image) == "dark"
    assert "fluorescence, as given" in image.metadata["slide"]
    assert "fluorescence, as given" in w.slide.status.text()
    said = [m for m in notes.messages if "fluor_crop" in m]
    assert said == [
        "fluor_crop: read as fluorescent (dark slide, inverted): bright cells on a dark "
        "slide (fluorescence, as given): read inverted (4095 - value)"
    ]
    assert w.slide.value() == "dark"


def test_the_describe_and_measure_path_sees_the_reading_chosen(
    make_napari_viewer, qtbot, tiny_bundle, files, tmp_path
) -> None:
    """The whole fluorescent scan is judged and read inverted; read as stored (bright
    field) its cortex is not found, read as fluorescent again it is measured as the
    bright-field gyrus; descriptions made before are marked stale."""
    raw = tifffile.imread(files["fluor"])
    viewer, w, image = _describe(make_napari_viewer, tiny_bundle, files["fluor"])
    assert image.multiscale and len(image.data) == 2
    assert np.array_equal(np.asarray(image.data[0]), 4095 - raw)
    roi = measure_roi(section_from_layer(image), ROI, cells=False, profile_um=PX)
    assert roi.measured and roi.thickness_mm == pytest.approx(T / 1000, rel=0.05)
    rois = w.roi_layer()
    rois.add_rectangles(rect(600, 630, 900, 950))  # ROI, in pixels
    w.describe_all()
    wait_idle(qtbot, w)
    assert rois.features["status"].iloc[0] == "done"
    # the exports say how the slide was read: the image's reading, or as described
    judged = "fluorescent, read inverted (judged from the image)"
    assert section_from_layer(image).metadata[SECTION_KEY] == judged
    assert rois.metadata[SLIDE_READING_KEY] == judged
    out = tmp_path / "described.geojson"
    rois.save(str(out), plugin="napari-cytowords")
    assert json.loads(out.read_text())["properties"]["slide"] == judged
    notes = _choose(qtbot, w, "bright")
    assert section_from_layer(image).metadata[SECTION_KEY] == "bright field (chosen)"
    rois.save(str(out), plugin="napari-cytowords")
    assert json.loads(out.read_text())["properties"]["slide"] == "bright field (chosen)"
    assert np.array_equal(np.asarray(image.data[0]), raw) and len(image.data) == 2
    assert "slide" not in image.metadata and slide_of(image) == "bright"
    assert notes.any("fluor: read as bright field (as stored)")
    assert not measure_roi(section_from_layer(image), ROI, cells=False, profile_um=PX).measured
    assert rois.features["status"].iloc[0] == "stale"
    _choose(qtbot, w, "dark")
    assert np.array_equal(np.asarray(image.data[0]), 4095 - raw)
    again = measure_roi(section_from_layer(image), ROI, cells=False, profile_um=PX)
    assert again.thickness_mm == pytest.approx(roi.thickness_mm, rel=1e-6)


def test_a_file_it_cannot_read_again_is_one_line_and_the_layer_stays(
    make_napari_viewer, qtbot, tiny_bundle, files, tmp_path: Path
) -> None:
    path = _write(tmp_path / "gone.tif", tifffile.imread(files["fluor_crop"]))
    viewer, w, image = _describe(make_napari_viewer, tiny_bundle, path)
    shown = np.asarray(image.data).copy()
    # replaced by a file that is no TIFF (a new file: the layer's open one stays readable)
    (tmp_path / "new.tif").write_bytes(b"not a tiff any more")
    (tmp_path / "new.tif").replace(path)
    notes = _choose(qtbot, w, "dark")
    said = [m for m in notes.messages if "gone" in m]
    assert len(said) == 1 and "\n" not in said[0]
    assert said[0].startswith("gone: not read again from gone.tif (")
    assert "Traceback" not in said[0]
    assert np.array_equal(np.asarray(image.data), shown)
    assert slide_of(image) == "auto" and w.slide.value() == "auto"
    assert w.slide.combo.isEnabled()


def test_a_file_replaced_by_another_image_is_not_put_into_the_layer(
    make_napari_viewer, qtbot, tiny_bundle, files, tmp_path: Path
) -> None:
    path = _write(tmp_path / "moved.tif", tifffile.imread(files["fluor_crop"]))
    viewer, w, image = _describe(make_napari_viewer, tiny_bundle, path)
    shown = np.asarray(image.data).copy()
    _write(tmp_path / "new.tif", tifffile.imread(files["fluor_crop"])[:200]).replace(path)
    notes = _choose(qtbot, w, "dark")
    said = [m for m in notes.messages if "moved" in m]
    assert said == [
        "moved: not read again from moved.tif (its file now holds an image of 200 × 300 px, "
        "the layer one of 300 × 300 px: open the file again)"
    ]
    assert np.array_equal(np.asarray(image.data), shown) and slide_of(image) == "auto"


def test_a_section_cytowords_made_without_a_file_is_read_as_it_is(make_napari_viewer) -> None:
    """Sample and demo data (a section cytowords made, no file): the row says its slide is
    read as it is, and choosing one reads nothing. (Images of other readers: test_foreign.)"""
    from cytowords.napari.demo import section_layers
    from cytowords.napari.io.layers import read_by_cytowords
    from cytowords.napari.io.slide import reread_slide
    from cytowords.sections import Section

    viewer = make_napari_viewer()
    data, meta, _ = section_layers(Section([np.zeros((50, 60), np.uint8)], [2.0], "made"))[0]
    image = viewer.add_image(data, **{k: v for k, v in meta.items() if k != "multiscale"})
    assert read_by_cytowords(image)
    new_roi_layer(viewer, image)
    w = DescribeWidget(viewer)
    assert not w.slide.combo.isEnabled()
    assert "made by cytowords (no file to read again)" in w.slide.status.text()
    with Notes() as notes:
        assert reread_slide(image, "dark") is None
    assert len(notes.messages) == 1
    assert notes.messages[0] == "made: made by cytowords (no file to read again): read as it is"
    assert np.array_equal(image.data, np.zeros((50, 60), np.uint8))
    assert slide_of(image) == "auto"
