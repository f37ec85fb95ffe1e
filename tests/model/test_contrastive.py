"""Encoder shapes and spatial contrastive pretraining on a smooth random image."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from cytowords.model import CytoEncoder, EncoderConfig, PatchEncoder, augment
from cytowords.model.contrastive import spatial_contrastive_loss
from cytowords.training.fit import pretrain_encoder, pretrain_encoder_supervised

PX = 32


def _image(seed: int = 0, size: int = 384) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    coarse = gaussian_filter(rng.normal(size=(size, size)), 24)
    fine = gaussian_filter(rng.normal(size=(size, size)), 1.5)
    img = (
        coarse / coarse.std() * 0.15
        + fine / fine.std() * 0.1 * (1 + np.sin(np.arange(size) / 20))[None]
    )
    return torch.from_numpy(np.clip(0.5 + img, 0, 1).astype(np.float32))


def _batches(img: torch.Tensor, n: int = 48):
    size = img.shape[0]

    def fn(step: int):
        g = torch.Generator().manual_seed(step)
        yx = torch.randint(0, size - PX, (n, 2), generator=g)
        # half of the batch: close neighbours of the other half
        yx[n // 2 :] = (yx[: n // 2] + torch.randint(-6, 7, (n // 2, 2), generator=g)).clamp(
            0, size - PX
        )
        patches = torch.stack([img[y : y + PX, x : x + PX] for y, x in yx.tolist()])[:, None]
        return patches, yx.float()  # 1 µm per pixel

    return fn


def _neighbour_top1(enc, batches) -> float:
    """Share of patches whose spatial neighbour is their nearest embedding (chance 1/24)."""
    enc.eval()
    with torch.no_grad():
        tops = []
        for k in range(4):
            p, _ = batches(10_000 + k)
            z = F.normalize(enc.embed(p), dim=1)
            h = len(z) // 2
            tops.append((z[:h] @ z[h:].t()).argmax(1) == torch.arange(h))
    return float(torch.cat(tops).float().mean())


def test_encoder_shapes_and_protocol():
    torch.manual_seed(0)
    enc = CytoEncoder(EncoderConfig(pixel_size_um=2.0, patch_px=64, width=8, embed_dim=24))
    assert isinstance(enc, PatchEncoder)
    out = enc.embed(torch.rand(3, 1, 64, 64))
    assert out.shape == (3, 24) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r"expected \(B, 1, H, W\)"):
        enc.embed(torch.rand(3, 64, 64))


def test_augment_keeps_range_and_shape():
    x = torch.rand(5, 1, 16, 16)
    y = augment(x, generator=torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert not torch.equal(x, y)


def test_loss_prefers_spatially_consistent_embeddings():
    pos = torch.tensor([[0.0, 0], [1, 0], [100, 0], [101, 0]])
    good = torch.tensor([[1.0, 0], [1, 0.1], [0, 1], [0.1, 1]])
    bad = good[[0, 2, 1, 3]]
    lg = spatial_contrastive_loss(good, pos, pos_radius_um=5)
    lb = spatial_contrastive_loss(bad, pos, pos_radius_um=5)
    assert lg < lb
    with pytest.raises(ValueError, match="no pair"):
        spatial_contrastive_loss(good, pos * 100, pos_radius_um=5)


def test_short_pretraining_lowers_loss_and_learns_neighbourhood(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    img = _image()
    enc = CytoEncoder(EncoderConfig(pixel_size_um=1.0, patch_px=PX, width=8, embed_dim=32))
    batches = _batches(img)
    before = _neighbour_top1(enc, batches)
    seen = []
    res = pretrain_encoder(
        enc,
        batches,
        steps=100,
        pos_radius_um=10.0,
        lr=3e-3,
        warmup=5,
        checkpoint_dir=tmp_path,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (100, 100) and res.steps_done == 100
    assert res.mean_loss(last=10) < res.mean_loss(first=10) - 0.2
    # spatial neighbours are found as nearest embeddings more often than before training
    after = _neighbour_top1(enc, batches)
    print("loss", res.mean_loss(first=10), res.mean_loss(last=10), "top1", before, after)
    assert after > before + 0.03
    assert (tmp_path / "checkpoint" / "tensors.safetensors").is_file()


def test_pretraining_cancel_and_resume(tmp_path):
    torch.manual_seed(0)
    img = _image(1, 160)
    batches = _batches(img, 16)
    cfg = EncoderConfig(pixel_size_um=1.0, patch_px=PX, width=8, embed_dim=16)
    cancel = threading.Event()

    def progress(done, total):
        if done == 3:
            cancel.set()

    enc = CytoEncoder(cfg)
    r1 = pretrain_encoder(
        enc,
        batches,
        steps=6,
        pos_radius_um=8,
        checkpoint_dir=tmp_path,
        on_progress=progress,
        cancel=cancel,
    )
    assert r1.cancelled and r1.steps_done == 3 and len(r1.losses) == 3
    torch.manual_seed(123)  # a fresh model: weights must come from the checkpoint
    enc2 = CytoEncoder(cfg)
    r2 = pretrain_encoder(enc2, batches, steps=6, pos_radius_um=8, checkpoint_dir=tmp_path)
    assert not r2.cancelled and len(r2.losses) == 6 and r2.losses[:3] == r1.losses
    # an uninterrupted run gives the same losses (deterministic per step)
    torch.manual_seed(0)
    enc3 = CytoEncoder(cfg)
    r3 = pretrain_encoder(enc3, batches, steps=6, pos_radius_um=8)
    assert np.allclose(r3.losses, r2.losses, rtol=1e-4, atol=1e-4)


def _stripes(seed: int, cls: torch.Tensor) -> torch.Tensor:
    """Patches whose class is the stripe period (4, 6 or 9 px) with random phase/noise."""
    g = torch.Generator().manual_seed(seed)
    period = torch.tensor([4.0, 6.0, 9.0])[cls][:, None, None]
    y = torch.arange(PX).float()[None, :, None]
    phase = torch.rand(len(cls), 1, 1, generator=g) * 6.28
    img = 0.5 + 0.3 * torch.sin(2 * 3.1416 * y / period + phase).expand(-1, PX, PX)
    img = img + 0.05 * torch.randn(len(cls), PX, PX, generator=g)
    return img.clamp(0, 1)[:, None]


def test_supervised_pretraining_learns_classes_and_resumes(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)

    def batches(step: int):
        cls = torch.arange(48) % 3
        return _stripes(step, cls), cls

    cfg = EncoderConfig(pixel_size_um=1.0, patch_px=PX, width=8, embed_dim=16)
    enc = CytoEncoder(cfg)
    cancel = threading.Event()
    r1 = pretrain_encoder_supervised(
        enc,
        batches,
        n_classes=3,
        steps=80,
        lr=3e-3,
        warmup=5,
        checkpoint_dir=tmp_path,
        checkpoint_every=10,
        on_progress=lambda d, t: cancel.set() if d == 20 else None,
        cancel=cancel,
    )
    assert r1.cancelled and r1.steps_done == 20
    enc2 = CytoEncoder(cfg)  # fresh weights: training resumes from the checkpoint
    res = pretrain_encoder_supervised(
        enc2, batches, n_classes=3, steps=80, lr=3e-3, warmup=5, checkpoint_dir=tmp_path
    )
    assert len(res.losses) == 80 and res.losses[:20] == r1.losses
    assert res.mean_loss(last=10) < res.mean_loss(first=10) - 0.3
    # the frozen embedding separates the classes: nearest class mean on new patches
    with torch.no_grad():
        cls = torch.arange(60) % 3
        z = F.normalize(enc2.embed(_stripes(999, cls)), dim=1)
        means = torch.stack([z[cls == k].mean(0) for k in range(3)])
        acc = float(((z @ means.t()).argmax(1) == cls).float().mean())
    assert acc > 0.8


def test_supervised_pretraining_in_bf16_learns_and_keeps_float32_weights():
    """bfloat16 autocast of the forward pass: it still learns the classes, the weights
    and the losses stay float32, and an unknown precision is refused."""
    torch.manual_seed(0)
    torch.set_num_threads(1)

    def batches(step: int):
        cls = torch.arange(48) % 3
        return _stripes(step, cls), cls

    enc = CytoEncoder(EncoderConfig(pixel_size_um=1.0, patch_px=PX, width=8, embed_dim=16))
    res = pretrain_encoder_supervised(
        enc, batches, n_classes=3, steps=60, lr=3e-3, warmup=5, precision="bf16"
    )
    assert res.mean_loss(last=10) < res.mean_loss(first=10) - 0.3
    assert all(p.dtype == torch.float32 for p in enc.parameters())
    with torch.no_grad():
        cls = torch.arange(60) % 3
        z = F.normalize(enc.embed(_stripes(999, cls)), dim=1)
        means = torch.stack([z[cls == k].mean(0) for k in range(3)])
        assert float(((z @ means.t()).argmax(1) == cls).float().mean()) > 0.8
    with pytest.raises(ValueError, match="precision 'fp16'; expected 'fp32' or 'bf16'"):
        pretrain_encoder_supervised(enc, batches, n_classes=3, steps=1, precision="fp16")


def _period_px(img: torch.Tensor) -> float:
    """Dominant period (px) of a periodic pattern in any direction (2D spectrum peak)."""
    spec = torch.fft.fft2(img[0] - img[0].mean()).abs()
    n = img.shape[-1]
    i, j = divmod(int(spec.argmax()), n)
    ky, kx = min(i, n - i), min(j, n - j)
    return n / float((kx * kx + ky * ky) ** 0.5)


def test_geometric_augmentation_widens_layers_like_an_oblique_cut():
    """Stripes of 8 px: the oblique stretch (1 to 1/cos 30°) with a ±6 % scale widens the
    period of some patches, never beyond 8 / (cos 30° * 0.94); without it nothing is
    resampled (flips and 90° turns keep the period exactly)."""
    x = torch.arange(128).float()
    stripes = (0.5 + 0.4 * torch.sin(2 * torch.pi * x / 8)).expand(128, 128)[None, None]
    batch = stripes.expand(64, 1, 128, 128).contiguous()
    out = augment(batch, generator=torch.Generator().manual_seed(0))
    plain = augment(batch, generator=torch.Generator().manual_seed(0), geometric=False)
    assert all(_period_px(p) == 8.0 for p in plain)
    periods = [_period_px(o) for o in out]
    assert min(periods) >= 7.5 and max(periods) <= 8 / (0.866 * 0.94) + 0.6
    assert sum(p > 8.2 for p in periods) >= 8
