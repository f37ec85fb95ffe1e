"""GeoJSON (QuPath) and CSV export of described ROIs, and atomic writes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from cytowords.atomic import atomic_directory, atomic_write_text
from cytowords.describe.export import (
    geojson_to_rois,
    results_to_csv,
    rois_to_geojson,
    write_geojson,
)

POLYS = [
    np.array([[0.0, 0.0], [0.0, 400.0], [200.0, 400.0], [200.0, 0.0]]),
    np.array([[1000.0, 1000.0], [1000.0, 1400.0], [1300.0, 1200.0]]),
]
RESULTS = [
    {
        "area": "hOc1",
        "area_name": "primary visual cortex",
        "probability": 0.93,
        "rejected": False,
        "ood_score": 1.5,
        "caption": "Area hOc1: koniocortex.",
    },
    {
        "area": "__none__",
        "area_name": "not a known area",
        "probability": float("nan"),
        "rejected": True,
        "ood_score": 40.0,
        "caption": "No known cortical area.",
    },
]


def test_geojson_is_qupath_shaped_and_round_trips(tmp_path: Path) -> None:
    gj = rois_to_geojson(POLYS, RESULTS, pixel_size_um=2.0, colors={"hOc1": "#ff8000"})
    f0 = gj["features"][0]
    ring = f0["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1], "rings must be closed"
    assert ring[1] == [200.0, 0.0], "QuPath coordinates are [x, y] in pixels"
    assert f0["properties"]["objectType"] == "annotation"
    assert f0["properties"]["classification"] == {"name": "hOc1", "color": [255, 128, 0]}
    assert f0["properties"]["measurements"] == {"probability": 0.93, "ood_score": 1.5}
    path = write_geojson(tmp_path / "rois.geojson", gj)
    back = json.loads(path.read_text())  # strict JSON: NaN must not appear
    assert back["features"][1]["properties"]["probability"] is None
    polys, results, ps = geojson_to_rois(back)
    assert ps == 2.0
    for a, b in zip(polys, POLYS):
        np.testing.assert_allclose(a, b)
    assert results[0]["caption"] == RESULTS[0]["caption"]
    assert results[1]["rejected"] is True


def test_geojson_without_pixel_size_needs_one() -> None:
    gj = rois_to_geojson(POLYS, RESULTS, pixel_size_um=2.0)
    gj.pop("properties")
    with pytest.raises(ValueError, match="pixel size"):
        geojson_to_rois(gj, source="qupath.geojson")
    polys, _, _ = geojson_to_rois(gj, pixel_size_um=1.0)
    np.testing.assert_allclose(polys[0], POLYS[0] / 2.0)


def test_not_a_feature_collection() -> None:
    with pytest.raises(ValueError, match="x.json: not a GeoJSON FeatureCollection"):
        geojson_to_rois({"type": "Feature"}, source="x.json")


def test_csv_rows() -> None:
    rows = list(csv.DictReader(io.StringIO(results_to_csv(POLYS, RESULTS))))
    assert [r["area"] for r in rows] == ["hOc1", "__none__"]
    assert float(rows[0]["area_um2"]) == pytest.approx(80000.0)
    assert rows[1]["probability"] == ""


def test_atomic_write_leaves_no_temp_and_refuses_missing_folder(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.txt", "hello")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "a.txt", "x")


def test_atomic_directory_cleans_up_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.zarr"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "part").write_text("half")
            raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "done").write_text("ok")
    assert (target / "done").read_text() == "ok"
    with pytest.raises(FileExistsError):
        with atomic_directory(target):
            pass
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new").write_text("v2")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
