"""Area maps as QuPath GeoJSON annotations: outlines, classes, measurements, coordinates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cytowords.mapping import AreaMap
from cytowords.mapping.geojson import (
    REJECTED_NO_CORTEX,
    REJECTED_UNKNOWN,
    _signed_area,
    area_map_to_geojson,
    mask_polygons,
)
from cytowords.regions.geojson import parse_geojson_rois

TABLE = {1: ("hOc1", "primary visual cortex", "#ff0000"), 2: ("44", "Broca, opercular", "#00ff00")}


def test_outlines_of_pieces_with_a_hole() -> None:
    m = np.zeros((8, 8), bool)
    m[1:7, 1:7] = True
    m[3:5, 3:5] = False  # a 2 x 2 hole
    m[0, 7] = True  # a separate one-pixel piece (touches the square only diagonally)
    pieces, outlines = mask_polygons(m)
    assert pieces.max() == 2 and len(outlines) == 2
    by_size = sorted(outlines, key=lambda o: abs(_signed_area(o[1])))
    (k1, dot, dot_holes), (k2, square, holes) = by_size
    assert int((pieces == k1).sum()) == 1 and dot_holes == []
    # marching squares cut each convex corner by 1/8 pixel
    assert abs(_signed_area(dot)) == pytest.approx(0.5)
    assert abs(_signed_area(square)) == pytest.approx(36 - 0.5)
    assert len(holes) == 1 and abs(_signed_area(holes[0])) == pytest.approx(4 - 0.5)
    np.testing.assert_allclose(square.min(axis=0), [0.5, 0.5])
    np.testing.assert_allclose(square.max(axis=0), [6.5, 6.5])


def _map() -> AreaMap:
    labels = np.zeros((4, 6), np.int32)
    labels[:, :3] = 1
    labels[:, 3:] = 2
    labels[0, 5] = 0  # no tissue
    rejected = np.zeros(labels.shape, bool)
    rejected[0, 0] = True  # cortex of no known area
    rejected[2, 4] = True  # no cortex
    no_cortex = np.zeros(labels.shape, bool)
    no_cortex[2, 4] = True
    prob = np.full(labels.shape, 0.8, np.float32)
    prob[:, 3:] = 0.6
    return AreaMap(
        labels=labels,
        probability=prob,
        ood_score=np.zeros(labels.shape, np.float32),
        rejected=rejected,
        pixel_size_um=50.0,
        origin_um=(100.0, 200.0),
        area_table=TABLE,
        no_cortex=no_cortex,
    )


def test_area_map_to_geojson_classes_measurements_and_pixels() -> None:
    gj = area_map_to_geojson(_map(), image_pixel_size_um=2.0)
    assert gj["type"] == "FeatureCollection" and gj["properties"]["pixel_size_um"] == 2.0
    feats = {f["properties"]["classification"]["name"]: f for f in gj["features"]}
    assert sorted(feats) == sorted(["hOc1", "44", REJECTED_UNKNOWN, REJECTED_NO_CORTEX])
    assert len(gj["features"]) == 4
    v1 = feats["hOc1"]["properties"]
    assert v1["objectType"] == "annotation" and v1["classification"]["color"] == [255, 0, 0]
    assert v1["measurements"]["tiles"] == 11  # 12 tiles of area 1 minus the rejected one
    assert v1["measurements"]["area_mm2"] == pytest.approx(11 * 0.05 * 0.05)
    assert v1["measurements"]["mean_probability"] == pytest.approx(0.8)
    # area 2: 12 tiles - 1 without tissue - 1 rejected as no cortex, which is a hole
    ring, *holes = feats["44"]["geometry"]["coordinates"]
    assert feats["44"]["properties"]["measurements"]["tiles"] == 10 and len(holes) == 1
    for r in (ring, *holes):
        assert r[0] == r[-1]
    xs, ys = np.asarray(ring)[:, 0], np.asarray(ring)[:, 1]
    # tiles of area 2 span x 200 + [150, 300) µm and y 100 + [0, 200) µm; 2 µm pixels
    assert xs.min() == pytest.approx(175.0) and xs.max() == pytest.approx(250.0)
    assert ys.min() == pytest.approx(50.0) and ys.max() == pytest.approx(150.0)
    only_areas = area_map_to_geojson(_map(), image_pixel_size_um=2.0, include_rejected=False)
    assert len(only_areas["features"]) == 2
    with pytest.raises(ValueError, match="positive"):
        area_map_to_geojson(_map(), image_pixel_size_um=0)


def test_map_geojson_reads_back_as_rois() -> None:
    gj = json.loads(json.dumps(area_map_to_geojson(_map(), image_pixel_size_um=2.0)))
    read = parse_geojson_rois(gj)
    polys = [f.roi.vertices for f in read.rois]
    areas = [f.results.get("area", f.classification) for f in read.rois]
    assert read.pixel_size_um == 2.0 and len(polys) == 4
    assert sorted(areas)[:2] == ["44", "Rejected: no cortex"]
    hoc1 = polys[areas.index("hOc1")]
    assert hoc1[:, 0].min() >= 100.0 and hoc1[:, 1].max() <= 200.0 + 150.0  # µm, (y, x)
