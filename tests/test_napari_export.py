"""Export described ROIs through the plugin's writers and read them back, in a real viewer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

FEATURES = {
    "area": ["hOc1", "__none__", "44"],
    "area_name": ["primary visual cortex", "not a known area", "Broca's area 44"],
    "probability": [0.91, 0.0, 0.77],
    "rejected": [False, True, False],
    "ood_score": [1.2, 55.0, 3.4],
    "caption": ["Area hOc1: koniocortex.", "No known cortical area.", "Area 44: dysgranular."],
}


@pytest.fixture
def roi_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    rect = np.array([[100.0, 100.0], [100.0, 500.0], [300.0, 500.0], [300.0, 100.0]])
    tri = np.array([[1000.0, 1000.0], [1000.0, 1600.0], [1400.0, 1300.0]])
    ell = np.array([[2000.0, 2000.0], [2000.0, 2400.0], [2200.0, 2400.0], [2200.0, 2000.0]])
    layer = viewer.add_shapes(
        [rect, tri, ell],
        shape_type=["rectangle", "polygon", "ellipse"],
        features=FEATURES,
        name="ROIs",
        metadata={"cytowords_pixel_size_um": 2.0},
    )
    return viewer, layer


def test_geojson_round_trip_through_plugin(roi_layer, tmp_path: Path) -> None:
    viewer, layer = roi_layer
    out = tmp_path / "rois.geojson"
    written = layer.save(str(out), plugin="napari-cytowords")
    assert written == [str(out)]
    gj = json.loads(out.read_text())
    assert len(gj["features"]) == 3
    assert gj["features"][0]["properties"]["classification"]["name"] == "hOc1"
    # the rectangle in pixels of a 2 µm/px image, [x, y] order, closed
    assert gj["features"][0]["geometry"]["coordinates"][0][0] == [50.0, 50.0]
    assert [p.name for p in tmp_path.iterdir()] == ["rois.geojson"], "no temp files left"

    layers = viewer.open(str(out), plugin="napari-cytowords")
    back = layers[0]
    assert back._type_string == "shapes"
    assert len(back.data) == 3
    np.testing.assert_allclose(back.data[0], layer.data[0])
    np.testing.assert_allclose(back.data[1], layer.data[1])
    assert list(back.features["area"]) == FEATURES["area"]
    assert list(back.features["caption"]) == FEATURES["caption"]
    assert list(back.features["rejected"]) == FEATURES["rejected"]


def test_csv_export(roi_layer, tmp_path: Path) -> None:
    _, layer = roi_layer
    out = tmp_path / "rois.csv"
    layer.save(str(out), plugin="napari-cytowords")
    rows = list(csv.DictReader(out.open()))
    assert [r["area"] for r in rows] == FEATURES["area"]
    assert float(rows[0]["area_um2"]) == pytest.approx(200 * 400)
    assert rows[2]["caption"] == "Area 44: dysgranular."
