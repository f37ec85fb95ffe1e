"""A small CNN trained from scratch on synthetic patches: is there more than GLI sees?

Same split as ``gli_separability.py`` (train brains 0..k-1, test brains 1000+), patches at
any depth (15-85 %), random angle, 10 % artefacts. CPU, a few minutes:

    OMP_NUM_THREADS=2 python benchmarks/cnn_probe.py [--n-train 12] [--n-test 6] [--epochs 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from cytowords.atlas import load_atlas
from cytowords.synth import sample_patches


def net(n_classes: int) -> nn.Module:
    def block(i, o):
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)
        )

    return nn.Sequential(
        nn.AvgPool2d(2),
        block(1, 24),
        block(24, 48),
        block(48, 64),
        block(64, 96),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(96, n_classes),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-brains", type=int, default=4)
    ap.add_argument("--test-brains", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=12)
    ap.add_argument("--n-test", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    torch.manual_seed(0)
    atlas = load_atlas()
    areas = atlas.in_scope_ids
    t = time.perf_counter()
    common = dict(artefacts=0.1, depth_range=(0.15, 0.85))
    xtr, ytr, _ = sample_patches(
        list(range(args.train_brains)), areas, args.n_train, rng_seed=11, **common
    )
    xte, yte, _ = sample_patches(
        list(range(1000, 1000 + args.test_brains)), areas, args.n_test, rng_seed=12, **common
    )
    print(f"rendered {len(ytr)} + {len(yte)} patches in {time.perf_counter() - t:.0f} s")
    idx = {a: i for i, a in enumerate(areas)}
    xt = torch.from_numpy(1 - xtr[:, None].astype(np.float32) / 255)
    yt = torch.tensor([idx[a] for a in ytr])
    xv = torch.from_numpy(1 - xte[:, None].astype(np.float32) / 255)
    yv = np.array([idx[a] for a in yte])
    model = net(len(areas))
    opt = torch.optim.AdamW(model.parameters(), 3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, 3e-3, total_steps=args.epochs * (len(yt) // 64 + 1)
    )
    t = time.perf_counter()
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(yt))
        for i in range(0, len(yt), 64):
            b = perm[i : i + 64]
            x = torch.rot90(xt[b], int(torch.randint(4, ())), (2, 3))
            if torch.rand(()) < 0.5:
                x = x.flip(3)
            x = x * (0.8 + 0.4 * torch.rand(len(b), 1, 1, 1))  # staining contrast
            loss = nn.functional.cross_entropy(model(x), yt[b], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {ep + 1}: loss {loss.item():.2f} ({time.perf_counter() - t:.0f} s)")
    model.eval()
    with torch.no_grad():
        logits = sum(model(torch.rot90(xv, k, (2, 3))) for k in range(4))
    pred = logits.argmax(1).numpy()
    print(f"CNN 60-way accuracy on test brains: {(pred == yv).mean():.3f}")
    accs = []
    for a, b in atlas.hard_pairs:
        m = np.isin(yv, [idx[a], idx[b]])
        sub = logits[m][:, [idx[a], idx[b]]].argmax(1).numpy()
        acc = float((np.array([idx[a], idx[b]])[sub] == yv[m]).mean())
        accs.append(acc)
        print(f"   {a}/{b}: {acc:.2f}")
    print(f"hard pairs 2-way mean (restricted 60-way logits): {np.mean(accs):.3f}")


if __name__ == "__main__":
    main()
