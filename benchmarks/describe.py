"""Describe latency and encoder throughput with the bundled default model (CPU).

Prints: warm latency of describing one 4 × 4 mm cortex ROI (goal: under 0.5 s) on an
OME-Zarr store on disk (what users have) and on a virtual synthetic section (pixels
rendered on every read), the ROI's ground-truth areas and the verdict, the split into
each step (field reading, model, quality check, scale check, readout and its parts,
caption: wall and CPU time from profiles of the real calls), the latency with the model
yielding a core to the readout and without (``DescribeParams.yield_core``, alternating),
with the captioner's drafted decoding and without (``Captioner.draft_texts``, alternating),
batched encoder throughput vs one patch at a time (ratio, one view), fields/s with the
model's test-time views, and peak memory.

    python benchmarks/describe.py [--model default] [--threads 2] [--repeats 5] [--roi-mm 4 10]

``--roi-mm``: ROI sides (mm) to time, each the square with the most labelled cortex.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import itertools
import resource
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from cytowords.describe import Describer
from cytowords.regions import Roi
from cytowords.sections import open_section, write_section
from cytowords.synth import virtual_section
from cytowords.synth.section import clear_render_cache

ROI_UM = 4000.0


def cortex_roi(section, side_um: float = ROI_UM) -> Roi:
    """The ``side_um`` square window with the most labelled cortex (from the coarsest
    label level)."""
    lab = section.labels["areas"]
    k = len(lab.levels) - 1
    px = lab.pixel_size_um[k]
    cortex = (np.asarray(lab.levels[k].compute()) > 0).astype(float)
    w = max(1, int(side_um / px))
    c = np.pad(cortex.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = c[w:, w:] - c[:-w, w:] - c[w:, :-w] + c[:-w, :-w]
    i, j = np.unravel_index(np.argmax(sums), sums.shape)
    return Roi.rectangle(i * px, j * px, i * px + side_um, j * px + side_um)


def truth(section, roi: Roi) -> str:
    """The ground-truth areas under the ROI (shares of its labelled pixels, top 3)."""
    lab = section.labels["areas"]
    (y0, x0), (y1, x1) = roi.vertices.min(0), roi.vertices.max(0)
    win = lab.read_window(y0, x0, y1 - y0, x1 - x0, lab.pixel_size_um[-1])
    vals, counts = np.unique(win[win > 0], return_counts=True)
    top = sorted(zip(counts, vals), reverse=True)[:3]
    return ", ".join(f"{lab.names.get(int(v), v)} {c / counts.sum():.0%}" for c, v in top)


def latency(
    d: Describer, section, roi: Roi, repeats: int, render: bool = False
) -> tuple[list[float], list[float], object]:
    """Warm latencies of ``repeats`` descriptions: wall seconds, CPU seconds (the process,
    all threads) and the last description; ``render``: the virtual section's rendered
    chunks are forgotten before each, so every read renders them."""
    d.describe_roi(section, roi)  # warm: model loaded, caches filled
    times, cpu = [], []
    for _ in range(repeats):
        if render:
            clear_render_cache()
        t0, c0 = time.perf_counter(), time.process_time()
        res = d.describe_roi(section, roi)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu, res


def yield_ab(d: Describer, section, roi: Roi, repeats: int) -> str:
    """The warm latency with ``DescribeParams.yield_core`` on and off, alternating in one
    process (a fair comparison when the machine's load changes): medians of wall and CPU
    seconds."""
    params = {on: replace(d.params, yield_core=on) for on in (True, False)}
    got: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for on in (True, False):
        d.describe_roi(section, roi, params=params[on])  # warm
    for i in range(repeats):
        for on in (True, False) if i % 2 == 0 else (False, True):
            t0, c0 = time.perf_counter(), time.process_time()
            d.describe_roi(section, roi, params=params[on])
            got[on][0].append(time.perf_counter() - t0)
            got[on][1].append(time.process_time() - c0)
    med = statistics.median
    return "; ".join(
        f"yield_core {'on' if on else 'off'}: median {med(w):.3f} s wall, {med(c):.3f} s CPU"
        for on, (w, c) in got.items()
    )


def drafts_ab(d: Describer, section, roi: Roi, repeats: int) -> str:
    """The warm latency with the captioner's drafted decoding (its draft texts, the
    default) and without (no draft texts: one LM call per token), alternating in one
    process: medians of wall and CPU seconds; whether the captions were the same."""
    cap = d.bundle.captioner
    texts = cap.draft_texts
    got: dict[bool, tuple[list[float], list[float], set[str]]] = {
        on: ([], [], set()) for on in (True, False)
    }
    try:
        for i in range(repeats):
            for on in (True, False) if i % 2 == 0 else (False, True):
                cap.draft_texts = texts if on else []
                cap._draft_table()  # built once per switch, outside the timing
                t0, c0 = time.perf_counter(), time.process_time()
                res = d.describe_roi(section, roi)
                got[on][0].append(time.perf_counter() - t0)
                got[on][1].append(time.process_time() - c0)
                got[on][2].add(res.caption)
    finally:
        cap.draft_texts = texts
    med = statistics.median
    same = "same" if got[True][2] == got[False][2] else "DIFFERENT"
    return (
        "; ".join(
            f"drafts {'on' if on else 'off'}: median {med(w):.3f} s wall, {med(c):.3f} s CPU"
            for on, (w, c, _) in got.items()
        )
        + f"; {same} captions"
    )


class StepTimer:
    """Wall and CPU seconds (the process, all threads) of named calls, by call path: a
    timed call made inside another is counted as its part, so a function called from two
    steps (the field reader) is reported under each. A call on another thread (the
    readout, which runs beside the model) is counted under the outermost step; the CPU
    seconds of steps that overlap include each other's."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.outer: list[str] = []
        self.seconds: dict[tuple[str, ...], list[float]] = {}

    @property
    def stack(self) -> list[str]:
        """This thread's open steps (another thread's start under the outermost step)."""
        if not hasattr(self.local, "stack"):
            self.local.stack = self.outer[:1] if self.outer else self.outer
        return self.local.stack

    def wrap(self, label: str, fn):
        """``fn`` timed as ``label`` under the timed calls running now."""

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            path = (*self.stack, label)
            self.stack.append(label)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                acc = self.seconds.setdefault(path, [0.0, 0.0])
                acc[0] += time.perf_counter() - t0
                acc[1] += time.process_time() - c0

        return timed

    @contextlib.contextmanager
    def patched(self, targets):
        """Time ``(object, attribute, label)`` targets (module functions, or methods of one
        object) while inside; restored after."""
        saved = [(obj, attr, vars(obj).get(attr)) for obj, attr, _ in targets]
        for obj, attr, label in targets:
            setattr(obj, attr, self.wrap(label, getattr(obj, attr)))
        try:
            yield self
        finally:
            for obj, attr, old in reversed(saved):
                if old is None:
                    delattr(obj, attr)
                else:
                    setattr(obj, attr, old)


def split(d: Describer, section, roi: Roi, repeats: int = 3) -> str:
    """The warm description split into its steps: wall and CPU seconds per description
    (mean of ``repeats``), timed around the real calls of ``describe_roi`` (the field
    reader, the model, the quality and scale checks, the readout and its parts, the
    caption); ``rest`` is the time of a step not in its timed parts."""
    from cytowords.describe import describer as describer_mod
    from cytowords.measure import readout as readout_mod
    from cytowords.measure import ribbon as ribbon_mod
    from cytowords.sections import roi_scale as scale_mod

    targets = [
        (d, "describe_roi", "whole description"),
        (describer_mod, "read_region_fields", "read fields"),
        (scale_mod, "read_fields", "read fields"),
        (d.bundle, "embed", "embed"),
        (d.bundle, "predict", "classify"),
        (describer_mod, "section_tissue_threshold", "tissue threshold"),
        (describer_mod, "assess_fields", "quality check"),
        (describer_mod, "reread_at_scales", "scale check"),
        (describer_mod, "measure_region", "readout"),
        (section, "read_window", "read window"),
        (readout_mod, "slide_reference", "slide reference"),
        (readout_mod, "segment", "segment"),
        (ribbon_mod, "_white_matter", "white matter"),
        (ribbon_mod, "_laplace", "depth potential"),
        (readout_mod, "polygon_mask", "ROI mask"),
        (readout_mod, "trace_traverses", "traverses"),
        (readout_mod, "profiles_along", "profiles"),
        (readout_mod, "grain_profiles", "grain"),
        (readout_mod, "analyse_profile", "layers"),
        (d, "_caption", "caption"),
    ]
    d.describe_roi(section, roi)  # warm
    with StepTimer().patched(targets) as timer:
        for _ in range(repeats):
            d.describe_roi(section, roi)
    seconds = timer.seconds
    width = max(2 * len(p) + 2 for p in seconds) + max(len(p[-1]) for p in seconds)
    lines = [f"  {'step':<{width}}  wall s   CPU s"]

    def add(path: tuple[str, ...], wall: float, cpu: float) -> None:
        label = "  " * (len(path) - 1) + path[-1]
        lines.append(f"  {label:<{width}}  {wall / repeats:6.3f}  {cpu / repeats:6.3f}")

    def walk(path: tuple[str, ...]) -> None:
        wall, cpu = seconds[path]
        add(path, wall, cpu)
        kids = [p for p in seconds if len(p) == len(path) + 1 and p[:-1] == path]
        for kid in kids:
            walk(kid)
        if kids:
            rest = [seconds[path][i] - sum(seconds[k][i] for k in kids) for i in (0, 1)]
            add((*path, "rest"), *rest)

    walk(("whole description",))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--roi-mm", type=float, nargs="+", default=[4.0])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    d = Describer(args.model, device="cpu")
    ps, n = d.bundle.pixel_size_um, d.bundle.patch_px
    print(f"model: {d.model_path} ({n} px patches at {ps} µm/px = {n * ps:.0f} µm)")
    virtual = virtual_section(3, size_mm=(24, 18), pixel_size_um=4.0)
    rois = {side: cortex_roi(virtual, side * 1000.0) for side in args.roi_mm}
    for side, roi in rois.items():
        print(f"{side:g} mm ROI ground truth: {truth(virtual, roi)}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = write_section(Path(tmp) / "s.ome.zarr", virtual, chunk_px=512)
        print(f"persisted the 24 x 18 mm section at 4 µm/px in {time.perf_counter() - t0:.0f} s")
        # latency with the caption always generated (a rejected ROI skips it)
        always = copy.copy(d)
        always.params = replace(d.params, min_accept_share=0.0)
        sections = (("OME-Zarr on disk", open_section(store)), ("virtual", virtual))
        for (label, section), (side, roi) in itertools.product(sections, rois.items()):
            times, cpu, _ = latency(always, section, roi, args.repeats, section is virtual)
            clear_render_cache()
            res = d.describe_roi(section, roi)
            print(
                f"{label}: {side:g}x{side:g} mm ROI, {res.n_patches} patches, warm latency median "
                f"{statistics.median(times):.3f} s (min {min(times):.3f} s; goal < 0.5 s), "
                f"CPU median {statistics.median(cpu):.3f} s, captioned; verdict {res.area} "
                f"{res.probability:.0%}{' rejected' if res.rejected else ''}"
            )
            if section is not virtual:  # the virtual section renders: its split is reading
                print(split(always, section, roi))
                print(
                    f"  alternating, {args.repeats} each: "
                    + yield_ab(always, section, roi, args.repeats)
                )
                if always.bundle.captioner is not None:
                    print(
                        f"  alternating, {args.repeats} each: "
                        + drafts_ab(always, section, roi, args.repeats)
                    )

    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, size=(256, d.bundle.read_px, d.bundle.read_px), dtype=np.uint8)
    d.bundle.embed(patches[:8])
    t0 = time.perf_counter()
    d.bundle.embed(patches, batch_size=64, views=1)
    batched = len(patches) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for p in patches[:64]:
        d.bundle.embed(p[None], batch_size=1, views=1)
    single = 64 / (time.perf_counter() - t0)
    print(
        f"encoder (1 view): batched {batched:.0f} patches/s, one at a time {single:.0f} "
        f"patches/s, ratio {batched / single:.1f}x"
    )
    t0 = time.perf_counter()
    d.bundle.embed(patches, batch_size=64)
    print(
        f"fields with the model's {d.bundle.views} views (batches of 64 fields): "
        f"{len(patches) / (time.perf_counter() - t0):.0f} fields/s"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
