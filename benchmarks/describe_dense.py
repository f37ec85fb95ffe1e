"""A large ROI described with its fields from one dense window vs field by field (CPU).

Prints, for a 16 × 16 mm ROI of a synthetic band section (bundled model, 8 views): the
fields step (read + embed) and ``describe_roi`` without the readout, dense (automatic) and
per field (``read_region_fields(..., dense=False)``), CPU and wall time, median of the
interleaved repeats, and the verdicts (which must agree).

    python benchmarks/describe_dense.py [--threads 1] [--repeats 5] [--side-mm 16]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import cytowords.describe.describer as dm  # noqa: E402
from cytowords.describe import DescribeParams, Describer  # noqa: E402
from cytowords.mapping.dense import read_region_fields  # noqa: E402
from cytowords.regions import Roi  # noqa: E402
from cytowords.regions.roi import patch_grid  # noqa: E402
from tests.support.map_fixtures import band_section  # noqa: E402


def _clock(f):
    c, w = time.process_time(), time.perf_counter()
    r = f()
    return r, time.process_time() - c, time.perf_counter() - w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--side-mm", type=float, default=16.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    side = a.side_mm * 1000.0
    sec = band_section(side + 8000.0, side + 8000.0, 16.0)
    d = Describer("default", device="cpu", params=DescribeParams(max_new_tokens=8, measure=False))
    b, roi = d.bundle, Roi.rectangle(4000, 4000, 4000 + side, 4000 + side)
    c = patch_grid(
        roi,
        patch_um=d.patch_um,
        stride_um=d.patch_um * d.params.stride_fraction,
        section_shape_um=sec.shape_um,
        max_patches=d.params.max_patches,
        min_patches=d.params.min_patches,
    )
    print(f"threads {a.threads}, load {os.getloadavg()[0]:.1f}, {len(c)} fields")
    steps = {
        "fields, dense": lambda: read_region_fields(sec, b, c).emb,
        "fields, per field": lambda: b.embed(read_region_fields(sec, b, c, dense=False).patches),
    }
    orig = dm.read_region_fields
    for how, fn in (("dense", orig), ("per field", functools.partial(orig, dense=False))):
        steps[f"describe_roi, {how}"] = functools.partial(_describe, d, sec, roi, fn)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in steps}
    verdicts = {}
    for f in steps.values():
        f()  # warm
    for _ in range(a.repeats):
        for k, f in steps.items():
            r, cpu, wall = _clock(f)
            times[k].append((cpu, wall))
            if k.startswith("describe"):
                verdicts[k] = (r.area, r.rejected, r.rejection_reason)
    for k, v in times.items():
        cpu, wall = statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)
        print(f"{k}: {cpu:.2f} s CPU, {wall:.2f} s wall")
    print("verdicts", verdicts)


def _describe(d, sec, roi, reader):
    dm.read_region_fields = reader
    try:
        return d.describe_roi(sec, roi)
    finally:
        dm.read_region_fields = read_region_fields


if __name__ == "__main__":
    main()
