"""Benchmark: coarse levels of a TIFF without a stored pyramid (ImageJ/Fiji's one strip).

Writes (once, in a temp dir or at ``--path``) an uncompressed ImageJ TIFF of ``--size``
(default 20,000 × 15,000 px, ``--dtype`` uint8 or uint16, 2 µm/px), reads the file once so
the page cache is warm, then opens it with ``cytowords.sections.open_section`` (fresh for
every measurement) and times, for three ways of making its coarser levels from level 0:

- ``nested``: each level a lazy 2 × 2 mean of the level before (dask ``coarsen`` of
  ``coarsen`` ...), float64 means: how sessions <= 38 built them;
- ``nested-int``: the same graph with the 8/16-bit integer means of
  :func:`cytowords.sections.pyramid.halve_n` (same values);
- ``new``: :func:`cytowords.sections.pyramid.extend_pyramid` (each level read from level 0
  directly, the levels under ``COARSE_CACHE_BYTES`` computed together once and kept);

the first read of the coarsest level (napari's contrast limits, the tissue mask), a second
read of it, a 512² window of level 2, a 1024² window of level 1, and every coarse level read
one after another (as napari, the tissue mask, the slide reference and the pixel-size check
do), with the ratio nested / new. Values of the three are checked equal.

Run: ``python benchmarks/coarse_levels.py [--path FILE.tif] [--size 20000 15000]
[--dtype uint8] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np


def make_tiff(path: Path, width: int, height: int, dtype: str) -> None:
    """A smooth ramp with noise, written as ImageJ does (one strip, resolution + unit)."""
    import tifffile

    dt = np.dtype(dtype)
    top = 255 if dt == np.uint8 else 4095
    rng = np.random.default_rng(39)
    img = np.empty((height, width), dt)
    for y0 in range(0, height, 1000):
        rows = np.arange(y0, min(height, y0 + 1000), dtype=np.float32)[:, None] / height
        band = 0.3 + 0.5 * rows + 0.1 * rng.standard_normal((len(rows), width), dtype=np.float32)
        img[y0 : y0 + len(rows)] = np.clip(band * top, 0, top).astype(dt)
    tifffile.imwrite(path, img, imagej=True, resolution=(0.5, 0.5), metadata={"unit": "um"})


def _float64_mean(block: np.ndarray, axis=None) -> np.ndarray:
    m = block.mean(axis=axis, dtype=np.float64)
    if np.issubdtype(block.dtype, np.integer):
        m = np.rint(m)
    return m.astype(block.dtype)


def nested_levels(level0: da.Array, n: int, *, float64: bool) -> list[da.Array]:
    """Levels 1..n as a chain of lazy 2 × 2 means (the former ``extend_pyramid``)."""
    from cytowords.sections import pyramid

    out, prev = [], level0
    for _ in range(n):
        if float64:
            h, w = prev.shape
            arr = pyramid._even_chunks(prev[: h // 2 * 2, : w // 2 * 2], 2048)
            nxt = da.coarsen(_float64_mean, arr, {0: 2, 1: 2}, trim_excess=True)
            if any(cs[0] < min(1024, s) // 2 for cs, s in zip(nxt.chunks, nxt.shape)):
                nxt = nxt.rechunk(tuple(min(1024, s) for s in nxt.shape))
        else:
            nxt = pyramid.downsample2(prev)
        out.append(nxt)
        prev = nxt
    return out


def _levels(path: Path, way: str) -> list[da.Array]:
    from cytowords.sections import open_section

    sec = open_section(path)
    if way == "new":
        return sec.levels
    n = len(sec.levels) - 1
    return [sec.levels[0], *nested_levels(sec.levels[0], n, float64=way == "nested")]


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measure(path: Path, way: str) -> tuple[dict[str, float], list]:
    res, values = {}, []
    lv = _levels(path, way)
    res["coarsest, first read"], c = _timed(lambda: np.asarray(lv[-1]))
    res["coarsest, again"], _ = _timed(lambda: np.asarray(lv[-1]))
    values.append(c)
    lv = _levels(path, way)
    res["512² of level 2, first"], w = _timed(lambda: np.asarray(lv[2][1500:2012, 2000:2512]))
    values.append(w)
    lv = _levels(path, way)
    res["1024² of level 1, first"], w = _timed(lambda: np.asarray(lv[1][3000:4024, 4000:5024]))
    values.append(w)
    lv = _levels(path, way)

    def every() -> list:
        return [np.asarray(lev) for lev in lv[:0:-1] if lev.nbytes <= 2**28]

    res["every coarse level, one by one"], got = _timed(every)
    values.extend(got)
    return res, values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, help="TIFF to write once and reuse")
    ap.add_argument("--size", type=int, nargs=2, default=(20000, 15000), metavar=("W", "H"))
    ap.add_argument("--dtype", default="uint8", choices=("uint8", "uint16"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = None
    path = args.path
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "imagej.tif"
    if not path.exists():
        t = time.perf_counter()
        make_tiff(path, *args.size, args.dtype)
        print(f"wrote {path} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    with open(path, "rb") as f:  # warm the page cache: every way reads the same bytes
        while f.read(1 << 24):
            pass
    from cytowords.sections import open_section, pyramid

    sec = open_section(path)
    kept = [lev for lev in sec.levels if lev.name.startswith("cytowords-kept")]
    print(
        f"{path.name}: {sec.levels[0].shape[1]} × {sec.levels[0].shape[0]} px {sec.dtype}, "
        f"levels {[lev.shape for lev in sec.levels]}; kept once read: {len(kept)} levels, "
        f"{sum(lev.nbytes for lev in kept) / 2**20:.1f} MiB "
        f"(budget {pyramid.COARSE_CACHE_BYTES / 2**20:.0f} MiB)"
    )
    ways = ("nested", "nested-int", "new")
    runs: dict[str, list[dict[str, float]]] = {w: [] for w in ways}
    ref = None
    for _ in range(args.repeat):
        for way in ways:
            res, values = measure(path, way)
            runs[way].append(res)
            if ref is None:
                ref = values
            elif not all(np.array_equal(a, b) for a, b in zip(ref, values)):
                raise SystemExit(f"{way}: values differ from nested")
    keys = list(runs["new"][0])
    med = {w: {k: statistics.median(r[k] for r in runs[w]) for k in keys} for w in ways}
    print(f"median of {args.repeat} (s)      nested  nested-int     new   nested/new")
    for k in keys:
        n, ni, new = med["nested"][k], med["nested-int"][k], med["new"][k]
        print(f"{k:32s} {n:7.3f} {ni:10.3f} {new:8.3f} {n / new:11.1f}x")
    print("values equal in all three ways")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
