"""Scale consistency: a ROI whose tissue reads better at another pixel size, or whose
measured cortex is far thicker or thinner than human cortex, abstains with that reason;
the training field reader's scale jitter reads fields at the scales it promises."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.describe import DescribeParams, Describer
from cytowords.describe.result import ABSTAINED_CAPTION
from cytowords.regions import Roi
from cytowords.sections import LabelImage, Section, open_section, write_section
from cytowords.sections.roi_scale import (
    PIXEL_SIZE_HINT,
    RoiScale,
    ScaleLimits,
    head_estimate,
    head_rejection,
    inconsistent_fields,
    scale_rejection,
    scale_summary,
    thickness_rejection,
)
from cytowords.training.data.patches import (
    JITTER_STEPS,
    PatchConfig,
    jitter_factors,
    sample_section,
)
from cytowords.training.data.spec import LabelledSection
from tests.support.training_sections import AREAS, PX, make_section


def test_a_field_abstains_only_when_another_scale_names_another_area_more_familiarly() -> None:
    area = np.array([3, 3, 3, 3, 3])
    ood = np.array([1.0, 1.0, 1.0, 1.0, -0.5])
    # factors 0.8 and 1.25: (same area, lower) (other, higher) (other, lower at 1.25 only)
    # (other at both, lower at both: the most familiar wins) (other, lower, margin 0)
    area_at = np.array([[3, 5, 3, 7, 4], [3, 5, 6, 8, 4]])
    ood_at = np.array([[0.0, 2.0, 1.5, 0.2, -0.6], [0.5, 1.2, 0.4, -0.3, -0.4]])
    assert inconsistent_fields(area, ood, area_at, ood_at).tolist() == [-1, -1, 1, 1, 0]
    # a margin asks for clearly more familiar
    assert inconsistent_fields(area, ood, area_at, ood_at, margin=0.5).tolist() == [
        -1,
        -1,
        1,
        1,
        -1,
    ]


def _roi_scale(median_ood, field_factor) -> RoiScale:
    ff = np.asarray(field_factor)
    return RoiScale(40.0, (0.8, 1.25), tuple(median_ood), ff, np.ones(len(ff), bool))


def test_roi_abstains_when_its_tissue_reads_clearly_better_elsewhere() -> None:
    lim = ScaleLimits(roi_margin=0.5, max_flagged_share=0.5)
    acc = np.ones(4, bool)
    # at the stated size the tissue is the most familiar: an answer
    ok = _roi_scale((0.1, 1.0, 0.6), [-1, -1, -1, 1])
    assert scale_rejection(ok, acc, lim) == ""
    assert scale_summary(ok) == (
        "1 of 4 fields read as another area, and more like known cortex, at another "
        "pixel size, and did not vote"
    )
    # median open-set score 1.2 lower at x0.8: abstain, suggesting 0.8 x 40 µm
    off = _roi_scale((1.5, 0.3, 2.9), [0, -1, -1, -1])
    why = scale_rejection(off, acc, lim)
    assert why.startswith(
        "the tissue reads as cortex better at ≈ 32 µm/px than at the stored 40 µm/px"
    )
    assert why.endswith(PIXEL_SIZE_HINT) and "cytowords pixel-size" in why
    # most accepted fields read as another area elsewhere: abstain even with a small gain
    most = _roi_scale((0.5, 0.6, 0.3), [1, 1, 1, -1])
    assert "≈ 50 µm/px" in scale_rejection(most, acc, lim)
    assert scale_rejection(most, np.array([False, False, False, True]), lim) == ""
    # the defaults: margin 1.8, the share rule off; inf turns the median rule off
    assert scale_rejection(off, acc, ScaleLimits()) == ""
    far = _roi_scale((2.5, 0.3, 2.9), [0, -1, -1, -1])
    assert "≈ 32 µm/px" in scale_rejection(far, acc, ScaleLimits())
    assert scale_rejection(far, acc, ScaleLimits(roi_margin=float("inf"))) == ""
    assert scale_rejection(most, acc, ScaleLimits()) == ""
    assert scale_rejection(most, acc, ScaleLimits(roi_margin=0.5, max_flagged_share=0.75)) == ""
    assert off.to_dict()["suggested_um"] == 32.0 and off.to_dict()["n_flagged"] == 1


def test_a_roi_whose_scale_head_median_leaves_the_band_abstains() -> None:
    from cytowords.model.scale_head import ScaleHead

    # a head that reads the first embedding coordinate as log s
    head = ScaleHead(np.array([1.0, 0.0]), 0.0)
    emb = np.array([[0.3, 5.0], [0.25, 1.0], [0.35, 0.0], [-2.0, 0.0]])
    log_s, n = head_estimate(head, emb, np.array([True, True, True, False]))
    assert n == 3 and log_s == pytest.approx(0.3)
    assert head_estimate(head, emb, np.zeros(4, bool))[1] == 0
    lim = ScaleLimits(head_band=(-0.15, 0.15), head_min_fields=3)
    why = head_rejection(log_s, n, 40.0, lim)
    assert why.startswith("the tissue looks about 35% larger than the stored 40 µm/px says")
    assert "true size ≈ 29.6 µm/px" in why and why.endswith(PIXEL_SIZE_HINT)
    assert "smaller" in head_rejection(np.log(0.8), n, 40.0, lim)
    # within the band, too few fields, no band: no verdict from the head
    assert head_rejection(0.1, n, 40.0, lim) == ""
    assert head_rejection(log_s, 2, 40.0, lim) == ""
    assert head_rejection(log_s, n, 40.0, ScaleLimits(head_band=None)) == ""


def test_thickness_far_outside_the_human_range_abstains() -> None:
    def m(mm, n=30):
        return {"n_traverses": n, "thickness_mm": {"median": mm, "estimated_true": mm}}

    for mm in (1.0, 2.5, 4.5, 5.5, 0.85):  # human, or too close to it to be sure
        assert thickness_rejection(m(mm), 20.0) == ""
    why = thickness_rejection(m(7.5), 20.0)
    assert why.startswith("the cortex measures 7.5 mm thick at the stored 20 µm/px, far outside")
    assert "(1–4.5 mm)" in why and why.endswith(PIXEL_SIZE_HINT)
    assert "0.6 mm" in thickness_rejection(m(0.6), 20.0)
    assert thickness_rejection(m(7.5, n=4), 20.0) == ""  # too few traverses to judge
    assert thickness_rejection({"not_measured": ["no pia"]}, 20.0) == ""
    assert thickness_rejection(m(7.5), 20.0, ScaleLimits(thickness_tolerance=0.0)) == ""


def test_jitter_factors_are_log_uniform_in_range() -> None:
    rng = np.random.default_rng(0)
    assert (jitter_factors(50, 0.0, rng) == 1.0).all()
    f = jitter_factors(4000, 0.25, rng)
    logs = np.log(f)
    assert logs.min() >= -0.25 - 1e-9 and logs.max() <= 0.25 + 1e-9
    assert f.min() < 0.8 and f.max() > 1.25  # both ends reached
    # log-uniform on the grid of JITTER_STEPS per unit of log scale: every inner step as
    # likely as any other, the two end steps half as likely (rounding), nothing between
    steps = logs * JITTER_STEPS
    k = np.round(steps).astype(int)
    assert np.allclose(steps, k, atol=1e-6)
    end = int(round(0.25 * JITTER_STEPS))
    share = np.bincount(k + end, minlength=2 * end + 1) / len(f)
    expected = np.full(2 * end + 1, 1.0 / (2 * end))
    expected[[0, -1]] /= 2
    assert np.allclose(share, expected, atol=0.015), share


def _ramp_section() -> LabelledSection:
    """The hand-made labelled section with its image replaced by a left-to-right ramp of
    one grey level per 2 px (flat beyond 510 px): a field's slope per pixel tells the pixel size it was read at."""
    img, lab = make_section(0)
    ramp = np.broadcast_to(np.minimum(np.arange(img.shape[1]) // 2, 255), img.shape)
    ramp = ramp.astype(np.uint8)
    labels = LabelImage([da.from_array(lab, chunks=256)], [PX], load_atlas().label_names())
    sec = Section(
        [da.from_array(np.ascontiguousarray(ramp), chunks=256)], [PX], "ramp", {}, {"areas": labels}
    )
    return LabelledSection(sec, "B0", "train", labels)


def _read_scale(patches: np.ndarray) -> np.ndarray:
    """Per field, the pixel-size factor it was read at: its mean grey slope per column over
    the ramp's 0.5 grey levels per section pixel."""
    x = patches.astype(float).mean(axis=1)  # (M, n) column means
    cols = np.arange(x.shape[1])
    slope = np.polyfit(cols, x.T, 1)[0]
    return slope / 0.5


def test_scale_jitter_reads_fields_at_the_drawn_scales() -> None:
    ls = _ramp_section()
    base = PatchConfig(pixel_size_um=PX, patch_px=32, n_per_area=40, none_share=0.0)
    plain = sample_section(ls, AREAS, base)
    jit = sample_section(ls, AREAS, PatchConfig(**{**base.__dict__, "scale_jitter": 0.25}))
    # the same fields (labels, centres), only read at other scales
    np.testing.assert_array_equal(plain.labels, jit.labels)
    np.testing.assert_array_equal(plain.positions_um, jit.positions_um)
    # away from the ramp's flat end and the section's edges
    x = plain.positions_um[:, 1] / PX
    inside = (x > 40) & (x < 470) & (plain.positions_um[:, 0] / PX > 40)
    inside &= plain.positions_um[:, 0] / PX < 430
    assert inside.sum() > 40
    s0, s1 = _read_scale(plain.patches[inside]), _read_scale(jit.patches[inside])
    np.testing.assert_allclose(s0, 1.0, atol=0.03)
    assert np.log(s1).min() > -0.25 - 0.05 and np.log(s1).max() < 0.25 + 0.05
    assert s1.min() < 0.88 and s1.max() > 1.14 and np.std(np.log(s1)) > 0.08


@pytest.fixture(scope="module")
def describer() -> Describer:
    return Describer("default", device="cpu", params=DescribeParams(max_new_tokens=8))


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict:
    """A held-out brain's cortex (32 µm/px) written as OME-Zarr twice: with the right pixel
    size and with one a third too large (the tissue then reads x0.75 too small); and the
    centres (µm at the right size) of two 8 mm squares on its cortex."""
    from cytowords.synth.section import section_geometry, virtual_section

    sec = virtual_section(204, size_mm=(30, 24), pixel_size_um=32.0, variation="classic")
    img = np.asarray(sec.levels[0])
    tmp = tmp_path_factory.mktemp("scans")
    out: dict = {
        k: open_section(write_section(tmp / f"x{k}.ome.zarr", img, pixel_size_um=32.0 * k))
        for k in (1.0, 1.33)
    }
    # two points in the cortex (y, x µm; drawn from the tissue mask when it held only grey
    # matter): the generator's geometry puts them at cortical depth 0.2
    out["centres"] = np.array([[18000.0, 9520.0], [17872.0, 9232.0]])
    depth = section_geometry(204, size_mm=(30, 24), variation="classic").query(
        out["centres"][:, 1], out["centres"][:, 0]
    )["depth"]
    assert np.all((np.asarray(depth) > 0) & (np.asarray(depth) < 1)), depth
    return out


def test_a_scan_stored_at_a_wrong_pixel_size_abstains_with_the_scale_reason(
    describer, scans
) -> None:
    from cytowords.describe.export import description_row, results_to_csv

    right, wrong = scans[1.0], scans[1.33]
    # the default bundle's limits let a x1.33 error through on these squares (its open-set
    # score hardly changes with the scale; docs/your_scans.md): the stricter limits that
    # trade answers for safety catch it (the scale head's rule, which decides first and
    # catches these squares too, is off here: test_a_roi_the_scale_head_reads_...)
    strict = DescribeParams(
        max_new_tokens=8,
        scale=ScaleLimits(roi_margin=0.5, max_flagged_share=0.5, head_band=None),
    )
    # two 8 mm squares on cortex (the same tissue in both files)
    for c in scans["centres"]:

        def roi(k: float, c: np.ndarray = c) -> Roi:
            return Roi.rectangle(*(c - 4000) * k, *(c + 4000) * k, name="r")

        ok = describer.describe_roi(right, roi(1.0), params=strict)
        no_check = DescribeParams(max_new_tokens=8, scale=None)
        before = describer.describe_roi(right, roi(1.0), params=no_check)
        # the right pixel size: the answer the describer gave without the check
        assert not ok.rejected and ok.area == before.area and ok.rejection_reason == ""
        assert ok.scale is not None and ok.scale["stated_um"] == 32.0
        bad = describer.describe_roi(wrong, roi(1.33), params=strict)
        assert bad.rejected and bad.area == NONE_ID
        # set aside before the model's verdict: not "matches no known area"
        assert bad.caption == ABSTAINED_CAPTION
        assert bad.rejection_reason.startswith("the tissue reads as cortex better at ≈ ")
        assert "than at the stored 42.56 µm/px" in bad.rejection_reason
        assert "cytowords pixel-size" in bad.rejection_reason
        # the suggestion points back toward the true 32 µm/px (x0.8 of the stored size)
        assert bad.scale["suggested_um"] == pytest.approx(42.56 * 0.8)
        # the reason reaches the exported results (the note column / QuPath metadata)
        assert bad.rejection_reason in description_row(bad)["note"]
        csv = results_to_csv([roi(1.33)], [description_row(bad)])
        assert "reads as cortex better" in csv
        # measured statements still come with an abstained ROI
        assert bad.measurements


def test_a_roi_the_scale_head_reads_mis_scaled_abstains_with_that_reason(
    describer, scans, monkeypatch
) -> None:
    """The bundle's scale head decides first: a head that reads every field as stated ×1.5
    the true size rejects a ROI the other rules name, with its reason and estimate; a head
    that reads ×1 leaves the answer as it was. The bundled head (calibrated) reads the
    scan stored ×1.33 too large as larger than one stored at its right size."""
    from cytowords.model.scale_head import ScaleHead

    right, c = scans[1.0], scans["centres"][0]
    roi = Roi.rectangle(*(c - 4000), *(c + 4000), name="r")
    real = describer.bundle.scale_head
    d = describer.bundle.embed_dim
    no_head = DescribeParams(max_new_tokens=8, scale=ScaleLimits(head_band=None))
    base = describer.describe_roi(right, roi, params=no_head)
    assert not base.rejected
    monkeypatch.setattr(describer.bundle, "scale_head", ScaleHead(np.zeros(d), np.log(1.5)))
    off = describer.describe_roi(right, roi)
    assert off.rejected and off.area == NONE_ID
    assert off.rejection_reason.startswith(
        "the tissue looks about 50% larger than the stored 32 µm/px says (scale head: "
        "stated / true 1.50"
    )
    assert off.scale["head_factor"] == pytest.approx(1.5) and off.scale["head_fields"] >= 3
    assert "n_checked" not in off.scale  # decided before the re-reads: not read again
    monkeypatch.setattr(describer.bundle, "scale_head", ScaleHead(np.zeros(d), 0.0))
    same = describer.describe_roi(right, roi)
    assert same.area == base.area and not same.rejected and same.scale["head_factor"] == 1.0
    monkeypatch.setattr(describer.bundle, "scale_head", real)
    at_right = describer.describe_roi(right, roi, params=no_head).scale["head_factor"]
    big = Roi.rectangle(*(c - 4000) * 1.33, *(c + 4000) * 1.33, name="r")
    too_large = describer.describe_roi(scans[1.33], big, params=no_head).scale["head_factor"]
    assert too_large > at_right * 1.1, (too_large, at_right)
    # with the default limits the bundled head names the error (the other rules let it by)
    caught = describer.describe_roi(scans[1.33], big)
    assert caught.rejected and caught.rejection_reason.startswith("the tissue looks about")
    assert "larger than the stored 42.56 µm/px" in caught.rejection_reason


def test_a_roi_the_field_rule_leaves_too_few_votes_says_so(describer, scans, monkeypatch) -> None:
    """When the fields that read better at another pixel size leave too few voting fields,
    the ROI is not named and says why (not "white matter or background"), without telling
    the user that the pixel size is wrong."""
    import cytowords.describe.describer as mod
    from cytowords.sections.roi_scale import RoiScale

    right, c = scans[1.0], scans["centres"][0]
    roi = Roi.rectangle(*(c - 4000), *(c + 4000), name="r")
    params = DescribeParams(max_new_tokens=8, scale=ScaleLimits(head_band=None, roi_margin=9.0))
    real = mod.reread_at_scales

    def all_but_one(bundle, section, centers, votes, *args, **kwargs) -> RoiScale:
        res = real(bundle, section, centers, votes, *args, **kwargs)
        field = np.full(len(centers), -1)
        field[np.flatnonzero(votes)[1:]] = 0  # every voting field but the first abstains
        return RoiScale(res.stated_um, res.factors, res.median_ood, field, res.checked)

    monkeypatch.setattr(mod, "reread_at_scales", all_but_one)
    res = describer.describe_roi(right, roi, params=params)
    assert res.rejected and res.area == NONE_ID and res.n_voting == 1
    n = res.n_scale_flagged
    assert n >= 2
    assert res.rejection_reason == (
        f"{n} of {n + 1} fields read as another area, and more like known cortex, at another "
        "pixel size, and did not vote; 1 voting field left, fewer than the 2 needed to name "
        "an area"
    )
    assert "pixel-size" not in res.rejection_reason
    assert res.caption == ABSTAINED_CAPTION


def test_the_check_reads_only_rois_that_would_be_named(describer, scans) -> None:
    """A rejected ROI (here: background only) is not read again: no extra cost."""
    right = scans[1.0]
    h, w = right.shape_um
    blank = describer.describe_roi(right, Roi.rectangle(h - 300, w - 300, h, w, name="corner"))
    assert blank.rejected and blank.scale is None and blank.n_scale_flagged == 0


def test_the_check_rereads_the_fields_from_the_pixels_read_for_them(
    describer, scans, monkeypatch
) -> None:
    """One description reads each pyramid level it needs once: the scale check's re-reads
    at 0.8 and 1.25 × the model's pixel size are cut from the blocks read for the fields
    (the readout reads its own window), and the description is the one made with a read
    per pixel size."""
    import contextlib

    from cytowords.describe import describer as describer_mod
    from cytowords.sections import window

    right, c = scans[1.0], scans["centres"][0]
    roi = Roi.rectangle(*(c - 4000), *(c + 4000), name="r")
    reads: list = []
    real = window._read_region

    def counted(level, y, x, fill):
        reads.append((id(level), fill == fill))  # the readout reads with NaN fill
        return real(level, y, x, fill)

    monkeypatch.setattr(window, "_read_region", counted)
    shared = describer.describe_roi(right, roi)
    assert shared.scale is not None and shared.scale["n_checked"] > 0
    fields = [r for r in reads if r[1]]
    assert len(fields) == len(set(fields)) < 3 and len(reads) == len(fields) + 1
    reads.clear()
    monkeypatch.setattr(describer_mod, "keep_regions", lambda grow: contextlib.nullcontext())
    separate = describer.describe_roi(right, roi)
    assert len([r for r in reads if r[1]]) == 3  # without: a read at each pixel size
    assert separate.to_dict() == shared.to_dict()
