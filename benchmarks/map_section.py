"""Whole-section area-map throughput on a synthetic section, with a BigBrain projection.

Usage (repository root, venv active)::

    python benchmarks/map_section.py                         # CPU, all measurements
    python benchmarks/map_section.py --device cuda --only-throughput --size-mm 64 48
    python benchmarks/map_section.py --dense --region-mm 8 6 --views 8   # dense vs per field

Setup (cached in ``--workdir``): a model bundle with the *default* architecture
(CytoEncoder 16 µm/px, 128 px patches, width 32, embed 256; random weights: speed does not
depend on training) and synthetic sections (``cytowords.synth.virtual_section``, rendered
once and stored as OME-Zarr so that the benchmark reads real zarr chunks).

Prints: patches/s; batched vs one-patch-at-a-time; 1 vs 2 dask workers (LocalCluster of
processes, model warm); peak memory for the section and a 4× larger one (fresh processes);
the share of time reading vs computing; and the projected time for one BigBrain section.

``--dense``: per-field vs dense evaluation in one run, same grid, same views, same encoder
(``DenseBenchEncoder``: fully convolutional, the default's size: 64 µm/px, 64 px
patch with 8 px context, width 32, embed 256, feature stride 4 px; random weights; or a
trained bundle with ``--model``), on a region of the section: seconds each, the ratio,
tile agreement, and the dense map at the model's own pixel vs the requested stride;
``--whole`` also maps the whole section densely at both strides (wall and CPU seconds).

``--cpu-split``: where the CPU time of a whole-section dense map goes (``--model`` or the
bundled model, ``--views``, ``--stride-um``), from one map under cProfile with a CPU-time clock
on one thread (``scheduler="sync"``, ``torch.set_num_threads(1)``): encoder (and its parts),
field-quality check, heads, the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AREAS = ["hOc1", "hOc2", "hOc3v", "4a", "4p", "3b", "44", "45", "FG1", "FG2"]
BIGBRAIN_PX = (150_000, 200_000)  # a full BigBrain section at 1 µm/px (rows, cols)
TISSUE_SHARE = 0.40
#: assumed effective GPU throughput for this small CNN under bf16 autocast: ~3 % of an A100's
#: 312 TFLOP/s dense bf16 peak (32-128-channel convs and GroupNorm are memory-bound)
GPU_EFFECTIVE_TFLOPS = 10.0


def make_bundle(path: Path) -> Path:
    """A bundle of the default architecture with random weights (no language model)."""
    import torch

    from cytowords.model import (
        AreaHead,
        CytoEncoder,
        EncoderConfig,
        HeadConfig,
        OpenSetScorer,
        save_bundle,
    )

    if (path / "config.json").is_file():
        return path
    torch.manual_seed(0)
    enc = CytoEncoder(EncoderConfig())
    n = len(AREAS) + 1
    head = AreaHead(HeadConfig(embed_dim=enc.embed_dim, n_classes=n, hidden=256, none_class=True))
    with torch.no_grad():
        emb = enc.embed(torch.rand(300, 1, 128, 128))
    lab = torch.arange(len(emb)) % n
    head.set_input_stats(emb)
    head.eval()
    scorer = OpenSetScorer(enc.embed_dim, n, "mahalanobis")
    with torch.no_grad():
        scorer.fit(emb, lab, in_scope=torch.tensor([True] * len(AREAS) + [False]), logits=head(emb))
        scorer.calibrate(scorer.score(emb, head(emb)), 0.05)
    return save_bundle(path, encoder=enc, head=head, scorer=scorer, area_ids=AREAS)


def make_section(workdir: Path, size_mm: tuple[float, float], seed: int = 7) -> Path:
    """A virtual section (rows × cols mm at 16 µm/px) persisted as OME-Zarr."""
    from cytowords.sections import write_section
    from cytowords.synth.section import virtual_section

    h, w = size_mm
    path = workdir / f"section-{h:g}x{w:g}mm.ome.zarr"
    if not path.exists():
        t0 = time.perf_counter()
        sec = virtual_section(seed, size_mm=(w, h), pixel_size_um=16.0, chunk_px=512)
        write_section(path, sec, chunk_px=512)
        print(f"  rendered {path.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def run_map(section_path: Path, bundle: Path, **kw) -> dict:
    from cytowords.mapping import compute_area_map
    from cytowords.sections import open_section

    amap = compute_area_map(open_section(section_path), str(bundle), **kw)
    return amap.stats


def child(args: argparse.Namespace) -> None:
    """Fresh process: map one section, print stats and peak RSS (MiB) as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    kw = dict(stride_um=args.stride_um, device=args.device)
    from cytowords.sections import open_section

    h, w = open_section(args.child).shape_um
    centre = (h / 2 - 2000, w / 2 - 2000, h / 2 + 2000, w / 2 + 2000)
    run_map(Path(args.child), Path(args.bundle), region_um=centre, **kw)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # model loaded
    stats = run_map(Path(args.child), Path(args.bundle), **kw)
    stats["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats["peak_before_mib"] = before
    print("CHILD " + json.dumps(stats))


def in_child(section: Path, bundle: Path, a: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", str(section), "--bundle", str(bundle)]
    cmd += ["--stride-um", str(a.stride_um), "--device", a.device, "--threads", str(a.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(next(ln for ln in out.splitlines() if ln.startswith("CHILD "))[6:])


def workers_ratio(section: Path, bundle: Path, a: argparse.Namespace) -> tuple[float, float]:
    from distributed import Client, LocalCluster

    times = []
    for n in (1, 2):
        k = str(max(1, a.threads // n))  # torch threads per worker (dask's default is 1)
        env = {"OMP_NUM_THREADS": k, "MKL_NUM_THREADS": k}
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=2, processes=True, dashboard_address=None, env=env
            ) as cluster,
            Client(cluster) as client,
        ):
            kw = dict(stride_um=a.stride_um, device=a.device, scheduler=client)
            run_map(section, bundle, region_um=(0, 0, 6000, 6000), **kw)  # warm: load models
            times.append(run_map(section, bundle, **kw)["seconds"])
    return times[0], times[1]


def encoder_gflop_per_patch() -> float:
    """Forward FLOPs of the default encoder per 128 px patch (torch's FLOP counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cytowords.model import CytoEncoder, EncoderConfig

    enc = CytoEncoder(EncoderConfig()).eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        enc.embed(torch.rand(4, 1, 128, 128))
    return fc.get_total_flops() / 4 / 1e9


def projection(rate: float, read_per_patch_s: float, stride_um: float) -> None:
    h_mm, w_mm = BIGBRAIN_PX[0] / 1000, BIGBRAIN_PX[1] / 1000
    area = h_mm * w_mm * TISSUE_SHARE
    gf = encoder_gflop_per_patch()
    gpu_rate = GPU_EFFECTIVE_TFLOPS * 1e3 / gf
    print("\nProjection: one BigBrain section, 150,000 × 200,000 px at 1 µm/px")
    print(f"  tissue = {h_mm:g} mm × {w_mm:g} mm × {TISSUE_SHARE:.0%} = {area:,.0f} mm²")
    print(
        f"  encoder: {gf:.3f} GFLOP/patch; CPU measured {rate:.0f} patches/s = "
        f"{rate * gf:.0f} GFLOP/s; GPU assumed {GPU_EFFECTIVE_TFLOPS:g} TFLOP/s effective "
        f"-> {gpu_rate:,.0f} patches/s (×{gpu_rate / rate:.0f}); reading on 16 CPU cores at "
        f"{read_per_patch_s * 1e3:.2f} ms/patch/core -> {16 / read_per_patch_s:,.0f} patches/s"
    )
    for s in sorted({1024.0, float(stride_um), 128.0}, reverse=True):
        n = area / (s / 1000) ** 2
        cpu = n / rate
        gpu_compute = n / gpu_rate
        gpu_read = n * read_per_patch_s / 16
        gpu = max(gpu_compute, gpu_read)
        print(
            f"  stride {s:g} µm: {area:,.0f} mm² / ({s / 1000:g} mm)² = {n:,.0f} patches; "
            f"CPU {n:,.0f} / {rate:.0f} = {cpu / 60:,.1f} min; GPU max(model "
            f"{gpu_compute:.1f} s, reading {gpu_read:.1f} s) = {gpu:.1f} s"
        )


def dense_bench_bundle() -> object:
    """An in-memory bundle on :class:`DenseBenchEncoder` (head and scorer fitted on random
    fields; speed does not depend on training)."""
    import torch

    from cytowords.model import AreaHead, HeadConfig, ModelBundle, OpenSetScorer

    torch.manual_seed(0)
    enc = _dense_encoder_class()().eval()
    n = len(AREAS) + 1
    head = AreaHead(HeadConfig(embed_dim=enc.embed_dim, n_classes=n, hidden=256, none_class=True))
    with torch.no_grad():
        emb = enc.embed(torch.rand(300, 1, enc.window_px, enc.window_px))
        head.set_input_stats(emb)
        head.eval()
        scorer = OpenSetScorer(enc.embed_dim, n, "mahalanobis")
        lab = torch.arange(len(emb)) % n
        scorer.fit(emb, lab, in_scope=torch.tensor([True] * len(AREAS) + [False]), logits=head(emb))
        thr = scorer.calibrate(scorer.score(emb, head(emb)), 0.05)
    config = {
        "area_ids": AREAS,
        "none_class": {"enabled": True},
        "tta": {"views": 1, "thresholds": {str(k): thr for k in (1, 2, 4, 8)}},
    }
    return ModelBundle(enc, head, scorer, None, config, torch.device("cpu"))


def _dense_encoder_class():
    import torch.nn.functional as F
    from torch import nn

    class DenseBenchEncoder(nn.Module):
        """Fully convolutional encoder of the default's size with the dense contract
        (``cytowords.mapping.dense``): a 4 × 4 stride-4 stem, four valid 3 × 3 convolutions
        (32-64-128-128-256 channels), a box filter over one field window's positions; no
        projection (``project_hidden`` and ``project_out`` are the identity)."""

        def __init__(self, patch_px: int = 64, context_px: int = 8, width: int = 32) -> None:
            super().__init__()
            self.patch_px, self.context_px, self.feature_stride_px = patch_px, context_px, 4
            self.pixel_size_um, self.embed_dim = 64.0, 256
            self.window_px = self.input_px = patch_px + 2 * context_px
            w = width
            self.stem = nn.Conv2d(1, w, 4, 4)
            chans = [w, 2 * w, 4 * w, 4 * w, 8 * w]
            self.convs = nn.ModuleList(nn.Conv2d(a, b, 3) for a, b in zip(chans, chans[1:]))
            self.pool = self.window_px // 4 - 2 * len(self.convs)

        def dense_inputs(self, x):
            return x - 0.5

        def dense_features(self, x, z=None):
            f = F.relu(self.stem(self.dense_inputs(x) if z is None else z))
            for c in self.convs:
                f = F.relu(c(f))
            return F.avg_pool2d(f, self.pool, stride=1)

        def project_hidden(self, f):
            return f

        def project_out(self, h):
            return h

        def dense_embed(self, x):
            return self.dense_features(x)

        def embed(self, x):
            return self.dense_embed(x).mean((-2, -1))

    return DenseBenchEncoder


def dense_vs_fields(sec: Path, a: argparse.Namespace) -> None:
    """Per-field vs dense maps of a region, same grid and views, one run."""
    from cytowords.mapping import compute_area_map
    from cytowords.sections import open_section

    if a.model:
        from cytowords.model import get_bundle

        bundle = get_bundle(a.model, device=a.device)
    else:
        bundle = dense_bench_bundle()
    section = open_section(sec)
    h, w = section.shape_um
    rh, rw = a.region_mm[0] * 1000, a.region_mm[1] * 1000
    region = ((h - rh) / 2, (w - rw) / 2, (h + rh) / 2, (w + rw) / 2)
    kw = dict(region_um=region, device=a.device, views=a.views, precision=a.precision)
    for dense in (False, True):  # warm-up: both paths once, coarse
        compute_area_map(section, bundle, stride_um=2048.0, dense=dense, **kw)
    res = {}
    for mode, dense in (("per field", False), ("dense", True)):
        t0 = time.perf_counter()
        res[mode] = compute_area_map(section, bundle, stride_um=a.stride_um, dense=dense, **kw)
        res[mode].stats["wall_s"] = time.perf_counter() - t0
    f, d = res["per field"], res["dense"]
    ok = f.labels > 0
    agree = float((f.labels[ok] == d.labels[ok]).mean())
    print(
        f"\ndense vs per field: region {a.region_mm[0]:g} × {a.region_mm[1]:g} mm, stride "
        f"{a.stride_um:g} µm, {a.views} view(s), {f.stats['tiles']} tissue tiles"
    )
    for mode, m in res.items():
        st = m.stats
        print(
            f"  {mode:<9}: {st['wall_s']:.1f} s ({st['tiles'] / st['wall_s']:.0f} tiles/s; "
            f"reading {st['read_s']:.1f} s, model {st['compute_s']:.1f} s; "
            f"{st['blocks']} blocks)"
        )
    print(f"  ratio per field / dense: ×{f.stats['wall_s'] / d.stats['wall_s']:.1f}")
    print(
        f"  tiles with the same area: {agree:.2%}; same rejection: "
        f"{float((f.rejected == d.rejected)[ok].mean()):.2%}"
    )
    own = bundle.pixel_size_um
    t0 = time.perf_counter()
    fine = compute_area_map(section, bundle, stride_um=own, **kw)
    t_fine = time.perf_counter() - t0
    print(
        f"  dense at the model's own pixel ({own:g} µm, {fine.stats['tiles']} tiles): "
        f"{t_fine:.1f} s = ×{t_fine / d.stats['wall_s']:.2f} the {a.stride_um:g} µm map"
    )
    if a.whole:
        kw.pop("region_um")
        print(f"\nwhole section {h / 1000:g} × {w / 1000:g} mm, dense, {a.views} view(s):")
        for stride in (a.stride_um, own):
            t0, c0 = time.perf_counter(), _cpu_s()
            m = compute_area_map(section, bundle, stride_um=stride, **kw)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
            st = m.stats
            print(
                f"  {stride:g} µm: {st['tiles']:,} tiles, {st['blocks']} blocks; "
                f"{wall:.2f} s with planning, map {st['seconds']:.2f} s "
                f"({st['tiles'] / st['seconds']:,.0f} tiles/s); CPU {cpu:.2f} s "
                f"(all threads); in tasks: reading {st['read_s']:.2f} s, model and quality "
                f"check {st['compute_s']:.2f} s"
            )


#: --cpu-split: (label, function name as cProfile reports it, file it is defined in)
SPLIT = (
    ("encoder (all views)", "dense_embed_views", "model/tta.py"),
    ("  trunk: convolutions and norms", "features", "model/dense_encoder.py"),
    ("  pooling's box filters", "box_pool", "model/dense_encoder.py"),
    ("  projection's hidden layer", "project_hidden", "model/dense_encoder.py"),
    ("field-quality check", "assess_block", "sections/quality.py"),
    ("area head, open-set scorer, cortex detector", "score_embeddings", "mapping/infer.py"),
)


def cpu_split(sec: Path, a: argparse.Namespace) -> None:
    """Profile one whole-section dense map on one thread (CPU-time clock) and print shares."""
    import cProfile
    import pstats

    import torch

    from cytowords.mapping import compute_area_map
    from cytowords.model import get_bundle
    from cytowords.sections import open_section

    torch.set_num_threads(1)
    section = open_section(sec)
    bundle = get_bundle(a.model or "default", device="cpu")
    kw = dict(views=a.views, device="cpu", scheduler="sync", precision=a.precision)
    compute_area_map(section, bundle, stride_um=2048.0, **kw)  # warm-up
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    amap = compute_area_map(section, bundle, stride_um=a.stride_um, **kw)
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = max(v[3] for v in stats.values())

    def cumulative(name: str, where: str) -> float:
        return sum(v[3] for (f, _, n), v in stats.items() if n == name and f.endswith(where))

    print(
        f"\nCPU split of a whole-section dense map: {amap.stats['tiles']:,} tiles, stride "
        f"{a.stride_um:g} µm, {a.views} view(s), one thread, {total:.2f} CPU s"
    )
    named = 0.0
    for label, name, where in SPLIT:
        t = cumulative(name, where)
        named += 0.0 if label.startswith("  ") else t
        print(f"  {label:<45} {t:6.2f} s  {t / total:5.1%}")
    print(
        f"  {'reading the pyramid, planning, the rest':<45} {total - named:6.2f} s  "
        f"{(total - named) / total:5.1%}"
    )


def _cpu_s() -> float:
    """CPU seconds of this process so far, all threads (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mm", type=float, nargs=2, default=[24.0, 18.0], help="rows cols mm")
    ap.add_argument("--stride-um", type=float, default=256.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "cytowords-mapbench"))
    ap.add_argument("--only-throughput", action="store_true")
    ap.add_argument("--dense", action="store_true", help="only: dense vs per field, one run")
    ap.add_argument("--region-mm", type=float, nargs=2, default=[8.0, 6.0], help="--dense region")
    ap.add_argument("--views", type=int, default=8, help="--dense: test-time views")
    ap.add_argument(
        "--whole",
        action="store_true",
        help="--dense: also map the whole section densely at --stride-um and at the model's "
        "pixel (wall and CPU seconds)",
    )
    ap.add_argument(
        "--model",
        default=None,
        help="--dense: a trained bundle (default, or a folder) instead"
        " of the random-weight bench encoder; --cpu-split: the bundle to profile (default:"
        " the bundled model)",
    )
    ap.add_argument(
        "--cpu-split",
        action="store_true",
        help="only: where the CPU time of a whole-section dense map goes (cProfile, one thread)",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--bundle", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a)
    import torch

    torch.set_num_threads(a.threads)
    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    print(f"setup in {wd} (torch {torch.__version__}, {a.threads} threads, device {a.device})")
    bundle = make_bundle(wd / "bundle-default-arch")
    size = (a.size_mm[0], a.size_mm[1])
    sec = make_section(wd, size)
    if a.cpu_split:
        return cpu_split(sec, a)
    if a.dense:
        return dense_vs_fields(sec, a)
    kw = dict(stride_um=a.stride_um, device=a.device, precision=a.precision)
    run_map(sec, bundle, region_um=(0, 0, 4000, 4000), **kw)  # warm-up: model load
    st = run_map(sec, bundle, batch_size=a.batch_size, **kw)
    rate = st["patches_per_s"]
    busy = st["read_s"] + st["compute_s"]
    read_pp = st["read_s"] / max(1, st["patches"])
    print(f"\nsection {size[0]:g} × {size[1]:g} mm at 16 µm/px, stride {a.stride_um:g} µm")
    print(f"  throughput: {st['patches']} patches in {st['seconds']:.1f} s = {rate:.0f} patches/s")
    print(
        f"  time in tasks: reading {st['read_s']:.1f} s ({st['read_s'] / busy:.0%}), "
        f"model {st['compute_s']:.1f} s ({st['compute_s'] / busy:.0%}); "
        f"reading {read_pp * 1e3:.2f} ms/patch"
    )
    if not a.only_throughput:
        region = (0, 0, size[0] * 1000 / 2, size[1] * 1000 / 2)
        one = run_map(sec, bundle, region_um=region, batch_size=1, **kw)
        many = run_map(sec, bundle, region_um=region, batch_size=a.batch_size, **kw)
        print(
            f"  batched ({a.batch_size}) vs one patch at a time: {many['patches_per_s']:.0f} vs "
            f"{one['patches_per_s']:.0f} patches/s = ×{many['patches_per_s'] / one['patches_per_s']:.2f}"
        )
        t1, t2 = workers_ratio(sec, bundle, a)
        print(f"  dask LocalCluster, 1 vs 2 workers: {t1:.1f} s vs {t2:.1f} s = ×{t1 / t2:.2f}")
        big = make_section(wd, (size[0] * 2, size[1] * 2))
        m1, m4 = in_child(sec, bundle, a), in_child(big, bundle, a)
        for m, what in ((m1, "section"), (m4, "4× larger section")):
            print(
                f"  peak RSS, {what} ({m['tiles']} tiles, fresh process): "
                f"{m['peak_rss_mib']:.0f} MiB (before the map, model loaded: "
                f"{m['peak_before_mib']:.0f} MiB)"
            )
    projection(rate, read_pp, a.stride_um)


if __name__ == "__main__":
    main()
