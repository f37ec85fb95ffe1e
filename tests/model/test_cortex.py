"""The cortex detector: targets, fit, the pipeline stage's files, bundle round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cytowords.model import load_bundle
from cytowords.model.cortex import CortexConfig
from cytowords.training.data.synthetic import NOVEL_PREFIX, RENDERED_PREFIX, is_novel
from cytowords.training.stages.cortex import (
    cortex_metrics,
    cortex_targets,
    fit_cortex,
    load_cortex,
    run_cortex,
)
from tests.support.tiny_bundle import make_tiny_bundle


def _blobs(
    n_cortex: int, n_none: int, d: int = 8, seed: int = 0
) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    shift = torch.zeros(d)
    shift[0] = 3.0
    x = torch.cat(
        [torch.randn(n_cortex, d, generator=g) + shift, torch.randn(n_none, d, generator=g) - shift]
    )
    return x, np.array([True] * n_cortex + [False] * n_none)


def test_targets_count_fictitious_areas_as_cortex() -> None:
    labels = np.array(["4a", "__none__", "__none__", "hOc1", "__none__"])
    sections = np.array(
        ["s1", "s1", f"{RENDERED_PREFIX}3-4", f"{RENDERED_PREFIX}3-5", f"{NOVEL_PREFIX}3-6"]
    )
    assert is_novel(sections).tolist() == [False, False, False, False, True]
    assert cortex_targets(labels, sections).tolist() == [True, False, False, True, True]


def test_fit_separates_cortex_even_when_non_cortex_is_rare() -> None:
    x, y = _blobs(900, 60)
    det = fit_cortex(x, y, hidden=16, steps=300)
    tx, ty = _blobs(500, 500, seed=1)
    cx = det.is_cortex(tx).numpy()
    # the classes weigh the same: the rare one is found as well as the common one
    assert cx[ty].mean() > 0.97 and (~cx[~ty]).mean() > 0.97
    m = cortex_metrics(det, tx, np.where(ty, "4a", "__none__"))
    assert m["val_cortex_recall"] == pytest.approx(cx[ty].mean())
    assert m["val_noncortex_detected"] == pytest.approx((~cx[~ty]).mean())


def test_fit_needs_both_classes() -> None:
    x, y = _blobs(50, 0)
    with pytest.raises(ValueError, match="both cortex fields and non-cortex"):
        fit_cortex(x, y)
    with pytest.raises(ValueError, match="50 embeddings but 3 targets"):
        fit_cortex(x, y[:3])


def test_stage_files_round_trip(tmp_path) -> None:
    x, y = _blobs(200, 100)
    labels = np.where(y, "4a", "__none__")
    sections = np.array([f"{RENDERED_PREFIX}1-{i}" for i in range(len(y))])
    det = run_cortex(x, labels, sections, tmp_path / "cortex")
    info = json.loads((tmp_path / "cortex" / "cortex.json").read_text())
    assert info["enabled"] and info["n_cortex"] == 200 and info["n_noncortex"] == 100
    again = load_cortex(tmp_path / "cortex")
    torch.testing.assert_close(again.probability(x), det.probability(x))
    # structureless tissue fields join the non-cortex side
    struct = torch.randn(40, x.shape[1]) + 6.0
    run_cortex(x, labels, sections, tmp_path / "oe", structureless=struct)
    info = json.loads((tmp_path / "oe" / "cortex.json").read_text())
    assert info["n_noncortex"] == 140 and info["n_structureless"] == 40
    m = cortex_metrics(load_cortex(tmp_path / "oe"), x, labels, structureless=struct)
    assert m["val_structureless_detected"] > 0.9
    # only white matter and background: no detector, and the stage says why
    assert run_cortex(x, np.full(len(y), "__none__"), sections, tmp_path / "none") is None
    assert "needs both" in json.loads((tmp_path / "none" / "cortex.json").read_text())["reason"]
    assert load_cortex(tmp_path / "none") is None and load_cortex(tmp_path / "missing") is None


def test_bundle_keeps_the_detector_and_falls_back_without_one(tmp_path, tiny_bundle) -> None:
    b = load_bundle(make_tiny_bundle(tmp_path / "with", cortex_logit=-2.0))
    cfg = json.loads((tmp_path / "with" / "config.json").read_text())
    assert CortexConfig.from_dict(cfg["cortex"]) == b.cortex.config
    e = torch.randn(4, b.embed_dim)
    p = b.cortex_probability(e)
    torch.testing.assert_close(p, torch.full((4,), float(torch.sigmoid(torch.tensor(-2.0)))))
    pred = b.predict(e)
    assert pred.cortex is not None and not pred.cortex.any()
    assert pred.rejected.all()  # no cortex: not a known area, whatever the head says
    # the detector labels cortex; the votes on a drawn region follow the non-cortex level
    level = b.noncortex_level()
    want_votes = np.ones(4, bool) if level is None else pred.ood_score < level
    assert np.array_equal(pred.votes, want_votes)
    plain = load_bundle(tiny_bundle)
    assert plain.cortex is None and plain.cortex_probability(e) is None
    assert plain.noncortex_level() is None  # no level either: cortex unknown, all vote
    assert plain.predict(e).cortex is None and plain.predict(e).votes.all()
    # a level above the threshold and no detector: the level decides the votes and what
    # reads as cortex
    scores = load_bundle(make_tiny_bundle(tmp_path / "probe")).predict(e, views=1).ood_score
    level = float(np.median(scores))
    lvl = load_bundle(make_tiny_bundle(tmp_path / "level", noncortex={1: level}))
    assert level > lvl.threshold_for(1)
    pl = lvl.predict(e, views=1)
    assert np.array_equal(pl.votes, pl.ood_score < level) and 0 < pl.votes.sum() < 4
    assert np.array_equal(pl.cortex, pl.votes)
    # a level that leaves no band above the threshold: the detector decides the votes
    flat = load_bundle(
        make_tiny_bundle(tmp_path / "flat", cortex_logit=-2.0, noncortex={1: -1e9})
    )
    assert flat.noncortex_level(1) <= flat.threshold_for(1)
    pf = flat.predict(e, views=1)
    assert np.array_equal(pf.votes, pf.cortex) and not pf.votes.any()
    low = load_bundle(make_tiny_bundle(tmp_path / "low", noncortex={1: -1e9})).predict(e, views=1)
    assert low.votes.all() and not low.cortex.any()  # no band, no detector: all vote
    hot = load_bundle(make_tiny_bundle(tmp_path / "hot", cortex_logit=3.0, noncortex={1: -1e9}))
    ph = hot.predict(e, views=1)
    assert ph.votes.all()
    # a detector that sees cortex leaves rejection to the head and the scorer
    _, _, head_rejected = hot.classify(e, views=1)
    assert np.array_equal(ph.rejected, head_rejected.numpy())


def test_cortex_threshold_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        CortexConfig.from_dict({"embed_dim": 4, "threshold": 1.5})


def test_novelty_scorer_travels_in_the_bundle(tmp_path) -> None:
    b = load_bundle(make_tiny_bundle(tmp_path / "nov", scorer_mode="novelty"))
    assert b.scorer.mode == "novelty" and b.scorer.novelty is not None
    cfg = json.loads((tmp_path / "nov" / "config.json").read_text())
    assert cfg["scorer"]["mode"] == "novelty"
    e = torch.randn(5, b.embed_dim)
    probs, score, rejected = b.classify(e)
    assert probs.shape == (5, 5) and torch.isfinite(score).all()
    # the score is the novelty MLP's logit, standardised with the fitted statistics
    with torch.no_grad():
        raw = b.scorer.novelty(e)
    st = b.scorer.logit_stats
    torch.testing.assert_close(score, (raw - st[0]) / st[1])


def test_fit_works_under_inference_mode() -> None:
    """Benchmarks fit scorers inside ``torch.inference_mode``; the MLP still trains."""
    x, y = _blobs(200, 200)
    with torch.inference_mode():
        det = fit_cortex(x, y, hidden=16, steps=150)
    assert (det.is_cortex(x).numpy() == y).mean() > 0.95
