"""``cytowords measure`` on a stored OME-Zarr crop of a synthetic section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cytowords.cli import main
from cytowords.sections import write_section
from cytowords.synth import virtual_section

# a 6 × 6 mm crop around hOc1 of brain 203 (pia, cortex and white matter in view)
Y, X, HALF, PX = 31232.0, 73984.0, 3000.0, 16.0


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    # the classic generator: the sites below were found on its geometry (the realistic
    # default folds differently)
    img = virtual_section(203, pixel_size_um=2.0, variation="classic").read_window(
        Y - HALF, X - HALF, 2 * HALF, 2 * HALF, PX
    )
    path = tmp_path_factory.mktemp("measure") / "crop.ome.zarr"
    write_section(path, np.clip(img, 0, 255).astype(np.uint8), pixel_size_um=PX)
    return path


def test_measure_roi_json_and_out(crop, tmp_path, capsys):
    out = tmp_path / "readout.json"
    # the cortex corner of the crop: x 2-5.5 mm, y 1.5-5 mm
    rc = main(["measure", str(crop), "--roi", "2000,1500,5500,5000", "--json", "--out", str(out)])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_traverses"] >= 10
    assert 1.2 < d["thickness_mm"]["median"] < 2.4
    assert d["cells"] is None and any("cells" in s for s in d["not_measured"])
    saved = json.loads(out.read_text())
    assert saved[0]["thickness_mm"] == d["thickness_mm"]


def test_measure_text_output(crop, capsys):
    assert main(["measure", str(crop), "--roi", "2000,1500,5500,5000"]) == 0
    assert "The cortex is about" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        ("100,100,100,900", "empty"),
        ("-9000,-9000,-8000,-8000", "outside the section"),
        ("4500,4500,5900,5900", "not cortex"),  # glass only
    ],
)
def test_bad_roi_is_one_line(crop, capsys, roi, message):
    assert main(["measure", str(crop), f"--roi={roi}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_rois_from_geojson(crop, tmp_path, capsys):
    ring = [
        [2000 / PX, 1500 / PX],
        [5500 / PX, 1500 / PX],
        [5500 / PX, 5000 / PX],
        [2000 / PX, 5000 / PX],
    ]
    gj = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "V1"},
                "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]},
            },
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [1, 1]},
            },
        ],
    }
    f = tmp_path / "rois.geojson"
    f.write_text(json.dumps(gj))
    assert main(["measure", str(crop), "--rois", str(f), "--json"]) == 0
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    assert d[0]["name"] == "V1" and d[0]["n_traverses"] >= 10
    assert "feature 2: 1 point(s), not a region; skipped" in cap.err


def test_rois_too_small_for_a_traverse_are_counted_not_measured(crop, tmp_path, capsys):
    """Cell outlines of a few px beside a region: one counted line, only the region is
    measured; a file of cell outlines only stops in one line."""

    def square(y, x, side, name):
        ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
        return {
            "type": "Feature",
            "properties": {"name": name},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    ring = [[1500 / PX, 2000 / PX], [5000 / PX, 2000 / PX], [5000 / PX, 5500 / PX],
            [1500 / PX, 5500 / PX], [1500 / PX, 2000 / PX]]
    region = {"type": "Feature", "properties": {"name": "V1"},
              "geometry": {"type": "Polygon", "coordinates": [ring]}}
    cells = [square(20 + 5 * k, 30, 3, f"cell {k}") for k in range(6)]
    f = tmp_path / "rois.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [region, *cells]}))
    assert main(["measure", str(crop), "--rois", str(f), "--json"]) == 0
    cap = capsys.readouterr()
    assert [d["name"] for d in json.loads(cap.out)] == ["V1"]
    (line,) = [ln for ln in cap.err.splitlines() if "too small" in ln]
    assert "6 ROI(s) too small to hold a traverse of cortex" in line and "not measured" in line

    only = tmp_path / "cells.geojson"
    only.write_text(json.dumps({"type": "FeatureCollection", "features": cells}))
    assert main(["measure", str(crop), "--rois", str(only)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "6 ROI(s) too small" in err, err
