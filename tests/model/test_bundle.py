"""Model bundle save/load round trip, refusal of tampered or wrong-version bundles,
and external TorchScript encoders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from cytowords.model import (
    FORMAT_VERSION,
    AreaHead,
    BundleError,
    Captioner,
    CytoEncoder,
    EncoderConfig,
    ExternalEncoder,
    HeadConfig,
    OpenSetScorer,
    PrefixProjector,
    ProjectorConfig,
    build_default_lm,
    load_bundle,
    save_bundle,
)
from cytowords.model.bundle.files import write_hashes

AREAS = ["hOc1", "4p", "44"]
PX = 32


def _parts(encoder=None, captioner=True):
    torch.manual_seed(0)
    enc = encoder or CytoEncoder(
        EncoderConfig(pixel_size_um=8.0, patch_px=PX, width=8, embed_dim=16)
    )
    d = enc.embed_dim
    head = AreaHead(HeadConfig(embed_dim=d, n_classes=len(AREAS) + 1, hidden=8, none_class=True))
    emb = torch.randn(80, d)
    lab = torch.arange(80) % (len(AREAS) + 1)
    head.set_input_stats(emb)
    head.eval()
    scorer = OpenSetScorer(d, len(AREAS) + 1, "mahalanobis+energy")
    in_scope = torch.tensor([True, True, True, False])
    with torch.no_grad():
        scorer.fit(emb, lab, in_scope=in_scope, logits=head(emb))
        scorer.calibrate(scorer.score(emb, head(emb)), 0.03)
    cap = None
    if captioner:
        lm, tok = build_default_lm(
            ["area hOc1 pale band", "area 4p Betz cells", "area 44 large pyramids"] * 3,
            vocab_size=300,
            n_layer=1,
            n_embd=32,
            n_head=2,
        )
        proj = PrefixProjector(ProjectorConfig(d, 32, k=2))
        proj.match_lm(lm)
        cap = Captioner(lm, tok, proj)
    return dict(
        encoder=enc,
        head=head,
        scorer=scorer,
        area_ids=AREAS,
        captioner=cap,
        atlas_version="test-1",
        metrics={"val_accuracy": 0.5},
    )


def _patches(n=5):
    return np.random.default_rng(0).integers(0, 256, size=(n, PX, PX), dtype=np.uint8)


def _outputs(b):
    emb = b.embed(_patches())
    probs, score, rej = b.classify(emb)
    return emb, probs, score, rej, b.caption(emb, max_new_tokens=6)


@pytest.mark.parametrize("fp16", [False, True])
def test_round_trip_identical_outputs(tmp_path, fp16):
    parts = _parts()
    drafts = ["area hOc1 pale band;", "area 4p Betz cells.", "area 44 large pyramids"]
    parts["captioner"].draft_texts = drafts
    path = save_bundle(tmp_path / "bundle", fp16=fp16, **parts)
    assert load_bundle(path).captioner.draft_texts == drafts  # drafts.txt, hashed
    assert "drafts.txt" in json.loads((path / "hashes.json").read_text())["files"]
    files = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert {
        "config.json",
        "weights.safetensors",
        "hashes.json",
        "lm/config.json",
        "lm/model.safetensors",
        "lm/tokenizer.json",
    } <= files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format"] == "cytowords-bundle" and cfg["format_version"] == FORMAT_VERSION
    assert cfg["area_ids"] == AREAS and cfg["none_class"]["enabled"] and cfg["prefix_k"] == 2
    b1, b2 = load_bundle(path), load_bundle(path, device="auto")
    o1, o2 = _outputs(b1), _outputs(b2)
    for a, b in zip(o1[:4], o2[:4]):
        assert torch.equal(a, b)
    assert o1[4] == o2[4] and all(isinstance(s, str) for s in o1[4])
    emb, probs, score, rej, _ = o1
    assert emb.shape == (5, 16) and probs.shape == (5, 3) and score.shape == rej.shape == (5,)
    assert torch.allclose(probs.sum(1), torch.ones(5)) and rej.dtype == torch.bool
    assert b1.pixel_size_um == 8.0 and b1.patch_px == PX and b1.metrics == {"val_accuracy": 0.5}
    # against the in-memory model: exact in float32, close in float16
    x = torch.from_numpy(_patches()).float()[:, None] / 255
    with torch.no_grad():
        ref = parts["encoder"].eval().embed(x)
    if fp16:
        assert torch.allclose(ref, emb, atol=0.05, rtol=0.05)
    else:
        assert torch.equal(ref, emb)
        assert b1.threshold == float(parts["scorer"].threshold)


def test_tampered_file_is_refused(tmp_path):
    path = save_bundle(tmp_path / "b", **_parts())
    w = path / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(
        BundleError,
        match=r"weights\.safetensors has been modified.*expected [0-9a-f]{64}, found [0-9a-f]{64}",
    ):
        load_bundle(path)


def test_edited_config_and_extra_file_are_refused(tmp_path):
    path = save_bundle(tmp_path / "b", **_parts(captioner=False))
    load_bundle(path)  # intact bundle without language model loads
    cfg = json.loads((path / "config.json").read_text())
    cfg["threshold"] = -1.0
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="config.json has been modified"):
        load_bundle(path)
    path2 = save_bundle(tmp_path / "c", **_parts(captioner=False))
    (path2 / "evil.pkl").write_bytes(b"x")
    with pytest.raises(BundleError, match="not listed in hashes.json: evil.pkl"):
        load_bundle(path2)


def test_wrong_format_version_and_not_a_bundle(tmp_path):
    path = save_bundle(tmp_path / "b", **_parts(captioner=False))
    cfg = json.loads((path / "config.json").read_text())
    cfg["format_version"] = FORMAT_VERSION + 98
    (path / "config.json").write_text(json.dumps(cfg))
    write_hashes(path)  # consistent hashes: only the version is wrong
    with pytest.raises(BundleError, match=f"format_version {FORMAT_VERSION + 98} is not supported"):
        load_bundle(path)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nothing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(BundleError, match="expected 'cytowords-bundle'"):
        load_bundle(tmp_path / "other")


def test_save_is_atomic_and_overwrites(tmp_path):
    parts = _parts(captioner=False)
    save_bundle(tmp_path / "b", **parts)
    save_bundle(tmp_path / "b", **parts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no temp leftovers
    with pytest.raises(ValueError, match="area_ids has 2 entries"):
        save_bundle(tmp_path / "x", **{**parts, "area_ids": AREAS[:2]})
    assert not (tmp_path / "x").exists()


class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_external_torchscript_encoder(tmp_path):
    torch.manual_seed(0)
    net = _TinyNet().eval()
    ts = tmp_path / "cytonet.pt"
    torch.jit.script(net).save(str(ts))
    enc = ExternalEncoder(ts, pixel_size_um=2.0, patch_px=PX, embed_dim=12)
    x = torch.rand(3, 1, PX, PX)
    with torch.no_grad():
        assert torch.allclose(enc.embed(x), net(x))
    assert (enc.embed_dim, enc.pixel_size_um, enc.patch_px) == (12, 2.0, PX)
    # inside a bundle, the TorchScript file travels with it
    path = save_bundle(tmp_path / "b", **_parts(encoder=enc, captioner=False))
    b = load_bundle(path)
    assert isinstance(b.encoder, ExternalEncoder) and b.pixel_size_um == 2.0
    emb = b.embed(_patches(2))
    with torch.no_grad():
        assert torch.allclose(emb, net(torch.from_numpy(_patches(2)).float()[:, None] / 255))
    with pytest.raises(ValueError, match=r"expected \(B, 7\)"):
        ExternalEncoder(ts, pixel_size_um=2.0, patch_px=PX, embed_dim=7).embed(x)
    bad = tmp_path / "not_ts.pt"
    bad.write_bytes(b"not a torchscript archive")
    with pytest.raises(ValueError, match="could not be loaded as TorchScript"):
        ExternalEncoder(bad, pixel_size_um=2.0, patch_px=PX, embed_dim=12)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ExternalEncoder(tmp_path / "missing.pt", pixel_size_um=2.0, patch_px=PX, embed_dim=12)
    # what people take for an exported network is refused, saying what it is, unpickled
    torch.save(net, tmp_path / "whole.pt")
    torch.save(net.state_dict(), tmp_path / "state.pt")
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    for name, what in (
        ("whole.pt", "is a torch.save file"),
        ("state.pt", "is a torch.save file"),
        ("w.safetensors", "is a safetensors file"),
    ):
        with pytest.raises(ValueError, match=f"{name} {what}.*torch.jit.script") as err:
            ExternalEncoder(tmp_path / name, pixel_size_um=2.0, patch_px=PX, embed_dim=12)
        assert "\n" not in str(err.value) and "corrupted" not in str(err.value)
    with pytest.raises(ValueError, match="not_ts.pt could not be loaded as TorchScript: not a zip"):
        ExternalEncoder(bad, pixel_size_um=2.0, patch_px=PX, embed_dim=12)


def test_large_lm_referenced_by_path(tmp_path):
    parts = _parts()
    cap = parts["captioner"]
    lm_dir = tmp_path / "my-llm"
    cap.lm.save_pretrained(str(lm_dir))
    cap.tokenizer.save_pretrained(str(lm_dir))
    path = save_bundle(tmp_path / "b", lm_path=lm_dir, fp16=False, **parts)
    assert not (path / "lm").exists()
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["lm"]["kind"] == "path" and cfg["lm"]["path"] == str(lm_dir.resolve())
    b = load_bundle(path)
    emb = b.embed(_patches(3))
    with torch.no_grad():
        ref = cap.eval().generate(emb, max_new_tokens=6)
    assert b.caption(emb, max_new_tokens=6) == ref
    # the referenced model changed: refused with a clear message
    conf = json.loads((lm_dir / "config.json").read_text())
    conf["num_hidden_layers"] = 3
    (lm_dir / "config.json").write_text(json.dumps(conf))
    with pytest.raises(BundleError, match="differs from the one the bundle was trained with"):
        load_bundle(path)
    with pytest.raises(ValueError, match="not a local Hugging Face model folder"):
        save_bundle(tmp_path / "c", lm_path=tmp_path / "nope", **parts)


def test_a_reloaded_bundle_saves_the_same_tokenizer_files(tmp_path, tiny_bundle):
    """A resumed training run saves a captioner whose tokenizer was loaded from disk; the
    loading options (local_files_only...) must not end up in the bundle."""
    import json

    from cytowords.model import load_bundle, save_bundle
    from tests.support.tiny_bundle import AREAS

    first = tiny_bundle
    b = load_bundle(first)
    assert b.captioner.tokenizer.init_kwargs.get("local_files_only") is True
    again = save_bundle(
        tmp_path / "b",
        encoder=b.encoder,
        head=b.head,
        scorer=b.scorer,
        area_ids=AREAS,
        captioner=b.captioner,
        atlas_version="test",
    )
    cfg = json.loads((again / "lm" / "tokenizer_config.json").read_text())
    assert "local_files_only" not in cfg and "is_local" not in cfg
    ref = (first / "lm" / "tokenizer_config.json").read_text()
    assert (again / "lm" / "tokenizer_config.json").read_text() == ref
