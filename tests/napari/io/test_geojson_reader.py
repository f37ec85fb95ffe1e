"""The region reader in a real viewer for Fiji/ImageJ files: a ``.roi`` or ROI Manager
``RoiSet.zip`` opens as a Shapes layer in image pixels with ImageJ's names; any other zip
is not claimed."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from cytowords.napari.io.geojson_reader import napari_get_geojson_reader
from tests.support.imagej_files import (
    composite_roi,
    points_roi,
    polygon_roi,
    rect_roi,
    write_roiset,
)
from tests.support.napari_helpers import Notes


def test_reader_claims_roi_files_and_roisets_only(tmp_path: Path) -> None:
    roiset = write_roiset(tmp_path / "RoiSet.zip", [rect_roi(0, 0, 5, 5, name="a")])
    rect_roi(0, 0, 5, 5).tofile(tmp_path / "one.roi")
    assert napari_get_geojson_reader(str(roiset)) is not None
    assert napari_get_geojson_reader([str(tmp_path / "one.roi")]) is not None
    photos = tmp_path / "photos.zip"
    with zipfile.ZipFile(photos, "w") as zf:
        zf.writestr("a.jpg", b"x")
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    for other in (photos, tmp_path / "fake.zip", tmp_path / "missing.roi"):
        assert napari_get_geojson_reader(str(other)) is None


def test_viewer_opens_a_roiset(make_napari_viewer, tmp_path: Path) -> None:
    donut = [0, 0, 0, 1, 400, 0, 1, 400, 200, 1, 0, 200, 4]
    donut += [0, 100, 50, 1, 300, 50, 1, 300, 150, 1, 100, 150, 4]
    path = write_roiset(
        tmp_path / "RoiSet.zip",
        [
            polygon_roi([[500, 500], [600, 500], [600, 600]], name="L3 patch", color=(0, 255, 0)),
            composite_roi(donut, name="around a vessel"),
            points_roi([[5, 5], [6, 6]], name="cells"),
        ],
    )
    viewer = make_napari_viewer()
    with Notes() as notes:
        (layer,) = viewer.open(str(path), plugin="napari-cytowords")
    assert any(
        "feature 3 ('cells'): 2 point(s), not a region; skipped" in m for m in notes.messages
    )
    assert layer.metadata["cytowords_in_image_pixels"] and tuple(layer.scale) == (1.0, 1.0)
    assert list(layer.features["name"]) == ["L3 patch", "around a vessel"]
    assert list(layer.features["color"]) == ["#00ff00", ""]
    # (y, x) napari pixels (centred on integers): ImageJ's (from the corner) minus 0.5
    np.testing.assert_allclose(layer.data[0], [[499.5, 499.5], [499.5, 599.5], [599.5, 599.5]])
    holes = json.loads(layer.features["holes"][1])
    assert holes == [[[49.5, 99.5], [49.5, 299.5], [149.5, 299.5], [149.5, 99.5]]]


def _open_from_the_gui(viewer, qtbot, path: Path) -> list:
    """``viewer.open`` as *File > Open* or a drop calls it: from Qt's running event loop."""
    from qtpy.QtCore import QTimer

    out: list = []
    QTimer.singleShot(0, lambda: out.append(viewer.open(str(path), plugin="napari-cytowords")))
    qtbot.waitUntil(lambda: bool(out), timeout=60000)
    return out[0]


def _wait_for_layer(viewer, qtbot, n: int = 1):
    qtbot.waitUntil(lambda: len(viewer.layers) >= n, timeout=60000)
    return viewer.layers[n - 1]


def test_a_big_qupath_export_is_read_off_the_gui_thread(make_napari_viewer, qtbot, tmp_path):
    """QuPath's "Export objects as GeoJSON" of all objects (annotations, TMA cores, thousands
    of cells; > BACKGROUND_BYTES): napari's open returns at once with no layer (nothing is
    decoded on the GUI thread), says so, and the annotations' layer arrives when read;
    cells and cores are counted in the notes."""
    from cytowords.napari.io.geojson_reader import BACKGROUND_BYTES
    from tests.support.qupath_files import (
        cell_v05,
        feature_v05,
        polygon,
        rect,
        tma_core_v05,
        write_v05,
    )

    feats = [
        feature_v05(polygon(rect(100, 100, 900, 900)), cls="L1"),
        tma_core_v05("A-1", 3000, 3000),
    ]
    feats += [cell_v05(k) for k in range(2500)]
    path = write_v05(tmp_path / "all_objects.geojson", feats)
    assert path.stat().st_size >= BACKGROUND_BYTES
    viewer = make_napari_viewer()
    with Notes() as notes:
        assert _open_from_the_gui(viewer, qtbot, path) == []
        assert notes.any("all_objects.geojson", "reading", "MB")
        layer = _wait_for_layer(viewer, qtbot)
        qtbot.waitUntil(lambda: notes.any("2,500 QuPath cell objects"), timeout=10000)
    assert list(layer.features["classification"]) == ["L1"] and len(layer.data) == 1
    assert layer.metadata["cytowords_in_image_pixels"]
    assert notes.any("1", "TMA core", "not an annotation")
    # a script's viewer.open (no event loop running) still gets its layer back
    (again,) = viewer.open(str(path), plugin="napari-cytowords")
    assert list(again.features["classification"]) == ["L1"]


def test_a_big_file_that_fails_says_so_in_one_line(make_napari_viewer, qtbot, tmp_path):
    from cytowords.napari.io.geojson_reader import BACKGROUND_BYTES

    path = tmp_path / "cut.geojson"  # an export cut short (disk full, copy stopped)
    path.write_text('{"type": "FeatureCollection", "features": [' + "1, " * BACKGROUND_BYTES)
    viewer = make_napari_viewer()
    with Notes() as notes:
        assert _open_from_the_gui(viewer, qtbot, path) == []
        qtbot.waitUntil(lambda: notes.any("not JSON"), timeout=60000)
    (msg,) = [m for m in notes.messages if "not JSON" in m]
    assert "\n" not in msg and str(path) in msg and not len(viewer.layers)


def test_a_small_file_without_regions_says_so_in_one_line(make_napari_viewer, qtbot, tmp_path):
    """An empty QuPath export opened from the viewer: one notification naming the file and
    the reason, not napari's "Tried to read ... but it gave an error" dialog; a script's
    ``viewer.open`` gets the error."""
    import pytest

    from cytowords.regions.geojson import RegionFileError

    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    viewer = make_napari_viewer()
    with Notes() as notes:
        assert _open_from_the_gui(viewer, qtbot, path) == []
    (msg,) = [m for m in notes.messages if "no features" in m]
    assert "\n" not in msg and str(path) in msg and not len(viewer.layers)
    with pytest.raises(RegionFileError, match="no features"):
        viewer.open(str(path), plugin="napari-cytowords")


def test_a_roiset_of_many_particles_is_made_off_the_gui_thread(make_napari_viewer, qtbot, tmp_path):
    """napari triangulates every polygon when it makes a Shapes layer (seconds for Fiji's
    hundreds of particle outlines): a RoiSet of more than BACKGROUND_SHAPES is read and made
    into its layer in a worker thread."""
    from cytowords.napari.io.geojson_reader import BACKGROUND_SHAPES

    rois, names = [rect_roi(0, 0, 400, 300, name="V1")], ["V1"]
    for k in range(BACKGROUND_SHAPES + 5):
        x, y = 500 + 9 * k, 600 + 3 * k
        rois.append(polygon_roi([[x, y], [x + 6, y + 1], [x + 3, y + 7], [x - 1, y + 4]]))
        names.append(f"0001-{y:04d}-{x:04d}")
    path = write_roiset(tmp_path / "RoiSet.zip", rois, names)
    viewer = make_napari_viewer()
    with Notes() as notes:
        assert _open_from_the_gui(viewer, qtbot, path) == []
        layer = _wait_for_layer(viewer, qtbot)
    assert notes.any("RoiSet.zip", f"reading {BACKGROUND_SHAPES + 6} ROIs")
    assert len(layer.data) == BACKGROUND_SHAPES + 6 and layer.features["name"][1] == names[1]
