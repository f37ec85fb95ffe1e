"""How well :func:`cytowords.sections.scale_check.check_pixel_size` catches a mis-stated
pixel size, on virtual sections of held-out brains, and what a check costs.

Each section (80 × 60 mm, true level-0 pixel size 16 µm, in-scope areas only) is checked
as if its file stated ``ratio ×`` the true pixel size, for ratios from 1/2 to 2. Prints,
per ratio, how often the check says "suspect" (flagged), "inconclusive", and how far its
suggested pixel size lies from the truth (median factor), plus the time per check.

    python benchmarks/pixel_size_check.py [--model default] [--brains 203 204 205]
    python benchmarks/pixel_size_check.py --brains 203 204 --store /tmp/px --compare

``--store DIR`` writes each section once as OME-Zarr into DIR (kept for the next run) and
checks the stored copy, so the times are the check's own, not the rendering of virtual
pixels. ``--compare`` runs every check twice, dense (maps of scattered tissue windows, the
default for a model with a dense evaluation) and per field (``dense=False``, the path of
encoders without one), and prints both verdicts and both times (wall and process CPU
seconds: the CPU figure is less disturbed by other jobs on the machine).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from cytowords.describe import Describer
from cytowords.sections import open_section, write_section
from cytowords.sections.scale_check import check_pixel_size, rescaled
from cytowords.synth.section import clear_render_cache, virtual_section

RATIOS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)


def section(brain: int, store: str | None):
    """Brain ``brain``'s virtual section, or its stored copy under ``store``."""
    sec = virtual_section(brain, size_mm=(80, 60), pixel_size_um=16.0)
    if not store:
        return sec
    path = Path(store) / f"b{brain}-16um.ome.zarr"
    if not path.exists():
        write_section(path, sec, chunk_px=1024)
    return open_section(path)


def timed(sec, d, fields: int, dense: bool | None):
    t, c = time.perf_counter(), time.process_time()
    res = check_pixel_size(sec, d, n_fields=fields, dense=dense)
    return res, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[203, 204, 205])
    ap.add_argument("--fields", type=int, default=96, help="fields per factor (per field)")
    ap.add_argument("--store", default=None, help="check stored OME-Zarr copies kept here")
    ap.add_argument("--compare", action="store_true", help="dense and per field")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    a = ap.parse_args()
    torch.set_num_threads(2)
    d = Describer(a.model, device=a.device)
    modes = (None, False) if a.compare else (None,)
    rows: dict[tuple, list] = {}
    for b in a.brains:
        sec = section(b, a.store)
        timed(sec, d, a.fields, None)  # warm: model, tissue mask
        for r in RATIOS:
            clear_render_cache()  # each check renders what it reads (without --store)
            for mode in modes:
                res, dt, cpu = timed(rescaled(sec, r), d, a.fields, mode)
                off = res.suggested_um / 16.0
                rows.setdefault((res.evaluation, r), []).append((res.verdict, off, dt, cpu))
                acc = " ".join(f"{v:.2f}" for v in res.accepted)
                print(
                    f"brain {b} stated x{r} {res.evaluation}: {res.verdict:12s} suggests "
                    f"{res.suggested_um:5.1f} µm (truth 16), {res.n_fields} fields, accepted "
                    f"by factor [{acc}], {dt:.1f} s ({cpu:.1f} s CPU)",
                    flush=True,
                )
    print(
        "\n| evaluation | stated / true pixel size | flagged | inconclusive | suggested / true "
        "(median) | s per check (wall) | CPU s |"
    )
    print("|---|---|---|---|---|---|---|")
    for (ev, r), rs in rows.items():
        flagged = np.mean([v == "suspect" for v, *_ in rs])
        inc = np.mean([v == "inconclusive" for v, *_ in rs])
        med = math.exp(float(np.median([math.log(o) for _, o, _, _ in rs])))
        secs = np.median([t for *_, t, _ in rs])
        cpu = np.median([c for *_, c in rs])
        print(f"| {ev} | {r:g} | {flagged:.2f} | {inc:.2f} | {med:.2f} | {secs:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
