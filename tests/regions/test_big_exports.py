"""Region files as QuPath exports all objects: decoded feature by feature (a worker thread
reading one leaves the GUI thread its turn), TMA cores skipped in one counted note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cytowords.regions.geojson import loads_by_feature, read_region_file
from cytowords.teach.annotations import annotations_from_geojson
from tests.support.qupath_files import (
    cell_v05,
    feature_v03,
    feature_v05,
    polygon,
    rect,
    tma_core_v03,
    tma_core_v05,
    write_v03,
    write_v05,
)


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "FeatureCollection", "features": [feature_v05(polygon(rect(0, 0, 5, 5)))]},
        [feature_v05(polygon(rect(0, 0, 5, 5)), name="µ ä"), cell_v05(3)],
        {"features": [], "properties": {"pixel_size_um": 0.5}, "type": "FeatureCollection"},
        feature_v05(polygon(rect(0, 0, 5, 5))),
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        [],
        {},
        42,
    ],
)
@pytest.mark.parametrize("indent", [None, 2])
def test_loads_by_feature_is_json_loads(obj, indent) -> None:
    text = json.dumps(obj, indent=indent, ensure_ascii=False)
    assert loads_by_feature(text) == json.loads(text)
    assert loads_by_feature("\n " + text + " \n") == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ["", "[", "[1,]", "[1 2]", '{"features": [1,', '{"a" 1}', "{1: 2}", "[1] x", '{"a": 1,}'],
)
def test_loads_by_feature_fails_as_json_does(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        loads_by_feature(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert (ours.value.lineno, ours.value.colno) == (theirs.value.lineno, theirs.value.colno)


def test_qupath_tma_cores_are_not_regions(tmp_path: Path) -> None:
    """A TMA dearrayer's cores (tissue spots named A-1, B-2 by grid position) are neither
    described nor taught as areas: one counted note, QuPath 0.5 and 0.3 alike."""
    ring = rect(100, 100, 900, 900)
    v05 = [feature_v05(polygon(ring), cls="L1"), feature_v05(polygon(ring), name="Area 4")]
    v05 += [
        tma_core_v05(f"{r}-{c}", 3000 + 800 * c, 3000 + 800 * k)
        for k, r in enumerate("AB")
        for c in (1, 2)
    ]
    v05 += [cell_v05(k) for k in range(3)]
    path = write_v05(tmp_path / "all.geojson", v05)
    read = read_region_file(path, pixel_size_um=2.0)
    assert [f.name for f in read.rois] == ["ROI 1", "Area 4"]
    assert read.notes == [
        f"{path}: 4 QuPath TMA core objects (features 3–6), not annotations (draw an "
        "annotation in a core to describe it); skipped",
        f"{path}: 3 QuPath cell objects (features 7–9), not annotations; skipped",
    ]
    anns, notes = annotations_from_geojson(path, 0, 2.0)
    assert [a.name for a in anns] == ["L1", "Area 4"] and "TMA core" in notes[0]

    v03 = write_v03(
        tmp_path / "v03.geojson",
        [feature_v03(polygon(ring), cls="L1"), tma_core_v03("A-1", 3000, 3000)],
    )
    read = read_region_file(v03, pixel_size_um=2.0)
    assert len(read.rois) == 1
    assert read.notes == [
        f"{v03}: feature 2 ('A-1'): a QuPath TMA core object, not an annotation (draw an "
        "annotation in a core to describe it); skipped"
    ]
