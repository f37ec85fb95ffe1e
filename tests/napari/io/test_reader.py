"""The plugin's reader in a real napari viewer: multiscale image in µm + label layers."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from cytowords.napari.io.reader import napari_get_reader
from cytowords.sections import LabelImage, write_section
from tests.support.napari_helpers import Notes


@pytest.fixture
def store(tmp_path: Path) -> Path:
    yy, xx = np.mgrid[0:2300, 0:2100]
    img = (40 + (yy // 7 + xx // 11) % 150).astype(np.uint8)
    img[5, 5], img[9, 9] = 255, 0  # extremes that averaging removes at coarse levels
    lab = np.zeros(img.shape, np.uint8)
    lab[:, 1000:] = 2
    lab[1500:, :1000] = 5
    labels = {"areas": LabelImage([lab], [1.5], {2: "hOc1", 5: "44"}, {2: "#ff0000"})}
    return write_section(
        tmp_path / "brain.ome.zarr", img, pixel_size_um=1.5, chunk_px=512, labels=labels
    )


def test_get_reader_is_selective(tmp_path: Path, store: Path) -> None:
    assert napari_get_reader(str(store)) is not None
    assert napari_get_reader([str(store)]) is not None
    (tmp_path / "plain").mkdir()
    assert napari_get_reader(str(tmp_path / "plain")) is None
    assert napari_get_reader(str(tmp_path / "x.png")) is None
    assert napari_get_reader(str(tmp_path / "missing.tif")) is None


def test_viewer_opens_section_through_plugin(make_napari_viewer, store: Path) -> None:
    viewer = make_napari_viewer()
    layers = viewer.open(str(store), plugin="napari-cytowords")
    assert [ly.name for ly in layers] == ["brain", "brain areas"]
    image = viewer.layers["brain"]
    assert image.multiscale
    assert len(image.data) == 3  # 2300 -> 1150 -> 575 px
    assert all(isinstance(level, da.Array) for level in image.data)
    assert tuple(image.scale) == pytest.approx((1.5, 1.5))
    assert str(image.units[0]) == "micrometer"
    coarsest = np.asarray(image.data[-1])
    assert image.contrast_limits == pytest.approx([coarsest.min(), coarsest.max()])
    lo, hi = image.contrast_limits  # from the coarsest level, not level 0 (0..255)
    assert lo > 0 and hi < 255

    labels = viewer.layers["brain areas"]
    assert labels.multiscale and len(labels.data) == 3
    assert tuple(labels.scale) == pytest.approx((1.5, 1.5))
    assert labels.data[0].shape == (2300, 2100)
    feats = labels.features.set_index("index")
    assert feats.loc[2, "name"] == "hOc1" and feats.loc[5, "name"] == "44"
    np.testing.assert_allclose(labels.colormap.map(2)[:3], [1.0, 0.0, 0.0], atol=1e-6)


def test_reader_never_reads_level0(store: Path) -> None:
    chunk = store / "0" / "c" / "1" / "1"
    assert chunk.is_file()
    chunk.write_bytes(b"not a zstd frame")  # any read of this level-0 chunk would fail
    layers = napari_get_reader(str(store))(str(store))
    data, meta, kind = layers[0]
    assert kind == "image" and meta["contrast_limits"][1] > meta["contrast_limits"][0]
    with pytest.raises(Exception):  # noqa: B017  (the codec's own error type)
        data[0][600:700, 600:700].compute()


def test_scanner_and_plain_images_open_through_plugin(make_napari_viewer, tmp_path: Path) -> None:
    """An Aperio .svs opens in µm from its MPP; a PNG (no calibration) opens in pixels with
    a warning that says where to set its pixel size."""
    from PIL import Image

    from cytowords.napari.io.layers import section_from_layer
    from tests.support.napari_helpers import Notes
    from tests.support.scanner_files import nissl_rgb, write_svs

    svs = write_svs(tmp_path / "scan.svs", nissl_rgb(1024, 768))
    png = tmp_path / "figure.png"
    Image.fromarray(nissl_rgb(300, 400)).save(png)
    assert napari_get_reader(str(svs)) is not None and napari_get_reader(str(png)) is not None
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(svs), plugin="napari-cytowords")
    assert image.multiscale and tuple(image.scale) == pytest.approx((0.252, 0.252))
    assert image.data[0].shape == (1024, 768) and image.metadata["format"] == "svs"
    # its JPEG levels are read for the model as open_section's are (only well downsampled)
    assert image.metadata["lossy_levels"] == [0, 1, 2]
    assert section_from_layer(image).metadata["lossy_levels"] == [0, 1, 2]
    with Notes() as notes:
        (flat,) = viewer.open(str(png), plugin="napari-cytowords")
    assert str(flat.units[0]) == "pixel" and flat.data.shape == (300, 400)
    assert notes.any("figure.png", "stores no pixel size", "Pixel size")


def test_opened_from_the_gui_the_section_is_read_off_the_gui_thread(
    make_napari_viewer, qtbot, store: Path, monkeypatch
) -> None:
    """*File › Open* (Qt's event loop running): nothing of the store is opened or read on
    the GUI thread (on a 10^10 px store that held the GUI 1.8-8 s); ``open`` returns at
    once, one note says so, and the same layers arrive as from a script's ``open``."""
    import threading

    from qtpy.QtCore import QTimer

    import cytowords.sections as sections
    from cytowords.napari.io import reader

    threads: list[bool] = []
    real_open, real_limits = sections.open_section, reader.contrast_limits

    def open_section(*a, **k):
        threads.append(threading.current_thread() is threading.main_thread())
        return real_open(*a, **k)

    def contrast_limits(level):
        threads.append(threading.current_thread() is threading.main_thread())
        return real_limits(level)

    monkeypatch.setattr(sections, "open_section", open_section)
    monkeypatch.setattr(reader, "contrast_limits", contrast_limits)
    viewer = make_napari_viewer()
    with Notes() as notes:
        out: list = []
        QTimer.singleShot(0, lambda: out.append(viewer.open(str(store), plugin="napari-cytowords")))
        qtbot.waitUntil(lambda: bool(out), timeout=60000)
        qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=60000)
    assert threads and not any(threads)  # opened and read in a worker thread only
    assert [ly.name for ly in viewer.layers] == ["brain", "brain areas"]
    assert any("brain.ome.zarr: opening the section" in m for m in notes.messages)
    image = viewer.layers["brain"]
    assert image.multiscale and len(image.data) == 3
    assert tuple(image.scale) == pytest.approx((1.5, 1.5))
    assert str(image.units[0]) == "micrometer"
    coarsest = np.asarray(image.data[-1])
    assert image.contrast_limits == pytest.approx([coarsest.min(), coarsest.max()])
    assert image.source.path == str(store)
    assert viewer.layers["brain areas"].data[0].shape == (2300, 2100)


@pytest.fixture
def fluor_crop(tmp_path: Path) -> Path:
    """Fluorescent Nissl inside the tissue (no slide in view): the slide cannot be judged."""
    from tests.sections.test_black_background import _write
    from tests.sections.test_dark_field import fluorescence_twin
    from tests.support.gyrus import gyrus_image

    fl = fluorescence_twin(gyrus_image())
    return _write(tmp_path / "fluor_crop.tif", fl[300:600, 100:400])


def test_a_slide_it_cannot_judge_is_said_with_what_napari_can_do(
    make_napari_viewer, qtbot, fluor_crop: Path
) -> None:
    """The note names no command-line option in napari, but where to choose the slide (the
    widgets' *Slide* row, tests/napari/io/test_slide.py); the console function that opens
    the image inverted still works: run in the viewer, it adds the inverted image."""
    import tifffile
    from qtpy.QtCore import QTimer

    from cytowords.napari.io.reader import read_section_layers, section_layer_data

    raw = tifffile.imread(fluor_crop)
    (data, _, _), *_ = section_layer_data(str(fluor_crop))[0]
    assert np.array_equal(np.asarray(data), raw)
    notes = section_layer_data(str(fluor_crop))[1]
    (kind, note), *more = [n for n in notes if "slide" in n[1]]
    assert not more and kind == "info"
    assert note.startswith("fluor_crop: no empty slide along the image's border")
    assert "--slide" not in note
    assert note.endswith(
        "if its cells are bright on a dark slide (fluorescence), choose Slide › fluorescent "
        "in the Describe regions or Area map widget (Plugins menu)"
    )
    viewer = make_napari_viewer()
    with Notes() as shown:
        # the line above, as napari's console runs it: on the GUI thread, in Qt's loop
        QTimer.singleShot(0, lambda: read_section_layers(str(fluor_crop), dark_field=True))
        qtbot.waitUntil(lambda: len(viewer.layers) == 1, timeout=60000)
    assert np.array_equal(np.asarray(viewer.layers[0].data), 4095 - raw)
    assert shown.any("fluor_crop", "bright cells on a dark slide (fluorescence, as given)")
