"""Whole model chain on toy textures: encoder -> head + scorer -> captioner -> bundle."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from cytowords.model import (
    AreaHead,
    Captioner,
    CytoEncoder,
    EncoderConfig,
    HeadConfig,
    PrefixProjector,
    ProjectorConfig,
    build_default_lm,
    load_bundle,
    save_bundle,
)
from cytowords.training.fit import fit_captioner, fit_head, fit_scorer, pretrain_encoder

PX = 32
REJECT = "No known cortical area."
CAPS = {
    0: ["Area fine shows small dense granules.", "Fine area: small granules, dense."],
    1: ["Area coarse shows large pale blobs.", "Coarse area: large blobs, pale."],
    2: [REJECT],
}


def _texture(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(size=(n, PX, PX))
    if kind == "fine":
        img = 0.5 + 0.25 * gaussian_filter(noise, (0, 0.7, 0.7)) / 0.3
    elif kind == "coarse":
        img = 0.6 + 0.2 * gaussian_filter(noise, (0, 3, 3)) / 0.1
    elif kind == "background":
        img = 0.93 + 0.01 * noise
    else:  # unseen: dark, sparse large blobs (an area never seen in training)
        img = 0.25 + 0.3 * np.clip(gaussian_filter(noise, (0, 2, 2)) / 0.14, 0, None)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _data(seed: int, n: int = 40):
    rng = np.random.default_rng(seed)
    x = np.concatenate([_texture(k, n, rng) for k in ("fine", "coarse", "background")])
    y = torch.arange(3).repeat_interleave(n)
    return x, y


def test_toy_pipeline_end_to_end(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    enc = CytoEncoder(EncoderConfig(pixel_size_um=4.0, patch_px=PX, width=8, embed_dim=32))
    xtr, ytr = _data(0)
    xt = torch.from_numpy(xtr).float()[:, None] / 255

    def patch_batches(step):  # same-texture patches lie "close", textures far apart
        g = torch.Generator().manual_seed(step)
        idx = torch.randint(0, len(xt), (32,), generator=g)
        pos = torch.stack([ytr[idx].float() * 1000, torch.rand(32, generator=g) * 50], 1)
        return xt[idx], pos

    pre = pretrain_encoder(enc, patch_batches, steps=60, pos_radius_um=100, lr=3e-3, warmup=2)
    assert np.isfinite(pre.losses).all()
    enc.eval()
    with torch.no_grad():
        emb = enc.embed(xt)
        xv, yv = _data(1)
        emb_v = enc.embed(torch.from_numpy(xv).float()[:, None] / 255)
    head = AreaHead(HeadConfig(embed_dim=32, n_classes=3, none_class=True))
    fit_head(head, emb, ytr, steps=100, lr=1e-2, val=(emb_v, yv))
    scorer = fit_scorer(head, emb, ytr, emb_v[yv < 2], reject_share=0.05)
    lm, tok = build_default_lm(
        [c for cs in CAPS.values() for c in cs] * 4, vocab_size=300, n_layer=2, n_embd=48, n_head=4
    )
    proj = PrefixProjector(ProjectorConfig(32, 48, k=2))
    proj.match_lm(lm)
    cap = Captioner(lm, tok, proj)

    def cap_batches(step):
        g = torch.Generator().manual_seed(step)
        idx = torch.randint(0, len(emb), (24,), generator=g)
        return emb[idx], [
            CAPS[int(ytr[i])][(step + i) % len(CAPS[int(ytr[i])])] for i in idx.tolist()
        ]

    res = fit_captioner(cap, cap_batches, steps=80, lr=3e-3, warmup=5)
    assert res.mean_loss(last=10) < 0.5 * res.mean_loss(first=5)
    path = save_bundle(
        tmp_path / "toy",
        encoder=enc,
        head=head,
        scorer=scorer,
        area_ids=["fine", "coarse"],
        captioner=cap,
        rejection_caption=REJECT,
    )
    b = load_bundle(path)
    rng = np.random.default_rng(7)
    for kind, area in (("fine", 0), ("coarse", 1)):
        probs, score, rej = b.classify(b.embed(_texture(kind, 10, rng)))
        assert (probs.argmax(1) == area).float().mean() >= 0.9
        assert rej.float().mean() <= 0.2
        texts = b.caption(b.embed(_texture(kind, 4, rng)))
        assert sum(kind in t.lower() for t in texts) >= 3, texts
    # background is the learned none class; an unseen texture is rejected by the scorer
    _, _, rej_bg = b.classify(b.embed(_texture("background", 10, rng)))
    _, _, rej_un = b.classify(b.embed(_texture("unseen", 30, rng)))
    assert rej_bg.all()
    assert rej_un.float().mean() >= 0.5  # in-scope: <= 0.2 (checked above)
