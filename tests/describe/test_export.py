"""GeoJSON (QuPath) and CSV export of described ROIs, and atomic writes."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from cytowords.atomic import atomic_directory, atomic_write_text
from cytowords.colours import color_hex
from cytowords.describe.export import (
    results_to_csv,
    rois_to_geojson,
    write_geojson,
)
from cytowords.regions import Roi
from cytowords.regions.geojson import (
    RegionFileError,
    classification_of,
    parse_geojson_rois,
    read_region_file,
)
from tests.support.qupath_files import (
    closed,
    feature_v03,
    feature_v05,
    packed_argb,
    polygon,
    rect,
    write_v03,
    write_v05,
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
    read = parse_geojson_rois(back)
    assert read.pixel_size_um == 2.0
    for f, b in zip(read.rois, POLYS):
        np.testing.assert_allclose(f.roi.vertices, b)
    assert read.rois[0].results["caption"] == RESULTS[0]["caption"]
    assert read.rois[1].results["rejected"] is True


def test_geojson_without_pixel_size_needs_one() -> None:
    gj = rois_to_geojson(POLYS, RESULTS, pixel_size_um=2.0)
    gj.pop("properties")
    with pytest.raises(ValueError, match="pixel size"):
        parse_geojson_rois(gj, source="qupath.geojson")
    read = parse_geojson_rois(gj, pixel_size_um=1.0)
    np.testing.assert_allclose(read.rois[0].roi.vertices, POLYS[0] / 2.0)


def test_geojson_holes_parts_classes_and_ids_written_for_qupath() -> None:
    donut = Roi(POLYS[0], name="L1 donut", holes=(np.array([[50.0, 100], [50, 300], [150, 200]]),))
    two = Roi(POLYS[1], name="pair", parts=(POLYS[0] + 2000.0,))
    qid = "6f1c8c1e-3b2a-4a51-9a53-2f0a8d1c9e11"
    gj = rois_to_geojson(
        [donut, two],
        RESULTS,
        pixel_size_um=2.0,
        colors={"L1": "#ff0000", "hOc1": "#ff8000"},
        classes=["L1", None],
        ids=[qid, "cytowords-roi-2"],
    )
    f0, f1 = gj["features"]
    assert f0["id"] == qid and str(uuid.UUID(f1["id"])) == f1["id"], "ids are UUIDs"
    assert f0["geometry"]["type"] == "Polygon" and len(f0["geometry"]["coordinates"]) == 2
    assert f0["geometry"]["coordinates"][1][0] == [50.0, 25.0]  # the hole, [x, y] pixels
    assert f1["geometry"]["type"] == "MultiPolygon" and len(f1["geometry"]["coordinates"]) == 2
    p0 = f0["properties"]
    assert p0["name"] == "L1 donut" and f1["properties"]["name"] == "pair"
    # the user's class is kept; the described area goes to properties and metadata
    assert p0["classification"] == {"name": "L1", "color": [255, 0, 0]}
    assert p0["area"] == "hOc1" and p0["metadata"]["area"] == "hOc1"
    assert p0["metadata"]["rejected"] == "false" and "probability" not in p0["metadata"]
    assert f1["properties"]["classification"] == {"name": "__none__"}
    back = parse_geojson_rois(json.loads(json.dumps(gj)))
    assert [f.classification for f in back.rois] == ["L1", None]
    assert back.rois[0].color == "#ff0000" and back.rois[0].id == qid
    assert back.rois[0].roi.area_um2 == pytest.approx(donut.area_um2)
    assert len(back.rois[1].roi.parts) == 1 and back.rois[1].results["rejected"] is True


def test_results_survive_qupath_reexport() -> None:
    """QuPath 0.5 drops unknown properties when it exports our objects again, but keeps
    measurements and metadata: the results come back from those."""
    gj = rois_to_geojson(POLYS, RESULTS, pixel_size_um=2.0)
    for f in gj["features"]:
        p = f["properties"]
        f["properties"] = {
            "objectType": "annotation",
            **({"name": p["name"]} if "name" in p else {}),  # QuPath: only a set name
            "classification": {"name": p["classification"]["name"], "color": [1, 2, 3]},
            "measurements": {k: ("NaN" if v is None else v) for k, v in p["measurements"].items()},
            "metadata": p["metadata"],
        }
    back = parse_geojson_rois(gj["features"], pixel_size_um=2.0)
    r0, r1 = (f.results for f in back.rois)
    assert r0["area"] == "hOc1" and r0["probability"] == 0.93 and r0["rejected"] is False
    assert r1["rejected"] is True and r1["caption"] == RESULTS[1]["caption"]
    assert back.rois[0].classification is None, "our own area is not a user class"


def _qupath_export(tmp_path: Path) -> Path:
    """A QuPath 0.3 list-form export: old property names, packed-int colours, a polygon
    with a hole, a MultiPolygon, a points object, a line and a bad annotation."""
    donut = polygon(rect(0, 0, 400, 200), rect(100, 50, 300, 150))
    pieces = {
        "type": "MultiPolygon",
        "coordinates": [
            [closed(rect(1000, 0, 1100, 100))],
            [closed(rect(1200, 0, 1300, 100))],
            [[[0, 0], [1, 1], [0, 0]]],
        ],
    }
    feats = [
        feature_v03(donut, "L1", (255, 0, 0)),
        feature_v03(pieces, "WM", (0, 0, 255)),
        feature_v03({"type": "MultiPoint", "coordinates": [[5, 5], [6, 6]]}, "cells"),
        feature_v03({"type": "LineString", "coordinates": [[0, 0], [50, 50]]}),
        feature_v03({"type": "Polygon", "coordinates": [[[0, 0], [9, 9], [0, 0]]]}, "L2"),
    ]
    return write_v03(tmp_path / "export.geojson", feats)


def test_qupath_03_list_export(tmp_path: Path) -> None:
    path = _qupath_export(tmp_path)
    assert json.loads(path.read_text())[0]["properties"]["classification"]["colorRGB"] < 0
    read = read_region_file(path, pixel_size_um=2.0)
    assert read.pixel_size_um == 2.0 and not read.recorded
    donut, wm = read.rois
    assert (donut.classification, donut.color) == ("L1", "#ff0000")
    assert (wm.classification, wm.color) == ("WM", "#0000ff")
    assert donut.name == "ROI 1" and donut.index == 1 and wm.index == 2
    # the hole: area excludes it, points in it are outside, coordinates are (y, x) µm
    assert donut.roi.area_um2 == pytest.approx((800 * 400) - (400 * 200))
    assert donut.roi.contains(np.array([[200.0, 400.0], [50.0, 50.0]])).tolist() == [False, True]
    # a MultiPolygon is one ROI of two parts
    assert len(wm.roi.parts) == 1 and wm.roi.area_um2 == pytest.approx(2 * 200 * 200)
    assert wm.roi.contains(
        np.array([[100.0, 2100.0], [100.0, 2500.0], [100.0, 2300.0]])
    ).tolist() == [
        True,
        True,
        False,
    ]
    # one note per skipped feature, naming the file and the feature
    assert len(read.notes) == 4
    assert read.notes[0] == (
        f"{path}: feature 2 ('WM'): piece 3 of its MultiPolygon: a polygon needs at least 3 "
        "finite vertices, got 2; skipped"
    )
    assert read.notes[1] == f"{path}: feature 3 ('cells'): 2 point(s), not a region; skipped"
    assert read.notes[2] == f"{path}: feature 4: a line, not a region; skipped"
    assert read.notes[3].startswith(f"{path}: feature 5 ('L2'): a polygon needs at least 3")
    # points and lines on request
    both = read_region_file(path, pixel_size_um=2.0, points=True, paths=True)
    assert len(both.notes) == 2 and both.points[0].classification == "cells"
    np.testing.assert_allclose(both.points[0].vertices, [[10, 10], [12, 12]])
    np.testing.assert_allclose(both.paths[0].vertices, [[0, 0], [100, 100]])


def test_qupath_05_collection_and_other_forms(tmp_path: Path) -> None:
    ring = rect(10, 20, 110, 220)
    feats = [
        feature_v05(polygon(ring), name="my roi", cls="L1", rgb=(255, 0, 0)),
        feature_v05(polygon(ring), cls="Tumor"),
        feature_v05(polygon(ring), name="a cell", object_type="cell"),
    ]
    feats[1]["properties"]["classification"] = {
        "names": ["Tumor", "Positive"],
        "color": [9, 8, 7, 128],
    }
    path = write_v05(tmp_path / "v05.geojson", feats)
    read = read_region_file(path, pixel_size_um=0.5)
    a, b = read.rois
    assert (a.name, a.classification, a.color, a.id) == ("my roi", "L1", "#ff0000", feats[0]["id"])
    assert (b.classification, b.color) == ("Tumor: Positive", "#090807")
    np.testing.assert_allclose(a.roi.vertices[0], [10.0, 5.0])
    assert read.notes == [
        f"{path}: feature 3 ('a cell'): a QuPath cell object, not an annotation; skipped"
    ]
    # list, single Feature and bare geometry give the same ROI
    for obj in (feats[:1], feats[0], feats[0]["geometry"]):
        (f,) = parse_geojson_rois(obj, pixel_size_um=0.5).rois
        np.testing.assert_allclose(f.roi.vertices, a.roi.vertices)
    # 0.3's derived class (parentClass) reads the same as 0.5's names
    old = {"name": "Positive", "colorRGB": packed_argb(9, 8, 7), "parentClass": {"name": "Tumor"}}
    assert classification_of(old) == ("Tumor: Positive", "#090807")
    assert color_hex("#AbCdEf") == "#abcdef" and color_hex(-16777216) == "#000000"


def test_qupath_export_of_all_objects_skips_detections_in_one_line(tmp_path: Path) -> None:
    """QuPath's "Export objects as GeoJSON" with all objects: annotations among thousands of
    cells / detections (0.5: objectType, nucleusGeometry, measurements). Only the annotations
    are read; the others are counted in one note per object type, not one note each."""
    ring = rect(10, 20, 110, 220)
    feats = [feature_v05(polygon(ring), cls="L1"), feature_v05(polygon(ring), name="WM")]
    for k in range(300):
        cell = feature_v05(polygon(rect(k, 0, k + 8, 8)), cls="Positive", object_type="cell")
        cell["nucleusGeometry"] = polygon(rect(k + 2, 2, k + 6, 6))
        cell["properties"]["measurements"] = {"Nucleus: Area": 12.5, "Cell: Area": 60.0}
        feats.append(cell)
    feats += [feature_v05(polygon(rect(k, 0, k + 8, 8)), object_type="detection") for k in range(4)]
    path = write_v05(tmp_path / "all_objects.geojson", feats)
    read = read_region_file(path, pixel_size_um=0.5)
    assert [(f.name, f.classification) for f in read.rois] == [("ROI 1", "L1"), ("WM", None)]
    assert read.notes == [
        f"{path}: 300 QuPath cell objects (features 3–302), not annotations; skipped",
        f"{path}: 4 QuPath detection objects (features 303–306), not annotations; skipped",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON (Expecting property name"),
        ("42", "not GeoJSON (a JSON int, not features)"),
        ("[]", "no features (an empty export?)"),
        ('{"type": "FeatureCollection"}', "a FeatureCollection without a 'features' list"),
        ('{"type": "Topology"}', "not GeoJSON (expected a list of features"),
        (
            '[{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}]',
            "no polygon annotation among 1 feature(s); e.g. feature 1: 1 point(s)",
        ),
        (
            '[{"type": "Feature", "properties": {"name": "x"}, "geometry": '
            '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}}]',
            "feature 1 ('x'): a polygon needs at least 3 finite vertices, got 2",
        ),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(text)
    with pytest.raises(RegionFileError) as err:
        read_region_file(path, pixel_size_um=1.0)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and message in msg and "\n" not in msg
    (tmp_path / "bin.geojson").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(RegionFileError, match="bin.geojson: not a text file"):
        read_region_file(tmp_path / "bin.geojson")
    with pytest.raises(RegionFileError, match="no pixel size in the file"):
        parse_geojson_rois(json.loads(_FEATURE_TEXT), source="q.geojson")


_FEATURE_TEXT = json.dumps(feature_v05(polygon(rect(0, 0, 10, 10))))


def test_csv_rows() -> None:
    rows = list(csv.DictReader(io.StringIO(results_to_csv(POLYS, RESULTS))))
    assert [r["area"] for r in rows] == ["hOc1", "__none__"]
    assert float(rows[0]["area_um2"]) == pytest.approx(80000.0)
    assert rows[1]["probability"] == ""
    hole = np.array([[50.0, 100], [50, 300], [150, 300], [150, 100]])
    donut = Roi(POLYS[0], name="L1 donut", holes=(hole,))
    text = results_to_csv([donut, POLYS[1]], RESULTS, classes=["L1", None])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert float(rows[0]["area_um2"]) == pytest.approx(80000.0 - 20000.0)
    assert (rows[0]["name"], rows[0]["classification"]) == ("L1 donut", "L1")
    assert (rows[1]["name"], rows[1]["classification"]) == ("", "")


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


def test_class_colors_give_every_class_a_colour_for_qupath() -> None:
    """QuPath refuses a GeoJSON file with a classification of a name and no colour: every
    class the writers name gets one (the same for the same name), a given one is kept."""
    import re

    from cytowords.describe.export import NONE_COLOR, class_colors

    got = class_colors(
        ["hOc1", "Área 4 (motor)", "__none__", None, "", "Área 4 (motor)"], {"hOc1": "#ff8000"}
    )
    assert got["hOc1"] == "#ff8000" and got["__none__"] == NONE_COLOR
    assert set(got) == {"hOc1", "Área 4 (motor)", "__none__"}
    assert got["Área 4 (motor)"] == class_colors(["Área 4 (motor)"])["Área 4 (motor)"]
    assert re.fullmatch(r"#[0-9a-f]{6}", got["Área 4 (motor)"])
    gj = rois_to_geojson(
        POLYS, RESULTS, pixel_size_um=2.0, colors=class_colors(["hOc1", "__none__"])
    )
    assert all(len(f["properties"]["classification"]["color"]) == 3 for f in gj["features"])
