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
    np.testing.assert_allclose(layer.data[0], [[500, 500], [500, 600], [600, 600]])  # (y, x) px
    holes = json.loads(layer.features["holes"][1])
    assert holes == [[[50.0, 100.0], [50.0, 300.0], [150.0, 300.0], [150.0, 100.0]]]
