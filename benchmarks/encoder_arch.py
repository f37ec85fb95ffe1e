"""Encoder architecture study: the per-field encoder against the dense one, same data and steps.

Reads labelled fields from virtual sections of synthetic training brains (with the largest
context any compared dense encoder needs; each encoder gets the central crop it takes, so
every encoder sees the same fields), trains a fresh encoder per architecture with the
classification objective for ``STEPS`` steps of ``BATCH`` fields, fits the area head on its
frozen embeddings and prints one JSON line per architecture: seconds per training step and
the head's accuracy on the validation brains (100, 101).

    OMP_NUM_THREADS=2 python benchmarks/encoder_arch.py STEPS BATCH ARCH [ARCH ...]

ARCH: ``field`` or ``dense:D1-D2-...`` (the dense encoder's block dilations, e.g.
``dense:1-2``). Optional environment: ``AREAS`` (comma-separated ids, default the smoke
preset's 8 areas), ``TRAIN_BRAINS`` (default 4), ``WIDTH`` (32), ``PATCH_PX`` (64),
``UM_PER_PX`` (64). Patch caches go to /tmp/cytowords-arch. Results are in docs/model.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from cytowords.model import AreaHead, CytoEncoder, EncoderConfig, HeadConfig
from cytowords.training.data.patches import PatchConfig, PatchSet, build_patch_set
from cytowords.training.data.synthetic import virtual_labelled_section
from cytowords.training.fit import fit_head, pretrain_encoder_supervised
from cytowords.training.presets import PRESETS
from cytowords.training.stages.vision import class_index, embed_all, label_batches

CACHE = Path("/tmp/cytowords-arch")


def config(arch: str, px: int, um: float, width: int) -> EncoderConfig:
    kind, _, dil = arch.partition(":")
    extra = {"dilations": tuple(int(d) for d in dil.split("-"))} if dil else {}
    return EncoderConfig(
        pixel_size_um=um, patch_px=px, width=width, embed_dim=256, arch=kind, **extra
    )


def read_sets(areas, px: int, um: float, context: int, n_brains: int) -> dict[str, PatchSet]:
    def one(seeds, split, n):
        secs = [
            virtual_labelled_section(s, split, size_um=(30000.0, 40000.0), pixel_size_um=um)
            for s in seeds
        ]
        cfg = PatchConfig(
            pixel_size_um=um, patch_px=px, context_px=context, n_per_area=n, none_share=0.12
        )
        name = f"{split}_{px}_{um:g}_{context}_{len(seeds)}_{n}_{len(areas)}.npz"
        return build_patch_set(secs, areas, cfg, cache=CACHE / name)

    return {"train": one(range(n_brains), "train", 24), "val": one((100, 101), "val", 10)}


def crop(ps: PatchSet, side: int) -> PatchSet:
    """The central ``side`` px of every patch."""
    c = (ps.patches.shape[-1] - side) // 2
    return PatchSet(
        ps.patches[:, c : c + side, c : c + side],
        *(ps.labels, ps.positions_um, ps.brains, ps.sections),
    )


def main() -> None:
    steps, batch, archs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    px, um = int(os.environ.get("PATCH_PX", 64)), float(os.environ.get("UM_PER_PX", 64))
    width = int(os.environ.get("WIDTH", 32))
    areas = os.environ.get("AREAS", ",".join(PRESETS["smoke"].extra["areas"])).split(",")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    configs = {a: config(a, px, um, width) for a in archs}
    context = max(c.context_px for c in configs.values())
    t0 = time.time()
    sets = read_sets(areas, px, um, context, int(os.environ.get("TRAIN_BRAINS", 4)))
    print(
        json.dumps({"data_s": round(time.time() - t0), "n": {k: len(v) for k, v in sets.items()}}),
        flush=True,
    )
    for arch, cfg in configs.items():
        data = {k: crop(v, cfg.input_px) for k, v in sets.items()}
        torch.manual_seed(0)
        enc = CytoEncoder(cfg)
        t0 = time.time()
        pretrain_encoder_supervised(
            enc,
            label_batches(data["train"], areas, batch),
            n_classes=len(areas) + 1,
            steps=steps,
            lr=2e-3,
            warmup=max(1, steps // 10),
        )
        step_s = (time.time() - t0) / max(steps, 1)
        emb = {k: embed_all(enc, v) for k, v in data.items()}
        lab = {k: class_index(v.labels, areas) for k, v in data.items()}
        torch.manual_seed(0)
        head = AreaHead(HeadConfig(256, len(areas) + 1, hidden=256, dropout=0.2, none_class=True))
        fit_head(head, emb["train"], lab["train"], steps=600, lr=3e-3)
        with torch.no_grad():
            ins = (lab["val"] >= 0) & (lab["val"] < len(areas))
            pred = head(emb["val"])[ins][:, : len(areas)].argmax(1)
            acc = float((pred == lab["val"][ins]).float().mean())
        res = {"arch": arch, "input_px": cfg.input_px, "steps": steps, "batch": batch}
        res |= {"s_per_step": round(step_s, 2), "val_accuracy": round(acc, 3)}
        res["n_val"] = int(ins.sum())
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
