"""Describe latency and encoder throughput with the bundled default model (CPU).

Prints: warm latency of describing one 4 × 4 mm ROI of a virtual synthetic section (goal:
under 0.5 s), batched encoder throughput vs one patch at a time (ratio), and peak memory.

    python benchmarks/describe.py [--model default] [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import torch

from cytowords.describe import Describer, Roi
from cytowords.synth import virtual_section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    section = virtual_section(3, size_mm=(40, 30), pixel_size_um=2.0)
    d = Describer(args.model, device="cpu")
    ps, n = d.bundle.pixel_size_um, d.bundle.patch_px
    print(f"model: {d.model_path} ({n} px patches at {ps} µm/px = {n * ps:.0f} µm)")
    roi = Roi.rectangle(12000, 4000, 16000, 8000)  # 4 x 4 mm, µm
    d.describe_roi(section, roi)  # warm: model loaded, section chunks rendered
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = d.describe_roi(section, roi)
        times.append(time.perf_counter() - t0)
    print(
        f"4x4 mm ROI: {res.n_patches} patches, warm latency median {statistics.median(times):.3f} s "
        f"(min {min(times):.3f} s; goal < 0.5 s) -> {res.area} {res.probability:.0%}"
        f"{' rejected' if res.rejected else ''}"
    )

    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, size=(256, n, n), dtype=np.uint8)
    d.bundle.embed(patches[:8])
    t0 = time.perf_counter()
    d.bundle.embed(patches, batch_size=64)
    batched = len(patches) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for p in patches[:64]:
        d.bundle.embed(p[None], batch_size=1)
    single = 64 / (time.perf_counter() - t0)
    print(
        f"encoder: batched {batched:.0f} patches/s, one at a time {single:.0f} patches/s, ratio {batched / single:.1f}x"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
