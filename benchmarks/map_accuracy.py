"""Accuracy of whole-section area maps on held-out brains, against the ground truth.

Maps a virtual section of each test brain (80 × 60 mm at 32 µm/px, in-scope areas only)
with :func:`cytowords.mapping.compute_area_map` (one 4 mm field every 1024 µm)
and compares every map pixel with the ground-truth area label. Prints, per brain, the
accuracy on cortex pixels that the map names and does not reject, and the share of
cortex tiles that are rejected as "not a known area" (all of them in-scope cortex here).

    python benchmarks/map_accuracy.py [--model default] [--brains 203 204] [--views 1]
"""

from __future__ import annotations

import argparse

import torch

from cytowords.mapping import compute_area_map
from cytowords.synth.section import virtual_section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[203, 204])
    ap.add_argument("--stride-um", type=float, default=1024.0)
    ap.add_argument("--views", type=int, default=None, help="views per tile (default: model's)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    for b in a.brains:
        sec = virtual_section(b, size_mm=(80, 60), pixel_size_um=32.0)
        m = compute_area_map(sec, a.model, device="cpu", stride_um=a.stride_um, views=a.views)
        h, w = m.labels.shape
        p = m.pixel_size_um
        gt = sec.labels["areas"].read_window(m.origin_um[0], m.origin_um[1], h * p, w * p, p)
        cortex = (gt > 0) & (m.labels > 0)
        named = cortex & ~m.rejected
        acc = float((m.labels[named] == gt[named]).mean())
        print(
            f"brain {b}: accuracy {acc:.3f} on {int(named.sum())} named cortex pixels; "
            f"rejected {float(m.rejected[cortex].mean()):.3f} of cortex pixels"
        )


if __name__ == "__main__":
    main()
