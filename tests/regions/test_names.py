"""Names of regions read from QuPath's GeoJSON: an annotation QuPath left unnamed (0.3 and
later write no ``name`` then) is labelled ``ROI k`` for display but written back unnamed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cytowords.describe.export import rois_to_geojson
from cytowords.regions import Roi
from cytowords.regions.geojson import read_region_file
from tests.support.qupath_files import feature_v03, feature_v05, polygon, rect, write_v03


def test_unnamed_annotations_are_labelled_but_not_named(tmp_path: Path) -> None:
    blank = feature_v05(polygon(rect(0, 0, 9, 9)), name="")
    path = write_v03(
        tmp_path / "q.geojson",
        [
            feature_v03(polygon(rect(0, 0, 10, 10)), "L1"),
            feature_v05(polygon(rect(20, 0, 30, 10)), name="ROI 7"),
            blank,
        ],
    )
    read = read_region_file(path, pixel_size_um=2.0)
    assert [(f.name, f.named) for f in read.rois] == [
        ("ROI 1", False),
        ("ROI 7", True),  # the user's own name, even if it reads like a label
        ("ROI 3", False),
    ]
    gj = rois_to_geojson(
        [f.roi for f in read.rois],
        [{}] * 3,
        pixel_size_um=2.0,
        names=[f.name if f.named else "" for f in read.rois],
    )
    assert [f["properties"].get("name") for f in gj["features"]] == [None, "ROI 7", None]


def test_export_names_a_region_only_by_its_own_name() -> None:
    square = np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 10.0], [10.0, 0.0]])
    gj = rois_to_geojson(
        [square, Roi(square, name="mine"), Roi(square)], [{}, {}, {}], pixel_size_um=1.0
    )
    props = [f["properties"] for f in gj["features"]]
    assert ["name" in p for p in props] == [False, True, False] and props[1]["name"] == "mine"
    assert all(p["objectType"] == "annotation" for p in props)
    json.dumps(gj)  # plain JSON
