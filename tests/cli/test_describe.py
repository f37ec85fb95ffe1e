"""``cytowords describe`` on a real OME-Zarr store with a tiny real model bundle."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cytowords.cli import main
from cytowords.regions import Roi
from cytowords.sections import write_section
from tests.support.qupath_files import (
    closed,
    feature_v03,
    feature_v05,
    polygon,
    rect,
    write_v03,
    write_v05,
)
from tests.support.tiny_bundle import AREAS


@pytest.fixture(scope="module")
def store_and_bundle(tmp_path_factory, tiny_bundle) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    img = np.random.default_rng(0).integers(50, 230, size=(512, 512), dtype=np.uint8)
    store = write_section(tmp / "s.ome.zarr", img, pixel_size_um=8.0, chunk_px=256)
    return store, tiny_bundle


def test_describe_json(store_and_bundle, capsys) -> None:
    store, bundle = store_and_bundle
    rc = main(
        [
            "describe",
            str(store),
            "--roi",
            "100,100,3000,3000",
            "--model",
            str(bundle),
            "--device",
            "cpu",
            "--json",
            "--no-scale-check",  # the tiny bundle is untrained: every field votes
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scale"] is None and out["n_scale_flagged"] == 0
    for key in (
        "area",
        "area_name",
        "probability",
        "rejected",
        "ood_score",
        "caption",
        "n_patches",
    ):
        assert key in out
    assert out["n_patches"] >= 4
    assert out["n_voting"] == out["n_patches"] and 0 <= out["n_accepted"] <= out["n_voting"]
    assert out["rejected"] or out["area"] in AREAS


def test_describe_text_and_errors(store_and_bundle, capsys, tmp_path: Path) -> None:
    store, bundle = store_and_bundle
    # the tiny bundle is untrained: its scale check would set fields aside at random
    args = ["describe", str(store), "--roi", "0,0,2000,2000", "--model", str(bundle)]
    assert main([*args, "--no-scale-check"]) == 0
    out = capsys.readouterr().out
    assert "area:" in out and "read better at another pixel size" not in out
    # the tiny bundle has no non-cortex level: every field votes
    assert re.search(r"fields:\s+(\d+) read, \d+ of \1 voting accepted\n", out), out
    assert (
        main(["describe", str(store), "--roi", "9e6,9e6,9.1e6,9.1e6", "--model", str(bundle)]) == 2
    )
    assert "outside the section" in capsys.readouterr().err
    assert (
        main(
            ["describe", str(tmp_path / "missing.zarr"), "--roi", "0,0,1,1", "--model", str(bundle)]
        )
        == 2
    )
    assert "missing.zarr" in capsys.readouterr().err
    assert (
        main(["describe", str(store), "--roi", "0,0,1,1", "--model", str(tmp_path / "nobundle")])
        == 2
    )
    assert "nobundle" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["describe", str(store), "--roi", "1,2,3"])


def test_describe_says_it_checks_the_pixel_size_before_doing_so(
    store_and_bundle, capsys, monkeypatch
) -> None:
    """The pixel size check reads the whole section (minutes on a large scan without a
    pyramid): on a large scan a line says so before it starts, and how to skip it; none when
    skipped, none on a small scan."""
    from cytowords.cli import pixel_size

    store, bundle = store_and_bundle
    args = ["describe", str(store), "--roi", "0,0,2000,2000", "--model", str(bundle)]
    assert main([*args, "--no-scale-check", "--no-measure"]) == 0
    assert "checking that the pixel size" not in capsys.readouterr().err
    monkeypatch.setattr(pixel_size, "SAY_CHECK_PX", 1)  # this store counts as a large scan
    assert main([*args, "--no-scale-check", "--no-measure"]) == 0
    err = capsys.readouterr().err
    assert "checking that the pixel size fits the tissue (--no-pixel-size-check skips it)" in err
    assert main([*args, "--no-scale-check", "--no-measure", "--no-pixel-size-check"]) == 0
    assert "checking that the pixel size" not in capsys.readouterr().err


def test_describe_no_measure_skips_the_readout_and_says_so(store_and_bundle, capsys) -> None:
    store, bundle = store_and_bundle
    args = ["describe", str(store), "--roi", "100,100,3000,3000", "--model", str(bundle)]
    assert main([*args, "--device", "cpu", "--json", "--no-measure"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["measurements"] == {"not_measured": ["the readout was skipped (--no-measure)"]}
    assert out["statements"] == ["Not measured: the readout was skipped (--no-measure)."]
    assert main([*args, "--device", "cpu", "--no-measure"]) == 0
    assert "Not measured: the readout was skipped (--no-measure)." in capsys.readouterr().out
    # without the option the readout runs (this noise image has no pia: it says why)
    assert main([*args, "--device", "cpu", "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)["measurements"]
    assert "profile_pixel_size_um" in measured or measured["not_measured"]
    assert "--no-measure" not in json.dumps(measured)


def _qupath_file(path: Path) -> Path:
    """Annotations as QuPath exports them: polygons in image pixels, no pixel size."""

    def feat(name, ring):
        return {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]},
            "properties": {"objectType": "annotation", "name": name},
        }

    feats = [
        feat("box", [[10, 10], [200, 10], [200, 150], [10, 150]]),
        feat("triangle", [[300, 300], [480, 320], [350, 480]]),
        feat("far away", [[9000, 9000], [9100, 9000], [9100, 9100]]),
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]}},
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_describe_qupath_rois_to_geojson_and_csv(store_and_bundle, capsys, tmp_path) -> None:
    store, bundle = store_and_bundle
    rois = _qupath_file(tmp_path / "annotations.geojson")
    out = tmp_path / "described.geojson"
    args = ["describe", str(store), "--rois", str(rois), "--model", str(bundle)]
    assert main([*args, "--out", str(out), "--no-scale-check"]) == 0  # untrained bundle
    cap = capsys.readouterr()
    assert "far away: not described" in cap.err and "outside the section" in cap.err
    assert f"{rois}: feature 4: 1 point(s), not a region; skipped" in cap.err
    lines = [ln for ln in cap.out.splitlines() if ln.startswith(("box:", "triangle:"))]
    gj = json.loads(out.read_text())
    # the alternatives are labelled as napari's panel labels them: the nearest known areas
    # of a rejected region, else the next most probable ("also")
    rejected = [f["properties"]["rejected"] for f in gj["features"][:2]]
    assert len(lines) == 2
    for ln, rej in zip(lines, rejected):
        assert ("(nearest known areas: " if rej else "(also: ") in ln
    assert gj["properties"]["pixel_size_um"] == 8.0
    assert [f["properties"]["name"] for f in gj["features"]] == ["box", "triangle", "far away"]
    # the same polygons come back, in the image's pixels; the far ROI without a result
    ring = gj["features"][0]["geometry"]["coordinates"][0]
    assert ring[:4] == [[10.0, 10.0], [200.0, 10.0], [200.0, 150.0], [10.0, 150.0]]
    described = [f["properties"] for f in gj["features"][:2]]
    assert all(p["area"] in AREAS or p["rejected"] for p in described)
    assert all(p["caption"] and "alternatives" in p for p in described)
    assert "area" not in gj["features"][2]["properties"]
    # CSV and JSON
    csv_out = tmp_path / "described.csv"
    assert main([*args, "--out", str(csv_out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 3 and data[2] is None and data[0]["area"]
    rows = csv_out.read_text().splitlines()
    assert rows[0].startswith("roi,") and "alternatives" in rows[0] and len(rows) == 4
    # bad inputs: one clear line each
    (tmp_path / "bad.geojson").write_text("{not json")
    assert main(["describe", str(store), "--rois", str(tmp_path / "bad.geojson")]) == 2
    assert "bad.geojson: not JSON" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "x.txt")]) == 2
    assert "expected a .geojson or .csv" in capsys.readouterr().err
    assert not (tmp_path / "x.txt").exists()


def test_describe_qupath_exports_keeps_names_classes_and_holes(
    store_and_bundle, capsys, tmp_path
) -> None:
    """QuPath 0.3's list export (old names, packed colours) and 0.5's FeatureCollection:
    every annotation is described, no field is read in a hole, and the output keeps names,
    classes, ids, holes and parts for QuPath."""
    store, bundle = store_and_bundle
    donut = polygon(rect(10, 10, 500, 500), rect(150, 150, 350, 350))
    pieces = {
        "type": "MultiPolygon",
        "coordinates": [[closed(rect(10, 10, 200, 100))], [closed(rect(300, 400, 500, 500))]],
    }
    v03 = write_v03(
        tmp_path / "v03.geojson",
        [
            feature_v03(donut, "L3", (200, 0, 0)),
            feature_v03(pieces, "WM", (0, 0, 200)),
            feature_v03({"type": "Point", "coordinates": [40, 40]}, "cell"),
        ],
    )
    v05 = write_v05(
        tmp_path / "v05.geojson",
        [feature_v05(donut, name="around the vessel", cls="L3", rgb=(200, 0, 0))],
    )
    args = ["describe", str(store), "--model", str(bundle), "--device", "cpu"]
    out = tmp_path / "described.geojson"
    assert main([*args, "--rois", str(v03), "--out", str(out), "--json", "--patches"]) == 0
    cap = capsys.readouterr()
    assert (
        cap.err.splitlines()[0] == f"{v03}: feature 3 ('cell'): 1 point(s), not a region; skipped"
    )
    described = json.loads(cap.out)
    assert len(described) == 2 and all(d is not None for d in described)
    hole = Roi(np.array(rect(150, 150, 350, 350), float)[:, ::-1] * 8.0)
    centres = np.array([p["center_um"] for p in described[0]["patches"]])
    assert len(centres) and not hole.contains(centres).any(), "no field in the hole"
    gj = json.loads(out.read_text())
    f0, f1 = gj["features"]
    # QuPath 0.3 left them unnamed: "ROI 1", "ROI 2" label them in the text, not the file
    assert [f["properties"].get("name") for f in gj["features"]] == [None, None]
    assert f0["properties"]["classification"] == {"name": "L3", "color": [200, 0, 0]}
    assert f1["properties"]["classification"] == {"name": "WM", "color": [0, 0, 200]}
    assert f0["properties"]["area"] == described[0]["area"]
    assert f0["geometry"]["coordinates"][1][:4] == [
        [150.0, 150.0],
        [350.0, 150.0],
        [350.0, 350.0],
        [150.0, 350.0],
    ]
    assert f1["geometry"]["type"] == "MultiPolygon"
    # QuPath 0.5 FeatureCollection: the name and the object's UUID survive
    assert main([*args, "--rois", str(v05), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("around the vessel: ")
    (f,) = json.loads(out.read_text())["features"]
    src = json.loads(v05.read_text())["features"][0]
    assert f["id"] == src["id"] and f["properties"]["name"] == "around the vessel"
    assert f["properties"]["classification"]["name"] == "L3"
    # garbage: one line naming the file
    for text, why in (("[]", "no features"), ('{"a": 1}', "not GeoJSON"), ("\x00", "not JSON")):
        (tmp_path / "bad.geojson").write_text(text)
        assert main([*args, "--rois", str(tmp_path / "bad.geojson")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "bad.geojson: " in err and why in err, err


def test_describe_cells_option_reaches_the_readout(store_and_bundle, capsys, monkeypatch) -> None:
    """``--cells`` sets the readout's cell statistics (default: none), which alone let a
    caption state Betz or Meynert cells (tests/model/test_special_claims.py)."""
    import cytowords.describe.describer as describer

    seen = []
    measure = describer.measure_region

    def spy(section, vertices, *, cells=False, cancel=None):
        seen.append(cells)
        return measure(section, vertices, cells=cells, cancel=cancel)

    monkeypatch.setattr(describer, "measure_region", spy)
    store, bundle = store_and_bundle
    args = ["describe", str(store), "--roi", "100,100,3000,3000", "--model", str(bundle)]
    for opt, want in (([], False), (["--cells", "auto"], "auto"), (["--cells", "yes"], True)):
        assert main([*args, "--device", "cpu", "--json", *opt]) == 0
        capsys.readouterr()
        assert seen[-1] == want
    assert len(seen) == 3


def test_describe_scanner_files_and_imagej_rois(store_and_bundle, capsys, tmp_path) -> None:
    """An Aperio .svs (MPP in its description) with the ROIs of Fiji's ROI Manager
    (RoiSet.zip, image pixels), and a PNG export that needs --pixel-size-um: described, the
    ImageJ names in the output like QuPath's; bad files one line each."""
    from PIL import Image

    from cytowords.sections import open_section
    from tests.support.imagej_files import oval_roi, points_roi, polygon_roi, write_roiset
    from tests.support.scanner_files import write_svs

    store, bundle = store_and_bundle
    grey = np.asarray(open_section(store).levels[0].compute())  # 512 x 512, 8 µm/px
    svs = write_svs(tmp_path / "slide.svs", np.repeat(grey[..., None], 3, axis=2), mpp="8.0")
    roiset = write_roiset(
        tmp_path / "RoiSet.zip",
        [
            polygon_roi([[10, 10], [200, 10], [200, 150], [10, 150]], name="V1 (Fiji)"),
            oval_roi(250, 250, 480, 460, name="round one"),
            points_roi([[5, 5]], name="a cell"),
        ],
    )
    out = tmp_path / "described.geojson"
    args = ["describe", str(svs), "--rois", str(roiset), "--model", str(bundle)]
    assert main([*args, "--out", str(out), "--no-scale-check"]) == 0
    cap = capsys.readouterr()
    assert f"{roiset}: feature 3 ('a cell'): 1 point(s), not a region; skipped" in cap.err
    lines = [ln for ln in cap.out.splitlines() if ln.startswith(("V1 (Fiji): ", "round one: "))]
    assert len(lines) == 2, cap.out
    gj = json.loads(out.read_text())
    assert gj["properties"]["pixel_size_um"] == 8.0  # the SVS's MPP
    assert [f["properties"]["name"] for f in gj["features"]] == ["V1 (Fiji)", "round one"]
    ring = gj["features"][0]["geometry"]["coordinates"][0]
    assert ring[:4] == [[10.0, 10.0], [200.0, 10.0], [200.0, 150.0], [10.0, 150.0]]
    assert all(f["properties"]["caption"] for f in gj["features"])

    png = tmp_path / "export.png"
    Image.fromarray(grey).save(png)
    png_args = ["describe", str(png), "--rois", str(roiset), "--model", str(bundle)]
    assert main(png_args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{png}: a PNG image stores no pixel size" in err
    assert "--pixel-size-um" in err
    assert main([*png_args, "--pixel-size-um", "8", "--json", "--no-scale-check"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert len(described) == 2 and all(d is not None for d in described)

    other = tmp_path / "photos.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("a.jpg", b"x")
    (tmp_path / "junk.roi").write_bytes(b"junk")
    for bad, why in ((other, "not an ImageJ ROI set"), (tmp_path / "junk.roi", "not an ImageJ")):
        assert main(["describe", str(svs), "--rois", str(bad), "--model", str(bundle)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"{bad}: " in err and why in err, err


def test_describe_refuses_particles_too_small_for_a_traverse(
    store_and_bundle, capsys, tmp_path, monkeypatch
) -> None:
    """Fiji's Analyze Particles outlines (tens of µm) among two regions: the particles are
    refused in one counted line before anything is read (the readout needs a traverse of at
    least MIN_TRAVERSE_UM); only the two regions are described and written."""
    from cytowords.describe import Describer
    from cytowords.measure.readout import MIN_TRAVERSE_UM
    from tests.support.imagej_files import polygon_roi, write_roiset

    store, bundle = store_and_bundle  # 512 x 512 px at 8 µm/px
    rois = [
        polygon_roi([[10, 10], [200, 10], [200, 150], [10, 150]], name="V1 (Fiji)"),
        polygon_roi([[250, 250], [480, 320], [350, 480]], name="triangle"),
    ]
    names = ["V1 (Fiji)", "triangle"]
    for k in range(40):
        x, y = 20 + 11 * k, 300 + 4 * (k % 9)
        rois.append(polygon_roi([[x, y], [x + 5, y + 1], [x + 3, y + 6], [x - 1, y + 4]]))
        names.append(f"0001-{y:04d}-{x:04d}")
    roiset = write_roiset(tmp_path / "RoiSet.zip", rois, names)
    read = []
    real = Describer.describe_roi

    def counting(self, section, roi, **kw):
        read.append(roi.name)
        return real(self, section, roi, **kw)

    monkeypatch.setattr(Describer, "describe_roi", counting)
    out = tmp_path / "described.csv"
    args = ["describe", str(store), "--rois", str(roiset), "--model", str(bundle)]
    assert main([*args, "--out", str(out), "--no-scale-check", "--no-measure"]) == 0
    cap = capsys.readouterr()
    assert read == ["V1 (Fiji)", "triangle"]
    (line,) = [ln for ln in cap.err.splitlines() if "too small" in ln]
    assert line == (
        f"{roiset}: 40 ROI(s) too small to hold a traverse of cortex (less than "
        f"{MIN_TRAVERSE_UM / 1000:g} mm across; e.g. '0001-0300-0020', 0.068 mm): not described"
    )
    assert "[2/2] triangle" in cap.err and "[3/" not in cap.err

    only = write_roiset(tmp_path / "particles.zip", rois[2:], names[2:])
    assert main(["describe", str(store), "--rois", str(only), "--model", str(bundle)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "40 ROI(s), all of them, too small" in err


def test_out_that_cannot_be_written_fails_before_any_work(
    store_and_bundle, capsys, tmp_path, monkeypatch
) -> None:
    """``--out`` in a folder that does not exist, or naming a folder, is one line before the
    section is opened (not after minutes of describing, with the results lost)."""
    import cytowords.cli as cli

    store, bundle = store_and_bundle

    def no_open(*a, **k):
        raise AssertionError("the section was opened before --out was checked")

    monkeypatch.setattr(cli, "open_image", no_open)
    (tmp_path / "folder.geojson").mkdir()
    rois = _qupath_file(tmp_path / "annotations.geojson")
    cases = [
        (["describe", "--roi", "0,0,2000,2000", "--model", str(bundle)], "x.geojson"),
        (["describe", "--rois", str(rois), "--model", str(bundle)], "x.csv"),
        (["measure", "--roi", "0,0,2000,2000"], "x.json"),
        (["borders", "--path-um", "100,100;100,2000"], "x.geojson"),
    ]
    for (cmd, *opts), name in cases:
        out = tmp_path / "no such folder" / name
        assert main([cmd, str(store), *opts, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "does not exist" in err[0] and "no such folder" in err[0]
    folder = tmp_path / "folder.geojson"
    assert main(["describe", str(store), "--roi", "0,0,1,1", "--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "it is a folder" in err[0]
    out = tmp_path / "no such folder" / "model"
    assert main(["teach", str(store), "--rois", str(rois), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]


def test_every_class_written_for_qupath_has_a_colour(store_and_bundle, capsys, tmp_path) -> None:
    """QuPath's GeoJSON import refuses the whole file when one classification has a name
    but no colour (``PathClassTypeAdapter``: "Unable to parse PathClass from ..."): a class
    given as a plain string, an area not in the atlas (a taught model's) or a region that
    matches no known area (``__none__``) gets one; a file's own colours are kept."""
    store, bundle = store_and_bundle
    ring = [[10, 10], [200, 10], [200, 150], [10, 150], [10, 10]]
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"objectType": "annotation", "name": n, "classification": c},
        }
        for n, c in (
            ("plain", "String class"),
            ("qupath", {"name": "Área 4", "color": [1, 2, 3]}),
            ("none", None),
        )
    ]
    rois = tmp_path / "a.geojson"
    rois.write_text(json.dumps(feats), encoding="utf-8")
    out = tmp_path / "described.geojson"
    args = ["describe", str(store), "--rois", str(rois), "--model", str(bundle)]
    assert main([*args, "--out", str(out), "--no-scale-check", "--no-measure"]) == 0
    capsys.readouterr()
    classes = [f["properties"]["classification"] for f in json.loads(out.read_text())["features"]]
    assert [c["name"] for c in classes[:2]] == ["String class", "Área 4"]
    assert classes[1]["color"] == [1, 2, 3]
    for c in classes:
        assert len(c["color"]) == 3 and all(0 <= v <= 255 for v in c["color"]), c


def test_out_over_the_rois_file_is_refused(store_and_bundle, capsys, tmp_path) -> None:
    """``--out`` naming the ``--rois`` file would replace a QuPath export of all objects by
    the described regions alone (detections, points, lines and QuPath's measurements lost):
    one line, the file untouched, before any work."""
    store, bundle = store_and_bundle
    rois = _qupath_file(tmp_path / "annotations.geojson")
    before = rois.read_bytes()
    same = tmp_path / "." / "annotations.geojson"
    args = ["describe", str(store), "--rois", str(rois), "--model", str(bundle)]
    assert main([*args, "--out", str(same), "--no-scale-check", "--no-measure"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is the --rois file" in err[0] and "another file name" in err[0]
    assert rois.read_bytes() == before


def test_regions_of_another_image_are_said_in_x_y(store_and_bundle, capsys, tmp_path) -> None:
    """Regions drawn on an image of another size: one wholly outside is one line in (x, y)
    µm, as QuPath and the other commands give positions (it was (y, x), unlabelled); one
    reaching far beyond the section is described, and one line says it reaches beyond."""
    store, bundle = store_and_bundle  # 512 × 512 px at 8 µm: 4096 × 4096 µm
    ring = [[100, 300], [900, 300], [900, 400], [100, 400], [100, 300]]  # x 100–900 px
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[x + dx, y] for x, y in ring]]},
            "properties": {"objectType": "annotation", "name": n},
        }
        for n, dx in (("far", 1000), ("across", 0))
    ]
    rois = tmp_path / "other.geojson"
    rois.write_text(json.dumps(feats), encoding="utf-8")
    args = ["describe", str(store), "--rois", str(rois), "--model", str(bundle)]
    assert main([*args, "--no-scale-check", "--no-measure"]) == 0
    err = capsys.readouterr().err
    assert "far: not described: ROI 'far' (8800, 2400)–(15200, 3200) µm (x, y) lies outside" in err
    assert "1 region(s) reach beyond" in err and "e.g. 'across'" in err


def _describe_stopped_at_the_second(store_and_bundle, tmp_path, monkeypatch, stop, out) -> bool:
    """Run ``describe --rois`` (box, triangle, far away) to ``out``, calling ``stop()`` when
    the second region is about to be described; True when the run exited with code 130."""
    from cytowords.describe import Describer

    store, bundle = store_and_bundle
    rois = _qupath_file(tmp_path / "annotations.geojson")
    real, calls = Describer.describe_roi, []

    def describe_then_stop(self, *a, **kw):
        calls.append(1)
        if len(calls) == 2:
            stop()
        return real(self, *a, **kw)

    monkeypatch.setattr(Describer, "describe_roi", describe_then_stop)
    args = ["describe", str(store), "--rois", str(rois), "--model", str(bundle)]
    return main([*args, "--out", str(out), "--no-scale-check"]) == 130


def test_interrupted_describe_keeps_the_regions_described(
    store_and_bundle, capsys, tmp_path, monkeypatch
) -> None:
    """Ctrl-C (or a scheduler's SIGTERM turned into one) during a long run over many
    regions: the regions described so far are written to --out, the rest are in it with
    the note that says why they have no result, and the exit code is 130."""
    from cytowords.cli.describe import INTERRUPTED

    def interrupt() -> None:
        raise KeyboardInterrupt

    out = tmp_path / "described.geojson"
    assert _describe_stopped_at_the_second(store_and_bundle, tmp_path, monkeypatch, interrupt, out)
    err = capsys.readouterr().err
    assert f"wrote the 1 region(s) described so far to {out}" in err
    props = [f["properties"] for f in json.loads(out.read_text())["features"]]
    assert [p["name"] for p in props] == ["box", "triangle", "far away"]
    assert props[0]["caption"] and "area" in props[0]
    assert props[1]["note"] == INTERRUPTED and "area" not in props[1]
    assert props[2]["note"] == INTERRUPTED


def test_sigterm_stops_a_describe_like_ctrl_c(
    store_and_bundle, capsys, tmp_path, monkeypatch
) -> None:
    """A scheduler's SIGTERM during the run: the regions described so far are written, as
    on Ctrl-C, and the handler before the command is back afterwards."""
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "described.csv"
    term = lambda: os.kill(os.getpid(), signal.SIGTERM)  # noqa: E731
    assert _describe_stopped_at_the_second(store_and_bundle, tmp_path, monkeypatch, term, out)
    assert "wrote the 1 region(s) described so far" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 4
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_describe_rois_json_names_each_region(store_and_bundle, capsys, tmp_path) -> None:
    """``--rois ... --json``: a list in the file's order, each described region with its
    name (as the text output names it), null for one not described."""
    store, bundle = store_and_bundle
    rois = _qupath_file(tmp_path / "annotations.geojson")
    args = ["describe", str(store), "--rois", str(rois), "--model", str(bundle), "--json"]
    assert main([*args, "--no-scale-check", "--no-measure"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d and d["name"] for d in data] == ["box", "triangle", None]


def test_out_in_a_folder_that_refuses_files_fails_before_any_work(
    store_and_bundle, capsys, monkeypatch
) -> None:
    """A folder whose permission bits say it can be written but which refuses new files
    (root on a read-only or network mount; /proc here) is one line naming --out before the
    section is opened, not an error on a temporary file's name after the run."""
    import cytowords.cli as cli

    store, bundle = store_and_bundle

    def no_open(*a, **k):
        raise AssertionError("the section was opened before --out was checked")

    monkeypatch.setattr(cli, "open_image", no_open)
    monkeypatch.setattr("os.access", lambda *a, **k: True)
    args = ["describe", str(store), "--roi", "0,0,2000,2000", "--model", str(bundle)]
    assert main([*args, "--out", "/proc/described.csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out /proc/described.csv" in err[0] and "/proc" in err[0]


def test_a_truncated_tiff_is_one_line(store_and_bundle, tmp_path) -> None:
    """A truncated ImageJ TIFF (a copy cut short) is one error line naming the file, not
    tifffile's log line repeated for every page it reads before it."""
    import logging
    import subprocess
    import sys

    import tifffile

    _, bundle = store_and_bundle
    whole = tmp_path / "whole.tif"
    img = np.random.default_rng(0).integers(0, 255, (300, 400), dtype=np.uint8)
    tifffile.imwrite(whole, img, imagej=True, resolution=(0.1, 0.1), metadata={"unit": "\\u00B5m"})
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    # a process of its own: under pytest the log records go to pytest's handler
    args = ["describe", str(cut), "--roi", "0,0,2000,2000", "--model", str(bundle)]
    run = subprocess.run(
        [sys.executable, "-m", "cytowords", *args], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2
    err = run.stderr.strip().splitlines()
    assert len(err) == 1, err
    assert "cut.tif" in err[0] and "truncated" in err[0]
    # a run that ends well says each of tifffile's distinct warnings once, naming the file
    from cytowords.cli import _LogLines

    with _LogLines("tifffile") as notes:
        for _ in range(3):
            logging.getLogger("tifffile").warning(
                "<tifffile.TiffFile 'a.tif'> ImageJ series metadata invalid"
            )
    assert notes.lines == ["a.tif: ImageJ series metadata invalid"]


def test_a_rejected_region_lists_its_nearest_known_areas_not_alternatives():
    from cytowords.cli.describe import list_line
    from cytowords.describe import RegionDescription

    common = dict(ood_score=2.0, caption="cap", n_patches=5, top_k=[("5L", 1.0), ("4a", 0.0)])
    rejected = RegionDescription(
        area="__none__", area_name="not a known area", probability=0.0, rejected=True, **common
    )
    line = list_line("r1", rejected)
    assert line.startswith("r1: not a known area  (nearest known areas: 5L 100%, 4a 0%)")
    accepted = RegionDescription(
        area="5L", area_name="5L", probability=1.0, rejected=False, **common
    )
    assert "(also: 4a 0%)" in list_line("r2", accepted)
