"""Whole-slide JPEG levels at the model's pixel size: flagged, and rightly?

Per brain a virtual section (80 × 60 mm, rendered at 16 µm/px, coloured cresyl violet on
glass) is written as an Aperio-like SVS the way the scanner's library lays it out
(tifffile): baseline 16 µm/px, thumbnail, levels ×4 and ×16 made by area mean, tiles of
256 px, once lossless (LZW) and once JPEG at each quality. The ×4 level is exactly the
model's 64 µm/px; the field reader reads a JPEG level only downsampled ×4 or more
(``sections.window.LOSSY_MIN_FACTOR``), so the 64 µm/px fields come from the 16 µm/px
level. ``--direct`` reads the stored level as it is (its 8 × 8 JPEG blocks are then what
the model reads, as on a scan with no level 4× finer). Fields on a 52 px grid
are read through ``open_section`` -> ``read_fields``, judged by
:func:`cytowords.sections.quality.assess_fields` with the section's tissue threshold and
answered by the model. Prints per quality the blockiness (fields holding glass = *edge*, the
rest *inside*), the share flagged as compressed, and the issue-#22 criterion: the share of
wrong answers (argmax area is not the true area at the field's centre; only centres in one
of the model's areas) among the fields the model does not reject, for all such fields and
for those the check flags, against the LZW file's accepted fields (95 % Wilson interval).
``--reduced 2 8`` stores the reduced levels ×2 and ×8 instead (32 and 128 µm/px, as a
scan at 0.5 µm/px with ×4 levels has 8 and 32): with ``--direct`` the 64 µm/px fields are
then read from the 32 µm/px JPEG level downsampled ×2, else from the 16 µm/px one.

``--map-cost``: instead, the cost of that rule on a whole-section area map
(``compute_area_map``, the bundled model, CPU, default stride): per brain the LZW file and
the JPEG q70 file read as the map reads them (64 µm/px from the 16 µm/px level) and read
as stored (``--direct``'s way), each mapped once after a warm-up map of the LZW file;
prints wall and CPU seconds, and the map's own split into reading and computing.

    python benchmarks/jpeg_levels.py [--brains 200 201] [--direct] [--reduced 4 16]
    python benchmarks/jpeg_levels.py --map-cost [--brains 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

from cytowords.describe import Describer
from cytowords.mapping.compute import compute_area_map
from cytowords.sections import open_section, read_fields
from cytowords.sections.quality import DEFAULT_THRESHOLDS, assess_fields, section_tissue_threshold
from cytowords.synth.section import clear_render_cache, virtual_section

QUALITIES = ("lzw", 90, 80, 70, 60, 50, 30)
GLASS = np.array([236, 234, 238], np.float32)
VIOLET = np.array([60, 20, 110], np.float32)
#: field grid step (px at the model's pixel size)
STEP = 52


def violet(grey: np.ndarray) -> np.ndarray:
    """uint8 grey (dark = stain) -> RGB cresyl violet on glass."""
    a = 1.0 - grey.astype(np.float32)[..., None] / 255.0
    return np.clip(GLASS + a * (VIOLET - GLASS) + 0.5, 0, 255).astype(np.uint8)


def mean_down(rgb: np.ndarray, f: int) -> np.ndarray:
    """Area mean over ``f × f`` pixels (how a scanner makes its reduced levels)."""
    h, w = rgb.shape[0] // f * f, rgb.shape[1] // f * f
    m = rgb[:h, :w].astype(np.float32).reshape(h // f, f, w // f, f, 3).mean(axis=(1, 3))
    return np.round(m).astype(np.uint8)


def write_svs(path: Path, rgb: np.ndarray, mpp: float, quality, levels=(4, 16)) -> None:
    """Aperio layout: baseline, thumbnail, reduced ``levels``; JPEG at ``quality`` or LZW."""
    h, w = rgb.shape[:2]
    kw: dict = {"photometric": "rgb", "metadata": None}
    if quality == "lzw":
        kw["compression"] = "lzw"
    else:
        kw.update(compression="jpeg", compressionargs={"level": int(quality)})
    head = f"Aperio Image Library v12.0.15 \r\n{w}x{h}"
    with tifffile.TiffWriter(path) as tw:
        desc = f"{head} [0,0 {w}x{h}] (256x256) JPEG/RGB Q={quality}|MPP = {mpp}"
        tw.write(rgb, tile=(256, 256), description=desc, **kw)
        thumb = rgb[::32, ::32].copy()
        tw.write(thumb, description=f"{head} -> {thumb.shape[1]}x{thumb.shape[0]}", **kw)
        for f in levels:
            lev = mean_down(rgb, f)
            tw.write(
                lev, tile=(256, 256), description=f"{head} -> {lev.shape[1]}x{lev.shape[0]}", **kw
            )


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p, d = k / n, 1 + z * z / n
    c, h = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (c - h) / d, (c + h) / d


def measure(
    bundle, brain: int, tmp: Path, direct: bool, reduced: tuple[int, ...] = (4, 16)
) -> dict[str, dict[str, np.ndarray]]:
    """Per quality: per-field blockiness, reason, edge, in-scope, wrong, rejected."""
    ids = np.asarray(bundle.area_ids)
    um, n = bundle.pixel_size_um, bundle.read_px
    sec = virtual_section(brain, size_mm=(80, 60), pixel_size_um=um / 4)
    rgb = violet(np.asarray(sec.levels[0].compute()))
    lab = sec.labels["areas"]
    lab64 = np.asarray(lab.levels[2].compute())
    clear_render_cache()
    h, w = rgb.shape[0] // 4, rgb.shape[1] // 4
    ys, xs = np.mgrid[n // 2 : h - n // 2 : STEP, n // 2 : w - n // 2 : STEP]
    px = np.stack([ys.ravel(), xs.ravel()], 1)
    truth = np.array(
        [
            lab.names.get(int(lab64[min(y, lab64.shape[0] - 1), min(x, lab64.shape[1] - 1)]), "")
            for y, x in px
        ]
    )
    out, edge = {}, None
    for q in QUALITIES:
        path = tmp / f"b{brain}_{q}.svs"
        write_svs(path, rgb, um / 4, q, reduced)
        section = open_section(path)
        if direct:
            section.metadata.pop("lossy_levels", None)
        x = read_fields(section, (px + 0.5) * um, um, n)
        fq = assess_fields(x, section_tissue_threshold(section), DEFAULT_THRESHOLDS)
        if edge is None:  # from the lossless file: the field holds >= 2 % glass
            edge = (1 - fq.tissue) >= 0.02
        with torch.inference_mode():
            fp = bundle.predict(bundle.embed(x))
        out[str(q)] = dict(
            block=fq.blockiness,
            reason=np.array([r or "" for r in fq.reasons]),
            edge=edge,
            inscope=np.isin(truth, ids),
            wrong=ids[fp.probs.argmax(1)] != truth,
            rejected=np.asarray(fp.rejected, bool),
        )
        path.unlink()
    return out


def map_cost(brain: int, tmp: Path) -> list[dict]:
    """Whole-section map of one brain's SVS, stored LZW and JPEG q70, read three ways."""
    sec = virtual_section(brain, size_mm=(80, 60), pixel_size_um=16.0)
    rgb = violet(np.asarray(sec.levels[0].compute()))
    clear_render_cache()
    files = {}
    for q in ("lzw", 70):
        files[q] = tmp / f"b{brain}_{q}.svs"
        write_svs(files[q], rgb, 16.0, q)
    rows = []
    for i, (name, q, direct) in enumerate(
        [
            ("warm-up (LZW)", "lzw", False),
            ("LZW, level 64 µm/px", "lzw", False),
            ("JPEG q70, read from the 16 µm/px level (the rule)", 70, False),
            ("JPEG q70, level 64 µm/px as stored", 70, True),
        ]
    ):
        section = open_section(files[q])
        if direct:
            section.metadata.pop("lossy_levels", None)
        t0, c0 = time.perf_counter(), time.process_time()
        amap = compute_area_map(section, "default", device="cpu")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if i:
            st = amap.stats
            rows.append(
                dict(
                    brain=brain,
                    read=name,
                    wall_s=wall,
                    cpu_s=cpu,
                    read_s=st["read_s"],
                    compute_s=st["compute_s"],
                    tiles=st.get("tiles"),
                )
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[200, 201])
    ap.add_argument("--direct", action="store_true", help="read the JPEG level at 64 µm/px")
    ap.add_argument("--reduced", type=int, nargs="+", default=[4, 16], help="reduced levels")
    ap.add_argument("--map-cost", action="store_true", help="time whole-section maps instead")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.map_cost:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [r for b in a.brains for r in map_cost(b, Path(tmp))]
        print("| brain | read | wall s | CPU s | map's read s | map's compute s | tiles |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['brain']} | {r['read']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} "
                f"| {r['read_s']:.1f} | {r['compute_s']:.1f} | {r['tiles']} |"
            )
        return
    t0 = time.perf_counter()
    bundle = Describer("default", device="cpu").bundle
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for b in a.brains:
            runs.append(measure(bundle, b, Path(tmp), a.direct, tuple(a.reduced)))
            print(f"brain {b}: {time.perf_counter() - t0:.0f} s", flush=True)
    d = {q: {k: np.concatenate([r[q][k] for r in runs]) for k in runs[0][q]} for q in runs[0]}
    lim = DEFAULT_THRESHOLDS.max_blockiness
    print(
        f"\nbrains {a.brains}; limit {lim}; {'levels read as stored (--direct)' if a.direct else 'read as the field reader does'}; reduced levels {a.reduced}"
    )
    print(
        "| stored | median blockiness, edge / inside | flagged compressed, edge / inside "
        "| wrong among model-accepted | flagged and model-accepted: fields, wrong |"
    )
    print("|---|---|---|---|---|")
    for q, r in d.items():
        t = r["reason"] != "tissue"
        e, i = t & r["edge"], t & ~r["edge"]
        comp = r["reason"] == "compression"
        acc = t & r["inscope"] & ~r["rejected"]
        v = acc & comp
        vw = f"{int(v.sum())}, {r['wrong'][v].mean():.3f}" if v.any() else "0, –"
        print(
            f"| {'LZW' if q == 'lzw' else 'JPEG q' + q} | {np.median(r['block'][e]):.2f} / "
            f"{np.median(r['block'][i]):.2f} | {comp[e].mean():.3f} / {comp[i].mean():.3f} "
            f"| {r['wrong'][acc].mean():.3f} ({int(acc.sum())}) | {vw} |"
        )
    c = d["lzw"]
    m = (c["reason"] == "") & c["inscope"] & ~c["rejected"]
    k, n = int(c["wrong"][m].sum()), int(m.sum())
    lo, hi = wilson(k, n)
    print(
        f"\nLZW, accepted by the model and the check: {k} of {n} wrong = {k / n:.3f} (95 % {lo:.3f}–{hi:.3f})"
    )
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
