"""Captions that follow the tissue: one base bundle, its captioner retrained with and
without the readout vector, scored on held-out brains (:mod:`cytowords.training.evaluate.claims`).

For each variant (``caption_input`` ``embedding+probs`` and ``embedding+probs+readout``)
only the captioner is trained on the base bundle (``--from BUNDLE --only captioner``, preset
``--preset`` with ``--steps`` caption steps), then ``--per-area`` in-scope fields per area
of ``--brains`` held-out brains are captioned anchored on the head's prediction and scored:
claim accuracy, verbatim training captions, distinct captions per area, specificity. It
also prints, per variant, the captions of the two fields of one area whose true thickness
differs most.

    python benchmarks/caption_claims.py --base RUN/bundle --out /tmp/claims \\
        [--preset smoke] [--steps 300] [--brains 3] [--per-area 9] [--variants ...]

``--cached-run RUN`` skips the data stage: the captioners train on the fields and
embeddings a finished run folder cached (``RUN/data/train*.npz``, ``RUN/embed`` or
``RUN/head`` ``embeddings.safetensors``) with the base bundle's head (the docs' numbers:
``--cached-run`` of a ``--from`` run, ``--steps 500 --per-area 6``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cytowords.atlas import load_atlas
from cytowords.model import load_bundle
from cytowords.training.data.readout_truth import brain_truth
from cytowords.training.evaluate.baselines import training_captions
from cytowords.training.evaluate.claims import evaluate_claims
from cytowords.training.evaluate.testset import build_patch_set, held_out_brains
from cytowords.training.pipeline import train
from cytowords.training.presets import get_preset

VARIANTS = ("embedding+probs", "embedding+probs+readout")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="base bundle (vision parts kept)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--brains", type=int, default=3)
    ap.add_argument("--per-area", type=int, default=9)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--cached-run", default=None, help="run folder whose fields to reuse")
    args = ap.parse_args()
    out = Path(args.out)
    atlas = load_atlas()
    mined = training_captions(atlas)
    results = {}
    for variant in args.variants:
        t0 = time.time()
        p = get_preset(args.preset).with_(caption_input=variant, caption_steps=args.steps)
        name = variant.replace("+", "_")
        if args.cached_run:
            b = _captioner_on_cached(p, Path(args.cached_run), args.base, out / name)
        else:
            bdir = train(p, out / name, base_bundle=args.base, only="captioner", device="cpu")
            b = load_bundle(bdir, device="cpu")
        test = build_patch_set(
            held_out_brains(args.brains),
            patch_px=b.read_px,  # the field with the encoder's context, as `cytowords evaluate`
            pixel_size_um=b.pixel_size_um,
            per_area=args.per_area,
            in_scope=list(b.area_ids),
            unseen=[],
            none_share=0.0,
            rng_seed=0,
            cache_dir=out / "cache",
        )
        emb = b.embed(test.patches)
        probs, _, _ = b.classify(emb)
        pred = [b.area_ids[i] for i in probs.argmax(1).tolist()]
        m = evaluate_claims(b, test.labels, test.brain, emb.numpy(), pred, mined)
        m["seconds"] = round(time.time() - t0, 1)
        m["pair"] = _thickest_pair(b, test, emb, pred)
        results[variant] = m
        keys = (
            "claim_accuracy",
            "claim_accuracy_vs_readout",
            "verbatim_training_share",
            "distinct_captions_per_area",
            "specificity",
            "specificity_pairs",
            "n_captions",
            "n_claims",
        )
        print(variant, {k: m.get(k) for k in keys}, flush=True)
        print("  by kind", m["claim_accuracy_by_kind"])
        for row in m["pair"]:
            print("  pair", row)
    (out / "claims.json").write_text(json.dumps(results, indent=1, default=float))


def _captioner_on_cached(p, run: Path, base: str, folder: Path):
    """The base bundle with a captioner trained under preset ``p`` on ``run``'s cached
    training fields and embeddings."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from cytowords.training.data.patches import PatchSet
    from cytowords.training.stages.caption import caption_features, mine, run_captioner

    b = load_bundle(base, device="cpu")
    folder.mkdir(parents=True, exist_ok=True)
    if (run / "captioner" / "captions.jsonl").is_file():
        shutil.copy(run / "captioner" / "captions.jsonl", folder / "captions.jsonl")
    names = ["train.npz"] + (
        ["train_rendered.npz"] if (run / "data" / "train_rendered.npz").is_file() else []
    )
    tr = PatchSet.concat([PatchSet.load(run / "data" / n)[0] for n in names], b.read_px)
    cached = next(
        f for f in (run / "embed", run / "head") if (f / "embeddings.safetensors").is_file()
    )
    emb = load_file(str(cached / "embeddings.safetensors"))["train"]
    captions = mine(None, load_atlas(), list(b.area_ids), folder)
    feats = caption_features(p, b.head, emb)
    cap, _ = run_captioner(
        p,
        feats,
        tr.labels,
        captions,
        folder,
        torch.device("cpu"),
        lambda d, t: None,
        None,
        brains=tr.brains,
    )
    b.captioner = cap.eval()
    b.config.setdefault("extra", {})["caption_input"] = p.caption_input
    return b


def _thickest_pair(b, test, emb, pred) -> list[dict]:
    """The two fields of one area (the one with the largest spread) with the thinnest and
    thickest true cortex, and their captions."""
    from cytowords.training.data.readout_truth import simulated_vectors, simulated_wm_borders

    th = np.array(
        [brain_truth(int(s), str(a)).thickness_mm for a, s in zip(test.labels, test.brain)]
    )
    best, pick = 0.0, None
    for a in sorted(set(test.labels.tolist())):
        idx = np.flatnonzero(test.labels == a)
        lo, hi = idx[np.argmin(th[idx])], idx[np.argmax(th[idx])]
        if th[hi] / th[lo] > best:
            best, pick = th[hi] / th[lo], (lo, hi)
    if pick is None:
        return []
    rows = list(pick)
    truths = [brain_truth(int(test.brain[i]), str(test.labels[i])) for i in rows]
    vec = simulated_vectors(truths, seed=5)  # as the user's ROI is measured
    wm = simulated_wm_borders(truths, vec, seed=5)
    caps = b.caption(emb[rows], 96, areas=[pred[i] for i in rows], readout=vec, wm_border=wm)
    return [
        {"area": str(test.labels[i]), "true_thickness_mm": round(float(th[i]), 2), "caption": c}
        for i, c in zip(rows, caps)
    ]


if __name__ == "__main__":
    main()
