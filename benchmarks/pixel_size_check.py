"""How well :func:`cytowords.sections.scale_check.check_pixel_size` catches a mis-stated
pixel size, on virtual sections of held-out brains.

Each section (80 × 60 mm, true level-0 pixel size 16 µm, in-scope areas only) is checked
as if its file stated ``ratio ×`` the true pixel size, for ratios from 1/2 to 2. Prints,
per ratio, how often the check says "suspect" (flagged), "inconclusive", and how far its
suggested pixel size lies from the truth (median factor), plus the time per check.

    python benchmarks/pixel_size_check.py [--model default] [--brains 203 204 205]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from cytowords.describe import Describer
from cytowords.sections.scale_check import check_pixel_size, rescaled
from cytowords.synth.section import clear_render_cache, virtual_section

RATIOS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[203, 204, 205])
    ap.add_argument("--fields", type=int, default=96)
    a = ap.parse_args()
    torch.set_num_threads(2)
    d = Describer(a.model, device="cpu")
    rows: dict[float, list] = {r: [] for r in RATIOS}
    for b in a.brains:
        sec = virtual_section(b, size_mm=(80, 60), pixel_size_um=16.0)
        for r in RATIOS:
            clear_render_cache()  # each check renders what it reads
            t = time.perf_counter()
            res = check_pixel_size(rescaled(sec, r), d, n_fields=a.fields)
            dt = time.perf_counter() - t
            off = res.suggested_um / 16.0
            rows[r].append((res.verdict, off, dt))
            acc = " ".join(f"{v:.2f}" for v in res.accepted)
            print(
                f"brain {b} stated x{r}: {res.verdict:12s} suggests {res.suggested_um:5.1f} "
                f"µm (truth 16), accepted by factor [{acc}], {dt:.1f} s",
                flush=True,
            )
    print(
        "\n| stated / true pixel size | flagged | inconclusive | suggested / true (median) "
        "| s per check |"
    )
    print("|---|---|---|---|---|")
    for r, rs in rows.items():
        flagged = np.mean([v == "suspect" for v, _, _ in rs])
        inc = np.mean([v == "inconclusive" for v, _, _ in rs])
        med = math.exp(float(np.median([math.log(o) for _, o, _ in rs])))
        secs = np.mean([t for _, _, t in rs])
        print(f"| {r:g} | {flagged:.2f} | {inc:.2f} | {med:.2f} | {secs:.0f} |")


if __name__ == "__main__":
    main()
