"""The dense encoder architecture: per-field and dense evaluation agree (positions, chunks,
test-time views), the receptive field fits the context, bundles keep both architectures,
and training reads fields with the encoder's context."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cytowords.model import CytoEncoder, EncoderConfig, load_bundle, save_bundle
from cytowords.model.tta import dense_embed_views, embed_views
from cytowords.training.data.patches import PatchConfig, sample_section
from cytowords.training.data.spec import labelled_section
from cytowords.training.presets import PRESETS
from tests.model.test_bundle import _parts
from tests.support.training_sections import AREAS, PX, persisted_section


def _dense(dilations=(1,), patch_px=16, seed=0) -> CytoEncoder:
    """A small dense encoder with random weights and random BatchNorm statistics (so the
    evaluation-mode normalisation is not the identity)."""
    torch.manual_seed(seed)
    enc = CytoEncoder(
        EncoderConfig(
            pixel_size_um=64.0,
            patch_px=patch_px,
            width=8,
            embed_dim=16,
            arch="dense",
            dilations=dilations,
        )
    )
    for m in enc.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return enc.eval()


def _image(h: int, w: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 1, h, w, generator=g)


def test_context_is_the_receptive_field_rounded_to_the_stride():
    for dil in [(1,), (1, 2), (2, 4)]:
        enc = _dense(dil)
        net = enc.dense
        assert enc.context_px % enc.feature_stride_px == 0
        assert net.reach_px <= enc.context_px < net.reach_px + enc.feature_stride_px
        assert enc.input_px == enc.patch_px + 2 * enc.context_px
        # the field's embedding depends on exactly the pixels within reach of its window
        x = _image(enc.input_px, enc.input_px).requires_grad_(True)
        enc.embed(x)[0].sum().backward()
        rows = torch.nonzero(x.grad[0, 0].abs().sum(1) > 0).flatten()
        lo, hi = enc.context_px, enc.context_px + enc.patch_px - 1
        assert lo - int(rows.min()) == net.reach_px
        assert int(rows.max()) - hi == net.reach_px
        assert not x.grad[1].any()  # fields of a batch stay apart


@torch.no_grad()
def test_dense_embed_equals_per_field_embed_at_every_position():
    enc = _dense((1, 2))
    s, n = enc.feature_stride_px, enc.input_px
    # 3 trailing rows / columns hold no whole field and are ignored
    x = _image(n + 5 * s + 3, n + 7 * s + 3)
    d = enc.dense_embed(x)
    assert d.shape == (2, 16, 6, 8)
    # every field cut out with its context, embedded in one batch
    fields = x.unfold(2, n, s).unfold(3, n, s)  # (2, 1, 6, 8, n, n)
    per_field = enc.embed(fields.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, n, n))
    per_field = per_field.reshape(2, 6, 8, 16).permute(0, 3, 1, 2)
    torch.testing.assert_close(d, per_field, atol=1e-4, rtol=1e-4)
    # the same field read with a shifted context is a different field (not position-blind)
    assert (d[:, :, 0, 0] - d[:, :, 0, 1]).abs().max() > 1e-3


@torch.no_grad()
def test_dense_maps_do_not_depend_on_the_chunking():
    enc = _dense((1,))
    s, n = enc.feature_stride_px, enc.input_px
    x = _image(n + 9 * s, n + 4 * s, seed=3)
    whole = enc.dense_embed(x)
    # two overlapping chunks: outputs 0..5 and 6..9, each chunk with its full context
    top = enc.dense_embed(x[..., : n + 5 * s, :])
    bottom = enc.dense_embed(x[..., 6 * s :, :])
    stitched = torch.cat([top, bottom], dim=2)
    assert stitched.shape == whole.shape
    torch.testing.assert_close(stitched, whole, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("views", [2, 4, 8])
@torch.no_grad()
def test_dense_views_equal_per_field_views(views):
    enc = _dense((1,))
    s, n = enc.feature_stride_px, enc.input_px
    x = _image(n + 3 * s + 2, n + 5 * s + 1, seed=5)  # non-square, ragged edges
    d = dense_embed_views(enc, x, views)
    assert d.shape == (2, 16, 4, 6)
    for i, j in [(0, 0), (3, 5), (1, 4), (2, 0)]:
        field = x[..., i * s : i * s + n, j * s : j * s + n]
        want = embed_views(enc, field, views)
        torch.testing.assert_close(d[:, :, i, j], want, atol=1e-4, rtol=1e-4)
    # the views matter: one view differs from the average
    assert (enc.dense_embed(x[..., : n + 3 * s, : n + 5 * s]) - d).abs().max() > 1e-3


def test_field_architecture_has_no_context_and_no_dense_path():
    cfg = EncoderConfig.from_dict(
        {"pixel_size_um": 64.0, "patch_px": 64, "width": 8, "embed_dim": 16}
    )
    assert cfg.arch == "field" and cfg.context_px == 0 and cfg.input_px == 64
    assert set(cfg.to_dict()) == {"pixel_size_um", "patch_px", "width", "embed_dim"}
    enc = CytoEncoder(cfg)
    assert not enc.supports_dense and enc.context_px == 0 and enc.input_px == 64
    with pytest.raises(NotImplementedError, match="field architecture"):
        enc.dense_embed(torch.rand(1, 1, 128, 128))
    with pytest.raises(ValueError, match="arch 'sparse'"):
        EncoderConfig(arch="sparse")
    with pytest.raises(ValueError, match="multiple of the feature stride"):
        EncoderConfig(patch_px=30, arch="dense")


def test_dense_encoder_refuses_fields_without_their_context():
    enc = _dense((1,))
    with pytest.raises(ValueError, match=rf"\(B, 1, {enc.input_px}, {enc.input_px}\).*input_px"):
        enc.embed(torch.rand(1, 1, enc.patch_px, enc.patch_px))
    with pytest.raises(ValueError, match=f">= {enc.input_px} px"):
        enc.dense_embed(torch.rand(1, 1, enc.input_px - 4, 500))


def test_field_architecture_embeds_unchanged(tmp_path):
    """Bundles of the per-field architecture (no context, per-patch normalisation) keep
    loading and embedding as they did: a seeded field encoder through a saved bundle."""
    torch.manual_seed(3)
    enc = CytoEncoder(EncoderConfig(pixel_size_um=64.0, patch_px=64, width=8, embed_dim=16))
    save_bundle(tmp_path / "field", **_parts(encoder=enc, captioner=False))
    b = load_bundle(tmp_path / "field", captioner=False)
    assert b.encoder.config.arch == "field" and not b.encoder.supports_dense
    assert b.read_px == b.patch_px == 64 and b.encoder.context_px == 0
    x = np.random.default_rng(7).integers(0, 256, size=(2, 64, 64), dtype=np.uint8)
    # embeddings written down once (torch 2.13, CPU): a change here changes old bundles
    want = [
        [0.2606, -0.5315, -0.2906, 0.0090, 0.0154, 0.2466],
        [0.2863, -0.2893, -0.2435, -0.1070, 0.0463, 0.2479],
    ]
    got = b.embed(x, views=1)[:, :6]
    torch.testing.assert_close(got, torch.tensor(want), atol=2e-4, rtol=0)
    assert not torch.allclose(b.embed(x, views=8), b.embed(x, views=1))


@torch.no_grad()
def test_dense_bundle_round_trip(tmp_path):
    enc = _dense((1, 2), patch_px=32)
    path = save_bundle(tmp_path / "b", fp16=False, **_parts(encoder=enc, captioner=False))
    cfg = json.loads((path / "config.json").read_text())["encoder"]
    assert cfg["arch"] == "dense" and cfg["dilations"] == [1, 2] and cfg["lcn_um"] == 512.0
    b = load_bundle(path)
    assert b.encoder.config == enc.config and b.encoder.supports_dense
    assert b.read_px == enc.input_px == 32 + 2 * enc.context_px
    fields = np.random.default_rng(0).integers(0, 256, (3, b.read_px, b.read_px), np.uint8)
    x = torch.from_numpy(fields).float()[:, None] / 255
    assert torch.equal(b.embed(fields, views=1), enc.embed(x))
    big = _image(b.read_px + 12, b.read_px + 8)
    assert torch.equal(b.encoder.dense_embed(big), enc.dense_embed(big))


def test_presets_default_to_the_field_encoder_and_a_dense_preset_reads_context():
    fields = [p for name, p in PRESETS.items() if name != "dense-cpu"]
    assert all(p.encoder_arch == "field" and p.read_px == p.patch_px for p in fields)
    dense = PRESETS["dense-cpu"]
    assert dense.encoder_arch == "dense" and dense.read_px == dense.encoder_config().input_px
    assert dense.read_px > dense.patch_px and dense.pretrain_precision == "fp32"
    p = PRESETS["smoke"].with_(encoder_arch="dense", encoder_dilations=(1,))
    cfg = p.encoder_config()
    assert cfg.arch == "dense" and p.read_px == cfg.input_px > p.patch_px
    assert CytoEncoder(cfg).input_px == p.read_px
    # run folders keep their settings: field presets write no architecture keys
    assert "encoder_arch" not in PRESETS["default"].to_dict()
    assert type(p).from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError, match="preset 'smoke'.*multiple of the feature stride"):
        PRESETS["smoke"].with_(encoder_arch="dense", patch_px=30)


def test_training_fields_are_read_with_context_around_the_same_patch(tmp_path):
    ls = labelled_section(persisted_section(tmp_path, 0), brain="B0", split="train")
    plain = PatchConfig(pixel_size_um=PX, patch_px=32, n_per_area=4, none_share=0.3)
    wide = PatchConfig(**{**plain.__dict__, "context_px": 12})
    a, b = sample_section(ls, AREAS, plain), sample_section(ls, AREAS, wide)
    assert wide.read_px == 56 and b.patches.shape[1:] == (56, 56)
    # same fields, labels and centres; the central window is the plain patch
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.positions_um, b.positions_um)
    np.testing.assert_array_equal(b.patches[:, 12:44, 12:44], a.patches)
