"""Test-time views: accuracy, open-set separation and cost per number of views.

For 1, 2, 4 and 8 mirror/rotation views per field (``cytowords.model.tta``) on fields
rendered from held-out test brains (``cytowords.synth.sample_patches``: in-scope areas and
the atlas's unseen areas), prints 60-way classification accuracy, open-set AUROC
(in-scope vs unseen), the share rejected at each count's own calibrated threshold, and
the encoder throughput (fields/s, one field = all its views).

    python benchmarks/tta_views.py [--model default] [--per-area 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cytowords.atlas import load_atlas
from cytowords.model import load_bundle, resolve_model_path
from cytowords.synth import sample_patches
from cytowords.training.evaluate.metrics import open_set_auroc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[200, 201, 202])
    ap.add_argument("--per-area", type=int, default=10, help="in-scope fields per area+brain")
    a = ap.parse_args()
    b = load_bundle(resolve_model_path(a.model))
    kw = dict(size_px=b.read_px, pixel_size_um=b.pixel_size_um)
    x_in, y_in, _ = sample_patches(a.brains, b.area_ids, a.per_area, rng_seed=3, **kw)
    unseen = load_atlas().unseen_ids
    x_un, _, _ = sample_patches(a.brains, unseen, 2 * a.per_area, rng_seed=4, **kw)
    y_in = np.asarray(y_in)
    print(
        f"model {a.model}: {len(x_in)} in-scope fields, {len(x_un)} unseen-area fields, "
        f"brains {a.brains}; default views {b.views}, calibrated for {sorted(b.thresholds)}"
    )
    print("| views | classification | AUROC | in-scope rejected | unseen rejected | fields/s |")
    print("|---|---|---|---|---|---|")
    for n in sorted(b.thresholds):
        t0 = time.perf_counter()
        e_in = b.embed(x_in, views=n)
        rate = len(x_in) / (time.perf_counter() - t0)
        e_un = b.embed(x_un, views=n)
        p_in, s_in, r_in = b.classify(e_in, views=n)
        _, s_un, r_un = b.classify(e_un, views=n)
        acc = float((np.asarray(b.area_ids)[p_in.argmax(1).numpy()] == y_in).mean())
        print(
            f"| {n} | {acc:.3f} | {open_set_auroc(s_in.numpy(), s_un.numpy()):.3f} "
            f"| {r_in.float().mean():.3f} | {r_un.float().mean():.3f} | {rate:.0f} |"
        )


if __name__ == "__main__":
    main()
