"""Would knowing the individual brain help? Heads on the embeddings of a finished run.

Synthetic brains differ in overall thickness, cell density, soma size, layer widths and
staining (``cytowords.synth.Brain``), shared by all their areas. A neuroanatomist compares
a region with the rest of the same section; this probe asks how much such context could
add, on the frozen embeddings of a run folder (one view for training, the run's 8-view
validation embeddings), with the run's head recipe and ``energy``-style scorer:

- ``plain``: the embedding alone (what the bundle does);
- ``oracle``: the embedding plus the brain's *true* factors (an upper bound: no section
  tells them);
- ``centred``: the embedding minus the mean embedding of its brain's in-scope patches
  (test: of all its cortex fields, unseen areas included), what a section-level
  normalisation could do when a section shows many areas;
- ``centred, lobe in test``: the same head, but each test field centred on the mean of its
  brain's fields *of the same lobe* (a section that shows one lobe only);
- ``centred on area groups``: training centred on random groups of 12 areas per brain
  (so that the head sees means of varied composition), test as the previous line.

Test: fields rendered by ``sample_patches`` on held-out brains 200-202 (10 per in-scope
area and brain, 20 per unseen area and brain), embedded with 8 views.

    python benchmarks/brain_context.py --run RUN_FOLDER
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from cytowords.atlas import load_atlas
from cytowords.synth import Brain, sample_patches
from cytowords.training.data.patches import PatchSet
from cytowords.training.data.synthetic import is_rendered
from cytowords.training.evaluate.metrics import open_set_auroc
from cytowords.training.presets import Preset
from cytowords.training.stages.scorer import run_scorer
from cytowords.training.stages.vision import (
    class_index,
    embed_all,
    load_encoder,
    run_head,
)

TEST = (200, 201, 202)


def _factors(seed: int) -> np.ndarray:
    b = Brain(int(seed))
    s = b.staining
    layers = [np.log(v) for v in b.layer_scale.values()]
    return np.array(
        [np.log(b.thickness_scale), np.log(b.density_scale), np.log(b.size_scale), *layers]
        + [(s.white - 216.0) / 7.0, np.log(s.stain), np.log(s.neuropil)]
    )


def _centre(e: torch.Tensor, groups: np.ndarray, use: np.ndarray) -> torch.Tensor:
    """``e`` minus the mean of its group's rows where ``use`` is True (groups: one key per
    row, e.g. the brain)."""
    out = e.clone()
    for g in np.unique(groups):
        m = groups == g
        out[torch.from_numpy(m)] -= e[torch.from_numpy(m & use)].mean(0)
    return out


def _area_groups(brains: np.ndarray, cls: np.ndarray, n: int, size: int = 12) -> np.ndarray:
    """Per row a key ``brain/group``: each brain's areas (class indices ``< n``) fall into
    random groups of ``size``; rows without an area get a random group of their brain."""
    rng = np.random.default_rng(0)
    keys = np.empty(len(brains), dtype=object)
    for b in np.unique(brains):
        group = rng.permutation(n) // size
        rows = np.flatnonzero(brains == b)
        c = cls[rows]
        g = np.where((c >= 0) & (c < n), group[np.clip(c, 0, n - 1)], 0)
        none = (c < 0) | (c >= n)
        g[none] = rng.integers(0, group.max() + 1, none.sum())
        keys[rows] = [f"{b}/{x}" for x in g]
    return keys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="finished training run folder")
    run = ap.parse_args().run
    torch.set_num_threads(2)
    d = json.loads((run / "run.json").read_text())["preset"]
    p = Preset.from_dict(d)
    p = p.with_(tta_views=1)
    areas = json.loads((run / "data" / "summary.json").read_text())["areas"]
    n = len(areas)
    sets = {
        s: PatchSet.concat(
            [PatchSet.load(f)[0] for f in sorted((run / "data").glob(f"{s}*.npz"))], p.read_px
        )
        for s in ("train", "val")
    }
    labels = {k: class_index(v.labels, areas) for k, v in sets.items()}
    brains = {k: np.array([int(b.rsplit("-", 1)[1]) for b in v.brains]) for k, v in sets.items()}
    emb = {
        "train": load_file(str(run / "head" / "embeddings.safetensors"))["train"],
        "val": load_file(str(run / "head" / "val_views8.safetensors"))["views"].mean(0),
    }
    enc = load_encoder(p, run / "encoder")
    kw = dict(size_px=p.read_px, pixel_size_um=p.pixel_size_um)
    xi, yi, mi = sample_patches(TEST, areas, 10, rng_seed=3, **kw)
    atlas = load_atlas()
    xu, yu, mu = sample_patches(TEST, atlas.unseen_ids, 20, rng_seed=4, **kw)
    ti, tu = embed_all(enc, xi, views=8), embed_all(enc, xu, views=8)
    bi, bu = np.asarray(mi["brain"]), np.asarray(mu["brain"])
    seeds = set(brains["train"]) | set(brains["val"]) | set(TEST)
    f = {s: _factors(s) for s in seeds}
    stack = np.stack(list(f.values()))
    mean, sd = stack.mean(0), stack.std(0) + 1e-6

    def fac(bs: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.stack([(f[b] - mean) / sd for b in bs]), dtype=torch.float32)

    in_scope = {k: ((v >= 0) & (v < n)).numpy() for k, v in labels.items()}
    t_all = torch.cat([ti, tu])
    t_brains = np.concatenate([bi, bu])
    every = np.ones(len(t_all), bool)
    t_centred = _centre(t_all, t_brains, every)
    lobes = [atlas.get(a).lobe for a in [*yi, *yu]]
    t_lobe = _centre(t_all, np.array([f"{b}/{lo}" for b, lo in zip(t_brains, lobes)]), every)
    centred = {k: _centre(emb[k], brains[k], in_scope[k]) for k in emb}
    grouped = {
        k: _centre(emb[k], _area_groups(brains[k], labels[k].numpy(), n), in_scope[k]) for k in emb
    }
    variants = {
        "plain": (emb, ti, tu),
        "oracle": (
            {k: torch.cat([emb[k], fac(brains[k])], 1) for k in emb},
            torch.cat([ti, fac(bi)], 1),
            torch.cat([tu, fac(bu)], 1),
        ),
        "centred": (centred, t_centred[: len(ti)], t_centred[len(ti) :]),
        "centred, lobe in test": (centred, t_lobe[: len(ti)], t_lobe[len(ti) :]),
        "centred on area groups": (grouped, t_lobe[: len(ti)], t_lobe[len(ti) :]),
    }
    cal = torch.from_numpy(~is_rendered(sets["val"].sections))
    print(f"run {run}: {len(ti)} in-scope and {len(tu)} unseen test fields, brains {TEST}")
    print("| head input | classification | AUROC | in-scope rejected | unseen rejected |")
    print("|---|---|---|---|---|")
    tmp = tempfile.TemporaryDirectory()
    for name, (e, a, b) in variants.items():
        q = p.with_(embed_dim=e["train"].shape[1])
        out = Path(tmp.name) / name
        head, _ = run_head(q, areas, e, labels, out, lambda *_: None, None)
        head.eval()
        sc = run_scorer(q, head, n, e, labels, out / "scorer", cal)
        with torch.no_grad():
            li, lu = head(a), head(b)
            si, su = sc.score(a, li).numpy(), sc.score(b, lu).numpy()
        acc = float((np.array(areas)[li[:, :n].argmax(1).numpy()] == np.asarray(yi)).mean())
        thr = float(sc.threshold)
        print(
            f"| {name} | {acc:.3f} | {open_set_auroc(si, su):.3f} | "
            f"{(si > thr).mean():.3f} | {(su > thr).mean():.3f} |"
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
