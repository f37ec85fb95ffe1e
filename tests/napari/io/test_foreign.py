"""Images opened by another reader (napari's builtins, a console layer) are measured as the
cytowords reader reads their file: RGB fluorescence by its signal channel, a fluorescent
slide inverted, a masked black background filled; the layer is shown as stored. Hand-made
gyrus (tests/support/gyrus.py) and its fluorescence twin (tests/sections/test_dark_field.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from cytowords.measure import measure_roi
from cytowords.napari.describe.widget import DescribeWidget
from cytowords.napari.io.layers import read_by_cytowords, section_from_layer, set_pixel_size
from cytowords.napari.io.slide import SLIDE_KEY, slide_of
from cytowords.sections import grey_levels, open_section
from tests.sections.test_black_background import ROI, _black, _write
from tests.sections.test_dark_field import fluorescence_twin
from tests.support.gyrus import PX, T, gyrus_image
from tests.support.napari_helpers import Notes, wait_idle


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    img = gyrus_image()
    return {"bright": img, "fluor": fluorescence_twin(img)}


def _png(path: Path, arr: np.ndarray) -> Path:
    PILImage.fromarray(arr).save(path)
    return path


def _foreign(viewer, path: Path):
    """The image layer of ``path`` opened with napari's own reader, given the gyrus's µm per
    pixel (as the Pixel size row does: napari's reader reads no calibration)."""
    (layer,) = viewer.open(str(path), plugin="napari")
    assert not read_by_cytowords(layer)
    set_pixel_size(viewer, layer, PX)
    return layer


def _measured_as_read(layer, reference) -> None:
    """The layer's section is the cytowords reader's ``reference`` section, and its readout
    over the gyrus's right bank is the reader's."""
    section = section_from_layer(layer)
    assert np.array_equal(np.asarray(section.levels[0]), np.asarray(reference.levels[0]))
    assert section.pixel_size_um == pytest.approx(reference.pixel_size_um)
    got = measure_roi(section, ROI, cells=False, profile_um=PX)
    want = measure_roi(reference, ROI, cells=False, profile_um=PX)
    assert got.measured, got.reasons
    assert got.thickness_mm == pytest.approx(T / 1000, rel=0.05)
    assert got.thickness_mm == pytest.approx(want.thickness_mm, rel=1e-6)


def test_an_rgb_fluorescence_png_of_napari_s_reader_reads_its_signal_channel(
    make_napari_viewer, images, tmp_path: Path
) -> None:
    fl8 = (images["fluor"] / 16).astype(np.uint8)
    tissue = images["bright"] < 225
    rgb = np.stack([(fl8 * 0.2).astype(np.uint8), (8 + 40 * tissue).astype(np.uint8), fl8], -1)
    path = _png(tmp_path / "dapi.png", rgb)
    viewer = make_napari_viewer()
    layer = _foreign(viewer, path)
    assert layer.rgb
    with Notes() as notes:
        _measured_as_read(layer, open_section(path, pixel_size_um=PX))
        section_from_layer(layer)  # read again: said once
    said = [m for m in notes.messages if m.startswith("dapi:")]
    assert said == [
        "dapi: bright cells on a dark slide (fluorescence, the blue channel of its RGB): read "
        "inverted (255 - value); the layer is shown as stored"
    ]
    assert np.array_equal(np.asarray(layer.data), rgb)  # shown as stored


def test_a_grey_fluorescent_tiff_of_napari_s_reader_is_read_inverted(
    make_napari_viewer, images, tmp_path: Path
) -> None:
    path = _write(tmp_path / "fluor.tif", images["fluor"])
    viewer = make_napari_viewer()
    layer = _foreign(viewer, path)
    assert not layer.rgb
    reference = open_section(path)
    assert reference.metadata["slide"].startswith("bright cells on a dark slide")
    with Notes() as notes:
        _measured_as_read(layer, reference)
    assert notes.any("fluor: bright cells on a dark slide (fluorescence): read inverted")
    assert np.array_equal(np.asarray(layer.data), images["fluor"])


def test_a_min_is_white_tiff_of_napari_s_reader_is_read_as_shown_not_as_fluorescence(
    make_napari_viewer, images, tmp_path: Path
) -> None:
    """A bright-field TIFF stored MinIsWhite (ImageJ's inverting LUT) opened with napari's
    reader holds the stored values (the slide near 0): read from its file's tag as shown,
    like the cytowords reader reads it, not judged a fluorescent slide and inverted (the
    same pixels, but the exports would record a fluorescent reading)."""
    import tifffile

    from cytowords.slide_reading import INVERTED_KEY, SECTION_KEY

    path = tmp_path / "inverted_lut.tif"
    tifffile.imwrite(path, 255 - images["bright"], photometric="miniswhite")
    viewer = make_napari_viewer()
    layer = _foreign(viewer, path)
    reference = open_section(path, pixel_size_um=PX)
    assert reference.metadata["slide"].startswith("stored MinIsWhite")
    with Notes() as notes:
        _measured_as_read(layer, reference)
    section = section_from_layer(layer)
    assert INVERTED_KEY not in section.metadata
    assert section.metadata[SECTION_KEY] == "bright field (judged from the image)"
    assert notes.any("inverted_lut: stored MinIsWhite (an inverting LUT): read as shown")
    assert not notes.any("fluorescence")


def test_a_bright_field_rgb_png_is_read_by_optical_density_as_before(
    make_napari_viewer, images, tmp_path: Path
) -> None:
    violet = np.stack(
        [images["bright"], (images["bright"] * 0.8).astype(np.uint8), images["bright"]], -1
    )
    path = _png(tmp_path / "nissl.png", violet)
    viewer = make_napari_viewer()
    layer = _foreign(viewer, path)
    with Notes() as notes:
        _measured_as_read(layer, open_section(path, pixel_size_um=PX))
    assert not any(m.startswith("nissl:") for m in notes.messages)
    grey, _ = grey_levels([violet])
    assert np.array_equal(np.asarray(section_from_layer(layer).levels[0]), np.asarray(grey[0]))


def test_a_masked_black_background_is_filled_as_the_reader_fills_it(
    make_napari_viewer, images, tmp_path: Path
) -> None:
    path = _write(tmp_path / "masked.tif", _black(images["bright"]))
    viewer = make_napari_viewer()
    layer = _foreign(viewer, path)
    reference = open_section(path)
    assert reference.metadata.get("background")
    with Notes() as notes:
        _measured_as_read(layer, reference)
    assert notes.any("masked: " + reference.metadata["background"])


def test_the_slide_row_reads_a_console_layer_as_chosen_and_shows_it_as_stored(
    make_napari_viewer, qtbot, images
) -> None:
    """A crop inside the tissue (no slide in view: not judged) made in the console: the row
    is enabled; chosen fluorescent, the widgets read it inverted and one notification says
    the layer is shown as stored; its data stays; bright field reads it as stored."""
    raw = images["fluor"][300:600, 100:400]
    viewer = make_napari_viewer()
    layer = viewer.add_image(raw, scale=(PX, PX), name="crop")
    with Notes() as notes:
        w = DescribeWidget(viewer)  # the row reads the layer in a worker (read_in_background)
        qtbot.waitUntil(lambda: "no empty slide" in w.slide.status.text(), timeout=20000)
    assert w.slide.combo.isEnabled() and w.slide.value() == "auto"
    assert "opened by another reader: measured as judged from the image" in w.slide.status.text()
    judged = section_from_layer(layer)
    assert np.array_equal(np.asarray(judged.levels[0]), raw)
    assert notes.any("crop: no empty slide along the image's border", "choose Slide › fluorescent")
    with Notes() as notes:
        w.slide.combo.setCurrentIndex(2)  # fluorescent
        wait_idle(qtbot, w)
    said = [m for m in notes.messages if m.startswith("crop:")]
    assert said == [
        "crop: measured as fluorescent (dark slide, inverted): bright cells on a dark slide "
        "(fluorescence, as given): read inverted (4095 - value); the layer is shown as stored"
    ]
    assert layer.metadata[SLIDE_KEY] == "dark" and slide_of(layer) == "dark"
    assert np.array_equal(np.asarray(section_from_layer(layer).levels[0]), 4095 - raw)
    assert np.array_equal(np.asarray(layer.data), raw)
    assert "the layer is shown as stored" in w.slide.status.text()
    assert "fluorescence, as given" in w.slide.status.text()
    assert w.slide.combo.isEnabled() and w.slide.value() == "dark"
    with Notes() as notes:
        w.slide.combo.setCurrentIndex(1)  # bright field
        wait_idle(qtbot, w)
    assert notes.any("crop: measured as bright field (as stored)")
    assert np.array_equal(np.asarray(section_from_layer(layer).levels[0]), raw)


def test_a_layer_of_another_reader_is_read_in_a_worker_not_on_the_gui_thread(
    make_napari_viewer, qtbot, images, tmp_path: Path, monkeypatch
) -> None:
    """Reading a layer of another reader computes its coarsest level from the whole image
    (seconds for a large single-level scan): the *Slide* row reads it in a worker thread when
    the image is chosen or given its pixel size, so a widget's first job finds it read; the
    reading's note is said once."""
    import threading

    import cytowords.napari.io.layers as layers_mod

    on_gui_thread = []
    real = layers_mod.read_levels

    def recording(*args, **kwargs):
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(layers_mod, "read_levels", recording)
    path = _write(tmp_path / "fluor.tif", images["fluor"])
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin="napari")
    with Notes() as notes:
        w = DescribeWidget(viewer)  # no pixel size yet: nothing to read
        assert on_gui_thread == []
        set_pixel_size(viewer, layer, PX)
        qtbot.waitUntil(
            lambda: "bright cells on a dark slide" in w.slide.status.text(), timeout=20000
        )
        section = section_from_layer(layer)  # as a job does: already read
    assert on_gui_thread == [False]
    assert np.array_equal(np.asarray(section.levels[0]), np.asarray(open_section(path).levels[0]))
    said = [m for m in notes.messages if m.startswith("fluor:")]
    assert len(said) == 1 and "read inverted" in said[0]
    # a reading chosen in the row is read in a worker too
    with Notes() as notes:
        w.slide.combo.setCurrentIndex(1)  # bright field
        wait_idle(qtbot, w)
    assert on_gui_thread == [False, False]
    assert notes.messages == [
        "fluor: measured as bright field (as stored): the layer is shown as stored"
    ]
    assert np.array_equal(np.asarray(section_from_layer(layer).levels[0]), images["fluor"])


def test_a_reading_chosen_in_one_widget_shows_in_the_other_s_slide_row(
    make_napari_viewer, qtbot, images
) -> None:
    """A console layer's reading chosen in the Describe widget's Slide row is shown by the
    Area map widget's row (the layer's data does not change: its metadata event says it),
    read once, with one notification."""
    from cytowords.napari.area_map.widget import AreaMapWidget

    raw = images["fluor"][300:600, 100:400]
    viewer = make_napari_viewer()
    layer = viewer.add_image(raw, scale=(PX, PX), name="crop")
    w = DescribeWidget(viewer)
    other = AreaMapWidget(viewer)
    qtbot.waitUntil(lambda: "no empty slide" in w.slide.status.text(), timeout=20000)
    assert other.slide.value() == "auto"
    assert "measured as judged from the image" in other.slide.status.text()
    with Notes() as notes:
        w.slide.combo.setCurrentIndex(2)  # fluorescent
        assert not w.slide.combo.isEnabled()  # read in a worker
        wait_idle(qtbot, w)
    assert other.slide.value() == "dark" and w.slide.value() == "dark"
    assert "measured as fluorescent (dark slide, inverted)" in other.slide.status.text()
    # and, once read, what that reading said, in both rows (the layer's metadata event)
    assert "read inverted" in other.slide.status.text()
    assert "read inverted" in w.slide.status.text()
    assert w.slide.combo.isEnabled() and other.slide.combo.isEnabled()
    said = [m for m in notes.messages if m.startswith("crop:")]
    assert len(said) == 1 and said[0].startswith("crop: measured as fluorescent")
    with Notes() as notes:
        other.slide.combo.setCurrentIndex(1)  # bright field, in the other widget
        qtbot.waitUntil(lambda: other.slide.worker is None, timeout=20000)
    assert w.slide.value() == "bright" and slide_of(layer) == "bright"
    assert notes.any("crop: measured as bright field (as stored)")
