"""Which open-set score rejects "none of the known areas" best, chosen without test data.

Fits every ``OpenSetScorer`` mode (plus k-nearest-neighbour cosine distance) on the
training embeddings of a finished run folder, calibrates each at the preset's
``reject_share`` on the in-scope validation patches, and scores

- **validation proxies** (what the choice is made on): fictitious areas
  (``cytowords.synth.novel``) rendered on the validation brains, far ones and near misses,
  with seeds that training never used;
- **held-out test brains** (reported, never used to choose): in-scope patches and
  patches of the atlas's unseen areas, as in ``cytowords evaluate``.

AUROC is in-scope vs outliers (1 = perfect); rejection rates are at the calibrated
threshold, with a patch also rejected when the head's none class wins.

    python benchmarks/open_set_scorers.py --run RUN_FOLDER [--test-per-area 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from cytowords.atlas import load_atlas
from cytowords.model.head import SCORE_MODES
from cytowords.synth import sample_patches
from cytowords.synth.novel import novel_area
from cytowords.training.data.patches import PatchSet
from cytowords.training.data.synthetic import is_novel
from cytowords.training.evaluate.metrics import open_set_auroc
from cytowords.training.fit.head_fit import fit_scorer
from cytowords.training.presets import Preset
from cytowords.training.stages.vision import class_index, embed_all, load_encoder, load_head

#: the isocortical unseen areas: each is the neighbour of in-scope areas (areas.yaml)
NEAR_MISSES = ("hOc5", "5Ci", "hIP3", "OP3", "Fo2", "Id1", "Te1.2")


def fictitious_fields(p: Preset, near: bool, per_brain: int) -> np.ndarray:
    """Fields of fictitious areas on the validation brains (seeds from 2 000 000 on)."""
    xs = []
    for i, b in enumerate(p.val_brains):
        first = 2_000_000 + 10_000 * i + (5000 if near else 0)
        ids = [novel_area(k, near=near) for k in range(first, first + per_brain)]
        x, _, _ = sample_patches(
            [b],
            ids,
            2,
            size_px=p.read_px,
            pixel_size_um=p.pixel_size_um,
            rng_seed=31 + b + int(near),
        )
        xs.append(x)
    return np.concatenate(xs)


def _knn_score(train_unit: torch.Tensor, k: int):
    def score(e: torch.Tensor) -> torch.Tensor:
        e = torch.nn.functional.normalize(e, dim=1)
        return torch.cat(
            [
                -(e[i : i + 512] @ train_unit.T).topk(k, dim=1).values[:, -1]
                for i in range(0, len(e), 512)
            ]
        )

    return score


def _rejected(score: np.ndarray, thr: float, head, emb: torch.Tensor, n: int) -> np.ndarray:
    """Above the threshold, or the head's none class wins."""
    return (score > thr) | (head(emb).argmax(1) == n).numpy()


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run folder of `cytowords train`")
    ap.add_argument("--test-brains", type=int, nargs="+", default=[200, 201, 202])
    ap.add_argument("--test-per-area", type=int, default=8, help="in-scope fields per area")
    ap.add_argument("--proxy-areas", type=int, default=200, help="fictitious areas per val brain")
    a = ap.parse_args()
    run = Path(a.run)
    d = json.loads((run / "run.json").read_text())["preset"]
    p = Preset.from_dict(d)
    areas = json.loads((run / "data" / "summary.json").read_text())["areas"]
    n = len(areas)
    enc, head = load_encoder(p, run / "encoder"), load_head(p, n, run / "head")
    emb = load_file(str(run / "head" / "embeddings.safetensors"))
    labels, sections = {}, {}
    for split in ("train", "val"):
        files = [run / "data" / f"{split}.npz", run / "data" / f"{split}_rendered.npz"]
        sets = [PatchSet.load(f)[0] for f in files if f.is_file()]
        labels[split] = class_index(np.concatenate([s.labels for s in sets]), areas)
        sections[split] = np.concatenate([s.sections for s in sets])
    novel = torch.from_numpy(is_novel(sections["train"]))
    tr = labels["train"] >= 0
    val_in = emb["val"][(labels["val"] >= 0) & (labels["val"] < n)].float()
    atlas = load_atlas()
    kw = dict(size_px=p.read_px, pixel_size_um=p.pixel_size_um)
    x_in, _, _ = sample_patches(a.test_brains, areas, a.test_per_area, rng_seed=3, **kw)
    x_un, lab_un, _ = sample_patches(a.test_brains, atlas.unseen_ids, 20, rng_seed=4, **kw)
    sets = {
        "val_in": val_in,
        "proxy_far": embed_all(enc, fictitious_fields(p, False, a.proxy_areas)),
        "proxy_near": embed_all(enc, fictitious_fields(p, True, a.proxy_areas)),
        "test_in": embed_all(enc, x_in),
        "test_unseen": embed_all(enc, x_un),
    }
    lab_un = np.asarray(lab_un)
    near_ids = [u for u in NEAR_MISSES if u in set(lab_un)]
    train_in = emb["train"][tr & (labels["train"] < n)].float()
    scorers = {}
    for mode in SCORE_MODES:
        if mode == "novelty" and not novel[tr].any():
            print("novelty: skipped (the run rendered no fictitious areas)")
            continue
        sc = fit_scorer(
            head,
            emb["train"][tr],
            labels["train"][tr],
            val_in,
            mode=mode,
            reject_share=p.reject_share,
            novel=novel[tr],
        )
        scorers[mode] = lambda e, sc=sc: sc.score(e, head(e))
    unit = torch.nn.functional.normalize(train_in, dim=1)
    for k in (10, 50):
        scorers[f"knn{k}"] = _knn_score(unit, k)
    print(
        f"run {run}: {len(train_in)} in-scope training embeddings, scorer of the preset "
        f"{p.scorer_mode!r}, reject_share {p.reject_share}"
    )
    print(
        "| score | proxy far AUROC | proxy near AUROC | test AUROC | test false rejection "
        "| unseen rejected | near misses rejected |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, f in scorers.items():
        s = {k: f(v).numpy() for k, v in sets.items()}
        thr = np.quantile(s["val_in"], 1 - p.reject_share)

        rej_un = _rejected(s["test_unseen"], thr, head, sets["test_unseen"], n)
        near = np.mean([rej_un[lab_un == u].mean() for u in near_ids])
        print(
            f"| {name} | {open_set_auroc(s['val_in'], s['proxy_far']):.3f} "
            f"| {open_set_auroc(s['val_in'], s['proxy_near']):.3f} "
            f"| {open_set_auroc(s['test_in'], s['test_unseen']):.3f} "
            f"| {_rejected(s['test_in'], thr, head, sets['test_in'], n).mean():.3f} | {rej_un.mean():.3f} | {near:.3f} |"
        )


if __name__ == "__main__":
    main()
