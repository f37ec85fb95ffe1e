"""Export described ROIs through the plugin's writers and read them back, in a real viewer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cytowords.napari.io.shapes import holes_um

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
    # the rectangle in pixels of a 2 µm/px image, [x, y] order, closed: world µm 100 is
    # the centre of pixel 50 of an image at translate 0, QuPath's pixel 50.5
    assert gj["features"][0]["geometry"]["coordinates"][0][0] == [50.5, 50.5]
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


def test_qupath_export_round_trip_keeps_names_classes_and_holes(
    make_napari_viewer, tmp_path: Path
) -> None:
    """QuPath 0.3 list export -> napari -> plugin GeoJSON -> napari: names (unnamed
    annotations stay unnamed), classes, colours and holes survive; a MultiPolygon becomes
    one shape per piece; a point is skipped with a notification."""
    from tests.support.napari_helpers import Notes
    from tests.support.qupath_files import (
        closed,
        feature_v03,
        feature_v05,
        polygon,
        rect,
        write_v03,
    )

    donut = polygon(rect(0, 0, 400, 200), rect(100, 50, 300, 150))
    pieces = {
        "type": "MultiPolygon",
        "coordinates": [[closed(rect(1000, 0, 1100, 100))], [closed(rect(1200, 0, 1300, 100))]],
    }
    named = feature_v05(polygon(rect(500, 500, 600, 600)), name="my roi", cls="L2", rgb=(0, 255, 0))
    src = write_v03(
        tmp_path / "qupath.geojson",
        [
            feature_v03(donut, "L1", (255, 0, 0)),
            feature_v03(pieces, "WM", (0, 0, 255)),
            feature_v03({"type": "MultiPoint", "coordinates": [[5, 5], [6, 6]]}, "cells"),
            named,
        ],
    )
    viewer = make_napari_viewer()
    with Notes() as notes:
        (layer,) = viewer.open(str(src), plugin="napari-cytowords")
    assert any(
        "feature 3 ('cells'): 2 point(s), not a region; skipped" in m for m in notes.messages
    )
    assert len(layer.data) == 4 and layer.metadata["cytowords_in_image_pixels"]
    assert list(layer.features["name"]) == ["", "", "", "my roi"]
    assert list(layer.features["classification"]) == ["L1", "WM", "WM", "L2"]
    assert list(layer.features["color"]) == ["#ff0000", "#0000ff", "#0000ff", "#00ff00"]
    assert list(layer.features["object_id"]) == ["", "", "", named["id"]]
    holes = json.loads(layer.features["holes"][0])
    # (y, x) napari pixels: QuPath's (from the pixel corner) minus half a pixel
    assert holes == [[[49.5, 99.5], [49.5, 299.5], [149.5, 299.5], [149.5, 99.5]]]
    assert list(layer.features["holes"][1:]) == ["", "", ""]

    # written back for QuPath (image pixels of 2 µm once placed over a 2 µm/px image)
    layer.scale = (2.0, 2.0)
    layer.metadata["cytowords_pixel_size_um"] = 2.0
    out = tmp_path / "back.geojson"
    assert layer.save(str(out), plugin="napari-cytowords") == [str(out)]
    feats = json.loads(out.read_text())["features"]
    assert [f["properties"].get("name") for f in feats] == [None, None, None, "my roi"]
    assert feats[0]["properties"]["classification"] == {"name": "L1", "color": [255, 0, 0]}
    assert feats[3]["properties"]["classification"] == {"name": "L2", "color": [0, 255, 0]}
    assert feats[3]["id"] == named["id"], "QuPath's object id is kept"
    ring, hole = feats[0]["geometry"]["coordinates"]
    assert hole == closed(rect(100, 50, 300, 150)) and ring == closed(rect(0, 0, 400, 200))
    # ... and read again by the plugin: the same names, classes and holes
    (again,) = viewer.open(str(out), plugin="napari-cytowords")
    for col in ("name", "classification", "color"):
        assert list(again.features[col]) == list(layer.features[col]), col
    # holes: the same in world µm (the plugin's file is read in µm, QuPath's in pixels)
    (h_again,) = holes_um(again.features["holes"][0], again.scale, again.translate)
    (h_first,) = holes_um(layer.features["holes"][0], layer.scale, layer.translate)
    np.testing.assert_allclose(h_again, h_first)
    assert h_first.max(axis=0).tolist() == [299.0, 599.0]  # centre of pixel (149.5, 299.5)
    np.testing.assert_allclose(
        np.asarray(again.data[0]) * again.scale, np.asarray(layer.data[0]) * 2
    )
    # a shape moved away from its holes: saved (and described) without them
    data = [np.asarray(d) for d in layer.data]
    data[0] = data[0] + 5000.0
    layer.data = data
    layer.shape_type = ["polygon"] * 4
    assert layer.save(str(out), plugin="napari-cytowords") == [str(out)]
    moved = json.loads(out.read_text())["features"][0]
    assert len(moved["geometry"]["coordinates"]) == 1 and "name" not in moved["properties"]


def test_geojson_writer_gives_every_class_a_colour(tmp_path: Path) -> None:
    """QuPath refuses the whole file when one classification has no colour: a region that
    matches no known area (``__none__``), a class without a colour and a taught area (not
    in the atlas) get one (the writer called as npe2 calls it, no viewer needed)."""
    import pandas as pd

    from cytowords.napari.io.writers import write_shapes_geojson

    rect = np.array([[100.0, 100.0], [100.0, 500.0], [300.0, 500.0], [300.0, 100.0]])
    feats = pd.DataFrame({**FEATURES, "area": ["hOc1", "__none__", "Área 4 (taught)"]})
    feats["classification"] = ["", "my class", ""]
    meta = {
        "shape_type": ["polygon"] * 3,
        "features": feats,
        "metadata": {"cytowords_pixel_size_um": 2.0},
    }
    out = tmp_path / "rois.geojson"
    write_shapes_geojson(str(out), [rect, rect + 1000, rect + 2000], meta)
    classes = [f["properties"]["classification"] for f in json.loads(out.read_text())["features"]]
    assert [c["name"] for c in classes] == ["hOc1", "my class", "Área 4 (taught)"]
    assert all(len(c["color"]) == 3 for c in classes), classes


def test_writing_500_described_rois_holds_the_gui_thread_briefly(make_napari_viewer, tmp_path):
    """Saving (and autosaving, the same writer) runs on the GUI thread: 500 described ROIs are
    written as CSV in well under 0.2 s (feature rows read once; per-cell pandas access took
    0.4 s on a 2-core machine)."""
    import time

    from cytowords.napari.describe.results import prepare_layer
    from cytowords.napari.io.writers import write_shapes_csv, write_shapes_geojson

    viewer = make_napari_viewer()
    layer = viewer.add_shapes(
        [
            np.array([[y, x], [y, x + 12], [y + 12, x + 12], [y + 12, x]], float)
            for y in range(0, 400, 20)
            for x in range(0, 500, 20)
        ],
        shape_type="rectangle",
        scale=(8.0, 8.0),
    )
    prepare_layer(layer, 8.0)  # the columns of a ROI layer of the Describe widget
    n = len(layer.data)
    n = len(layer.data)
    df = layer.features.copy()
    df["area"], df["probability"], df["status"] = "hOc1", 0.9, "done"
    df["caption"] = "Area hOc1 (primary visual cortex) ..."
    df["name"] = [f"r{i}" for i in range(n)]
    layer.features = df
    data, meta, _ = layer.as_layer_data_tuple()
    write_shapes_geojson(str(tmp_path / "warm.geojson"), data, meta)  # imports done
    t0 = time.perf_counter()
    write_shapes_csv(str(tmp_path / "r.csv"), data, meta)
    took = time.perf_counter() - t0
    assert n == 500 and len((tmp_path / "r.csv").read_text().splitlines()) == n + 1
    assert took < 0.2, f"{took:.3f} s for {n} ROIs"
    # the GeoJSON writer (and each autosave) reads the feature rows once, not per part
    from cytowords.napari.io import writers

    reads = []
    real = writers._records
    writers._records = lambda m: reads.append(1) or real(m)
    try:
        write_shapes_geojson(str(tmp_path / "r.geojson"), data, meta)
    finally:
        writers._records = real
    assert len(reads) == 1


def test_the_files_say_how_the_image_s_slide_is_read(roi_layer, tmp_path: Path) -> None:
    """Drawn over an image read as fluorescent (chosen in its Slide row), the GeoJSON's
    properties and the CSV's last column say so; without an image, as the layer recorded
    it when it was described; else nothing is said."""
    from cytowords.napari.io.layers import SLIDE_READING_KEY, cached_section
    from cytowords.napari.io.slide import SLIDE_KEY

    viewer, layer = roi_layer
    gj_out, csv_out = tmp_path / "rois.geojson", tmp_path / "rois.csv"
    layer.save(str(gj_out), plugin="napari-cytowords")
    assert "slide" not in json.loads(gj_out.read_text())["properties"]
    layer.save(str(csv_out), plugin="napari-cytowords")
    assert "slide" not in next(csv.reader(csv_out.open()))
    layer.metadata[SLIDE_READING_KEY] = "bright field (judged from the image)"
    layer.save(str(gj_out), plugin="napari-cytowords")
    assert json.loads(gj_out.read_text())["properties"] == {
        "generator": "napari-cytowords",
        "pixel_size_um": 2.0,
        "slide": "bright field (judged from the image)",
    }
    img = np.full((1500, 1500), 60, np.uint16)
    img[500:1000, 500:1000] = 3000
    scan = viewer.add_image(img, scale=(2.0, 2.0), name="scan")
    # judged, not read yet: the writer (GUI thread) does not read it for the words
    layer.save(str(gj_out), plugin="napari-cytowords")
    assert cached_section(scan) is None
    assert json.loads(gj_out.read_text())["properties"]["slide"] == (
        "bright field (judged from the image)"  # as recorded
    )
    scan.metadata[SLIDE_KEY] = "dark"
    layer.save(str(gj_out), plugin="napari-cytowords")
    assert json.loads(gj_out.read_text())["properties"]["slide"] == (
        "fluorescent, read inverted (chosen)"
    )
    layer.save(str(csv_out), plugin="napari-cytowords")
    rows = list(csv.DictReader(csv_out.open()))
    assert [r["slide"] for r in rows] == ["fluorescent, read inverted (chosen)"] * 3
    assert [r["area"] for r in rows] == FEATURES["area"]
