"""The section-read headline: bootstrap on hand-made cases, near misses, seed ranges, the
section test set and the headline report on a tiny bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.training.data.readout_truth import REGION_NOISE, ReadoutNoise
from cytowords.training.evaluate.bootstrap import bootstrap_ci, pool, split_by_brain
from cytowords.training.evaluate.headline import KEYS, headline_metrics
from cytowords.training.evaluate.nearmiss import near_misses
from cytowords.training.evaluate.testset import eval_brains, eval_seed_range
from tests.support.tiny_bundle import AREAS, PATCH_PX, make_tiny_bundle

#: coarse fields (32 px at 128 µm/px, 4 mm as the default model's): sections render fast
COARSE_UM = 128.0


def _mean(parts):
    return float(np.mean(np.concatenate(parts)))


def test_bootstrap_constant_data_has_zero_width():
    v, lo, hi = bootstrap_ci([np.ones(3), np.ones(5), np.ones(2)], _mean, n=200, seed=1)
    assert v == lo == hi == 1.0


def test_bootstrap_two_brains_known_mean_and_interval():
    # brain A: all correct, brain B: all wrong (equal sizes): pooled mean 0.5; a resample
    # draws A twice (1.0), B twice (0.0) or one of each (0.5)
    brains = [np.ones(4), np.zeros(4)]
    v, lo, hi = bootstrap_ci(brains, _mean, n=2000, seed=0)
    assert v == 0.5
    assert lo == 0.0 and hi == 1.0
    # unequal sizes: the pooled (field-weighted) mean, not the mean of brain means
    v, _, _ = bootstrap_ci([np.ones(3), np.zeros(1)], _mean, n=10)
    assert v == 0.75


def test_bootstrap_is_seeded_vector_valued_and_skips_nan():
    rng = np.random.default_rng(0)
    brains = [rng.random(20) for _ in range(8)]

    def stat(parts):
        x = np.concatenate(parts)
        return np.array([x.mean(), np.nan if len(parts) < 99 else 0.0])

    a = bootstrap_ci(brains, stat, n=300, seed=4)
    b = bootstrap_ci(brains, stat, n=300, seed=4)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1][0] < a[0][0] < a[2][0]
    assert np.isnan(a[1][1]) and np.isnan(a[2][1])
    with pytest.raises(ValueError, match="no brains"):
        bootstrap_ci([], _mean)


def test_split_and_pool_round_trip():
    brain = np.array([3, 1, 3, 2])
    parts = split_by_brain(brain, x=np.arange(4))
    assert [p["x"].tolist() for p in parts] == [[1], [3], [0, 2]]
    assert sorted(pool(parts)["x"].tolist()) == [0, 1, 2, 3]


def test_headline_metrics_on_hand_made_fields():
    d = {
        "kind": np.array(["in_scope"] * 4 + ["unseen"] * 2 + ["none"]),
        "truth": np.array(["a", "a", "b", "b", "u", "v", NONE_ID]),
        "pred": np.array(["a", "b", "b", "b", "a", "a", "a"]),
        "score": np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.35, 0.8]),
        "near": np.array([0, 0, 0, 0, 0, 1, 0], bool),
        "rejected": np.array([0, 0, 0, 1, 1, 0, 1], bool),
    }
    m = dict(zip((k for k, _ in KEYS), headline_metrics(d)))
    assert m["classification_accuracy"] == 0.75
    assert m["open_set_auroc_far"] == 1.0
    assert m["open_set_auroc_near_miss"] == 0.75
    assert m["open_set_auroc"] == pytest.approx(0.875)
    assert m["in_scope_false_rejection_rate"] == 0.25
    assert m["unseen_rejection_rate"] == 0.5 and m["near_miss_rejection_rate"] == 0.0
    assert m["noncortex_rejection_rate"] == 1.0
    assert np.isnan(m["label_match_accuracy"])  # no captions given


def test_near_misses_follow_the_profile_rule():
    atlas = load_atlas()
    nm = near_misses(atlas)
    # the near misses come out of the computed rule, the distinct ones do not
    assert {"hIP3", "OP3", "Te1.2"} <= set(nm.near)
    assert not {"CA1", "EC"} & set(nm.near)
    for u, (a, d) in nm.nearest.items():
        assert a in atlas.in_scope_ids and (d <= nm.limit) == (u in nm.near)
    assert "near miss" in nm.to_dict()["rule"]


def test_seed_ranges_are_disjoint_and_bounded():
    dev, pub = eval_seed_range(), eval_seed_range(published=True)
    assert not set(dev) & set(pub)
    assert eval_brains(10) == list(range(200, 210))
    assert eval_brains(3, published=True) == [500, 501, 502]
    with pytest.raises(ValueError, match="500..599"):
        eval_brains(101, published=True)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(
        tmp_path_factory.mktemp("tiny") / "bundle", cortex_logit=8.0, pixel_size_um=COARSE_UM
    )


def test_section_set_labels_purity_and_cache(tmp_path):
    from cytowords.synth import section_geometry
    from cytowords.training.evaluate.sectionset import build_section_set

    kw = dict(
        patch_px=PATCH_PX,
        pixel_size_um=COARSE_UM,
        per_area=2,
        in_scope=AREAS,
        unseen=["hIP3", "CA1"],
        size_mm=(20.0, 15.0),
        cache_dir=tmp_path,
    )
    ps = build_section_set([203], **kw)
    assert set(ps.kind) == {"in_scope", "unseen", "none"}
    assert (ps.labels[ps.kind == "in_scope"] != NONE_ID).all()
    cortex = ps.kind != "none"
    assert np.all((ps.purity[cortex] > 0) & (ps.purity[cortex] <= 1))
    assert np.isnan(ps.purity[~cortex]).all()
    # the label is the ground truth at the field centre
    q = section_geometry(203, size_mm=(20.0, 15.0), include_unseen=True).query(
        ps.centres_um[:, 1], ps.centres_um[:, 0]
    )
    atlas = load_atlas()
    want = [atlas.area_of_label(int(v)) if v else NONE_ID for v in q["label"]]
    assert ps.labels.tolist() == want
    assert ps.patches.dtype == np.uint8 and ps.patches.shape[1:] == (PATCH_PX, PATCH_PX)
    files = list(tmp_path.glob("sections_*.npz"))
    assert len(files) == 1
    # the rendered section is cached too (the readout baseline measures on it)
    from cytowords.training.evaluate.sectionset import section_for

    assert len(list(tmp_path.glob("section_*.npz"))) == 1
    sec = section_for(203, COARSE_UM, (20.0, 15.0), True, tmp_path)
    np.testing.assert_array_equal(
        np.asarray(sec.levels[0]), np.asarray(section_for(203, COARSE_UM, (20.0, 15.0)).levels[0])
    )
    again = build_section_set([203], **kw)
    np.testing.assert_array_equal(again.patches, ps.patches)
    np.testing.assert_array_equal(again.purity, ps.purity)


def test_headline_report_on_tiny_bundle(bundle, tmp_path, monkeypatch):
    from cytowords.model import ModelBundle
    from cytowords.training.evaluate import EvalOptions, run_evaluation

    captioned_rows = []
    caption = ModelBundle.caption

    def counting_caption(self, emb, *a, **kw):
        captioned_rows.append(len(emb))
        return caption(self, emb, *a, **kw)

    monkeypatch.setattr(ModelBundle, "caption", counting_caption)
    from cytowords.training.data import readout_truth

    regions = []
    region_truths = readout_truth.region_truths

    def kept_region_truths(brains, labels, *a, **kw):
        got = region_truths(brains, labels, *a, **kw)
        regions.append((list(brains), list(labels), got))
        return got

    monkeypatch.setattr(readout_truth, "region_truths", kept_region_truths)
    out = tmp_path / "eval"
    opts = EvalOptions(
        model=str(bundle),
        out=str(out),
        sampler=False,
        robustness=False,
        section_brains=2,
        section_per_area=1,
        headline_captions=1,
        section_train_brains=1,
        section_train_per_area=2,
        readout_per_area=1,
        bootstrap=50,
        section_size_mm=(20.0, 15.0),
    )
    m = run_evaluation(opts)
    h = json.loads((out / "headline.json").read_text())
    p = h["protocol"]
    assert p["seed_range"] == "development"
    assert p["brains"] == [200, 201]
    # one caption per label value (each area on the sections and non-cortex), each field
    # captioned once: the claims reuse the label-match captions
    labels = m["headline"]["protocol"]["fields"]
    n_labels = len(AREAS) + len(load_atlas().unseen_ids) + 1
    assert p["captioned"] == sum(captioned_rows) <= n_labels < labels
    claims = h["caption_claims"]
    assert claims["n_captions"] == h["table"]["ours"]["_counts"]["captioned_in_scope"] > 0
    # both referents: the region's own truth (the headline figure) and the area's in that
    # brain, for the same captions read with the same simulated readouts
    area_claims = h["caption_claims_area"]
    assert claims["referent"] == "region" and area_claims["referent"] == "area"
    for key in ("n_captions", "verbatim_training_share", "claim_accuracy_vs_readout"):
        assert area_claims[key] == claims[key]
    # the evaluation's noise model, as the protocol records it (not the training's)
    assert p["caption_readout_noise"] == REGION_NOISE.to_dict() != ReadoutNoise().to_dict()
    # the claims are scored against the truth of each captioned field's region
    ((brains, labels, got),) = regions
    inside = [(b, a, t) for b, a, t in zip(brains, labels, got) if a in AREAS]
    assert len(inside) == claims["n_captions"]
    step = max(1, len(inside) // 8)
    for ex, (_, a, t) in zip(claims["examples"], inside[::step]):
        assert ex["area"] == a and ex["true_thickness_mm"] == round(t.thickness_mm, 2)
    for ex, (b, a, _) in zip(area_claims["examples"], inside[::step]):
        area_mm = readout_truth.brain_truth(int(b), a).thickness_mm
        assert ex["true_thickness_mm"] == round(area_mm, 2)
    t = h["table"]
    assert set(t) >= {"ours", "ours_pure", "gli_profile", "readout_features", "chance"}
    acc = t["ours"]["classification_accuracy"]
    assert acc["lo"] <= acc["value"] <= acc["hi"]
    assert t["ours"]["_counts"]["brains"] == 2
    md = (out / "headline.md").read_text()
    assert "development test range, seeds 200–299" in md
    assert "Near-miss rule" in md and "hIP3" in md
    assert (out / "headline_per_area.csv").stat().st_size > 0
    assert m["headline"]["protocol"]["fields"] == m["n_patches"]


def test_caption_subset_and_centre_crop():
    from cytowords.training.evaluate.headline import caption_subset, centre_crop

    labels = np.array(["a"] * 5 + ["b"] * 3 + [NONE_ID] * 4)
    idx = caption_subset(labels, 2, seed=3)
    assert sorted(labels[idx].tolist()) == sorted(["a", "a", "b", "b", NONE_ID, NONE_ID])
    np.testing.assert_array_equal(idx, caption_subset(labels, 2, seed=3))
    assert len(caption_subset(labels, 0, seed=3)) == 0
    x = np.arange(2 * 6 * 6).reshape(2, 6, 6)
    np.testing.assert_array_equal(centre_crop(x, 2), x[:, 2:4, 2:4])


def test_headline_reads_fields_with_a_dense_encoders_context(tmp_path, tiny_bundle):
    # a dense-architecture bundle embeds the field plus its context (read_px > patch_px);
    # the headline reads exactly that around each field centre
    import torch

    from cytowords.sections import read_fields
    from cytowords.training.evaluate import EvalOptions
    from cytowords.training.evaluate.headline import run_headline
    from cytowords.training.evaluate.sectionset import section_for
    from tests.support.dense_encoder import dense_bundle
    from tests.support.map_fixtures import band_section

    b = dense_bundle(tiny_bundle, band_section(2400.0, 2000.0))
    assert b.read_px > b.patch_px
    opts = EvalOptions(
        section_brains=2,
        section_per_area=1,
        headline_captions=0,
        baselines=False,
        bootstrap=20,
        section_size_mm=(8.0, 6.0),
    )
    h = run_headline(
        b, opts, load_atlas(), None, tmp_path / "cache", lambda *a: None, lambda m: None
    )
    ps, res = h["_set"], h["_res"]
    assert ps.patches.shape[1:] == (b.read_px, b.read_px)
    assert set(ps.brain.tolist()) == {200, 201}
    assert not res.captioned.any() and h["caption_claims"] == {}
    one = ps.brain == 201
    sec = section_for(201, b.pixel_size_um, (8.0, 6.0), True, tmp_path / "cache")
    fields = read_fields(sec, ps.centres_um[one], b.pixel_size_um, b.read_px, as_uint8=True)
    np.testing.assert_array_equal(fields, ps.patches[one])
    _, score, _ = b.classify(b.embed(fields))
    # the same scores up to float32 rounding of another batch composition
    torch.testing.assert_close(
        torch.as_tensor(res.score[one]), score.double(), rtol=1e-3, atol=1e-3
    )
    assert h["table"]["ours"]["_counts"]["brains"] == 2
