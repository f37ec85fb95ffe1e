"""Evaluation metrics on hand-made cases with known answers (alias parsing and masking too)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.training.evaluate import metrics as M
from cytowords.training.evaluate.scoring import stratified_subset
from cytowords.training.evaluate.shifts import apply_shift, shift_sampling, strong_staining
from cytowords.training.mining import MASK_TOKEN, REJECTION_CAPTION

ATLAS = load_atlas()


def test_accuracy_and_rate():
    assert M.accuracy(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == 0.5
    assert math.isnan(M.accuracy([], []))
    assert M.rate(np.array([True, False, False, False])) == 0.25
    with pytest.raises(ValueError, match="3 labels"):
        M.accuracy(["a"], ["a", "b", "c"])


def test_label_match_parses_ids_and_aliases():
    caps = [
        "Area hOc1: a thin cortex with a very wide granular layer split by the stria of Gennari.",
        "The striate cortex shows a broad layer IV.",  # alias of hOc1
        "Area 44 has large pyramids in deep layer III, unlike area 45.",  # subject first
        "Area hOc2: narrower than hOc1, without the stria.",
        REJECTION_CAPTION,
        "A six-layered cortex with a clear layer IV.",  # names no area
    ]
    truth = ["hOc1", "hOc1", "44", "hOc1", "hOc1", "hOc1"]
    assert M.parse_captions(caps, ATLAS)[:5] == ["hOc1", "hOc1", "44", "hOc2", NONE_ID]
    assert M.parse_captions(caps, ATLAS)[5] is None
    ok = M.label_match(caps, truth, ATLAS)
    assert ok.tolist() == [True, True, True, False, False, False]


def test_mask_captions_removes_every_alias():
    caps = ["Area hOc1 (V1, striate cortex, BA 17) differs from hOc2 and Brodmann's area 44."]
    masked = M.mask_captions(caps, ATLAS)[0]
    for name in ("hOc1", "V1", "striate", "17", "hOc2", "44"):
        assert name not in masked, masked
    assert masked.count(MASK_TOKEN) >= 3
    assert "differs from" in masked


def test_masked_nway_picks_nearest_reference():
    ref = {"a": np.array([1.0, 0, 0]), "b": np.array([0, 1.0, 0]), "c": np.array([0, 0, 1.0])}
    cap = np.array([[0.9, 0.1, 0], [0.1, 0.9, 0], [0.5, 0.5, 0]])
    ok = M.masked_nway(cap, ["a", "a", "a"], [["b", "c"]] * 3, ref)
    assert ok.tolist() == [True, False, False]  # a tie is not a win


def test_distractors_fixed_seed_and_nearest():
    cands = [f"x{i}" for i in range(10)]
    d1 = M.random_distractors(["x0", "x5"], cands, k=7, seed=3)
    assert d1 == M.random_distractors(["x0", "x5"], cands, k=7, seed=3)
    assert all(len(set(d)) == 7 and t not in d for d, t in zip(d1, ["x0", "x5"]))
    with pytest.raises(ValueError, match="distractors"):
        M.random_distractors(["x0"], cands[:3], k=7)
    emb = {c: np.array([np.cos(i / 5), np.sin(i / 5)]) for i, c in enumerate(cands)}
    near = M.nearest_distractors(emb, cands, k=2)
    assert near["x0"] == ["x1", "x2"]
    assert set(near["x5"]) == {"x4", "x6"}


def test_open_set_auroc_and_fpr():
    assert M.open_set_auroc(np.array([0.0, 1, 2]), np.array([3.0, 4])) == 1.0
    assert M.open_set_auroc(np.array([3.0, 4]), np.array([0.0, 1])) == 0.0
    assert M.open_set_auroc(np.array([1.0, 1]), np.array([1.0, 1])) == 0.5
    # in: 0..2, unseen: 1.5 and 5 -> pairs (unseen > in): 1.5>0,1 ; 5>all -> 5/6
    assert M.open_set_auroc(np.array([0.0, 1, 2]), np.array([1.5, 5])) == pytest.approx(5 / 6)
    s_in = np.arange(100, dtype=float)  # threshold keeping 95 % in-scope: 94
    s_un = np.array([10.0, 94, 95, 200])
    assert M.fpr_at_tpr(s_in, s_un, 0.95) == 0.5
    assert math.isnan(M.fpr_at_tpr(s_in, np.array([])))


def test_confusion_and_groups():
    cm = M.confusion_matrix(["a", "b", "b", "zz"], ["a", "a", "b", "a"], ["a", "b"])
    assert cm.tolist() == [[1, 1], [0, 1]]
    assert M.top_confusions(cm, ["a", "b"]) == [("a", "b", 1)]
    assert M.per_group_mean(np.array([1, 0, 1]), ["x", "x", "y"]) == {"x": 0.5, "y": 1.0}


def test_stratified_subset_quota_per_label():
    labels = np.array(["a"] * 50 + ["b"] * 5 + [NONE_ID] * 20)
    idx = stratified_subset(labels, 12, seed=1)
    got = {k: int((labels[idx] == k).sum()) for k in ("a", "b", NONE_ID)}
    assert got == {"a": 4, "b": 4, NONE_ID: 4}
    assert len(stratified_subset(labels, None)) == 75
    assert np.array_equal(idx, stratified_subset(labels, 12, seed=1))


def test_shifts_change_what_they_should():
    assert shift_sampling("pixel_size_x1.5", 16.0)["pixel_size_um"] == 24.0
    assert shift_sampling("artefacts", 16.0)["artefacts"] == 1.0
    rng = np.random.default_rng(0)
    p = np.full((3, 32, 32), 235, np.uint8)
    p[:, 10:20, 10:20] = rng.integers(60, 150, (3, 10, 10))
    s = strong_staining(p, seed=0)
    assert s.dtype == np.uint8 and s.shape == p.shape
    assert not np.array_equal(s, p)
    assert apply_shift("none", p) is p
    with pytest.raises(ValueError, match="unknown"):
        apply_shift("blue", p)


def test_summary_marks_goals_and_drops():
    from cytowords.training.evaluate.summary import summary_markdown

    m = {
        "label_match_accuracy": 0.96,
        "masked_8way_accuracy": 0.5,
        "open_set_auroc": 0.9,
        "in_scope_false_rejection_rate": 0.04,
        "classification_accuracy": 0.9,
        "baselines": {"chance": {"masked_8way_accuracy": 0.125}},
        "robustness": {"stain": {"classification_accuracy": 0.7}},
    }
    md = summary_markdown(m)
    assert "| label match | 0.960 | 0.906 | >= 0.95 met |" in md
    assert ">= 0.85 missed" in md and "<= 0.05 met" in md
    assert "0.700 (-0.200)" in md
    assert "| 0.125 |" in md
