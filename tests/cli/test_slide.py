"""``--slide`` on every command that opens a user's section: ``pixel-size``, ``borders`` and
``teach`` read a fluorescent Nissl crop without slide in view (which ``auto`` leaves as it
is, with a note naming ``--slide dark``) inverted when given ``--slide dark``. The work
after the reading is replaced by a stub that keeps the section it was given."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.cli import build_parser, main
from tests.sections.test_black_background import _write
from tests.sections.test_dark_field import INVERTED, fluorescence_twin
from tests.support.gyrus import PX, gyrus_image

NO_SLIDE = "no empty slide along the image's border"


class Stop(Exception):
    """Raised by the stubs once they hold the section."""


@pytest.fixture(scope="module")
def crop(tmp_path_factory) -> Path:
    """6 × 6 mm of fluorescent Nissl inside the tissue: no slide in view."""
    fl = fluorescence_twin(gyrus_image())
    return _write(tmp_path_factory.mktemp("slide") / "fluor_crop.tif", fl[300:600, 100:400])


def _read_as(crop: Path, sections: list, capsys) -> tuple[bool, str]:
    """Whether every section the command read is ``crop`` inverted (else: as it is), and
    its stderr."""
    raw = tifffile.imread(crop)
    err = capsys.readouterr().err
    assert sections
    shown = [np.asarray(s.levels[0]) for s in sections]
    if all(np.array_equal(s, 4095 - raw) for s in shown):
        return True, err
    assert all(np.array_equal(s, raw) for s in shown)
    return False, err


def _slide_action(command: str):
    p = build_parser()
    sub = next(a for a in p._subparsers._group_actions if a.dest == "command").choices
    return next(a for a in sub[command]._actions if a.dest == "slide")


@pytest.mark.parametrize("command", ["pixel-size", "borders"])
def test_the_option_is_the_shared_one(command) -> None:
    ref, got = _slide_action("describe"), _slide_action(command)
    assert (got.choices, got.default, got.help) == (ref.choices, ref.default, ref.help)


def test_teach_takes_the_shared_choices_per_image() -> None:
    ref, got = _slide_action("describe"), _slide_action("teach")
    assert got.choices == ref.choices and got.nargs == "+" and got.default == [ref.default]
    assert got.help.startswith(ref.help) and "one per IMAGE" in got.help


def test_pixel_size_takes_the_slide(crop, monkeypatch, capsys) -> None:
    from cytowords.sections import scale_check

    sections: list = []

    def check(section, bundle, n_fields=96):
        sections.append(section)
        raise ValueError("stub")

    monkeypatch.setattr("cytowords.model.get_bundle", lambda *a, **k: object())
    monkeypatch.setattr(scale_check, "check_pixel_size", check)
    assert main(["pixel-size", str(crop)]) == 2
    inverted, err = _read_as(crop, sections, capsys)
    assert not inverted and NO_SLIDE in err and "give --slide dark" in err
    sections.clear()
    assert main(["pixel-size", str(crop), "--slide", "dark"]) == 2
    inverted, err = _read_as(crop, sections, capsys)
    assert inverted and f"{INVERTED}, as given)" in err


def test_borders_takes_the_slide(crop, monkeypatch, capsys) -> None:
    sections: list = []

    def find(section, path, **kw):
        sections.append(section)
        raise Stop

    monkeypatch.setattr("cytowords.measure.borders.find_borders", find)
    argv = ["borders", str(crop), "--path-um", "1000,1000;1000,5000"]
    with pytest.raises(Stop):
        main(argv)
    inverted, err = _read_as(crop, sections, capsys)
    assert not inverted and NO_SLIDE in err and "give --slide dark" in err
    sections.clear()
    with pytest.raises(Stop):
        main([*argv, "--slide", "dark"])
    inverted, err = _read_as(crop, sections, capsys)
    assert inverted and f"{INVERTED}, as given)" in err


def test_teach_takes_one_slide_for_all_its_images(crop, tmp_path, monkeypatch, capsys) -> None:
    sections: list = []

    def teach(secs, anns, **kw):
        sections.extend(secs)
        raise Stop

    monkeypatch.setattr("cytowords.teach.teach", teach)
    square = [[50, 50], [250, 50], [250, 250], [50, 250], [50, 50]]
    gj = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]},
          "properties": {"objectType": "annotation", "classification": {"name": "V1"}}}  # fmt: skip
    rois = tmp_path / "areas.geojson"
    rois.write_text(json.dumps([gj]), encoding="utf-8")
    argv = ["teach", str(crop), str(crop), "--rois", str(rois), str(rois)]
    argv += ["--out", str(tmp_path / "taught")]
    with pytest.raises(Stop):
        main(argv)
    inverted, err = _read_as(crop, sections, capsys)
    assert not inverted and err.count("give --slide dark") == 2
    sections.clear()
    with pytest.raises(Stop):
        main([*argv, "--slide", "dark"])
    inverted, err = _read_as(crop, sections, capsys)
    assert len(sections) == 2 and inverted and err.count(f"{INVERTED}, as given)") == 2
    assert PX == pytest.approx(float(sections[0].pixel_size_um[0]))


def _teach_argv(crop: Path, tmp_path: Path) -> list[str]:
    square = [[50, 50], [250, 50], [250, 250], [50, 250], [50, 50]]
    gj = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]},
          "properties": {"objectType": "annotation", "classification": {"name": "V1"}}}  # fmt: skip
    rois = tmp_path / "areas.geojson"
    rois.write_text(json.dumps([gj]), encoding="utf-8")
    argv = ["teach", str(crop), str(crop), "--rois", str(rois), str(rois)]
    return [*argv, "--out", str(tmp_path / "taught")]


def test_teach_takes_one_slide_per_image(crop, tmp_path, monkeypatch, capsys) -> None:
    sections: list = []

    def teach(secs, anns, **kw):
        sections.extend(secs)
        raise Stop

    monkeypatch.setattr("cytowords.teach.teach", teach)
    argv = _teach_argv(crop, tmp_path)
    raw = tifffile.imread(crop)
    for slides, inverted in (
        (["bright", "dark"], [False, True]),
        (["dark", "auto"], [True, False]),
    ):
        sections.clear()
        with pytest.raises(Stop):
            main([*argv, "--slide", *slides])
        err = capsys.readouterr().err
        got = [np.array_equal(np.asarray(s.levels[0]), 4095 - raw) for s in sections]
        assert got == inverted
        for s, inv in zip(sections, inverted):
            assert inv or np.array_equal(np.asarray(s.levels[0]), raw)
        assert err.count(f"{INVERTED}, as given)") == 1
        assert err.count("give --slide dark") == slides.count("auto")


def test_teach_refuses_a_wrong_count_of_slides(crop, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("cytowords.teach.teach", lambda *a, **k: pytest.fail("taught"))
    argv = _teach_argv(crop, tmp_path)
    assert main([*argv, "--slide", "dark", "bright", "auto"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "cytowords teach: error: 2 image(s) but 3 --slide value(s): give one per image, in "
        "the same order, or one for all"
    ]
    assert not (tmp_path / "taught").exists()


#: how the exports record the readings of the crop (no slide in view)
AS_GIVEN_DARK = "fluorescent, read inverted (chosen)"
JUDGED_BRIGHT = "bright field (judged from the image)"


def _square_rois(tmp_path: Path) -> Path:
    square = [[50, 50], [250, 50], [250, 250], [50, 250], [50, 50]]
    gj = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]},
          "properties": {"objectType": "annotation", "name": "sq"}}  # fmt: skip
    rois = tmp_path / "sq.geojson"
    rois.write_text(json.dumps([gj]), encoding="utf-8")
    return rois


@pytest.mark.parametrize(("slide", "want"), [("dark", AS_GIVEN_DARK), ("auto", JUDGED_BRIGHT)])
def test_describe_exports_record_the_reading(
    crop, tmp_path, tiny_bundle, capsys, slide, want
) -> None:
    import csv

    args = ["describe", str(crop), "--rois", str(_square_rois(tmp_path))]
    args += ["--model", str(tiny_bundle), "--device", "cpu", "--slide", slide]
    args += ["--no-pixel-size-check", "--no-measure", "--no-scale-check"]
    gj_out, csv_out = tmp_path / "d.geojson", tmp_path / "d.csv"
    assert main([*args, "--out", str(gj_out)]) == 0
    gj = json.loads(gj_out.read_text())
    assert gj["properties"] == {
        "generator": "napari-cytowords",
        "pixel_size_um": PX,
        "slide": want,
    }
    assert main([*args, "--out", str(csv_out)]) == 0
    (row,) = list(csv.DictReader(csv_out.open(encoding="utf-8")))
    assert row["slide"] == want and row["name"] == "sq"
    capsys.readouterr()


def test_measure_out_records_the_reading(crop, tmp_path, capsys) -> None:
    out = tmp_path / "m.json"
    rois = _square_rois(tmp_path)
    argv = ["measure", str(crop), "--rois", str(rois), "--cells", "no", "--out", str(out)]
    assert main([*argv, "--slide", "dark"]) == 0
    (one,) = json.loads(out.read_text())
    assert one["name"] == "sq" and one["slide"] == AS_GIVEN_DARK
    assert main([*argv, "--slide", "auto"]) == 0
    assert json.loads(out.read_text())[0]["slide"] == JUDGED_BRIGHT
    capsys.readouterr()


def test_map_outputs_record_the_reading(crop, tmp_path, tiny_bundle, capsys) -> None:
    import zarr

    out, gj = tmp_path / "map.ome.zarr", tmp_path / "map.geojson"
    argv = ["map", str(crop), "--out", str(out), "--geojson", str(gj), "--slide", "dark"]
    argv += ["--model", str(tiny_bundle), "--device", "cpu", "--no-progress"]
    assert main([*argv, "--no-pixel-size-check", "--block-tiles", "8"]) == 0
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)["cytowords"]["area_map"]
    assert attrs["slide"] == AS_GIVEN_DARK and attrs["section_pixel_size_um"] == PX
    props = json.loads(gj.read_text())["properties"]
    assert props["slide"] == AS_GIVEN_DARK and props["pixel_size_um"] == PX
    capsys.readouterr()


def test_a_judged_fluorescent_reading_is_recorded_as_inverted(tmp_path) -> None:
    from cytowords.cli import open_image
    from cytowords.slide_reading import section_slide

    path = _write(tmp_path / "fluor.tif", fluorescence_twin(gyrus_image()))
    got = section_slide(open_image(str(path), None, "auto"))
    assert got == "fluorescent, read inverted (judged from the image)"
    assert section_slide(open_image(str(path), None, "bright")) == "bright field (chosen)"


def test_borders_out_records_the_reading(crop, tmp_path, monkeypatch, capsys) -> None:
    """The finder and the file's features are stubbed: the file's properties, beside the
    pixel size, say how the slide was read."""
    from types import SimpleNamespace

    import cytowords.measure.borders as borders

    monkeypatch.setattr(borders, "find_borders", lambda *a, **k: SimpleNamespace(to_dict=dict))
    gj = {"type": "FeatureCollection", "features": []}
    monkeypatch.setattr(
        borders, "borders_geojson", lambda r, px: {**gj, "properties": {"pixel_size_um": px}}
    )
    out = tmp_path / "b.geojson"
    argv = ["borders", str(crop), "--path-um", "1000,1000;1000,5000", "--json"]
    assert main([*argv, "--out", str(out), "--slide", "dark"]) == 0
    assert json.loads(out.read_text())["properties"] == {
        "pixel_size_um": PX,
        "slide": AS_GIVEN_DARK,
    }
    capsys.readouterr()
