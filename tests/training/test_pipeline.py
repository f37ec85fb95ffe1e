"""The training pipeline end to end: stages, resume, cancel, loss going down, bundles."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from cytowords.jobs import Cancelled
from cytowords.model import load_bundle
from cytowords.model.domain import DOMAIN_FILE, DomainModel
from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead
from cytowords.training.data.spec import LabelledSection
from cytowords.training.mining import REJECTION_CAPTION, parse_area
from cytowords.training.pipeline import train
from cytowords.training.presets import PRESETS, Preset
from tests.support.training_sections import AREAS, in_memory_section

TINY = Preset(
    name="tiny",
    pixel_size_um=64.0,
    patch_px=32,
    width=8,
    embed_dim=32,
    n_per_area=12,
    n_per_area_val=5,
    none_share=0.3,
    min_purity=0.9,
    pretrain_steps=25,
    pretrain_pairs=16,
    pos_radius_um=1500.0,
    pretrain_positives="spatial",
    head_hidden=0,
    head_steps=150,
    lm_vocab=300,
    lm_layers=1,
    lm_dim=32,
    lm_heads=2,
    prefix_k=2,
    caption_steps=60,
    caption_batch=16,
    caption_lr=5e-3,
    eval_captions_per_area=2,
    threads=1,
    scale_head_fields=40,
    scale_head_draws=2,
)


def _sections() -> list[LabelledSection]:
    out = []
    for brain, split in ((0, "train"), (1, "train"), (2, "val")):
        sec = in_memory_section(brain)
        out.append(LabelledSection(sec, f"B{brain}", split, sec.labels["areas"]))
    return out


def test_cancel_leaves_no_bundle_and_resume_skips_finished_stages(tmp_path):
    out = tmp_path / "run"
    cancel = threading.Event()
    seen: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append(stage)
        if stage == "head":
            cancel.set()

    with pytest.raises(Cancelled):
        train(TINY, out, data=_sections(), on_progress=progress, cancel=cancel, device="cpu")
    assert not (out / "bundle").exists()
    state = json.loads((out / "run.json").read_text())
    assert state["done"] == {"data": True, "encoder": True}
    enc_log = out / "encoder" / "losses.json"
    mtime = enc_log.stat().st_mtime_ns

    # cancelled again once the captioner starts: the domain stage is done and kept
    cancel.clear()
    seen.clear()

    def at_captioner(stage: str, done: int, total: int) -> None:
        seen.append(stage)
        if stage == "captioner":
            cancel.set()

    with pytest.raises(Cancelled):
        train(TINY, out, data=_sections(), on_progress=at_captioner, cancel=cancel)
    assert "encoder" not in seen and "head" in seen  # the cancelled stage ran again
    assert enc_log.stat().st_mtime_ns == mtime  # the finished stage was not re-run
    state = json.loads((out / "run.json").read_text())
    assert state["done"].get("domain") and not state["done"].get("captioner")
    assert state["done"].get("scale_head")
    domain_file = out / "domain" / DOMAIN_FILE
    domain_mtime = domain_file.stat().st_mtime_ns
    assert not (out / "domain" / "vision").exists()  # the stage's vision bundle is gone
    scale_file = out / "scale_head" / SCALE_HEAD_FILE
    scale_mtime = scale_file.stat().st_mtime_ns
    assert not (out / "scale_head" / "vision").exists()

    seen.clear()
    bundle_dir = train(TINY, out, data=_sections(), on_progress=progress_no_cancel(seen))
    assert "head" not in seen and "captioner" in seen and "scale_head" not in seen
    assert enc_log.stat().st_mtime_ns == mtime  # the finished stages were not re-run
    assert domain_file.stat().st_mtime_ns == domain_mtime
    assert scale_file.stat().st_mtime_ns == scale_mtime
    state = json.loads((out / "run.json").read_text())
    assert all(
        state["done"][s]
        for s in ("data", "encoder", "head", "scorer", "domain", "scale_head", "captioner")
    )
    # the scale head went into the bundle (hash-checked): fitted on the train sections'
    # cortex fields, its band from the validation section
    from cytowords.model.bundle.files import verify_hashes

    verify_hashes(bundle_dir)
    sh = load_bundle(bundle_dir, captioner=False).scale_head
    fitted = ScaleHead.load(scale_file)
    assert sh is not None and np.array_equal(sh.weight, fitted.weight) and sh.band == fitted.band
    assert sh.embed_dim == TINY.embed_dim and sh.band[0] <= sh.band[1]
    assert sh.info["train_brains"] == ["B0", "B1"] and sh.info["val_brains"] == ["B2"]
    assert sh.info["train_fields"] == 2 * 40 and sh.info["val_fields"] == 40
    cfg = json.loads((bundle_dir / "config.json").read_text())
    assert cfg["scale_head"]["band_log"] == [round(v, 4) for v in sh.band]
    # the domain model went into the bundle: fitted on the train sections, its cutoff the
    # 99th percentile of the validation section's distances
    dom = load_bundle(bundle_dir, captioner=False).domain
    fitted = DomainModel.load(domain_file)
    assert torch.equal(dom.means, fitted.means) and dom.info == fitted.info
    dist = np.load(out / "domain" / "validation_distances.npy")
    assert dom is not None and dom.info["train_brains"] == ["B0", "B1"]
    assert dom.info["val_brains"] == ["B2"] and dom.info["val_fields"] == len(dist) == 4 * 96
    assert dom.cutoff == pytest.approx(float(np.quantile(dist, 0.99)))
    assert 0.9 * 2 * TINY.domain_fields <= dom.info["fields"] <= 2 * TINY.domain_fields

    # a loadable bundle with the expected areas and metrics
    b = load_bundle(bundle_dir)
    assert b.area_ids == AREAS and b.none_class
    assert b.rejection_caption == REJECTION_CAPTION
    # the captioner's draft texts: the clauses of its training captions and the templates
    drafts = b.captioner.draft_texts
    assert REJECTION_CAPTION in drafts and "A distinct layer IV." in drafts
    assert any(t.startswith("Area hOc1") for t in drafts)
    m = b.metrics
    for k in ("val_accuracy", "val_label_match", "val_false_rejection", "seconds"):
        assert k in m
    assert m["splits"] == {"train": ["B0", "B1"], "val": ["B2"]}
    # the three areas differ a lot: the head separates them on the unseen val brain
    assert m["val_accuracy"] > 0.5  # chance: 1/3

    # captioner and encoder losses went down
    for stage in ("captioner", "encoder"):
        losses = json.loads((out / stage / "losses.json").read_text())["losses"]
        assert np.mean(losses[-5:]) < np.mean(losses[:5]), stage

    # captions go through ModelBundle (embedding + head probabilities as input)
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 255, (2, 32, 32), dtype=np.uint8)
    caps = b.caption(b.embed(patches), max_new_tokens=20)
    assert len(caps) == 2 and all(isinstance(c, str) for c in caps)
    assert parse_area(REJECTION_CAPTION, __import__("cytowords.atlas").atlas.load_atlas()) == (
        "__none__"
    )

    # a finished run returns at once
    assert train(TINY, out, data=_sections()) == bundle_dir
    with pytest.raises(ValueError, match="different settings"):
        train(TINY.with_(head_steps=10), out, data=_sections())


def progress_no_cancel(seen: list[str]):
    def progress(stage: str, done: int, total: int) -> None:
        seen.append(stage)

    return progress


def test_presets_have_disjoint_brain_splits():
    from cytowords.training.presets import TEST_BRAINS

    for p in PRESETS.values():
        assert not set(p.train_brains) & set(p.val_brains)
        assert not (set(p.train_brains) | set(p.val_brains)) & set(TEST_BRAINS)
        assert not set(p.rendered_brains) & (set(p.val_brains) | set(TEST_BRAINS))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tta_views": 3}, "tta_views 3; expected 1, 2, 4 or 8"),
        ({"pretrain_precision": "fp16"}, "pretrain_precision 'fp16'; expected 'fp32' or 'bf16'"),
        (
            {"pretrain_precision": "bf16", "pretrain_objective": "contrastive"},
            "for the classification objective only",
        ),
    ],
)
def test_preset_refuses_bad_views_and_precision(change, message):
    with pytest.raises(ValueError, match=message):
        PRESETS["smoke"].with_(**change)


def test_needs_a_validation_brain(tmp_path):
    secs = [s for s in _sections() if s.split == "train"]
    with pytest.raises(ValueError, match="at least one train brain and one val brain"):
        train(TINY, tmp_path / "r", data=secs)


@pytest.mark.slow
def test_smoke_preset_end_to_end(tmp_path):
    """The synthetic smoke preset: virtual brains -> data/patches.py -> all stages -> bundle."""
    bundle_dir = train("smoke", tmp_path / "smoke", device="cpu")
    b = load_bundle(bundle_dir)
    assert len(b.area_ids) == 8 and b.patch_px == 32
    m = json.loads((tmp_path / "smoke" / "metrics.json").read_text())
    assert set(m["splits"]["train"]) == {"synth-0", "synth-1"}
    assert m["splits"]["val"] == ["synth-100"]
    assert m["seconds"]["total"] < 300
    # the domain stage: fitted on the training brains, calibrated on the validation brain
    assert b.domain is not None and b.domain.cutoff == m["domain_cutoff"]
    assert b.domain.info["train_brains"] == [0, 1] and b.domain.info["val_brains"] == [100]
    # the scale head: 60 cortex fields of each training brain's virtual section (at 32
    # µm/px), its band from 4 draws on the validation brain
    sh = b.scale_head
    assert sh is not None and sh.info["train_brains"] == [0, 1] and sh.info["val_brains"] == [100]
    assert sh.info["train_fields"] == 2 * 60 and sh.info["band_sections"] <= 4
    assert sh.info["section_pixel_um"] == 32.0 and sh.band[0] <= sh.band[1]
    assert "scale_head" in m["seconds"]
    # test-time views: a threshold calibrated for 1 and for 2 views, 2 used by default
    cfg = json.loads((bundle_dir / "config.json").read_text())
    assert cfg["tta"]["views"] == 2 and set(cfg["tta"]["thresholds"]) == {"1", "2"}
    assert b.views == 2 and b.threshold == m["threshold"] == cfg["tta"]["thresholds"]["2"]
    # the non-cortex level per view count: from the validation none fields, never below
    # the rejection threshold
    levels = cfg["tta"]["noncortex"]
    assert set(levels) == {"1", "2"}
    assert all(levels[k] >= cfg["tta"]["thresholds"][k] for k in levels)
    assert b.noncortex_level() == levels["2"]
    # fields rendered by the generator joined the sections: areas, none fields, novel areas
    from cytowords.training.data.patches import PatchSet

    rendered, _ = PatchSet.load(tmp_path / "smoke" / "data" / "train_rendered.npz")
    assert len(rendered) == 2 * 8 * 2 + round(0.12 * 16) * 2 + 8 * 2
    assert (rendered.labels == "__none__").sum() >= 8 * 2
    # the cortex detector: fitted on area and fictitious-area fields (cortex) against the
    # other none fields, kept in the bundle, its validation rates in the metrics
    from cytowords.training.data.synthetic import is_novel

    assert is_novel(rendered.sections).sum() == 8 * 2
    info = json.loads((tmp_path / "smoke" / "cortex" / "cortex.json").read_text())
    assert info["enabled"] and info["n_novel"] == 8 * 2
    # structureless tissue joined the non-cortex side, never more than the other fields
    n_other = info["n_noncortex"] - info["n_structureless"]
    assert info["n_structureless"] == min(4000, n_other) > 0
    assert 0.0 <= m["val_structureless_detected"] <= 1.0
    assert b.cortex is not None and cfg["cortex"]["embed_dim"] == b.embed_dim
    assert 0.0 <= m["val_cortex_recall"] <= 1.0 and 0.0 <= m["val_noncortex_detected"] <= 1.0
    assert (tmp_path / "smoke" / "data" / "val_rendered.npz").is_file()
    # supervised (classification) pretraining: its loss log is kept and it went down
    enc_log = json.loads((tmp_path / "smoke" / "encoder" / "losses.json").read_text())
    assert len(enc_log["losses"]) == 30
    assert sum(enc_log["losses"][-5:]) < sum(enc_log["losses"][:5])


class _TinyNet(torch.nn.Module):
    """Stands in for a real CytoNet exported as TorchScript: (B,1,H,W) -> (B,16)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 16, 5, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        return torch.cat([h.mean((2, 3))[:, :8], h.amax((2, 3))[:, :8]], 1)


def test_torchscript_encoder_skips_pretraining(tmp_path):
    torch.manual_seed(0)
    ts = tmp_path / "cytonet.pt"
    torch.jit.script(_TinyNet().eval()).save(str(ts))
    preset = TINY.with_(encoder_torchscript=str(ts), embed_dim=16, caption_steps=5)
    bundle_dir = train(preset, tmp_path / "run", data=_sections(), device="cpu")
    assert not (tmp_path / "run" / "encoder" / "losses.json").exists()
    cfg = json.loads((bundle_dir / "config.json").read_text())
    assert cfg["encoder"]["kind"] == "torchscript" and cfg["encoder"]["embed_dim"] == 16
    b = load_bundle(bundle_dir)
    assert b.embed(np.zeros((2, 32, 32), np.uint8)).shape == (2, 16)


def test_noncortex_levels_from_validation_none_fields(tiny_bundle):
    from cytowords.training.stages.scorer import noncortex_levels
    from tests.support.tiny_bundle import AREAS

    b = load_bundle(tiny_bundle)
    n = len(AREAS)
    torch.manual_seed(1)
    views = torch.randn(2, 60, b.embed_dim)
    labels = torch.tensor([n] * 30 + list(range(n)) * 6)
    levels = noncortex_levels(b.head, b.scorer, views, labels, n, {1: -1e9, 2: -1e9})
    for k in (1, 2):
        e = views[:k].mean(0)[:30]
        with torch.no_grad():
            s = b.scorer.score(e, b.head(e))
        assert levels[k] == pytest.approx(float(torch.quantile(s, 0.05, interpolation="lower")))
        assert (s >= levels[k]).float().mean() >= 0.95
    # never below the rejection threshold; a single view (N, D) gives the 1-view level
    high = noncortex_levels(b.head, b.scorer, views[0], labels, n, {1: 1e9, 2: 1e9})
    assert high == {1: 1e9}
    # too few non-cortex fields to set a level
    few = labels.clone()
    few[4:30] = 0
    assert noncortex_levels(b.head, b.scorer, views, few, n, {1: 0.0}) == {}
    assert set(noncortex_levels(b.head, b.scorer, views, labels, n, {1: 0.0})) == {1}


def test_presets_at_the_domain_defaults_write_run_json_as_before():
    """Run folders started before the domain and scale-head stages resume (their run.json
    has no keys of them): the keys are written only when a preset changes them."""
    scale_keys = ("scale_head_brains", "scale_head_fields", "scale_head_draws")
    for name in ("default", "dense-cpu", "gpu-large", "llm"):
        d = PRESETS[name].to_dict()
        assert "domain_fields" not in d and "domain_draws" not in d
        assert not set(scale_keys) & set(d), name
    d = PRESETS["default"].to_dict()
    back = Preset.from_dict(json.loads(json.dumps(d)))
    assert back == PRESETS["default"].with_(render_workers=1)  # (not in run.json)
    smoke = PRESETS["smoke"].to_dict()
    assert (smoke["domain_fields"], smoke["domain_draws"]) == (60, 1)
    assert (smoke["scale_head_fields"], smoke["scale_head_draws"]) == (60, 4)
    assert "scale_head_brains" not in smoke  # all (both) of its training brains
    with pytest.raises(ValueError, match="domain_draws 0 must be at least 1"):
        PRESETS["smoke"].with_(domain_draws=0)
    with pytest.raises(ValueError, match="scale_head_draws 0 must be at least 1"):
        PRESETS["smoke"].with_(scale_head_draws=0)
