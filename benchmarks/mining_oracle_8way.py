"""Oracle masked 8-way accuracy of the mined training captions against the references.

Scores the set-A captions themselves (what a perfect captioner could reach) against the
reference descriptions of a split: ``reference`` (set R, the published one), ``legacy``
(the retired, circular set B) or, for comparison only, ``train`` (leaky). Usage:

    OMP_NUM_THREADS=1 python benchmarks/mining_oracle_8way.py [reference|legacy|train]
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np


def main(ref_split: str = "reference") -> None:
    import cytowords.training.evaluate.text_scoring as ts
    from cytowords.atlas import NONE_ID, load_atlas
    from cytowords.training.mining import mine_corpus

    atlas = load_atlas()
    caps = [c for c in mine_corpus(None, atlas, split="train").captions if c.area != NONE_ID]
    ts.reference_descriptions = lambda a, docs_dir=None: (
        mine_corpus(docs_dir, a, split=ref_split).descriptions
    )
    scorer = ts.TextScorer(atlas)
    res = scorer.score([c.caption for c in caps], [c.area for c in caps])
    ok = res["valid"]
    print(f"references={ref_split} captions={ok.sum()}")
    print(
        f"random 8-way {res['random'][ok].mean():.3f}  nearest 8-way {res['nearest'][ok].mean():.3f}"
    )
    per: dict[str, list[bool]] = defaultdict(list)
    for c, hit in zip(caps, res["random"]):
        per[c.area].append(bool(hit))
    worst = sorted((np.mean(v), k) for k, v in per.items())
    print("hardest:", ", ".join(f"{k} {m:.2f}" for m, k in worst[:8]))
    print("easiest:", ", ".join(f"{k} {m:.2f}" for m, k in worst[-8:]))


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["reference"]))
