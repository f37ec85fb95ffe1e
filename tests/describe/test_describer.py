"""Describer on real sections (in memory and on disk) with a tiny real model bundle."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import torch

from cytowords.describe import DescribeParams, Describer
from cytowords.describe.result import ABSTAINED_CAPTION
from cytowords.jobs import Cancelled
from cytowords.regions import Roi, RoiError
from cytowords.sections import Section
from tests.support.tiny_bundle import AREAS, PATCH_PX, PIXEL_UM, make_tiny_bundle


@pytest.fixture
def section() -> Section:
    rng = np.random.default_rng(1)
    img = rng.integers(60, 230, size=(1200, 1600), dtype=np.uint8)  # 4 µm/px
    lv0 = da.from_array(img, chunks=256)
    return Section([lv0, lv0[::2, ::2], lv0[::4, ::4]], [4.0, 8.0, 16.0], name="noise")


def test_describe_roi_is_well_formed(tiny_bundle: Path, section: Section) -> None:
    d = Describer(tiny_bundle, device="cpu")
    assert d.patch_um == PATCH_PX * PIXEL_UM
    seen = []
    res = d.describe_roi(
        section, Roi.rectangle(500, 500, 2500, 3500), on_progress=lambda a, b: seen.append((a, b))
    )
    assert res.n_patches == len(res.patches) > 1
    assert seen[-1][0] == seen[-1][1]
    assert res.rejected or res.area in AREAS
    assert 0.0 <= res.probability <= 1.0
    assert isinstance(res.caption, str)  # untrained LM: content is not meaningful here
    if res.rejected:
        assert res.caption == (
            ABSTAINED_CAPTION if res.rejection_reason else d.bundle.rejection_caption
        )
    assert len(res.top_k) == 3 and res.top_k[0][1] >= res.top_k[1][1]
    j = res.to_dict()
    for key in (
        "area",
        "area_name",
        "probability",
        "rejected",
        "ood_score",
        "caption",
        "n_patches",
    ):
        assert key in j


def test_params_per_call_leave_the_describer_as_it_is(tiny_bundle: Path, section: Section) -> None:
    d = Describer(tiny_bundle, device="cpu")
    assert Describer(tiny_bundle, device="cpu").bundle is d.bundle  # one loaded bundle
    defaults = d.params
    roi = Roi.rectangle(500, 500, 2500, 3500)
    few = DescribeParams(max_patches=4, min_patches=1, measure=False, scale=None)
    assert d.describe_roi(section, roi, params=few).n_patches <= 4
    assert d.params is defaults and d.params == DescribeParams()
    assert d.describe_roi(section, roi, params=DescribeParams(measure=False)).n_patches > 4


def test_roi_outside_and_cancel(tiny_bundle: Path, section: Section) -> None:
    d = Describer(tiny_bundle, device="cpu", params=DescribeParams(batch_size=2))
    with pytest.raises(RoiError, match="outside the section"):
        d.describe_roi(section, Roi.rectangle(1e6, 1e6, 2e6, 2e6))
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        d.describe_roi(section, Roi.rectangle(0, 0, 4000, 4000), cancel=ev)


@pytest.mark.parametrize("logit, cortex", [(8.0, True), (-8.0, False)])
def test_cortex_detector_does_not_decide_roi_votes(
    tmp_path: Path, section: Section, logit: float, cortex: bool
) -> None:
    """The detector labels map tiles; ROI votes follow the non-cortex level (which the
    tiny bundle lacks, so every field votes), the rule that names more ROIs correctly."""
    path = make_tiny_bundle(tmp_path / "c", cortex_logit=logit)
    # the tiny bundle is untrained: the scale check would set aside fields at random
    d = Describer(path, device="cpu", params=DescribeParams(scale=None))
    p = d.bundle.cortex_probability(torch.zeros(3, d.bundle.embed_dim))
    assert p.shape == (3,) and bool((p > 0.5).all()) == cortex
    res = d.describe_roi(section, Roi.rectangle(500, 500, 2500, 3500))
    assert res.n_voting == res.n_patches and all(f.votes for f in res.patches)


def test_missing_model_path_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Describer(tmp_path / "nope")


@pytest.mark.slow
def test_default_model_caption_names_the_reported_area() -> None:
    """With the bundled model, the caption of an accepted ROI names the ROI's area (the
    caption is anchored on the head's prediction); free generation stays available."""
    from cytowords.atlas import load_atlas
    from cytowords.synth import virtual_section
    from cytowords.training.mining import parse_area

    atlas = load_atlas()
    sec = virtual_section(200, size_mm=(40, 30), pixel_size_um=8.0)
    lab = sec.labels["areas"]
    k = len(lab.levels) - 1
    coarse = np.asarray(lab.levels[k].compute())
    ys, xs = np.nonzero(coarse > 0)
    pick = np.random.default_rng(0).choice(len(ys), 6, replace=False)
    px = lab.pixel_size_um[k]
    rois = [
        Roi.rectangle(ys[i] * px - 1500, xs[i] * px - 1500, ys[i] * px + 1500, xs[i] * px + 1500)
        for i in pick
    ]
    # the captions are the point: no scale check (re-reads every field at two more pixel
    # sizes; tests/describe/test_scale_consistency.py) and no readout of rejected ROIs
    # (the readout-conditioned captioner still reads it for the accepted ones)
    params = DescribeParams(scale=None, measure=False)
    d = Describer("default", device="cpu", params=params)
    accepted = 0
    for res in d.describe_rois(sec, rois):
        if not res.rejected:
            accepted += 1
            assert parse_area(res.caption, atlas) == res.area, res.caption
    assert accepted >= 3
    free = replace(params, anchor_caption=False, max_new_tokens=8)
    assert isinstance(d.describe_roi(sec, rois[0], params=free).caption, str)


@pytest.mark.slow
def test_default_model_names_a_loose_box_whose_fields_fall_on_white_matter() -> None:
    """An 8 mm box over area hOc2 of test brain 203: 6 of its 9 fields are centred on
    white matter or background. With every field voting the box was "not a known area";
    the bundle's non-cortex level lets those fields abstain and the 3 cortex fields name
    it. A box on the slide's empty corner still holds no known cortex. (The box is placed
    on the classic generator's section of that brain.)"""
    from cytowords.synth import virtual_section

    sec = virtual_section(203, size_mm=(80, 60), pixel_size_um=32.0, variation="classic")
    box = Roi.rectangle(26656.0, 62496.0, 34656.0, 70496.0)
    lab = sec.labels["areas"]
    win = lab.read_window(26656.0, 62496.0, 8000.0, 8000.0, 128.0)
    cortex = win[win > 0]
    assert lab.names[int(np.bincount(cortex).argmax())] == "hOc2"
    d = Describer("default", device="cpu", params=DescribeParams(max_new_tokens=8))
    b = d.bundle
    assert b.cortex is not None or b.noncortex_level() > b.threshold  # non-cortex is told
    res = d.describe_roi(sec, box)
    assert not res.rejected and res.area == "hOc2" and res.probability > 0.7
    votes = [p.votes for p in res.patches]
    assert 2 <= sum(votes) < len(votes) and res.n_voting == sum(votes)
    assert 2 * res.n_accepted >= res.n_voting
    assert all(p.rejected for p in res.patches if not p.votes)
    every = Describer(
        "default",
        device="cpu",
        params=DescribeParams(max_new_tokens=8, ignore_noncortex=False),
    )
    old = every.describe_roi(sec, box)
    assert old.rejected and all(p.votes for p in old.patches)
    empty = d.describe_roi(sec, Roi.rectangle(0.0, 0.0, 4000.0, 4000.0))
    assert empty.rejected and not any(p.votes for p in empty.patches)
    assert empty.probability == 1.0


def test_model_yields_a_core_to_the_readout(tiny_bundle: Path, section: Section) -> None:
    """With the readout beside it, the model's part runs on one torch thread fewer (at
    least one) and torch's setting is restored after; without the readout, or with
    ``yield_core`` off, it keeps torch's setting. The description is the same."""
    d = Describer(tiny_bundle, device="cpu", params=DescribeParams(min_accept_share=0.0))
    roi = Roi.rectangle(500, 500, 2500, 3500)
    seen: list[int] = []
    embed = d.bundle.embed

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return embed(*args, **kwargs)

    old = torch.get_num_threads()
    torch.set_num_threads(2)
    d.bundle.embed = spy
    try:
        runs = {}
        for name, params in (
            ("yield", d.params),
            ("torch", replace(d.params, yield_core=False)),
            ("no readout", replace(d.params, measure=False)),
        ):
            seen.clear()
            runs[name] = (d.describe_roi(section, roi, params=params), list(seen))
            assert torch.get_num_threads() == 2
    finally:
        del d.bundle.embed
        torch.set_num_threads(old)
    assert runs["yield"][1] and set(runs["yield"][1]) == {1}
    assert set(runs["torch"][1]) == set(runs["no readout"][1]) == {2}
    a, b = runs["yield"][0], runs["torch"][0]
    assert (a.area, a.rejected, a.caption, a.n_voting) == (b.area, b.rejected, b.caption, b.n_voting)
