"""Area head and open-set scorer on toy Gaussian clusters."""

from __future__ import annotations

import pytest
import torch

from cytowords.model import AreaHead, HeadConfig, OpenSetScorer
from cytowords.model.head import SCORE_MODES
from cytowords.training.fit import fit_head, fit_scorer

D, C = 8, 4


def _clusters(n_per: int, seed: int, centres: torch.Tensor | None = None):
    g = torch.Generator().manual_seed(seed)
    if centres is None:
        centres = torch.randn(C, D, generator=torch.Generator().manual_seed(42)) * 4
    # anisotropic shared covariance
    scale = torch.linspace(0.3, 1.5, D)
    x = torch.cat([centres[c] + torch.randn(n_per, D, generator=g) * scale for c in range(C)])
    y = torch.arange(C).repeat_interleave(n_per)
    return x, y, centres


def test_mahalanobis_scores_and_calibration():
    x, y, centres = _clusters(300, 0)
    sc = OpenSetScorer(D, C).fit(x, y)
    xin, _, _ = _clusters(200, 1)
    s_in = sc.score(xin)
    far = (
        centres.mean(0) + torch.randn(100, D, generator=torch.Generator().manual_seed(3)) * 0.5 + 12
    )
    s_far = sc.score(far)
    assert s_in.median() < 1.0 and s_far.min() > s_in.max()
    xval, _, _ = _clusters(250, 2)
    thr = sc.calibrate(sc.score(xval), 0.03)
    assert thr == pytest.approx(float(sc.threshold))
    share = float(sc.reject(sc.score(xval)).float().mean())
    assert abs(share - 0.03) <= 0.005
    assert sc.reject(s_far).all()
    assert abs(float(sc.reject(s_in).float().mean()) - 0.03) < 0.03  # held-out in-scope
    with pytest.raises(ValueError, match="reject_share"):
        sc.calibrate(s_in, 1.5)


def test_scorer_state_is_plain_tensors_and_round_trips():
    x, y, _ = _clusters(100, 0)
    sc = OpenSetScorer(D, C).fit(x, y)
    sc.calibrate(sc.score(x), 0.05)
    sd = sc.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    sc2 = OpenSetScorer(D, C)
    sc2.load_state_dict(sd)
    assert torch.equal(sc.score(x), sc2.score(x)) and float(sc2.threshold) == float(sc.threshold)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="expected one of"):
        OpenSetScorer(D, C, mode="cosine")


@pytest.mark.parametrize("mode", [m for m in SCORE_MODES if m not in ("none_odds", "novelty")])
def test_fit_head_and_scorer_modes(mode):
    torch.manual_seed(0)
    x, y, centres = _clusters(200, 0)
    head = AreaHead(HeadConfig(embed_dim=D, n_classes=C, hidden=16 if "msp" in mode else 0))
    xv, yv, _ = _clusters(100, 5)
    res = fit_head(head, x, y, steps=120, lr=1e-2, val=(xv, yv))
    assert res.extra["val_accuracy"] > 0.95
    assert res.mean_loss(last=10) < res.mean_loss(first=10)
    sc = fit_scorer(head, x, y, xv, mode=mode, reject_share=0.05)
    far = centres.mean(0) + 15 + torch.randn(50, D)
    with torch.no_grad():
        s_far = sc.score(far, head(far))
        s_val = sc.score(xv, head(xv))
    assert float(sc.reject(s_val).float().mean()) == pytest.approx(0.05, abs=0.01)
    if mode.startswith("mahalanobis"):
        assert float(sc.reject(s_far).float().mean()) > 0.9


def test_none_class_is_excluded_from_scorer():
    x, y, _ = _clusters(100, 0)
    head = AreaHead(HeadConfig(embed_dim=D, n_classes=C, none_class=True))  # class C-1 = none
    fit_head(head, x, y, steps=50)
    sc = fit_scorer(head, x, y, x[y < C - 1])
    assert sc.class_used.tolist() == [True] * (C - 1) + [False]
    # points of the none cluster look unfamiliar to the in-scope scorer
    with torch.no_grad():
        assert sc.score(x[y == C - 1]).median() > sc.threshold


def test_msp_none_counts_the_none_class_mass():
    """msp renormalises over the areas; msp_none lets the none class (outlier exposure)
    lower the top area probability of unfamiliar inputs."""
    torch.manual_seed(0)
    x, y, _ = _clusters(100, 0)
    head = AreaHead(HeadConfig(embed_dim=D, n_classes=C, none_class=True))
    fit_head(head, x, y, steps=150, lr=1e-2)
    none_pts = x[y == C - 1]
    raw = {}
    for mode in ("msp", "msp_none"):
        sc = fit_scorer(head, x, y, x[y < C - 1], mode=mode)
        with torch.no_grad():
            raw[mode] = sc._logit_score(head(none_pts)).mean().item()
    assert raw["msp_none"] > 0.5 and raw["msp_none"] > raw["msp"] + 0.2


def test_none_odds_is_the_log_odds_of_the_none_class():
    """none_odds = log p(none) - log(1 - p(none)) of the head's softmax: high on points of
    the none cluster, low on the areas; refused for a head without a none class."""
    torch.manual_seed(0)
    x, y, _ = _clusters(100, 0)
    head = AreaHead(HeadConfig(embed_dim=D, n_classes=C, none_class=True))
    fit_head(head, x, y, steps=150, lr=1e-2)
    sc = fit_scorer(head, x, y, x[y < C - 1], mode="none_odds", reject_share=0.05)
    with torch.no_grad():
        logits = head(x)
        p_none = torch.softmax(logits.double(), 1)[:, -1]
        raw = sc._logit_score(logits).double()
        s_none, s_in = (
            sc.score(x[y == C - 1], head(x[y == C - 1])),
            sc.score(x[y < C - 1], head(x[y < C - 1])),
        )
    assert torch.allclose(raw, torch.log(p_none / (1 - p_none)), atol=1e-4)
    assert s_none.min() > s_in.max()
    assert sc.reject(s_none).all()
    plain = AreaHead(HeadConfig(embed_dim=D, n_classes=C))
    fit_head(plain, x, y, steps=20)
    with pytest.raises(ValueError, match="needs a head whose last class is the\\s+learned none"):
        fit_scorer(plain, x, y, x, mode="none_odds")


def test_fit_head_bad_labels():
    head = AreaHead(HeadConfig(embed_dim=D, n_classes=C))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        fit_head(head, torch.randn(5, D), torch.tensor([0, 1, 2, 3, 4]))


def test_run_scorer_calibrates_only_on_the_masked_validation_patches(tmp_path):
    """calibrate_on_sections: the threshold is set on section patches only, so the
    easier rendered fields (here: the validation points near their class means) do not
    pull it down."""
    from cytowords.training.presets import Preset
    from cytowords.training.stages.scorer import run_scorer

    x, y, _ = _clusters(100, 0)
    head = AreaHead(HeadConfig(embed_dim=D, n_classes=C + 1, none_class=True))
    fit_head(head, x, y, steps=50)
    xv, yv, _ = _clusters(100, 5)
    hard = torch.zeros(len(yv), dtype=torch.bool)
    hard[::2] = True
    xv = torch.where(hard[:, None], xv * 1.6, xv)  # "section" patches: farther out
    p = Preset(name="t", embed_dim=D, scorer_mode="mahalanobis", reject_share=0.05)
    emb, lab = {"train": x, "val": xv}, {"train": y, "val": yv}
    joint = run_scorer(p, head, C, emb, lab, tmp_path / "a")
    masked = run_scorer(p, head, C, emb, lab, tmp_path / "b", calibrate=hard)
    with torch.no_grad():
        rej = masked.reject(masked.score(xv, head(xv)))
        rej_joint = joint.reject(joint.score(xv, head(xv)))
    assert float(masked.threshold) > float(joint.threshold)
    assert float(rej[hard].float().mean()) == pytest.approx(0.05, abs=0.02)
    assert float(rej_joint[hard].float().mean()) > 0.07  # joint: the hard half pays
    assert (tmp_path / "b" / "scorer.safetensors").is_file()


def test_novelty_mode_learns_fictitious_from_known_fields():
    """novelty: an MLP trained on fictitious-area fields (labelled none, flagged novel)
    against the in-scope fields scores unseen points between known clusters high; it is
    refused without flagged fields, and its weights travel in the state dict."""
    torch.manual_seed(0)
    x, y, centres = _clusters(200, 0)  # class C - 1 plays the none class (white matter)
    head = AreaHead(HeadConfig(embed_dim=D, n_classes=C, none_class=True))
    fit_head(head, x, y, steps=100, lr=1e-2)
    g = torch.Generator().manual_seed(3)
    mid = centres[:2].mean(0)
    fict = mid + torch.randn(150, D, generator=g) * 0.5
    emb = torch.cat([x, fict])
    lab = torch.cat([y, torch.full((150,), C - 1)])
    novel = torch.cat([torch.zeros(len(x), dtype=torch.bool), torch.ones(150, dtype=torch.bool)])
    xv, yv, _ = _clusters(80, 5)
    val_in = xv[yv < C - 1]
    sc = fit_scorer(head, emb, lab, val_in, mode="novelty", reject_share=0.05, novel=novel)
    unseen = mid + torch.randn(60, D, generator=g) * 0.5
    with torch.no_grad():
        s_in, s_un = sc.score(val_in), sc.score(unseen)
    assert float(sc.reject(s_in).float().mean()) == pytest.approx(0.05, abs=0.02)
    assert float(sc.reject(s_un).float().mean()) > 0.9
    sc2 = OpenSetScorer(D, C, "novelty")
    sc2.load_state_dict(sc.state_dict())
    torch.testing.assert_close(sc2.score(unseen), s_un)
    with pytest.raises(ValueError, match="needs training fields of fictitious areas"):
        fit_scorer(head, emb, lab, val_in, mode="novelty")
