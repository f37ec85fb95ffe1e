"""Field quality: blurred, JPEG'd and clipped fields abstain, clean ones vote, whatever the
stain's brightness and contrast; a ROI on a blurred section is rejected with the reason;
a ROI smaller than one model field says so."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.describe import Describer
from cytowords.describe.result import quality_rejection
from cytowords.regions import Roi
from cytowords.sections import Section
from cytowords.sections.quality import (
    assess_block,
    assess_fields,
    blockiness,
    focus,
    quality_summary,
    section_tissue_threshold,
)
from cytowords.sections.scale_check import tissue_points
from cytowords.synth import sample_patches
from cytowords.synth.section import virtual_section
from cytowords.training.evaluate.shifts import defocus, jpeg_compress

AREAS = ["hOc1", "hOc2", "4a", "4p", "44", "45", "FG1", "3b"]


@pytest.fixture(scope="module")
def fields_u8() -> np.ndarray:
    """Rendered fields at the default model's 64 µm/px, 80 px (cut to 64 with an offset
    that is no multiple of 8 after degrading them)."""
    p, _, _ = sample_patches([1000, 1001], AREAS, 2, size_px=80, pixel_size_um=64.0, rng_seed=4)
    return p


def _cut(u8: np.ndarray) -> np.ndarray:
    return u8[:, 5:69, 5:69].astype(np.float32) / 255.0


@pytest.mark.parametrize("gain,offset", [(1.0, 0.0), (0.4, 0.5), (0.6, 0.0), (1.0, -0.2)])
def test_blurred_and_jpeg_fields_flagged_clean_ones_not_at_any_brightness(
    fields_u8, gain, offset
) -> None:
    def look(x: np.ndarray) -> np.ndarray:  # another stain strength / exposure
        return np.clip(x * gain + offset, 0.0, 1.0)

    clean = assess_fields(look(_cut(fields_u8)))
    assert not clean.flagged.any(), clean.focus
    blurred = assess_fields(look(_cut(defocus(fields_u8, 1.5))))
    assert blurred.flagged.all() and set(blurred.reasons) == {"focus"}
    jpeg = assess_fields(look(_cut(jpeg_compress(fields_u8, 40))))
    assert jpeg.flagged.mean() > 0.9 and jpeg.counts().get("compression", 0) > 0.9 * len(jpeg.reasons)


def test_measures_ignore_gain_and_offset(fields_u8) -> None:
    x = _cut(fields_u8).astype(np.float64)
    np.testing.assert_allclose(focus(0.3 * x + 0.2), focus(x), rtol=1e-4)
    np.testing.assert_allclose(blockiness(0.3 * x + 0.2), blockiness(x), rtol=1e-4)


def test_clipped_and_background_fields(fields_u8) -> None:
    x = _cut(fields_u8)
    crushed = x.copy()
    crushed[:, :, :32] = 0.0  # half the field black
    assert set(assess_fields(crushed).reasons) == {"clipped"}
    glass = np.full_like(x, 0.95)
    glass[:, :8] = x[:, :8]  # a sliver of tissue
    q = assess_fields(glass, tissue_threshold=0.8)
    assert set(q.reasons) == {"tissue"} and not q.flagged.any() and q.counts() == {"tissue": len(x)}


def test_summary_and_rejection_sentences() -> None:
    assert quality_summary({"focus": 3}, 12) == "3 of 12 fields out of focus: not used"
    assert quality_summary({}, 12) == ""
    why = quality_rejection(9, 12, quality_summary({"focus": 9}, 12))
    assert why.startswith("most fields are unfit to read (9 of 12 fields out of focus")
    assert quality_rejection(6, 12, "x") == ""  # half is not most


@pytest.fixture(scope="module")
def describer() -> Describer:
    return Describer("default", device="cpu")


@pytest.fixture(scope="module")
def sharp_and_blurred() -> tuple[Section, Section]:
    """A held-out brain's section (32 µm/px) and the same blurred by σ 1.5 px at the
    model's 64 µm/px (3 px at 32 µm/px), as an out-of-focus scan."""
    sec = virtual_section(204, size_mm=(30, 24), pixel_size_um=32.0)
    img = np.asarray(sec.levels[0].compute())
    soft = defocus(img[None], 3.0)[0]
    sharp = Section([da.from_array(img)], pixel_size_um=[32.0], name="sharp")
    return sharp, Section([da.from_array(soft)], pixel_size_um=[32.0], name="blurred")


def test_roi_on_blurred_section_abstains_with_the_reason(describer, sharp_and_blurred) -> None:
    sharp, blurred = sharp_and_blurred
    c = tissue_points(sharp, 1, seed=3)[0] * np.asarray(sharp.shape_um)
    roi = Roi.rectangle(c[0] - 4000, c[1] - 4000, c[0] + 4000, c[1] + 4000, name="r")
    ok = describer.describe_roi(sharp, roi)
    assert ok.n_flagged == 0 and ok.rejection_reason == "" and "not used" not in ok.note
    bad = describer.describe_roi(blurred, roi)
    assert bad.rejected and bad.area == "__none__"
    assert bad.n_flagged > bad.n_patches // 2 and bad.flagged.get("focus") == bad.n_flagged
    assert "out of focus" in bad.rejection_reason and "out of focus: not used" in bad.note
    assert {p.quality for p in bad.patches} <= {"focus", "tissue", None}
    assert bad.to_dict()["n_flagged"] == bad.n_flagged
    # the reason reaches the exported results (CSV/GeoJSON for QuPath) and reads back
    from cytowords.describe.export import description_row, rois_to_geojson
    from cytowords.regions.geojson import parse_geojson_rois

    row = description_row(bad)
    assert "out of focus" in row["note"] and description_row(ok)["note"] == ok.note
    back = parse_geojson_rois(rois_to_geojson([roi], [row], pixel_size_um=1.0), pixel_size_um=1.0).rois
    assert back[0].results["note"] == row["note"]


def test_roi_smaller_than_one_field_says_so(describer, sharp_and_blurred) -> None:
    sharp, _ = sharp_and_blurred
    c = tissue_points(sharp, 1, seed=3)[0] * np.asarray(sharp.shape_um)
    tiny = describer.describe_roi(sharp, Roi.rectangle(c[0], c[1], c[0] + 180, c[1] + 120))
    assert "the region (0.18 mm) is much smaller than one model field (4.1 mm)" in tiny.note
    assert "read from the surrounding tissue" in tiny.note
    big = describer.describe_roi(sharp, Roi.rectangle(c[0], c[1], c[0] + 5000, c[1] + 5000))
    assert "model field" not in big.note


def test_map_rejects_tiles_of_a_blurred_section_as_unfit(tiny_bundle) -> None:
    from cytowords.mapping import compute_area_map
    from tests.support.map_fixtures import band_section

    bundle = str(tiny_bundle)
    sharp = band_section()
    soft = defocus(np.asarray(sharp.levels[0].compute())[None], 2.0)[0]
    blurred = Section([da.from_array(soft, chunks=64)], [16.0], name="blurred")
    ok = compute_area_map(sharp, bundle, block_tiles=4, device="cpu", views=1)
    bad = compute_area_map(blurred, bundle, block_tiles=4, device="cpu", views=1)
    tiles = bad.labels > 0
    assert ok.stats["unfit"] == 0
    assert bad.stats["unfit"] > 0.8 * tiles.sum() and bad.rejected[tiles].mean() > 0.8


@pytest.fixture(scope="module")
def degraded_block(sharp_and_blurred) -> tuple[np.ndarray, float | None]:
    """The held-out brain's section at the model's 64 µm/px (2 × 2 means), 208 × 256 px of
    its lower half at its left edge (so that some fields lie over glass) as one block in
    [0, 1]: the left third blurred by σ 1.5 px, the top of the middle
    third stored as JPEG (quality 40), the bottom of the right third over-contrasted (its
    darker half clipped at 0), the rest clean; and the section's tissue threshold."""
    sharp = sharp_and_blurred[0]
    img = np.asarray(sharp.levels[0].compute(), dtype=np.float64)
    u8 = np.rint(img[320:736, 0:512].reshape(208, 2, 256, 2).mean(axis=(1, 3))).astype(np.uint8)
    h, w = u8.shape
    out = u8.copy()
    out[:, : w // 3] = defocus(u8[None], 1.5)[0][:, : w // 3]
    out[: h // 2, w // 3 : 2 * w // 3] = jpeg_compress(u8[None], 40)[0][: h // 2, w // 3 : 2 * w // 3]
    crushed = np.clip(u8.astype(np.float64) * 3.0 - 450, 0, 255).astype(np.uint8)
    out[h // 2 :, 2 * w // 3 :] = crushed[h // 2 :, 2 * w // 3 :]
    return out.astype(np.float32) / 255.0, section_tissue_threshold(sharp)


@pytest.mark.parametrize("n,step", [(80, 4), (30, 3), (20, 5)])
def test_dense_block_check_gives_the_per_field_verdicts(degraded_block, n, step) -> None:
    """assess_block (the whole block at once, as a dense map checks its tiles) measures and
    judges every field as assess_fields does on the cut-out field: fields straddling the
    seams of blurred, JPEG'd, clipped and clean tissue, at corners off the 8-px JPEG grid;
    80 px is the default dense window, 30 px splits into the smallest pieces, 20 px is
    judged field by field."""
    img, thr = degraded_block
    ys, xs = np.mgrid[1 : img.shape[0] - n + 1 : step, 2 : img.shape[1] - n + 1 : step]
    corners = np.stack([ys.ravel(), xs.ravel()], 1)
    ref = assess_fields(np.stack([img[y : y + n, x : x + n] for y, x in corners]), thr)
    got = assess_block(img, corners, n, thr)
    assert got.reasons == ref.reasons
    for k in ("focus", "blockiness", "clipped", "tissue"):
        np.testing.assert_allclose(getattr(got, k), getattr(ref, k), rtol=2e-5, atol=1e-9)
    if n == 80:  # the block exercises every rule
        assert set(ref.counts()) == {"focus", "compression", "clipped", "tissue"}
        assert ref.usable.sum() > 50


def test_dense_block_check_rejects_fields_outside_the_block(degraded_block) -> None:
    img, thr = degraded_block
    with pytest.raises(ValueError, match="reach outside"):
        assess_block(img, np.array([[0, img.shape[1] - 79]]), 80, thr)


def test_a_roi_set_aside_before_the_verdict_has_no_probability(
    describer, sharp_and_blurred
) -> None:
    """A region whose fields are unfit to read was not judged by the model: it carries no
    probability (not the 100 % "share of rejected fields" of a region unlike every known
    area), its JSON has ``null`` there (JSON has no NaN), and the CLI's verdict line says
    "no area named", not "not a known area"."""
    import csv
    import io
    import json

    from cytowords.cli.describe import verdict
    from cytowords.describe.export import description_row, results_to_csv

    sharp, blurred = sharp_and_blurred
    c = tissue_points(sharp, 1, seed=3)[0] * np.asarray(sharp.shape_um)
    roi = Roi.rectangle(c[0] - 4000, c[1] - 4000, c[0] + 4000, c[1] + 4000, name="r")
    bad = describer.describe_roi(blurred, roi)
    assert bad.rejected and bad.rejection_reason
    assert np.isnan(bad.probability)
    d = json.loads(json.dumps(bad.to_dict(), allow_nan=False))
    assert d["probability"] is None
    assert verdict(bad) == "no area named"
    # the CSV leaves the cell empty instead of writing 100 %
    (row,) = csv.DictReader(io.StringIO(results_to_csv([roi], [description_row(bad)])))
    assert row["probability"] == "" and row["area"] == "__none__"
    ok = describer.describe_roi(sharp, roi)
    assert 0.0 <= ok.probability <= 1.0
    assert verdict(ok) == f"{ok.area} {ok.probability:.0%}"


def test_a_roi_set_aside_is_not_named_unlike_every_known_area(describer, sharp_and_blurred) -> None:
    """Its area name (the GeoJSON's and CSV's ``area_name``, the CLI's and napari's
    "__none__ (…)") says no area was named, not "not a known area", which the model did
    not judge."""
    from cytowords.describe.export import description_row

    sharp, blurred = sharp_and_blurred
    c = tissue_points(sharp, 1, seed=3)[0] * np.asarray(sharp.shape_um)
    roi = Roi.rectangle(c[0] - 4000, c[1] - 4000, c[0] + 4000, c[1] + 4000, name="r")
    bad = describer.describe_roi(blurred, roi)
    assert bad.rejection_reason
    assert bad.area_name == "no area named"
    assert description_row(bad)["area_name"] == "no area named"
