"""Observer-independent borders on synthetic sections (:mod:`cytowords.measure.borders`).

Paths follow the pial surface of virtual sections (the synthetic outline). Two truths are
scored (:func:`cytowords.synth.truth.truth_at`): ``station``, where the area of the column at
consecutive stations on the path changes (independent of the method's traverses), and
``traverse``, where the area under the middle of consecutive traverses changes (the figure
before session 19; it moves with the traverses). Only true borders with a smallest block of
traverses on both sides can be found. Reports the share of true borders found within 1 mm
along the path, false borders per 20 mm of path and, per area pair (either order), how
many of its borders were found. Each truth is also scored on the borders between areas
whose profiles differ (*differing*, :func:`profile_difference` at least
:data:`PROFILE_DIFFERENCE`: a criterion on the generator's true profiles alone); a border
found at any true border is not false. Sections come from the default (realistic)
generator; a path whose band holds no pia and white matter is reported and skipped.

    PYTHONPATH=src python benchmarks/borders.py --brains 205 206 --paths 2 --length-mm 20
    PYTHONPATH=src python benchmarks/borders.py --brains 205 206 --combine min_p --alpha 1e-5
    PYTHONPATH=src python benchmarks/borders.py --brains 205 206 --diagnose
    PYTHONPATH=src python benchmarks/borders.py --brains 205 206 --shift "tiles 1 mm, 15 %"

``--diagnose`` prints, for each station-truth border between differing profiles that was
missed (at the first level), why (:func:`diagnose_miss`), and for every border found the
share of off traverses around it; a summary closes the run.

``--shift NAME`` reads each brain's section as a scan under an acquisition shift of
``benchmarks/readout_shifts.py`` (one held in memory as 8-bit grey: not the file formats):
the shift is applied to the section's first level of at least 16 µm/px (the level the
paths are read on), the coarser levels derived as ``open_section`` derives them; the truth
is the unshifted section's. ``--shift clean`` is that wrapping without a shift (the
reference of a shifted run); without ``--shift`` the section is read as generated.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from cytowords.measure import MeasureError
from cytowords.measure.border_stats import (
    BLOCK_SIZES,
    COMBINES,
    CONSISTENT_POSITIONS,
    FEATURE_NAMES,
    MIN_SUPPORT,
    N_PERMUTATIONS,
    TESTED_FEATURES,
    TESTS,
    _significant_maxima,
    _standardised,
    default_alpha,
    detect_borders,
    within_segment_autocorrelation,
)
from cytowords.measure.borders import BorderResult, find_borders
from cytowords.measure.reference import shape_normalised
from cytowords.synth import virtual_section
from cytowords.synth.brain import REALISM_COMPONENTS, Brain
from cytowords.synth.truth import _geometry, truth_at

#: the truths scored: the area at each station on the path, and under each traverse's middle
TRUTHS = ("station", "traverse")
#: the true borders scored: all, and those between areas whose profiles differ
SUBSETS = ("all", "differing")
#: two neighbouring areas' profiles differ when their shapes differ more than one area's
#: shape differs between two individuals in 95 % of cases: the 95th percentile of
#: :func:`profile_difference` between the same area in two of the generator's individuals
#: (seeds 1000-1019, all 190 pairs, areas hOc1-hOc4lp, 4a, 4p, 6d1, 6d2, 6ma, 6mp, p24c,
#: p24ab, s24, 25, 45, Ig1: median 0.10, 95th percentile 0.19; session 20). Set from the
#: generator's truth alone, before and independent of the detector
PROFILE_DIFFERENCE = 0.19
#: diagnostics only (``--diagnose``): a traverse is *off* when its deep end lies more than
#: this share of the cortex's thickness above or below the true white matter, or when its
#: length is outside ``1 / OFF_LENGTH .. OFF_LENGTH`` times the true apparent thickness at
#: its station (illustrative bounds for a report, used by no decision)
OFF_END_DEPTH = 0.15
OFF_LENGTH = 1.5
#: true borders closer than this many positions to an end of the path are not scored (the
#: default smallest block, whatever ``--block-sizes`` are tested: every run is scored on the
#: same borders)
SCORED_MARGIN = min(BLOCK_SIZES)
#: diagnostics only (``--diagnose``): lags (positions) of the within-area autocorrelation,
#: and the block size of the per-feature step between neighbouring blocks
DIAGNOSE_LAGS = (1, 2, 4, 8, 12, 16, 24)
DIAGNOSE_BLOCK = 20


def coverage_profile(brain: Brain, area: str, n: int = 100) -> np.ndarray:
    """The share of the section covered by cell bodies at ``n`` relative depths of
    ``area`` in ``brain``, as the generator renders it (density × (size² + size SD²) of
    neurons plus special cells; what a grey-level profile follows), shape-normalised
    (:func:`cytowords.measure.reference.shape_normalised`)."""
    t, _ = brain.table(area)
    cover = t[0] * (t[1] ** 2 + t[2] ** 2) + t[6] * t[7] ** 2
    return shape_normalised(
        np.interp(np.linspace(0, len(cover) - 1, n), np.arange(len(cover)), cover)
    )


def profile_difference(brain: Brain, a: str, b: str) -> float:
    """RMS difference of the shape-normalised true coverage profiles of areas ``a`` and
    ``b`` in ``brain`` (:func:`coverage_profile`; 0 for the same shape, about 0.1 for one
    area in two individuals)."""
    return float(np.sqrt(np.mean((coverage_profile(brain, a) - coverage_profile(brain, b)) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205, 206])
    ap.add_argument("--paths", type=int, default=2, help="paths per brain")
    ap.add_argument("--length-mm", type=float, default=20.0)
    ap.add_argument("--spacing-um", type=float, default=100.0)
    ap.add_argument(
        "--block-sizes",
        type=int,
        nargs="+",
        default=list(BLOCK_SIZES),
        help="profiles compared on each side (true borders are scored from the default "
        "smallest block on, whatever is tested here)",
    )
    ap.add_argument("--test", choices=TESTS, default="bonferroni")
    ap.add_argument(
        "--alpha",
        type=float,
        nargs="+",
        default=[None],
        help="levels (default: per test); each is scored on the same profiles",
    )
    ap.add_argument("--n-permutations", type=int, default=N_PERMUTATIONS)
    ap.add_argument(
        "--min-support",
        type=float,
        nargs="+",
        default=[MIN_SUPPORT],
        help="shares of block sizes a border needs; each is scored on the same profiles",
    )
    ap.add_argument(
        "--combine",
        choices=COMBINES,
        default="support",
        help="how the block sizes make a border (min_p: --min-support is not used)",
    )
    ap.add_argument("--no-length-adjust", action="store_true")
    ap.add_argument(
        "--no-serial", action="store_true", help="D² without the serial-correlation correction"
    )
    ap.add_argument("--no-equivolume", action="store_true", help="equidistant depths")
    ap.add_argument(
        "--diagnose",
        action="store_true",
        help="why each missed border between differing profiles was missed (station truth)",
    )
    ap.add_argument(
        "--realism-off",
        nargs="*",
        default=[],
        choices=sorted(REALISM_COMPONENTS),
        help="ablation: components of the realistic generator to switch off",
    )
    ap.add_argument(
        "--shift",
        default=None,
        help="read each section under this acquisition shift of benchmarks/readout_shifts.py "
        "(in memory, 8-bit grey: e.g. 'tiles 1 mm, 15 %%'; 'clean' the same wrapping unshifted)",
    )
    args = ap.parse_args()
    levels = [(a, v) for a in args.alpha for v in args.min_support]
    score = {(t, v, u): Score() for t in TRUTHS for v in levels for u in SUBSETS}
    total_mm = 0.0
    misses: list[dict] = []
    variation: list[dict] = []
    off_near: dict[str, list[float]] = {"found true": [], "false": []}
    t0 = time.time()
    for brain in args.brains:
        sec = virtual_section(brain, realism_off=args.realism_off or None)
        read = sec if args.shift is None else shifted_section(sec, args.shift, brain)
        g = _geometry(sec)
        g._build()
        s = g._arclen
        starts = np.linspace(0, g.perimeter_um - args.length_mm * 1000, args.paths + 1)[:-1]
        for a in starts:
            sel = (s >= a) & (s <= a + args.length_mm * 1000)
            path = g._poly[sel][:, ::-1]
            try:
                r = find_borders(
                    read,
                    path,
                    spacing_um=args.spacing_um,
                    block_sizes=args.block_sizes,
                    test=args.test,
                    alpha=levels[0][0],
                    n_permutations=args.n_permutations,
                    min_support=levels[0][1],
                    adjust_length=not args.no_length_adjust,
                    equivolume=not args.no_equivolume,
                    serial=not args.no_serial,
                    combine=args.combine,
                )
            except MeasureError as exc:
                print(f"brain {brain} path at {a / 1000:.0f} mm: {exc}")
                continue
            # the truth: the area of the column at each station on the path (method-independent)
            # and, as before, the area under the middle of each traverse (moves with them)
            mids = np.array([t[len(t) // 2] for t in r.traverses_um])
            truths = {"station": r.station_um, "traverse": mids}
            bmin = SCORED_MARGIN
            lengths = np.array([np.hypot(*np.diff(t, axis=0).T).sum() for t in r.traverses_um])
            total_mm += r.path_length_um / 1000
            found = {levels[0]: r.border_along_um}
            for al, v in levels[1:]:
                det = detect_borders(
                    r.profiles,
                    r.block_sizes,
                    al,
                    test=args.test,
                    n_permutations=args.n_permutations,
                    lengths_um=None if args.no_length_adjust else lengths,
                    min_support=v,
                    serial=not args.no_serial,
                    combine=args.combine,
                )
                found[al, v] = r.positions_along_um[det["positions"]]
            line = []
            for name, pts in truths.items():
                area = truth_at(sec, pts)["area"]
                ch = np.flatnonzero(area[1:] != area[:-1]) + 1
                ch = ch[(ch >= bmin) & (ch <= len(area) - bmin)]
                true_um = r.positions_along_um[ch]
                pairs = ["/".join(sorted((str(area[c - 1]), str(area[c])))) for c in ch]
                differ = np.array(
                    [profile_difference(g.brain, str(area[c - 1]), str(area[c])) for c in ch]
                )
                counted = differ >= PROFILE_DIFFERENCE
                part = []
                for v in levels:
                    n_false = score[name, v, "all"].add(true_um, pairs, found[v])
                    score[name, v, "differing"].add(true_um, pairs, found[v], counted)
                    part.append(f"{_level(v)}: {len(found[v])} found, {n_false} false")
                line.append(
                    f"{name} truth {len(true_um)} true at "
                    f"{np.round(true_um / 1000, 1).tolist()} mm (profile difference "
                    f"{np.round(differ, 2).tolist()}): {'; '.join(part)}"
                )
            print(
                f"brain {brain} path at {a / 1000:.0f} mm: {len(r.profiles)} traverses, borders at "
                f"{np.round(r.border_along_um / 1000, 1).tolist()} mm ({time.time() - t0:.0f} s)"
            )
            for ln in line:
                print("  " + ln)
            if args.diagnose:
                off = off_traverses(sec, r)
                area = truth_at(sec, r.station_um)["area"]
                ch = np.flatnonzero(area[1:] != area[:-1]) + 1
                ch = ch[(ch >= bmin) & (ch <= len(area) - bmin)]
                true_um = r.positions_along_um[ch]
                alpha = (
                    default_alpha(args.test, args.combine) if levels[0][0] is None else levels[0][0]
                )
                for c in ch:
                    a0, a1 = str(area[c - 1]), str(area[c])
                    pd = profile_difference(g.brain, a0, a1)
                    if pd < PROFILE_DIFFERENCE:
                        continue
                    t = r.positions_along_um[c]
                    if len(r.border_along_um) and np.min(np.abs(r.border_along_um - t)) <= 1000:
                        continue
                    m = diagnose_miss(r, int(c), alpha, levels[0][1], off)
                    m.update(brain=brain, pair=f"{a0}/{a1}", profile_difference=pd)
                    misses.append(m)
                    print("  missed: " + _miss_line(m))
                for b in r.border_along_um:
                    i = int(np.argmin(np.abs(r.positions_along_um - b)))
                    near = off[max(0, i - bmin) : i + bmin].mean()
                    hit = len(true_um) and np.min(np.abs(true_um - b)) <= 1000
                    off_near["found true" if hit else "false"].append(float(near))
                diff_at = [
                    int(c)
                    for c in ch
                    if profile_difference(g.brain, str(area[c - 1]), str(area[c]))
                    >= PROFILE_DIFFERENCE
                ]
                variation.append(within_area_variation(r, area, diff_at))
    for name, v, subset in score:
        sc = score[name, v, subset]
        print(
            f"{name} truth, {_level(v)}, {subset} borders: true borders found within 1 mm: "
            f"{sc.found}/{sc.n_true} = {sc.found / max(sc.n_true, 1):.0%}; false borders: "
            f"{sc.n_false} over {total_mm:.0f} mm = "
            f"{20 * sc.n_false / max(total_mm, 1e-9):.2f} per 20 mm"
        )
        print(
            "  per pair (found/true):",
            ", ".join(f"{p} {sc.hit[p]}/{n}" for p, n in sorted(sc.total.items())) or "none",
        )
    if args.diagnose:
        kinds = Counter(m["kind"] for m in misses)
        print(
            f"missed borders between differing profiles (station truth): {len(misses)}: "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        )
        shares = {"missed": [m["off_share"] for m in misses], **off_near}
        print(
            "share of off traverses within one smallest block, median (number): "
            + ", ".join(
                f"{k} {np.median(v) if v else float('nan'):.2f} ({len(v)})"
                for k, v in shares.items()
            )
        )
        _print_variation(variation)
    print(f"{time.time() - t0:.0f} s")


def shifted_section(sec, name: str, seed: int, finest_um: float = 16.0):
    """``sec`` as a scan under the acquisition shift ``name`` of
    ``benchmarks/readout_shifts.py`` (:func:`readout_shifts.shifted`), held in memory: the
    shift applied to its first level of at least ``finest_um`` µm/px, the coarser levels
    derived (:func:`cytowords.sections.pyramid.extend_pyramid`, as ``open_section``)."""
    import dask.array as da
    from readout_shifts import SHIFTS, shifted

    from cytowords.sections import Section
    from cytowords.sections.pyramid import extend_pyramid

    if name not in SHIFTS:
        raise SystemExit(f"--shift: unknown shift {name!r}; expected one of {', '.join(SHIFTS)}")
    k = next(i for i, p in enumerate(sec.pixel_size_um) if p >= finest_um * 0.9999)
    px = float(sec.pixel_size_um[k])
    base = np.asarray(sec.levels[k].compute())
    kind, data = shifted(name, base, seed, px)
    if kind != "zarr" or data.ndim != 2 or data.dtype != np.uint8:
        raise SystemExit(f"--shift {name!r}: only 8-bit grey shifts are held in memory")
    levels, sizes = extend_pyramid([da.from_array(data, chunks=1024)], [px])
    return Section(levels=levels, pixel_size_um=sizes, name=f"{sec.name} ({name})",
                   metadata=dict(sec.metadata))


def off_traverses(sec, r: BorderResult) -> np.ndarray:
    """Whether each traverse of ``r`` is off (:data:`OFF_END_DEPTH`, :data:`OFF_LENGTH`):
    its deep end away from the true white matter, or its length far from the true
    apparent thickness at its station."""
    ends = truth_at(sec, np.array([t[-1] for t in r.traverses_um]))["rel_depth"]
    width = truth_at(sec, r.station_um)["apparent_thickness_um"]
    lengths = np.array([np.hypot(*np.diff(t, axis=0).T).sum() for t in r.traverses_um])
    ratio = lengths / np.maximum(width, 1e-6)
    return (np.abs(ends - 1) > OFF_END_DEPTH) | (ratio > OFF_LENGTH) | (ratio < 1 / OFF_LENGTH)


def diagnose_miss(
    r: BorderResult, c: int, alpha: float, min_support: float, off: np.ndarray
) -> dict:
    """Why the true border at position ``c`` (between profiles ``c - 1`` and ``c``) of
    ``r`` was not found. ``kind``: ``near end`` (closer to an end of the path than the
    largest block: only the smaller blocks reach it), ``weak`` (no block size has a p below
    ``alpha`` within half the smallest block), ``displaced`` (some have, but none has a
    significant maximum there: D² is significant on the flank of a maximum farther away),
    ``unsupported`` (significant maxima near it, but within ± :data:`CONSISTENT_POSITIONS`
    of any one position they come from fewer than ``min_support`` of the block sizes: they
    wander with the block size or only some sizes reach the level). Also: the smallest p near it, the block sizes with a
    significant maximum near it (offset in positions), the best support, the distance to
    the nearest border found (mm) and to the path's end (positions), the share of off
    traverses within one smallest block (:func:`off_traverses`) and the largest turn of
    the path over ± 0.8 mm (degrees: a fold)."""
    sizes = r.block_sizes
    half = max(CONSISTENT_POSITIONS, min(sizes) // 2)
    lo, hi = max(0, c - half), c + half + 1
    p_near = [np.nanmin(np.append(r.pvalue[k, lo:hi], np.nan)) for k in range(len(sizes))]
    p_min = float(np.nanmin(p_near)) if np.isfinite(p_near).any() else 1.0
    maxima = [
        _significant_maxima(r.distance[k], r.pvalue[k], max(CONSISTENT_POSITIONS, b // 2), alpha)
        for k, b in enumerate(sizes)
    ]
    near = {b: [int(x - c) for x in m if abs(x - c) <= half] for b, m in zip(sizes, maxima)}
    support = max(
        (
            sum(bool(np.any(np.abs(m - x) <= CONSISTENT_POSITIONS)) for m in maxima) / len(sizes)
            for x in range(lo, hi)
        ),
        default=0.0,
    )
    to_end = int(min(c, len(r.profiles) - c))
    if to_end < max(sizes):
        kind = "near end"
    elif p_min >= alpha:
        kind = "weak"
    elif not any(near.values()):
        kind = "displaced"
    else:
        kind = "unsupported"
    t = r.positions_along_um[c]
    found = r.border_along_um
    st = r.station_um
    i0, i1 = max(0, c - 8), min(len(st) - 1, c + 8)
    turn = 0.0
    for j in range(i0 + 1, i1):
        v1, v2 = st[j] - st[i0], st[i1] - st[j]
        cos = float(v1 @ v2 / max(np.linalg.norm(v1) * np.linalg.norm(v2), 1e-9))
        turn = max(turn, float(np.degrees(np.arccos(np.clip(cos, -1, 1)))))
    bmin = min(sizes)
    return {
        "kind": kind,
        "along_mm": t / 1000,
        "p_min": p_min,
        "significant_maxima": {b: v for b, v in near.items() if v},
        "support": support,
        "nearest_found_mm": float(np.min(np.abs(found - t)) / 1000) if len(found) else np.inf,
        "to_end": to_end,
        "off_share": float(off[max(0, c - bmin) : c + bmin].mean()),
        "turn_deg": turn,
    }


def within_area_variation(r: BorderResult, area: np.ndarray, differing: list[int]) -> dict:
    """How the tested features of ``r`` vary within the true areas ``area`` (one label per
    profile) against their steps at the true borders ``differing`` (positions): the
    within-area autocorrelation by lag (:data:`DIAGNOSE_LAGS`, around each true area's mean
    and, as a method could read it, around each segment between the borders found), each
    feature's share of its variance along the path that lies within the areas, and the
    standardised difference of block means (|mean difference| / pooled within-block SD,
    blocks of :data:`DIAGNOSE_BLOCK`) at the differing borders and at positions whose two
    blocks lie in one area."""
    feats = r.features[:, [FEATURE_NAMES.index(n) for n in TESTED_FEATURES]]
    f = _standardised(feats)
    found_seg = np.searchsorted(np.asarray(r.border_along_um), r.station_along_um, side="right")
    seg = np.concatenate([[0], np.cumsum(area[1:] != area[:-1])])
    res = f.copy()
    for k in np.unique(seg):
        res[seg == k] -= f[seg == k].mean(0)
    b = DIAGNOSE_BLOCK
    step_true, step_within = [], []
    for i in range(b, len(f) - b + 1):
        a_, b_ = f[i - b : i], f[i : i + b]
        sd = np.sqrt((a_.var(0, ddof=1) + b_.var(0, ddof=1)) / 2)
        z = np.abs(a_.mean(0) - b_.mean(0)) / np.maximum(sd, 1e-9)
        if i in differing:
            step_true.append(z)
        elif seg[i - b] == seg[i + b - 1]:
            step_within.append(z)
    return {
        "acf_true": within_segment_autocorrelation(f, area, DIAGNOSE_LAGS),
        "acf_found": within_segment_autocorrelation(f, found_seg, DIAGNOSE_LAGS),
        "within_share": (res**2).sum(0) / np.maximum((f**2).sum(0), 1e-12),
        "step_true": np.array(step_true).reshape(-1, f.shape[1]),
        "step_within": np.array(step_within).reshape(-1, f.shape[1]),
    }


def _print_variation(variation: list[dict]) -> None:
    if not variation:
        return
    for key, what in (("acf_true", "true areas"), ("acf_found", "segments between borders found")):
        acf = np.nanmean(np.stack([v[key] for v in variation]), axis=0)
        print(
            f"within-area autocorrelation around {what} (mean over paths and features), "
            "by lag in positions: "
            + ", ".join(f"{lag} {np.nanmean(a):.2f}" for lag, a in zip(DIAGNOSE_LAGS, acf))
        )
    share = np.median(np.stack([v["within_share"] for v in variation]), axis=0)
    st = np.concatenate([v["step_true"] for v in variation])
    sw = np.concatenate([v["step_within"] for v in variation])
    print(
        f"per feature: share of variance within the true areas (median over paths); "
        f"difference of block means of {DIAGNOSE_BLOCK} in within-block SD at the "
        f"{len(st)} differing borders (median) and within one area ({len(sw)} positions: "
        "median / 95th percentile)"
    )
    for j, name in enumerate(TESTED_FEATURES):
        t = np.median(st[:, j]) if len(st) else float("nan")
        w50, w95 = np.percentile(sw[:, j], [50, 95]) if len(sw) else (np.nan, np.nan)
        print(f"  {name}: {share[j]:.2f}; {t:.2f} against {w50:.2f} / {w95:.2f}")


def _miss_line(m: dict) -> str:
    return (
        f"{m['pair']} (profile difference {m['profile_difference']:.2f}) at "
        f"{m['along_mm']:.1f} mm: {m['kind']}; smallest p {m['p_min']:.1e}, significant "
        f"maxima (size: offset) {m['significant_maxima'] or 'none'}, best support "
        f"{m['support']:.2f}; nearest border found {m['nearest_found_mm']:.1f} mm, "
        f"{m['to_end']} positions from an end, off traverses {m['off_share']:.0%}, "
        f"turn {m['turn_deg']:.0f}°"
    )


def _level(level: tuple[float | None, float]) -> str:
    alpha, support = level
    return f"alpha {'default' if alpha is None else f'{alpha:g}'}, min support {support:g}"


class Score:
    """Counts of true borders found within 1 mm (per area pair) and of false borders."""

    def __init__(self) -> None:
        self.found = self.n_true = self.n_false = 0
        self.hit: Counter = Counter()
        self.total: Counter = Counter()

    def add(
        self,
        true_um: np.ndarray,
        pairs: list[str],
        got: np.ndarray,
        counted: np.ndarray | None = None,
    ) -> int:
        """Score one path's borders ``got`` (µm along it) against the true borders
        ``true_um`` (those where ``counted`` is true; all by default); a border within 1 mm
        of any true border is not false. Returns its false borders."""
        counted = np.ones(len(true_um), bool) if counted is None else np.asarray(counted)
        for t, pair, c in zip(true_um, pairs, counted):
            if not c:
                continue
            self.total[pair] += 1
            if len(got) and np.min(np.abs(got - t)) <= 1000:
                self.found += 1
                self.hit[pair] += 1
        self.n_true += int(counted.sum())
        false = [b for b in got if not len(true_um) or np.min(np.abs(true_um - b)) > 1000]
        self.n_false += len(false)
        return len(false)


if __name__ == "__main__":
    main()
