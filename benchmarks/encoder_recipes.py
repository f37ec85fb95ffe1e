"""Encoder recipe study: field of view and pretraining objective at a fixed step budget.

Trains a fresh encoder for ``STEPS`` steps on the synthetic training brains with one
recipe, fits the area head on its frozen embeddings and prints the 60-way accuracy of the
head on the validation brains (100-101) and on held-out test brains (200-202), all patches
read through the training path (virtual labelled sections -> ``build_patch_set``).

    OMP_NUM_THREADS=1 python benchmarks/encoder_recipes.py NAME PATCH_PX UM_PER_PX STEPS \
        {supcon,ce} [TRAIN_BRAINS] [WIDTH]

``supcon``: supervised contrastive (same-area positives, 32 pairs, two augmented views);
``ce``: area classification (batch 128, one augmented view) -- the same images per step.
Both run the pipeline's own loops (``pretrain_encoder``, ``pretrain_encoder_supervised``).
Patch caches go to /tmp/cytowords-recipes. Results are in docs/training.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from cytowords.atlas import load_atlas
from cytowords.model import AreaHead, CytoEncoder, EncoderConfig, HeadConfig
from cytowords.training.data.patches import PatchConfig, build_patch_set
from cytowords.training.data.synthetic import virtual_labelled_section
from cytowords.training.fit import fit_head, pretrain_encoder, pretrain_encoder_supervised
from cytowords.training.stages.vision import (
    class_index,
    contrastive_batches,
    embed_all,
    label_batches,
)

CACHE = Path("/tmp/cytowords-recipes")


def patch_sets(areas, px: int, um: float, n_brains: int):
    def one(seeds, split, n):
        secs = [
            virtual_labelled_section(s, split, size_um=(60000.0, 80000.0), pixel_size_um=um)
            for s in seeds
        ]
        cfg = PatchConfig(
            pixel_size_um=um, patch_px=px, n_per_area=n, none_share=0.12, min_purity=0.6
        )
        return build_patch_set(
            secs, areas, cfg, cache=CACHE / f"{split}_{px}_{um:g}_{len(seeds)}_{n}.npz"
        )

    return (
        one(range(n_brains), "train", 48),
        one((100, 101), "val", 10),
        one((200, 201, 202), "test", 17),
    )


def main() -> None:
    name, px, um, steps, mode = (
        sys.argv[1],
        int(sys.argv[2]),
        float(sys.argv[3]),
        int(sys.argv[4]),
        sys.argv[5],
    )
    n_brains = int(sys.argv[6]) if len(sys.argv) > 6 else 12
    width = int(sys.argv[7]) if len(sys.argv) > 7 else 32
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    areas = list(load_atlas().in_scope_ids)
    tr, va, te = patch_sets(areas, px, um, n_brains)
    torch.manual_seed(0)
    enc = CytoEncoder(EncoderConfig(pixel_size_um=um, patch_px=px, width=width, embed_dim=256))
    t0 = time.time()
    if mode == "supcon":
        pairs = contrastive_batches(tr, 32, 1200.0, positives="label")
        pretrain_encoder(enc, pairs, steps=steps, pos_radius_um=1200.0, lr=2e-3, warmup=50)
    else:
        batches = label_batches(tr, areas, 128)
        pretrain_encoder_supervised(
            enc, batches, n_classes=len(areas) + 1, steps=steps, lr=2e-3, warmup=50
        )
    seconds = time.time() - t0
    emb = {k: embed_all(enc, s) for k, s in (("tr", tr), ("va", va), ("te", te))}
    lab = {k: class_index(s.labels, areas) for k, s in (("tr", tr), ("va", va), ("te", te))}
    head = AreaHead(HeadConfig(256, len(areas) + 1, hidden=256, dropout=0.2, none_class=True))
    fit_head(head, emb["tr"], lab["tr"], steps=1500, lr=3e-3)
    res = {
        "name": name,
        "px": px,
        "um": um,
        "steps": steps,
        "mode": mode,
        "train_s": round(seconds),
    }
    with torch.no_grad():
        for k in ("va", "te"):
            ins = (lab[k] >= 0) & (lab[k] < len(areas))
            pred = head(emb[k])[ins][:, : len(areas)].argmax(1)
            res[k] = round(float((pred == lab[k][ins]).float().mean()), 3)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
