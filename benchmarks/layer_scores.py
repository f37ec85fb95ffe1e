"""Open-set scores from the encoder's intermediate layers: do they see the near misses?

The bundled score (``energy``) reads only the head's logits. Features of earlier layers
keep more of the image, so class-conditional Gaussians fitted on them (Lee et al. 2018:
one Gaussian per area, a shared covariance, score = smallest Mahalanobis distance) might
notice an unseen area that the logits map onto a known one. This script fits, for each
layer of a run's encoder (stem, the 4 residual stages as per-channel mean and standard
deviation over space, the pooled vector, the embedding), that score and its *relative*
form (Ren et al. 2021: minus the distance to one Gaussian over all areas), on the
in-scope training patches of the run folder (one view), and compares them with the
head's ``energy``, alone and summed with layer scores (each standardised on the in-scope
validation patches). Validation proxies (fictitious areas on the validation brains, far
and near) are what a choice may be made on; the held-out test brains and the atlas's
unseen areas are reported. Thresholds: the preset's ``reject_share`` of the in-scope
validation patches. All fields are embedded in 8 mirror/rotation views.

    python benchmarks/layer_scores.py --run RUN_FOLDER [--train-patches 60000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from open_set_scorers import NEAR_MISSES, fictitious_fields

from cytowords.atlas import load_atlas
from cytowords.model.encoder import _STD_FLOOR
from cytowords.model.head import OpenSetScorer
from cytowords.model.tta import dihedral_views
from cytowords.synth import sample_patches
from cytowords.training.data.patches import PatchSet
from cytowords.training.evaluate.metrics import open_set_auroc
from cytowords.training.presets import Preset
from cytowords.training.stages.vision import class_index, load_encoder, load_head


def layer_features(enc, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per layer of a ``CytoEncoder`` a vector per patch: the stem and the residual stages
    as channel means and standard deviations over space, then ``pooled`` and ``emb``."""
    mean, std = x.mean(dim=(2, 3), keepdim=True), x.std(dim=(2, 3), keepdim=True)
    h = enc.stem(torch.cat([(x - mean) / (std + _STD_FLOOR), (x - 0.5) * 4.0], dim=1))
    maps = {"stem": h}
    for i, stage in enumerate(enc.stages):
        h = stage(h)
        maps[f"stage{i + 1}"] = h
    out = {k: torch.cat([v.mean(dim=(2, 3)), v.std(dim=(2, 3))], 1) for k, v in maps.items()}
    h = torch.relu(enc.norm(h))
    stats = torch.cat([(mean - 0.5) * 4.0, std * 10.0], dim=1).flatten(1)
    out["pooled"] = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3)), stats], dim=1)
    out["emb"] = enc.proj(out["pooled"])
    return out


@torch.inference_mode()
def features(enc, patches: np.ndarray, views: int) -> dict[str, torch.Tensor]:
    """:func:`layer_features` of uint8 patches ``(N, H, W)``, averaged over ``views``."""
    parts: dict[str, list[torch.Tensor]] = {}
    for i in range(0, len(patches), 256):
        x = torch.from_numpy(patches[i : i + 256].astype(np.float32) / 255.0)[:, None]
        views_f = [layer_features(enc, v) for v in dihedral_views(x, views)]
        # layer_features mirrors CytoEncoder.forward: fail loudly if the two ever diverge
        if i == 0 and not torch.allclose(views_f[0]["emb"], enc.embed(x), atol=1e-4):
            raise RuntimeError("layer_features no longer matches CytoEncoder.forward")
        for k in views_f[0]:
            parts.setdefault(k, []).append(sum(f[k] for f in views_f) / views)
    return {k: torch.cat(v) for k, v in parts.items()}


def gaussian_scores(train: torch.Tensor, y: torch.Tensor, n: int):
    """Per-class means with a shared shrunk covariance (the bundle's ``OpenSetScorer`` in
    ``mahalanobis`` mode) and one Gaussian over all rows; returns
    ``score(F) -> (mahalanobis, relative)``, each ``(N,)``, higher = more novel."""
    per_area = OpenSetScorer(train.shape[1], n).fit(train, y)
    overall = OpenSetScorer(train.shape[1], 1).fit(train, torch.zeros_like(y))

    def score(f: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        m = per_area._mahalanobis(f)
        return m.numpy(), (m - overall._mahalanobis(f)).numpy()

    return score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="run folder of `cytowords train`")
    ap.add_argument("--train-patches", type=int, default=60000, help="in-scope training patches")
    a = ap.parse_args()
    torch.set_num_threads(2)
    p = Preset.from_dict(json.loads((a.run / "run.json").read_text())["preset"])
    areas = json.loads((a.run / "data" / "summary.json").read_text())["areas"]
    n = len(areas)
    enc, head = load_encoder(p, a.run / "encoder").eval(), load_head(p, n, a.run / "head").eval()
    split = {
        s: PatchSet.concat(
            [PatchSet.load(f)[0] for f in sorted((a.run / "data").glob(f"{s}*.npz"))], p.patch_px
        )
        for s in ("train", "val")
    }
    lab = {s: class_index(v.labels, areas).numpy() for s, v in split.items()}
    rows = np.flatnonzero((lab["train"] >= 0) & (lab["train"] < n))
    rows = np.random.default_rng(0).choice(rows, min(a.train_patches, len(rows)), replace=False)
    train = features(enc, split["train"].patches[rows], 1)
    kw = dict(size_px=p.patch_px, pixel_size_um=p.pixel_size_um)
    x_in, _, _ = sample_patches([200, 201, 202], areas, 8, rng_seed=3, **kw)
    x_un, y_un, _ = sample_patches([200, 201, 202], load_atlas().unseen_ids, 20, rng_seed=4, **kw)
    val_in = (lab["val"] >= 0) & (lab["val"] < n)
    fields = {
        "val_in": split["val"].patches[val_in],
        "proxy_far": fictitious_fields(p, False, 200),
        "proxy_near": fictitious_fields(p, True, 200),
        "test_in": x_in,
        "test_un": x_un,
    }
    feats = {k: features(enc, v, 8) for k, v in fields.items()}
    scores: dict[str, dict[str, np.ndarray]] = {}
    with torch.no_grad():
        scores["energy"] = {
            k: (-torch.logsumexp(head(f["emb"])[:, :n], 1)).numpy() for k, f in feats.items()
        }
    for layer in train:
        fit = gaussian_scores(train[layer], torch.from_numpy(lab["train"][rows]).long(), n)
        got = {k: fit(f[layer]) for k, f in feats.items()}
        scores[f"{layer} mahalanobis"] = {k: v[0] for k, v in got.items()}
        scores[f"{layer} relative"] = {k: v[1] for k, v in got.items()}

    def z(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        m, sd = s["val_in"].mean(), s["val_in"].std() + 1e-9
        return {k: (v - m) / sd for k, v in s.items()}

    for extra in (["pooled relative"], ["stage3 relative", "stage4 relative"]):
        parts = [z(scores["energy"])] + [z(scores[e]) for e in extra]
        scores[" + ".join(["energy", *extra])] = {k: sum(q[k] for q in parts) for k in fields}
    y_un = np.asarray(y_un)
    near = [u for u in NEAR_MISSES if u in set(y_un)]
    print(f"run {a.run}: {len(rows)} training patches, reject_share {p.reject_share}")
    print(
        "| score | proxy far AUROC | proxy near AUROC | test AUROC | test false rejection "
        "| unseen rejected | near misses rejected |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, s in scores.items():
        thr = np.quantile(s["val_in"], 1 - p.reject_share)
        rej = s["test_un"] > thr
        print(
            f"| {name} | {open_set_auroc(s['val_in'], s['proxy_far']):.3f} "
            f"| {open_set_auroc(s['val_in'], s['proxy_near']):.3f} "
            f"| {open_set_auroc(s['test_in'], s['test_un']):.3f} "
            f"| {(s['test_in'] > thr).mean():.3f} | {rej.mean():.3f} "
            f"| {np.mean([rej[y_un == u].mean() for u in near]):.3f} |"
        )


if __name__ == "__main__":
    main()
