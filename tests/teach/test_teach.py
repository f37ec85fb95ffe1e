"""Teaching areas from named regions: cross-validation, the "other" threshold, the bundle,
its use by Describe and Area map, the CLI and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cytowords.cli import main
from cytowords.describe import DescribeParams, Describer
from cytowords.mapping import compute_area_map
from cytowords.model import load_bundle
from cytowords.regions import Roi
from cytowords.sections import Section, read_fields, write_section
from cytowords.teach import Annotation, TeachError, annotations_from_geojson, save_taught, teach
from cytowords.teach.fit import FieldSet, _shrinkage, cross_validate, fit_discriminant
from tests.support.teach_sections import (
    BAND_PX,
    PIXEL_UM,
    band_rect,
    qupath_geojson,
    texture_section,
)

#: names with a space and non-ASCII letters must work like any other
NAME_A, NAME_B = "área 1", "Feld β"


@pytest.fixture(scope="module")
def sections():
    return [texture_section(1, "s1"), texture_section(2, "s2")]


def _two_areas(n_sections: int = 2) -> list[Annotation]:
    return [
        Annotation(s, name, Roi(band_rect(k), name))
        for s in range(n_sections)
        for k, name in ((0, NAME_A), (1, NAME_B))
    ]


@pytest.fixture(scope="module")
def taught(tiny_bundle, sections):
    torch.manual_seed(0)
    return teach(sections, _two_areas(), model=tiny_bundle)


def test_cross_validation_names_held_out_section(taught):
    cv = taught.cv
    assert cv.scheme == "leave one section out" and cv.folds == 2
    assert set(cv.per_area) == {NAME_A, NAME_B}
    assert cv.accuracy >= 0.95
    # the threshold keeps about 95 % of held-out fields of taught areas
    assert 0.85 <= cv.accepted <= 1.0
    assert NAME_A in cv.table() and "named right" in cv.table()
    assert all(n > 0 for v in taught.fields.values() for n in v)


def test_bundle_records_how_it_was_taught_and_names_new_fields(taught, tmp_path):
    out = save_taught(taught, tmp_path / "taught")
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert cfg["area_ids"] == [NAME_A, NAME_B]
    assert cfg["extra"]["taught"]["features"] == "embedding"
    assert cfg["extra"]["taught"]["pixel_size_um"] == 16.0
    assert cfg["metrics"]["cross_validation"]["accuracy"] >= 0.95
    assert cfg["threshold"] == pytest.approx(taught.cv.threshold)
    b = load_bundle(out)
    new = texture_section(7)
    grid = np.array([[y, x] for y in range(300, 1000, 150) for x in range(100, 2880, 80)])
    band = (grid[:, 1] // (BAND_PX * PIXEL_UM)).astype(int)
    probs, _, rej = b.classify(b.embed(read_fields(new, grid, b.pixel_size_um, b.patch_px)))
    pred = probs.argmax(1).numpy()
    inner = np.abs(grid[:, 1] / (BAND_PX * PIXEL_UM) - band - 0.5) < 0.25  # away from band edges
    for k in (0, 1):
        m = inner & (band == k)
        assert ((pred[m] == k) & ~rej.numpy()[m]).mean() >= 0.8


def test_other_threshold_rejects_untaught_between_and_beyond():
    """Three sections of two taught clusters with a section shift; untaught fields between
    the taught means, or far from both, are "other"; the shift of a new brain (all
    distances larger) does not turn the taught ones into "other"."""
    rng = np.random.default_rng(0)
    d = 32
    mu = {0: np.zeros(d), 1: np.r_[12.0, np.zeros(d - 1)]}
    X, y, s = [], [], []
    for sec in range(3):
        shift = rng.normal(0, 0.5, d)
        for c, m in mu.items():
            X.append(m + shift + rng.normal(0, 1, (60, d)))
            y += [c] * 60
            s += [sec] * 60
    fs = FieldSet(
        np.concatenate(X), np.array(y), np.array(s), rng.normal(0, 1, (360, 2)), ["a", "b"]
    )
    shrink = _shrinkage(fs.X, fs.y)
    cv = cross_validate(fs, shrink, "embedding")
    assert cv.accuracy > 0.95 and 0.9 <= cv.accepted <= 0.99
    head, scorer = fit_discriminant(fs.X, fs.y, 2, shrink)
    scorer.threshold.fill_(cv.threshold)
    scorer.distance_cap.fill_(cv.distance_cap)

    def rejected(pts):
        return (scorer.score(torch.from_numpy(pts).float()) > scorer.threshold).numpy()

    brain = rng.normal(0, 1.0, d)  # a new brain: every field shifted, a little wider
    taught = mu[1] + brain * 0.3 + rng.normal(0, 1.1, (200, d))
    between = (mu[0] + mu[1]) / 2 + rng.normal(0, 1, (200, d))
    beyond = mu[1] + np.r_[0.0, 25.0, np.zeros(d - 2)] + rng.normal(0, 1, (200, d))
    assert rejected(taught).mean() < 0.2
    assert rejected(between).mean() > 0.8
    assert rejected(beyond).mean() > 0.8


def test_describe_and_area_map_take_the_taught_bundle(taught, tmp_path):
    out = save_taught(taught, tmp_path / "taught")
    new = texture_section(8)
    d = Describer(out, device="cpu", params=DescribeParams(measure=False, quality=None))
    res = d.describe_roi(new, Roi(band_rect(1), "x"))
    assert res.area == NAME_B and not res.rejected
    assert res.caption == ""  # not an atlas name: the readout only
    amap = compute_area_map(new, str(out), device="cpu", scheduler="sync")
    names = {lab: aid for lab, (aid, _, _) in amap.area_table.items()}
    assert set(names.values()) == {NAME_A, NAME_B}


def test_atlas_names_get_the_literature_description(tiny_bundle, sections, tmp_path):
    anns = [
        Annotation(a.section, {NAME_A: "hOc1", NAME_B: "4p"}[a.name], a.roi) for a in _two_areas()
    ]
    t = teach(sections, anns, model=tiny_bundle)
    out = save_taught(t, tmp_path / "atlas_names")
    d = Describer(out, device="cpu", params=DescribeParams(measure=False, quality=None))
    res = d.describe_roi(texture_section(9), Roi(band_rect(0), "x"))
    assert res.area == "hOc1"
    assert res.caption.startswith("Area hOc1") and "literature" in res.caption


def test_one_section_is_validated_on_region_halves(tiny_bundle, sections):
    t = teach(sections[:1], _two_areas(1), model=tiny_bundle)
    assert t.cv.scheme.startswith("one section") and t.cv.accuracy >= 0.9


@pytest.mark.parametrize(
    "anns, match",
    [
        ([Annotation(0, "only", Roi(band_rect(0), "only"))], "only one area"),
        (
            [
                Annotation(0, "A", Roi(band_rect(0), "A")),
                Annotation(0, "tiny", Roi.rectangle(600, 1300, 640, 1340, "tiny")),
            ],
            "'tiny' has 1 field",
        ),
        (
            [
                Annotation(0, "A", Roi(band_rect(0), "A")),
                Annotation(0, "far", Roi.rectangle(9e4, 9e4, 9.1e4, 9.1e4, "far")),
            ],
            "lies outside",
        ),
        (
            [
                Annotation(0, "A", Roi(band_rect(0), "A")),
                Annotation(0, "big", Roi(band_rect(1) * 2.0, "big")),
            ],
            "another size",
        ),
    ],
)
def test_bad_input_is_one_line(tiny_bundle, sections, anns, match):
    with pytest.raises(TeachError, match=match) as info:
        teach(sections, anns, model=tiny_bundle)
    assert "\n" not in str(info.value)


def test_geojson_classes_and_cli(tiny_bundle, tmp_path, capsys):
    paths = []
    for s in (1, 2):
        img = tmp_path / f"s{s}.ome.zarr"
        write_section(img, texture_section(s))
        gj = tmp_path / f"s{s}.geojson"
        gj.write_text(
            json.dumps(qupath_geojson([(NAME_A, band_rect(0)), (NAME_B, band_rect(1))])),
            encoding="utf-8",
        )
        paths.append((img, gj))
    anns, notes = annotations_from_geojson(paths[0][1], 0, PIXEL_UM)
    assert [a.name for a in anns] == [NAME_A, NAME_B] and not notes
    np.testing.assert_allclose(anns[0].roi.vertices, band_rect(0))
    out = tmp_path / "model"
    argv = ["teach", *(str(p[0]) for p in paths), "--rois", *(str(p[1]) for p in paths)]
    rc = main([*argv, "--out", str(out), "--model", str(tiny_bundle)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "leave one section out" in text and NAME_A in text and "named right" in text
    assert load_bundle(out).area_ids == [NAME_A, NAME_B]
    # one --rois file too few; the existing --out is not replaced without --overwrite
    assert main([*argv[:-1], "--out", str(tmp_path / "m2"), "--model", str(tiny_bundle)]) == 2
    assert main([*argv, "--out", str(out), "--model", str(tiny_bundle)]) == 2
    err = capsys.readouterr().err
    assert "one region file per image" in err and "exists" in err


def test_fiji_roiset_names_the_areas(tmp_path):
    """Fiji's ROI Manager names (no classes in ImageJ) are the areas to teach."""
    from tests.support.imagej_files import polygon_roi, write_roiset

    rois = [
        polygon_roi(band_rect(k)[:, ::-1] / PIXEL_UM, name=n) for k, n in ((0, NAME_A), (1, NAME_B))
    ]
    path = write_roiset(tmp_path / "RoiSet.zip", rois)
    anns, notes = annotations_from_geojson(path, 0, PIXEL_UM)
    assert [a.name for a in anns] == [NAME_A, NAME_B] and not notes
    np.testing.assert_allclose(anns[1].roi.vertices, band_rect(1))


def test_fiji_particles_with_default_labels_are_not_areas(tmp_path):
    """Analyze Particles fills the ROI Manager with unnamed outlines that ImageJ labels by
    position (``SSSS-YYYY-XXXX``, the zip entry names): they are no areas to teach; skipped
    in one note, the two named regions are taught."""
    from tests.support.imagej_files import polygon_roi, write_roiset

    rois = [
        polygon_roi(band_rect(k)[:, ::-1] / PIXEL_UM, name=n) for k, n in ((0, NAME_A), (1, NAME_B))
    ]
    names = [NAME_A, NAME_B]
    for k in range(30):
        x, y = 20 + 3 * k, 40 + k
        rois.append(polygon_roi(np.array([[x, y], [x + 2, y], [x + 1, y + 2]], float)))
        names.append(f"0001-{y:04d}-{x:04d}")
    path = write_roiset(tmp_path / "RoiSet.zip", rois, names)
    anns, notes = annotations_from_geojson(path, 0, PIXEL_UM)
    assert [a.name for a in anns] == [NAME_A, NAME_B]
    assert len(notes) == 1 and "30 ROI(s) named only by ImageJ's position label" in notes[0]
    assert "'0001-0040-0020'" in notes[0]


def test_cli_one_area_only_is_one_line(tiny_bundle, tmp_path, capsys):
    img = tmp_path / "s.ome.zarr"
    write_section(img, texture_section(1))
    gj = tmp_path / "s.geojson"
    gj.write_text(json.dumps(qupath_geojson([("Only one", band_rect(0))])), encoding="utf-8")
    rc = main(
        [
            "teach",
            str(img),
            "--rois",
            str(gj),
            "--out",
            str(tmp_path / "m"),
            "--model",
            str(tiny_bundle),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "only one area" in err[0]


def test_views_the_base_has_no_threshold_for_is_one_line(tiny_bundle, sections):
    with pytest.raises(TeachError, match="views=8") as info:
        teach(sections, _two_areas(), model=tiny_bundle, views=8)
    assert "\n" not in str(info.value)


def test_profile_cv_names_held_out_regions(monkeypatch, sections):
    """Region-level validation of profile features (the readout itself is covered by the
    measure tests and benchmarks/teach.py): regions of two areas on two sections."""
    from cytowords.teach import profiles

    rng = np.random.default_rng(3)
    centre = {NAME_A: np.zeros(11), NAME_B: np.full(11, 3.0)}
    monkeypatch.setattr(
        profiles,
        "region_profile_features",
        lambda sec, ann, cancel=None: centre[ann.name] + rng.normal(0, 0.3, 11),
    )
    anns = _two_areas() + _two_areas()  # two regions per area and section
    acc, n = profiles.profile_cv(sections, anns, [NAME_A, NAME_B])
    assert n == len(anns) and acc == 1.0
    assert np.isnan(profiles.profile_cv(sections[:1], _two_areas(1), [NAME_A, NAME_B])[0])


def test_qupath_special_classes_are_not_areas(tmp_path):
    """QuPath's ``Ignore*`` (regions to leave out) and ``Region*`` (regions to analyse, e.g.
    tissue detection's) are no areas to teach: skipped, one note per class; the napari
    widget's rule (``area_name``) skips them too."""
    from cytowords.teach.annotations import area_name

    gj = qupath_geojson(
        [
            (NAME_A, band_rect(0)),
            ("Region*", band_rect(0)),
            ("Ignore*", band_rect(1)),
            ("Ignore*", band_rect(0)),
            (NAME_B, band_rect(1)),
        ]
    )
    path = tmp_path / "special.geojson"
    path.write_text(json.dumps(gj), encoding="utf-8")
    anns, notes = annotations_from_geojson(path, 0, PIXEL_UM)
    assert [a.name for a in anns] == [NAME_A, NAME_B]
    assert len(notes) == 2
    assert "2 region(s) of QuPath's special class 'Ignore*' (no area); skipped" in notes[1]
    assert "1 region(s) of QuPath's special class 'Region*'" in notes[0]
    assert area_name("Ignore*", "bubble") == "" and area_name("Region*", None) == ""
    assert area_name("Ignore me", None) == "Ignore me"


def test_saving_never_replaces_what_is_not_a_model(taught, tmp_path, capsys):
    """Saving a taught model over an existing folder that is no model bundle (a folder of
    scans chosen by mistake) would delete it: refused in one line, the folder kept; an
    earlier taught model is replaced. The CLI refuses, before any work, an --out that is one
    of its inputs (the section, the region file) even with --overwrite."""
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "s1.tif").write_bytes(b"scan")
    with pytest.raises(TeachError, match="not a model bundle") as info:
        save_taught(taught, scans)
    assert "\n" not in str(info.value)
    assert (scans / "s1.tif").read_bytes() == b"scan"
    model = save_taught(taught, tmp_path / "model")
    save_taught(taught, model)  # replaces its own kind
    assert load_bundle(model).area_ids == [NAME_A, NAME_B]
    img = tmp_path / "s.ome.zarr"
    write_section(img, texture_section(1))
    gj = tmp_path / "s.geojson"
    gj.write_text(json.dumps(qupath_geojson([(NAME_A, band_rect(0))])), encoding="utf-8")
    argv = ["teach", str(img), "--rois", str(gj), "--overwrite", "--out"]
    for out, says in ((img, "is the input"), (gj, "is the input"), (tmp_path, "holds the input")):
        assert main([*argv, str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
    assert main([*argv, str(scans)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a model bundle" in err[0], err
    assert (scans / "s1.tif").exists() and (img / "zarr.json").exists() and gj.exists()


def test_pixel_size_check_runs_with_a_model_taught_at_more_views(sections, tmp_path):
    """A model taught with its base's default of 8 views holds an "other" threshold for 8
    views only. The pixel size check reads 1 view: it raised "views=1: ... calibrated for
    [8] views", which describe and map took for a section without tissue, so a taught
    model's maps were never checked (a section stated at twice its pixel size was mapped
    without a word). The check now reads the views the model was calibrated for."""
    from cytowords.model import get_bundle
    from cytowords.sections.scale_check import check_pixel_size
    from tests.support.tiny_bundle import make_tiny_bundle

    base = make_tiny_bundle(tmp_path / "base", views=2, thresholds={1: 5.0, 2: 5.0})
    torch.manual_seed(0)
    model = save_taught(teach(sections, _two_areas(), model=base), tmp_path / "taught")
    assert load_bundle(model).thresholds.keys() == {2}
    res = check_pixel_size(sections[0], get_bundle(str(model), "cpu", captioner=False))
    assert res is not None and res.verdict in ("consistent", "suspect", "inconclusive")
    assert len(res.accepted) == len(res.factors)


def _base_with_scale_head(folder):
    """The tiny bundle (2 views calibrated) with a scale head fitted as the training stage
    does (ridge on 1-view embeddings of fields read at known factors 0.5-2.2, calibrated
    on the section medians), on fields inside bands 0 and 1 (the taught areas) of texture
    sections 1-6; band ×0.64-×1.57 (on a new section it reads ×0.73-0.96 at the
    true pixel size and ×1.82-1.86 at twice it, by the base and the taught model)."""
    from cytowords.model.bundle.files import write_hashes
    from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead, fit_calibration, fit_ridge
    from cytowords.sections.scale_check import rescaled
    from tests.support.tiny_bundle import make_tiny_bundle

    base = make_tiny_bundle(folder, views=2, thresholds={1: 5.0, 2: 5.0})
    b = load_bundle(base, captioner=False)
    xs, ys = [], []
    for seed in range(1, 7):
        rng = np.random.default_rng(seed)
        band = rng.integers(0, 2, 96)
        x = (band * BAND_PX + 25 + rng.uniform(0, BAND_PX - 50, 96)) / (3 * BAND_PX)
        frac = np.stack([rng.uniform(0.15, 0.85, 96), x], 1)  # of the section's height, width
        for f in np.exp(np.linspace(np.log(0.5), np.log(2.2), 9)):
            s = rescaled(texture_section(seed), f)
            pts = frac * s.shape_um
            xs.append(b.embed(read_fields(s, pts, b.pixel_size_um, b.read_px), views=1).numpy())
            ys.append(np.full(len(xs[-1]), np.log(f)))
    w, c = fit_ridge(np.concatenate(xs), np.concatenate(ys), 1.0)
    a, slope = fit_calibration(np.array([np.median(x @ w + c) for x in xs]), [y[0] for y in ys])
    ScaleHead(w, c, (-0.45, 0.45)).with_calibration(a, slope).save(base / SCALE_HEAD_FILE)
    write_hashes(base)
    return base


def test_a_taught_model_checks_the_pixel_size_with_its_bases_scale_head(sections, tmp_path):
    """The base's scale head reads the same frozen embeddings, so the taught bundle carries
    it (hash-listed safetensors): a new section stated at 2× its pixel size is flagged by
    the taught model's check as by the base's (the scale head's estimate outside its band;
    the acceptance alone does not see it), and at its true size by neither."""
    from cytowords.model import get_bundle
    from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead
    from cytowords.sections.scale_check import check_pixel_size, rescaled

    base_path = _base_with_scale_head(tmp_path / "base")
    torch.manual_seed(0)
    taught = teach(sections, _two_areas(), model=base_path)
    assert taught.scale_head is not None, taught.cv.notes
    model = save_taught(taught, tmp_path / "taught")
    hashes = json.loads((model / "hashes.json").read_text(encoding="utf-8"))["files"]
    assert SCALE_HEAD_FILE in hashes
    carried, original = (ScaleHead.load(f / SCALE_HEAD_FILE) for f in (model, base_path))
    np.testing.assert_array_equal(carried.weight, original.weight)
    assert (carried.bias, carried.band, carried.calibration) == (
        original.bias,
        original.band,
        original.calibration,
    )
    base = get_bundle(str(base_path), "cpu", captioner=False)
    mine = get_bundle(str(model), "cpu", captioner=False)
    assert mine.scale_head is not None and mine.thresholds.keys() == {2}
    full = texture_section(9, "s9")  # a new section of area 0 alone (band 0, inset 10 px)
    new = Section([full.levels[0][:, 10 : BAND_PX - 10]], [PIXEL_UM], name="s9")
    for stated, flagged in ((2.0, True), (1.0, False)):
        sec = rescaled(new, stated)
        by_base, by_taught = check_pixel_size(sec, base), check_pixel_size(sec, mine)
        for res in (by_base, by_taught):
            assert res.scale is not None and res.scale.enough, res.to_dict()
            assert res.scale_suspect is flagged, res.to_dict()["scale"]
        if flagged:
            assert by_taught.verdict == "suspect" and "scale head" in by_taught.message
            assert by_taught.abstain_reason.startswith("pixel size looks off")


def test_a_scale_head_that_misreads_the_taught_sections_is_not_carried(tiny_bundle, sections):
    """A base scale head that puts the taught sections (at their stated size) outside its
    band does not read this tissue: it is left out, in a note, rather than stopping every
    map with a wrong pixel-size verdict."""
    from types import SimpleNamespace

    from cytowords.model.scale_head import ScaleHead
    from cytowords.teach.fit import carried_scale_head

    fs = FieldSet(
        np.zeros((4, 3)),
        np.array([0, 0, 1, 1]),
        np.array([0, 0, 1, 1]),
        np.zeros((4, 2)),
        [NAME_A, NAME_B],
    )
    fits = ScaleHead(np.zeros(3), 0.0, (-0.1, 0.1))
    notes: list[str] = []
    assert carried_scale_head(SimpleNamespace(scale_head=fits), fs, sections, notes) is fits
    assert notes == []
    off = ScaleHead(np.zeros(3), np.log(1.5), (-0.1, 0.1))
    assert carried_scale_head(SimpleNamespace(scale_head=off), fs, sections, notes) is None
    assert notes == [
        "the base model's scale head reads s1 at 1.50 × its stated pixel size (outside "
        "0.90-1.11): not carried, so this model checks pixel sizes by the fields it names alone"
    ]
    assert carried_scale_head(SimpleNamespace(scale_head=None), fs, sections, notes) is None


def test_the_bundle_records_each_section_s_slide_reading(tiny_bundle, tmp_path, capsys):
    """``teach --slide`` per image: the bundle records each section's name, pixel size and
    how its slide was read (chosen or judged)."""
    paths = []
    for s in (1, 2):
        img = tmp_path / f"s{s}.ome.zarr"
        write_section(img, texture_section(s))
        gj = tmp_path / f"s{s}.geojson"
        gj.write_text(
            json.dumps(qupath_geojson([(NAME_A, band_rect(0)), (NAME_B, band_rect(1))])),
            encoding="utf-8",
        )
        paths.append((img, gj))
    out = tmp_path / "model"
    argv = ["teach", *(str(p[0]) for p in paths), "--rois", *(str(p[1]) for p in paths)]
    argv += ["--out", str(out), "--model", str(tiny_bundle), "--slide", "bright", "auto"]
    assert main(argv) == 0, capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    got = cfg["extra"]["taught"]["sections"]
    assert [d["slide"] for d in got] == [
        "bright field (chosen)",
        "bright field (judged from the image)",
    ]
    assert [d["pixel_size_um"] for d in got] == [PIXEL_UM, PIXEL_UM]
    assert len({d["name"] for d in got}) == 2
