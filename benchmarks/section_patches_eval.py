"""Classification and open-set figures on patches read from whole held-out sections.

``cytowords evaluate`` renders its test patches one by one (``synth.sample_patches``: random
angle, curvature, obliquity and depth). This script reads them the way the training
pipeline and the describer do: from virtual sections of the held-out test brains that also
contain the unseen areas (``virtual_section(include_unseen=True)``), sampled with
``cytowords.training.data.patches.build_patch_set`` (same purity rule as training). It prints the
60-way accuracy of the area head, the open-set AUROC (unseen vs in-scope), and the
rejection rates at the bundle's threshold; in-scope rejection is also split by whether the
field shows cortex of an unseen area (these sections hold them, training sections do not).

    python benchmarks/section_patches_eval.py [--model default] [--brains 200 201 202]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.describe import Describer
from cytowords.synth import virtual_section
from cytowords.training.data.patches import PatchConfig, build_patch_set
from cytowords.training.data.spec import LabelledSection
from cytowords.training.evaluate.metrics import open_set_auroc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[200, 201, 202])
    ap.add_argument("--per-area", type=int, default=17)
    args = ap.parse_args()
    torch.set_num_threads(2)
    atlas = load_atlas()
    bundle = Describer(args.model, device="cpu").bundle
    um, px = bundle.pixel_size_um, bundle.patch_px
    areas = list(atlas.in_scope_ids) + list(atlas.unseen_ids)
    sections = []
    for b in args.brains:
        sec = virtual_section(b, size_mm=(80, 60), pixel_size_um=um, include_unseen=True)
        sections.append(LabelledSection(sec, f"test-{b}", "test", sec.labels["areas"]))
    cfg = PatchConfig(
        pixel_size_um=um, patch_px=px, n_per_area=args.per_area, none_share=0.1, min_purity=0.6
    )
    ps = build_patch_set(sections, areas, cfg)
    emb = bundle.embed(ps.patches)
    probs, score, rejected = (t.numpy() for t in bundle.classify(emb))
    pred = np.array(bundle.area_ids)[probs.argmax(1)]
    lab = ps.labels.astype(str)
    ins = np.isin(lab, atlas.in_scope_ids)
    uns = np.isin(lab, atlas.unseen_ids)
    non = lab == NONE_ID
    print(f"model {args.model}: {um:g} µm/px, {px} px; brains {args.brains}")
    print(f"patches: {ins.sum()} in-scope, {uns.sum()} unseen, {non.sum()} non-cortex")
    print(f"classification accuracy (60-way): {(pred[ins] == lab[ins]).mean():.3f}")
    print(f"open-set AUROC (unseen vs in-scope): {open_set_auroc(score[ins], score[uns]):.3f}")
    print(
        f"rejected at the threshold: in-scope {rejected[ins].mean():.3f}, "
        f"unseen {rejected[uns].mean():.3f}, non-cortex {rejected[non].mean():.3f}"
    )
    share = _unseen_share(ps, sections, atlas, px * um, um)
    for name, m in (
        ("no unseen cortex in the field", ins & (share == 0)),
        (
            "some unseen cortex (> 0 to 20 % of the field's cortex)",
            ins & (share > 0) & (share <= 0.2),
        ),
        ("more unseen cortex (> 20 %)", ins & (share > 0.2)),
    ):
        print(f"in-scope rejected, {name}: {rejected[m].mean():.3f} of {m.sum()}")


def _unseen_share(ps, sections: list, atlas, field_um: float, um: float) -> np.ndarray:
    """Per patch: share of the cortex in its field that belongs to an unseen area (each
    section's label image is read once at ``um``, padded by half a field of 0)."""
    unseen = np.array([atlas.get(u).label for u in atlas.unseen_ids])
    n, half = int(round(field_um / um)), field_um / 2
    out = np.zeros(len(ps))
    names = ps.sections.astype(str)
    for ls in sections:
        h, w = ls.section.shape_um
        full = ls.labels.read_window(-half, -half, h + field_um, w + field_um, um)
        for i in np.flatnonzero(names == ls.name):
            y, x = (int(round(v / um)) for v in ps.positions_um[i])
            win = full[y : y + n, x : x + n]
            out[i] = np.isin(win, unseen).sum() / max(int((win > 0).sum()), 1)
    return out


if __name__ == "__main__":
    main()
