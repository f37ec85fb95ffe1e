"""Rendering throughput of the synthetic cortex generator.

    OMP_NUM_THREADS=1 python benchmarks/render.py [--patches 200] [--windows 4]

Measures (single process, dask synchronous scheduler so numbers are per core):
- 128 × 128 px patches at 16 µm/px (the default model input): patches/s and Mpx/s;
- 1024² px windows of the default 80 × 60 mm virtual section at 2 µm/px (cell detail),
  at 16 µm/px, and at its coarsest level; the one-off geometry build; time to open.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from cytowords.atlas import load_atlas
from cytowords.synth import Brain, render_patch, virtual_section
from cytowords.synth.section import clear_render_cache


def bench_patches(n: int) -> dict:
    atlas = load_atlas()
    rng = np.random.default_rng(0)
    brain = Brain(0)
    for a in atlas.in_scope_ids:  # compile depth tables once (cached per brain)
        brain.table(a)
    t = time.perf_counter()
    for i in range(n):
        a = atlas.in_scope_ids[i % len(atlas.in_scope_ids)]
        render_patch(
            a,
            brain,
            size_um=2048,
            pixel_size_um=16,
            angle=float(rng.uniform(0, 360)),
            depth_offset=float(rng.uniform(-300, 1500)),
            seed=i,
        )
    dt = time.perf_counter() - t
    return {"patches_per_s": n / dt, "mpx_per_s": n * 128 * 128 / dt / 1e6}


def bench_section(n_windows: int) -> dict:
    t = time.perf_counter()
    sec = virtual_section(0)
    out = {"open_s": time.perf_counter() - t}
    t = time.perf_counter()
    coarse = sec.levels[-1].compute(scheduler="sync")
    out["first_coarsest_level_s_incl_geometry"] = time.perf_counter() - t
    clear_render_cache()  # rendered again, with the geometry built
    t = time.perf_counter()
    sec.levels[-1].compute(scheduler="sync")
    out["coarsest_level_s"] = time.perf_counter() - t
    out["coarsest_shape"] = list(coarse.shape)
    for level, name in ((0, "2um"), (3, "16um")):
        arr = sec.levels[level]
        h, w = arr.shape
        rng = np.random.default_rng(1)
        t = time.perf_counter()
        for _ in range(n_windows):  # windows on cortex-rich rows near the slide edge
            r = int(rng.integers(int(0.08 * h), int(0.3 * h))) // 1024 * 1024
            c = int(rng.integers(int(0.2 * w), int(0.8 * w))) // 1024 * 1024
            clear_render_cache()  # a window drawn twice is rendered twice
            arr[r : r + 1024, c : c + 1024].compute(scheduler="sync")
        dt = time.perf_counter() - t
        out[f"window_{name}_s"] = dt / n_windows
        out[f"window_{name}_mpx_per_s"] = n_windows * 1024 * 1024 / dt / 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="synthetic cortex rendering throughput")
    ap.add_argument("--patches", type=int, default=200)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    res = {
        "patches_128px_16um": bench_patches(args.patches),
        "section_80x60mm": bench_section(args.windows),
    }
    print(json.dumps(res, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
