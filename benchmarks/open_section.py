"""Benchmark: open a sparse 100,000 × 100,000 px OME-Zarr section and read windows.

Creates (once, in a temp dir or ``--path``) an NGFF 0.5 / zarr v3 uint8 store of
100k × 100k px with a full pyramid down to 782 px, writing only the metadata and a handful
of chunks (5 × 5 around the centre at level 0 and the whole coarsest level), then measures
in fresh processes, for ``cytowords.sections.open_section``, the cytowords napari reader and
``napari-ome-zarr``'s reader on the same store:

- time to open, time to read one 2048 × 2048 window at level 0 and at the coarsest level,
- peak RSS (resource.getrusage) and its increase over the RSS after imports (psutil).

Run: ``python benchmarks/open_section.py [--path DIR] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE = 100_000
CHUNK = 1024
WINDOW = 2048


def make_store(path: Path, size: int = SIZE) -> None:
    """Sparse NGFF 0.5 pyramid: metadata + a few chunks, never a full level."""
    import numpy as np
    import zarr

    from cytowords.sections.ngff import multiscale_metadata

    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    shapes, sizes = [(size, size)], [1.0]
    while max(shapes[-1]) > 1024:
        shapes.append((shapes[-1][0] // 2, shapes[-1][1] // 2))
        sizes.append(sizes[-1] * 2)
    arrays = [
        root.create_array(
            str(k),
            shape=s,
            dtype="uint8",
            chunks=(CHUNK, CHUNK),
            fill_value=0,
            dimension_names=["y", "x"],
        )
        for k, s in enumerate(shapes)
    ]
    root.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [multiscale_metadata(sizes, "sparse", "0.5")],
    }
    c0 = (size // 2) // CHUNK * CHUNK - 2 * CHUNK
    ramp = np.add.outer(np.arange(CHUNK), np.arange(CHUNK)) % 200 + 20
    for i in range(5):
        for j in range(5):
            y, x = c0 + i * CHUNK, c0 + j * CHUNK
            arrays[0][y : y + CHUNK, x : x + CHUNK] = ramp.astype("uint8")
    ch, cw = shapes[-1]
    arrays[-1][:, :] = (np.add.outer(np.arange(ch) * 3, np.arange(cw)) % 200 + 20).astype("uint8")


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(which: str, path: str) -> dict:
    """Run one measurement in this (fresh) process; returns seconds and MiB."""
    # imports are not part of the timings (dask's first compute imports distributed)
    import distributed  # noqa: F401
    import numpy as np
    import zarr.codecs  # noqa: F401

    import cytowords.sections  # noqa: F401

    if which == "open_section":
        from cytowords.sections import open_section

        def opener():
            s = open_section(path)
            return s.levels
    elif which == "cytowords-reader":
        from cytowords.napari.io.reader import napari_get_reader

        def opener():
            return napari_get_reader(path)(path)[0][0]
    else:
        from napari_ome_zarr._reader import napari_get_reader

        def opener():
            return napari_get_reader(path)(path)[0][0]

    base = _rss_mb()
    t0 = time.perf_counter()
    levels = opener()
    t_open = time.perf_counter() - t0
    y0 = levels[0].shape[0] // 2 - WINDOW // 2 + 100  # not chunk-aligned: touches 3 × 3 chunks
    t0 = time.perf_counter()
    w0 = np.asarray(levels[0][y0 : y0 + WINDOW, y0 : y0 + WINDOW])
    t_read0 = time.perf_counter() - t0
    t0 = time.perf_counter()
    wc = np.asarray(levels[-1][:WINDOW, :WINDOW])
    t_read_c = time.perf_counter() - t0
    warm = []
    for k in range(3):  # warm reads of other (uncached) windows touching 2 x 2 .. 3 x 3 chunks
        yk = y0 + 200 * (k + 1)
        t0 = time.perf_counter()
        np.asarray(levels[0][yk : yk + WINDOW, yk : yk + WINDOW])
        warm.append(time.perf_counter() - t0)
    assert w0.shape == (WINDOW, WINDOW) and int(w0.max()) > 0 and int(wc.max()) > 0
    return {
        "open_s": t_open,
        "read0_s": t_read0,
        "read_coarsest_s": t_read_c,
        "read0_warm_s": min(warm),
        "coarsest_shape": list(levels[-1].shape),
        "n_levels": len(levels),
        "peak_rss_mb": _peak_mb(),
        "peak_minus_import_mb": _peak_mb() - base,
    }


def run(which: str, path: Path, repeat: int) -> dict:
    runs = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", which, str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = (
        "open_s",
        "read0_s",
        "read0_warm_s",
        "read_coarsest_s",
        "peak_rss_mb",
        "peak_minus_import_mb",
    )
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    return {**runs[0], **med}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, help="where to create the store (default: temp dir)")
    ap.add_argument("--repeat", type=int, default=5, help="fresh processes per reader")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=SIZE, help="side of level 0 in px")
    ap.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.make:
        make_store(args.make, args.size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or Path(tmp) / "sparse.ome.zarr"
        t0 = time.perf_counter()
        if not path.exists():  # in a subprocess: ru_maxrss is inherited across exec
            cmd = [sys.executable, __file__, "--make", str(path), "--size", str(args.size)]
            subprocess.run(cmd, check=True)
        print(
            f"store: {args.size} x {args.size} px uint8, NGFF 0.5, chunks {CHUNK}, "
            f"created in {time.perf_counter() - t0:.2f} s"
        )
        res = {
            w: run(w, path, args.repeat)
            for w in ("open_section", "cytowords-reader", "napari-ome-zarr")
        }
    first = res["open_section"]
    print(
        f"levels: {first['n_levels']}, coarsest {first['coarsest_shape']} px; "
        f"median of {args.repeat} fresh processes"
    )
    print(
        f"{'reader':<18}{'open s':>8}{'L0 2048² s':>12}{'L0 warm s':>11}{'coarsest s':>12}"
        f"{'peak RSS MiB':>14}{'Δ after import':>16}"
    )
    for name, r in res.items():
        print(
            f"{name:<18}{r['open_s']:>8.3f}{r['read0_s']:>12.3f}{r['read0_warm_s']:>11.3f}"
            f"{r['read_coarsest_s']:>12.3f}{r['peak_rss_mb']:>14.0f}"
            f"{r['peak_minus_import_mb']:>16.0f}"
        )
    ours, ref = res["cytowords-reader"], res["napari-ome-zarr"]
    print(
        "ratios cytowords-reader / napari-ome-zarr (< 1 is better): "
        + ", ".join(
            f"{k} {ours[k] / ref[k]:.2f}"
            for k in (
                "open_s",
                "read0_s",
                "read0_warm_s",
                "read_coarsest_s",
                "peak_minus_import_mb",
            )
        )
    )


if __name__ == "__main__":
    main()
