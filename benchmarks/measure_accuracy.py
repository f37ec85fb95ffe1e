"""Accuracy of the model-free readout (cytowords.measure) against the generator's truth.

On virtual sections of held-out brains, squares of ``--side-mm`` are centred on the
mid-depth of the cortex of random areas, kept when the truth shows pia and white matter
inside and one area covers most of the cortex (``truth_in_roi``). Each is measured at
``--profile-um`` µm/px without cells. Prints per ROI and overall: thickness relative
error against the apparent thickness (the ribbon's width in the section plane, traced
across the ribbon by ``truth_in_roi``; median, 90th percentile), the estimated true
thickness against the thickness perpendicular to the surface, the oblique flag against the
truth's stretch (apparent / true >= 1.1), layer IV
presence accuracy (truth: the area's profile has a layer IV), layer I width error (µm;
against the ROI's truth and against the claims' truth ``brain_truth``, with the share
within 60 µm or 30 % as caption claims are scored).
``--finest-um 16`` reads each section as a scan whose finest level is 16 µm/px
(``scan_from``: the same pixels, so layer IV comes from the profile alone, as on
BigBrain's 20 µm/px); by default the scan has 2 µm/px and layer IV is read from the grain
at 4 µm/px. The last lines print the readout's error rates as ``ReadoutNoise`` uses them
(``training/data/readout_truth.py``), with their counts: against the area's truth in that
brain (``brain_truth``: ``FINE_SCAN``, ``COARSE_SCAN``, the training noise) and against
the region's own truth (the thickness perpendicular to the surface and layer I's width,
medians over the ROI's cortex of the area: ``FINE_SCAN_REGION``, ``COARSE_SCAN_REGION``,
the evaluation's), and how often the region's truth, read without error, is within a
claim's tolerance of the area's.

    python benchmarks/measure_accuracy.py [--brains 205] [--rois 12] [--side-mm 3]
        [--profile-um 16] [--finest-um 16] [--cells] [--held-out 207 208] [--save-cells DIR]
        [--cell-windows 0] [--cell-brains 224] [--cell-cache DIR] [--save-large FILE.csv]
        [--save FILE.jsonl] [--areas 25 s24 s32 ...]
        [--columns 8 | --column-patches 3] [--vessel-check] [--artefacts fold|bubble|tear|all]

``--areas 25 s24 s32 ...`` takes the squares of those areas only (one per area the brain
shows at mid-depth, in the order given; ``--rois`` still caps their number): the areas
with a broad layer I in a thin cortex are small, and a 3 mm square rarely lies within one
of them (``--side-mm 2`` finds some on most brains).

``--artefacts KIND`` paints preparation artefacts into every ROI's pixels as the readout
reads them (``ArtefactSection``; one of KIND per ROI, ``all``: one fold, one bubble and one
tear; placed by a generator of their own, so two readouts see the same ones and the ROIs
are the clean run's): a fold is a strip 0.1-1 mm wide in any direction, straight or gently
curved, where the tissue's optical density is doubled (the section lying doubled: the
transmitted light squared); a bubble a pale disc (OD x 0.25) of radius 0.15-0.6 mm with a
dark rim; a tear a wavy gap of glass 20-200 µm wide. The slide's glass and white matter
(read from its coarsest level) are the clean slide's. The run then prints the false
sentences: thickness off by > 15 % of the apparent thickness, layer IV presence decided
wrong, layer I beyond 60 µm or 30 % of the region's truth, and the ROIs not measured.

``--columns N`` scores only the columnar organisation (``Readout.columns``) in up to N 3 mm
ROIs per brain (every area with strong columns first, then none and weak in turn), and
``--column-patches N`` on the generator's patches (``render_patch``, 0.8 × 1.8 mm at
mid-depth: a straight ribbon whose columns are radial rows; every strong area and N none,
N weak per brain): Spearman of the index against the truth's ``columnar_strength``, the
3-way confusion, the precision of strong; ``--vessel-check`` measures each place again on
the brain without vessels (``realism_off={"vessels"}``).

``--save FILE.jsonl`` writes each ROI's readout (``Readout.to_dict()`` with the traverses,
and a SHA-1 of its raw profile, grain and traverse arrays), one JSON line per ROI: two
versions of the readout give equal lines when they measure the same to the last bit.

Layer IV is also scored per class: the truth's cortex type (granular: granular and
koniocortex; dysgranular; agranular: agranular, proisocortex, periallocortex, allocortex)
against the readout's (koniocortex, granular, or undecided), as a confusion table.
Presence truth is the generator's (the area's profile has a layer IV, so dysgranular
areas count as having one). The readout leaves layer IV undecided where the evidence is
weak or the profile and the somata disagree: presence is scored on the decided ROIs
(accuracy, the share decided, and the balanced accuracy: the mean of the right share
among decided ROIs with and without a layer IV, '-' for a class with none decided).

Layer borders (I/II ... V/VI) are scored against the brain's true layer proportions: the
share of ROIs in which the readout shows a border and its error in relative depth.

``--cells`` measures somata along three traverses at 2 µm/px as well (about 20 s per ROI
here, most of it rendering the synthetic section): layer IV is then decided by the somata
(``iv_evidence``), the profile's and the readout's layer IV are printed side by side (for
the brains of ``--held-out`` also apart from the others), ``--save-cells`` keeps each
ROI's somata and truth as .npz, and the density of somata
per layer (between the true layer borders) is scored against the somata the generator
draws in the same bands (neurons and glia, ``cells_in_window``) and against the area's
neuronal density per layer (truth; glia not included).

``--cell-windows N`` also scores soma detection at 2 µm/px in up to N windows of 400 µm
per brain of ``--cell-brains`` (a third on layer V of 4a/4p centred on a drawn Betz cell,
a third centred on a drawn large special cell of the other areas that render them: IIIc
magnopyramidal, Meynert, ganglion and giant pyramids; a third in areas without, at
mid-depth of layers I..VI in turn; windows overlapping one already taken are skipped),
against the somata the generator draws (``cells_in_window``, 20 µm from the edges):
large somata (drawn >= 25 µm) and giant somata (drawn >= 40 µm) recall and precision
(recall: a drawn soma is found when the nearest detection, within 8 µm or a quarter of
its diameter, is large, resp. giant, as the readout calls them: ``cells.is_large``, the
area of a pyramid at least 25 µm long and compact; giant: large and >= 40 µm long;
precision: a large, resp. giant, detection is right when a drawn soma of at least 0.8 of
the cut-off lies within 14 µm),
the Betz cells of 4a/4p found as large, the special large pyramids found as large (the
generator's special cells, ``kind`` 2: Betz, IIIc magnopyramidal and giant pyramids,
Meynert and ganglion cells, drawn >= 25 µm, in any window; issue #21's goal is recall >=
0.9 at a large precision >= 0.9), recall of drawn somata >= 8 µm and the share of
detections on a drawn soma (within 4 µm or a quarter of the diameter), somata per layer
detected / drawn (neurons and glia; layers from ``truth_at``) and the ratio of measured
length to the generator's soma diameter. ``--save-large FILE.csv`` writes each detection
at least 15 µm long with its nearest drawn soma (``large_records``); ``--cell-cache DIR``
keeps the rendered windows (nearly all of the time) for the next run. The default brain 224 (soma size x 1.11) and
brain 226 were used to choose the detector's settings; report on other brains.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure.readout import SHARP_BORDER_REL
from cytowords.synth import (
    mid_depth_points,
    section_geometry,
    square_across,
    squares_across_ribbon,
    truth_at,
    truth_in_roi,
    virtual_section,
)
from cytowords.training.data.readout_truth import brain_truth


def readout_row(r, **keys) -> dict:
    """One ROI's readout as a JSON-safe row for ``--save``: ``keys``, the readout's
    dictionary (with the traverses) and SHA-1 digests of its raw arrays (the profiles,
    the grain, the traverses' points: equal digests, equal values to the last bit)."""
    import hashlib

    raw = [r.profile_mean, r.profile_sd, r.profile_p10, r.profile_p90, r.grain_mean]
    raw += list(r.traverses_um)
    digest = hashlib.sha1()
    for a in raw:
        digest.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return {**keys, "readout": r.to_dict(), "sha1": digest.hexdigest()}


def scan_from(section, finest_um: float | None):
    """``section`` as a scan whose finest level is its first level of at least
    ``finest_um`` µm/px (None: ``section`` itself): the same pixels, so the readout reads
    it as a coarse scan (no grain above ``granularity.GRAIN_UM``, no cells above 2 µm/px;
    the glass reference, from the coarsest level, unchanged)."""
    from dataclasses import replace

    if finest_um is None:
        return section
    sizes = [float(p) for p in section.pixel_size_um]
    k = next((i for i, p in enumerate(sizes) if p >= finest_um * 0.9999), None)
    if k is None:
        raise SystemExit(f"--finest-um {finest_um:g}: the section's coarsest level is {sizes[-1]:g} µm/px")
    return replace(section, levels=section.levels[k:], pixel_size_um=sizes[k:], labels={})


#: artefacts ``--artefacts`` paints into each ROI's pixels (``ArtefactSection``)
ARTEFACT_KINDS = ("fold", "bubble", "tear")


def artefact_specs(kinds: tuple[str, ...], seed: int, roi_index: int, v: np.ndarray) -> list[dict]:
    """One artefact of each of ``kinds`` placed at random in the square ``v`` (µm), drawn
    from a generator of its own (brain, ROI): the same artefacts whatever the readout,
    and the ROI sampling untouched. A fold: a strip 0.1-1 mm wide in any direction,
    straight or gently curved (up to 0.3 mm off a straight line over 3 mm), through the
    middle 60 % of the square; a bubble: a disc of radius 0.15-0.6 mm with a thin dark rim;
    a tear: a wavy gap 20-200 µm wide (as ``synth.artefacts``' tears)."""
    rng = np.random.default_rng([seed, roi_index, 7331])
    lo, hi = v.min(0), v.max(0)
    out = []
    for kind in kinds:
        c = lo + (hi - lo) * rng.uniform(0.2, 0.8, 2)
        th = rng.uniform(0, np.pi)
        spec = {"kind": kind, "c": c, "dir": np.array([np.cos(th), np.sin(th)])}
        if kind == "fold":
            spec["half"] = rng.uniform(50.0, 500.0)
            spec["bend"] = rng.uniform(-1, 1) * 300.0 / 1500.0**2
        elif kind == "bubble":
            spec["r"] = rng.uniform(150.0, 600.0)
        elif kind == "tear":
            spec["half"] = rng.uniform(10.0, 100.0)
            spec["wave"] = (rng.uniform(5, 40), rng.uniform(80, 400), rng.uniform(0, 6.3))
        out.append(spec)
    return out


def paint_artefacts(img: np.ndarray, y0: float, x0: float, p: float, glass: float,
                    specs: list[dict]) -> np.ndarray:
    """``img`` (transmitted light, a window at ``(y0, x0)`` µm, ``p`` µm/px, ``glass``: the
    slide's glass level) with ``specs`` painted in physically, on the transmission
    T = img / glass (0-1): a fold doubles the tissue's optical density (T -> T², the section
    lying doubled), a bubble makes the tissue pale (T -> T^0.25, the air's refraction) inside a
    dark rim (OD + 0.5 over ~15 µm), a tear is glass (T -> 1). Edges over one pixel."""
    yy = y0 + (np.arange(img.shape[0]) + 0.5)[:, None] * p
    xx = x0 + (np.arange(img.shape[1]) + 0.5)[None, :] * p
    t = np.clip(img / glass, 1e-4, 1.0)
    od = -np.log(t)
    soft = max(p, 2.0)
    for s in specs:
        dy, dx = yy - s["c"][0], xx - s["c"][1]
        along = dy * s["dir"][0] + dx * s["dir"][1]
        across = -dy * s["dir"][1] + dx * s["dir"][0]
        if s["kind"] == "fold":
            d = np.abs(across - s["bend"] * along**2)
            inside = np.clip((s["half"] - d) / soft + 0.5, 0, 1)
            od = od * (1 + inside)
        elif s["kind"] == "bubble":
            d = np.hypot(dy, dx) - s["r"]
            inside = np.clip(0.5 - d / soft, 0, 1)
            rim = np.exp(-((d / max(15.0, soft)) ** 2))
            od = od * (1 - 0.75 * inside) + 0.5 * rim
        elif s["kind"] == "tear":
            a, lam, ph = s["wave"]
            d = np.abs(across + a * np.sin(along / lam + ph))
            od = od * np.clip((d - s["half"]) / soft + 0.5, 0, 1)
    out = glass * np.exp(-od)
    return np.where(np.isfinite(img), out, img).astype(np.float32)


def _spec_words(s: dict) -> str:
    """An artefact spec in a few words (for the per-ROI line)."""
    if s["kind"] == "fold":
        return f"fold {2 * s['half']:.0f} µm wide"
    if s["kind"] == "bubble":
        return f"bubble r {s['r']:.0f} µm"
    return f"tear {2 * s['half']:.0f} µm wide"


class ArtefactSection:
    """``section`` whose windows show the artefacts ``specs`` (:func:`paint_artefacts`)
    painted over the pixels it reads; everything else (levels, the slide's glass and white
    matter from the coarsest level) is ``section``'s own: a preparation artefact in one
    region does not change the slide."""

    def __init__(self, section, specs: list[dict], glass: float):
        self._section, self._specs, self._glass = section, specs, glass

    def __getattr__(self, name):
        return getattr(self._section, name)

    def read_window(self, y0_um, x0_um, h_um, w_um, pixel_size_um, *, fill=0.0):
        img = self._section.read_window(y0_um, x0_um, h_um, w_um, pixel_size_um, fill=np.nan)
        img = paint_artefacts(img, y0_um, x0_um, pixel_size_um, self._glass, self._specs)
        return np.where(np.isfinite(img), img, fill).astype(np.float32)


def sample_rois(
    seed: int, n: int, side_um: float, rng, areas: list[str] | None = None
) -> list[tuple[np.ndarray, dict]]:
    """``(vertices, truth)`` of squares across the ribbon (pia and white matter in view):
    :func:`cytowords.synth.squares_across_ribbon` on brain ``seed``'s section. With
    ``areas`` (area ids), up to ``n`` squares of those areas only, one per area in the
    order given (those the section shows at mid-depth; up to 40 random mid-depth points of
    each tried, as :func:`sample_column_rois`)."""
    geom = section_geometry(seed)
    if not areas:
        return squares_across_ribbon(geom, n, side_um, rng)
    pts, t, mid = mid_depth_points(geom)
    out = []
    for area in areas:
        if len(out) == n:
            break
        for j in rng.permutation(mid[t["area"][mid] == area])[:40]:
            got = square_across(geom, pts[j], side_um)
            if got is not None:
                out.append((got[0], truth_in_roi(geom, got[0], step_um=100.0)))
                break
    return out


def sample_column_rois(seed: int, n: int, side_um: float, rng) -> list[tuple[np.ndarray, dict]]:
    """Up to ``n`` squares across the ribbon (as :func:`sample_rois`), one per area: every
    area with strong columns (``truth["columnar_organisation"]``) the brain shows first,
    then areas with none and weak columns in turn."""
    geom = section_geometry(seed)
    pts, t, mid = mid_depth_points(geom)
    by_term: dict[str, list[str]] = {"strong": [], "none": [], "weak": []}
    for aid in rng.permutation(sorted(set(t["area"][mid]))):
        by_term[t["per_area"][str(aid)]["columnar_organisation"]].append(str(aid))
    order = list(by_term["strong"])
    rest = [by_term["none"], by_term["weak"]]
    while any(rest):
        for r in rest:
            if r:
                order.append(r.pop(0))
    out = []
    for area in order:
        if len(out) == n:
            break
        for j in rng.permutation(mid[t["area"][mid] == area])[:40]:
            got = square_across(geom, pts[j], side_um)
            if got is not None:
                out.append(got)
                break
    return out


def run_column_patches(brains: list[int], n: int, vessel_check: bool, rng) -> None:
    """Score the columnar organisation on patches of the generator (``render_patch``: a
    straight ribbon whose position along it is exact, so its columns are radial rows):
    per brain every area with strong columns and ``n`` with none and ``n`` with weak ones,
    one patch of 0.8 × 1.8 mm at mid-depth at 2 µm/px each, read by ``columns_along`` on
    three straight traverses leaning up to ±4° (a traverse's error)."""
    import time as _t

    from cytowords.atlas import load_atlas
    from cytowords.measure.columns import columns_along
    from cytowords.synth import render_patch
    from cytowords.synth.brain import Brain
    from cytowords.synth.truth import columnar_term

    atlas = load_atlas()
    by_term: dict[str, list[str]] = {"strong": [], "weak": [], "none": []}
    for aid in atlas.areas:
        by_term[columnar_term(atlas.get(aid))].append(aid)
    h, w, px = 800.0, 1800.0, 2.0
    rows = []
    for seed in brains:
        areas = list(by_term["strong"])
        for t in ("none", "weak"):
            areas += [str(a) for a in rng.choice(by_term[t], n, replace=False)]
        for i, aid in enumerate(areas):
            area = atlas.get(aid)
            lean = np.deg2rad(rng.uniform(-4, 4, 3))
            kinds = [("real", Brain(seed))]
            if vessel_check:
                kinds.append(("novessels", Brain(seed, realism_off={"vessels"})))
            for kind, brain in kinds:
                th = brain.thickness_um(area)
                img = render_patch(
                    area, brain, size_um=(h, w), pixel_size_um=px,
                    depth_offset=th / 2 - h / 2, seed=1000 * seed + i,
                ).astype(np.float64)

                def read(y0, x0, hh, ww, p, img=img):
                    out = np.full((int(round(hh / p)), int(round(ww / p))), np.nan)
                    a, b = int(round(y0 / p)), int(round(x0 / p))
                    ys = slice(max(a, 0), min(a + out.shape[0], img.shape[0]))
                    xs = slice(max(b, 0), min(b + out.shape[1], img.shape[1]))
                    if ys.stop > ys.start and xs.stop > xs.start:
                        out[ys.start - a : ys.stop - a, xs.start - b : xs.stop - b] = img[ys, xs]
                    return out

                paths = []
                for x, t in zip((w / 6, w / 2, 5 * w / 6), lean):
                    s_ = np.linspace(-h, h, 30)
                    paths.append(np.stack([h / 2 + s_ * np.cos(t), x + s_ * np.sin(t)], 1))
                c0 = _t.process_time()
                col = columns_along(read, paths, brain.staining.glass, px)
                cpu = _t.process_time() - c0
                row = {
                    "seed": seed, "area": aid, "kind": kind,
                    "strength": float(area.profile.columnar_strength),
                    "truth": columnar_term(area), "index": col.index, "cv": col.cv,
                    "corr": col.correlation, "z": col.z, "term": col.term,
                    "n_somata": col.n_somata, "pale": col.pale_share,
                    "per_window": col.per_window, "cpu_s": cpu,
                }
                rows.append(row)
                print(
                    f"{seed} {aid:>6} {kind:>9}: truth {row['truth']:>6} "
                    f"({row['strength']:.2f}) -> {str(row['term']):>6} index {col.index:.3f} "
                    f"cv {col.cv:.3f} corr {col.correlation:.3f} z {col.z:.1f} somata "
                    f"{col.n_somata} pale {col.pale_share:.3f} analysis cpu {cpu:.2f} s",
                    flush=True,
                )
    report_columns(rows, vessel_check)


def spearman(a, b) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def run_columns(brains: list[int], n: int, side_mm: float, vessel_check: bool, rng) -> None:
    """Score the columnar organisation (``Readout.columns``) against the generator's truth
    (the ROI's dominant area's ``columnar_strength`` / term); with ``vessel_check`` each ROI
    is measured on the same brain without vessels (``realism_off={"vessels"}``) too."""
    import time as _t

    rows = []
    for seed in brains:
        kinds = [("real", virtual_section(seed, pixel_size_um=2.0))]
        if vessel_check:
            kinds.append(("novessels", virtual_section(seed, pixel_size_um=2.0, realism_off={"vessels"})))
        for v, tr in sample_column_rois(seed, n, side_mm * 1000, rng):
            for kind, section in kinds:
                t0, c0 = _t.time(), _t.process_time()
                r = measure_roi(section, v, cells=False, columns=True, profile_um=16.0)
                wall, cpu = _t.time() - t0, _t.process_time() - c0
                col = r.columns
                row = {
                    "seed": seed, "area": tr["area"], "kind": kind,
                    "strength": tr["truth"]["columnar_strength"],
                    "truth": tr["truth"]["columnar_organisation"],
                    "index": col.index if col else float("nan"),
                    "corr": col.correlation if col else float("nan"),
                    "cv": col.cv if col else float("nan"),
                    "z": col.z if col else float("nan"),
                    "term": col.term if col else None,
                    "n_somata": col.n_somata if col else 0,
                    "pale": col.pale_share if col else float("nan"),
                    "per_window": col.per_window if col else [],
                    "cpu_s": cpu, "wall_s": wall,
                }
                rows.append(row)
                print(
                    f"{seed} {tr['area']:>6} {kind:>9}: truth {row['truth']:>6} "
                    f"({row['strength']:.2f}) -> {str(row['term']):>6} index {row['index']:.3f} "
                    f"cv {row['cv']:.3f} corr {row['corr']:.3f} z {row['z']:.1f} somata "
                    f"{row['n_somata']} pale {row['pale']:.3f} windows "
                    f"{[round(x, 3) for x in row['per_window']]} cpu {cpu:.1f} s"
                    + ("" if col and col.n_windows else f" ({'; '.join(r.reasons)})"),
                    flush=True,
                )
    report_columns(rows, vessel_check)


def report_columns(rows: list[dict], vessel_check: bool) -> None:
    """Spearman (index, cv, z vs the truth's strength), the 3-way confusion, the precision
    of strong, index per truth term and CPU, for realistic rows and those without vessels;
    with ``vessel_check`` the index with vessels less without, per place."""
    for kind in ("real", "novessels"):
        rs = [r for r in rows if r["kind"] == kind and np.isfinite(r["index"])]
        if not rs:
            continue
        print(f"\n== {kind}: {len(rs)} ROIs ==")
        print(f"Spearman index vs truth strength: {spearman([r['strength'] for r in rs], [r['index'] for r in rs]):.3f}")
        terms = ("none", "weak", "strong")
        print("truth \\ said  " + " ".join(f"{t:>6}" for t in (*terms, "undec.")))
        for t in terms:
            said = [r["term"] for r in rs if r["truth"] == t]
            print(f"{t:>12}  " + " ".join(f"{said.count(s):>6}" for s in (*terms, None)))
        dec = [r for r in rs if r["term"] is not None]
        ok = sum(r["term"] == r["truth"] for r in dec)
        print(f"term accuracy (decided): {ok}/{len(dec)} = {ok / max(len(dec), 1):.2f}")
        strong = [r for r in dec if r["term"] == "strong"]
        good = sum(r["truth"] == "strong" for r in strong)
        print(f"strong said of none/weak: {len(strong) - good}; precision of strong {good}/{len(strong)}")
        for t in terms:
            ix = [r["index"] for r in rs if r["truth"] == t]
            if ix:
                print(f"index {t}: median {np.median(ix):.3f} range {min(ix):.3f}-{max(ix):.3f} (n={len(ix)})")
        for key in ("cv", "z"):
            print(f"Spearman {key} vs truth strength: {spearman([r['strength'] for r in rs], [r[key] for r in rs]):.3f}")
        cpu = [r["cpu_s"] for r in rs]
        print(f"CPU per ROI or patch (see its lines for what it includes): median {np.median(cpu):.2f} s")
    if vessel_check:
        pairs = {(r["seed"], r["area"]): {} for r in rows}
        for r in rows:
            pairs[(r["seed"], r["area"])][r["kind"]] = r
        both = [
            p for p in pairs.values()
            if len(p) == 2 and np.isfinite(p["real"]["index"]) and np.isfinite(p["novessels"]["index"])
        ]
        d = [p["real"]["index"] - p["novessels"]["index"] for p in both]
        dz = [p["real"]["z"] - p["novessels"]["z"] for p in both]
        if d:
            print(
                f"\nindex with vessels - without ({len(d)} places): median {np.median(d):+.3f}, "
                f"max {max(d):+.3f}; z: median {np.median(dz):+.2f}, max {max(dz):+.2f}"
            )
            decided_v = sum(
                p["real"]["term"] in ("weak", "strong") and p["novessels"]["term"] == "none"
                for p in both
            )
            print(f"places with columns (weak or strong) only with vessels: {decided_v}")
            strong_v = sum(
                p["real"]["term"] == "strong" and p["novessels"]["term"] != "strong" for p in pairs.values() if len(p) == 2
            )
            print(f"ROIs called strong only with vessels: {strong_v}")


LAYERS = "I II III IV V VI".split()
#: a ROI counts as obliquely cut when its apparent width exceeds the true thickness by this
#: factor (a cut 25° off the normal)
OBLIQUE_STRETCH = 1.1
#: the median of |x| for a normal x of SD 1: ``ReadoutNoise``'s SDs are the median absolute
#: deviation / Z50 (the SD of the errors' bulk, robust to the few failed traces)
Z50 = 0.6745


def _mad(x: np.ndarray) -> float:
    """Robust SD: the median absolute deviation from the median / :data:`Z50`."""
    return float(np.median(np.abs(x - np.median(x))) / Z50)


#: a detection is a drawn soma's when within this distance (µm), or a quarter of its diameter
MATCH_UM = 8.0


def sample_cell_windows(seed: int, n: int, rng, side_um: float = 400.0) -> tuple[list[dict], float]:
    """``n`` windows at 2 µm/px of brain ``seed`` and the slide's glass level: a third on
    layer V of 4a/4p centred on a drawn Betz cell, a third centred on a drawn large special
    cell (>= 25 µm) of the other areas that render them (IIIc magnopyramidal, Meynert,
    ganglion and giant pyramids), a third in areas without, at mid-depth of layers I..VI in
    turn. Each: ``img``, ``y0``, ``x0``, ``group``, ``area``, ``layer`` and the drawn somata
    (``cells_in_window``) inside the inner square (20 µm from the edges)."""
    from cytowords.measure.slide import slide_reference
    from cytowords.synth.truth import cells_in_window

    geom = section_geometry(seed)
    section = virtual_section(seed, pixel_size_um=2.0)
    glass = slide_reference(section.levels)[0]
    w, h = geom.size_um
    ys, xs = np.mgrid[2000 : h - 2000 : 150.0, 2000 : w - 2000 : 150.0]
    pts = np.stack([ys.ravel(), xs.ravel()], 1)
    t = truth_at(geom, pts)
    betz = [a for a, v in t["per_area"].items() if any(s["kind"] == "betz" for s in v["special"])]
    other = [a for a, v in t["per_area"].items() if v["special"] and a not in betz]
    without = [a for a, v in t["per_area"].items() if not v["special"]]
    out = []
    for i in range(n):
        group = ("betz", "special", "without")[i % 3]
        pool = {"betz": betz, "special": other, "without": without}[group]
        if not pool:
            continue
        area = pool[rng.integers(len(pool))]
        per = t["per_area"][area]
        layer = per["special"][0]["layer"] if per["special"] else LAYERS[(i // 3) % 6]
        li = LAYERS.index(layer)
        mid = t["layer_tops"][:, li] + 0.5 * per["layer_fractions"][layer]
        ok = np.flatnonzero((t["area"] == area) & (np.abs(t["rel_depth"] - mid) < 0.03))
        if ok.size == 0:
            continue
        y, x = pts[rng.choice(ok)]
        if group != "without":
            # centre on a drawn large special cell near the point (they are sparse)
            near = cells_in_window(geom, y - 600.0, x - 600.0, 1200.0, 1200.0)
            big = np.flatnonzero((near.kind == 2) & (near.diam >= 25.0))
            if big.size:
                j = big[rng.integers(big.size)]
                y, x = float(near.y[j]), float(near.x[j])
        if any(abs(y - w["y0"] - side_um / 2) < side_um and abs(x - w["x0"] - side_um / 2) < side_um for w in out):
            continue  # overlaps a window already taken: its cells would count twice
        y0, x0 = y - side_um / 2, x - side_um / 2
        img = section.read_window(y0, x0, side_um, side_um, 2.0)
        cells = cells_in_window(geom, y0 + 20, x0 + 20, side_um - 40, side_um - 40)
        out.append(
            {"img": img, "y0": y0, "x0": x0, "side": side_um, "group": group, "area": area,
             "layer": layer, "cells": cells}
        )
    return out, glass


def cached_cell_windows(seed: int, n: int, rng, folder: str | None) -> tuple[list[dict], float]:
    """:func:`sample_cell_windows`, kept in ``folder`` (when given) as a pickle named by
    ``seed``, ``n`` and a digest of ``rng``'s state before sampling; a kept file is read
    instead of rendering and ``rng`` is set to the state it had after sampling, so a run
    with the cache draws and scores exactly what a run without it does."""
    import hashlib
    import json
    import pickle
    from pathlib import Path

    if folder is None:
        return sample_cell_windows(seed, n, rng)
    state = json.dumps(rng.bit_generator.state, sort_keys=True, default=str)
    key = hashlib.sha1(state.encode()).hexdigest()[:12]
    path = Path(folder) / f"cellwin_{seed}_{n}_{key}.pkl"
    if path.exists():
        with open(path, "rb") as fh:
            windows, glass, after = pickle.load(fh)  # noqa: S301 (our own cache)
        rng.bit_generator.state = after
        return windows, glass
    windows, glass = sample_cell_windows(seed, n, rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump((windows, glass, rng.bit_generator.state), fh)
    tmp.replace(path)
    return windows, glass


#: the generator's pyramid at half its coverage is this many times its drawn size long
#: (rounded base to the apical dendrite's base; ``synth.cells._shape_coverage``)
PYRAMID_DRAWN_LENGTH = 1.16
#: detections at least this long (µm) are written by ``--save-large``
RECORD_MIN_UM = 15.0


def blur_light(img: np.ndarray, glass: float, sd_um: float = 0.0, disc_um: float = 0.0,
               pixel_um: float = 2.0) -> np.ndarray:
    """``img`` out of focus: its transmitted light (optics blur light, not optical density)
    blurred with a Gaussian of SD ``sd_um`` or a defocus disc of radius ``disc_um`` (µm;
    a uniform disc of radius R has an SD of R / 2 along each axis), glass outside."""
    from scipy import ndimage as ndi

    out = np.asarray(img, dtype=np.float64)
    if sd_um > 0:
        out = ndi.gaussian_filter(out, sd_um / pixel_um, mode="constant", cval=glass)
    if disc_um > 0:
        r = disc_um / pixel_um
        k = int(np.ceil(r))
        yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
        # the disc's pixel coverage, supersampled 8 x 8
        sub = (np.arange(8) + 0.5) / 8 - 0.5
        cov = np.zeros(yy.shape)
        for dy in sub:
            for dx in sub:
                cov += (yy + dy) ** 2 + (xx + dx) ** 2 <= r * r
        cov /= cov.sum()
        out = ndi.convolve(out, cov, mode="constant", cval=glass)
    return out


#: the SDs (µm) a thick section's out-of-plane somata are blurred with, drawn per soma in
#: steps of :data:`THICK_STEP_UM` (the soma's own distance from the focal plane)
THICK_SD_UM = (2.0, 5.0)
THICK_STEP_UM = 0.5


def thick_section(img: np.ndarray, glass: float, win: dict, share: float, seed: int,
                  sd_um: tuple[float, float] = THICK_SD_UM, pixel_um: float = 2.0) -> np.ndarray:
    """``img`` as a thick section scanned in focus: a ``share`` of the somata drawn in the
    window (all of them, its 20 µm margin and those straddling its edges included; drawn at
    random per window) lie away from the focal plane, each
    blurred with its own Gaussian SD (µm, uniform in ``sd_um``, in steps of
    :data:`THICK_STEP_UM`) applied to the transmitted light around that soma only (a disc
    of half its drawn length plus 2 SD, fading out over one SD more); the other somata and
    the neuropil between them stay sharp."""
    from scipy import ndimage as ndi

    from cytowords.synth.truth import cells_in_window

    side = win["side"]
    cells = cells_in_window(section_geometry(seed), win["y0"] - 40, win["x0"] - 40,
                            side + 80, side + 80)
    out = np.asarray(img, dtype=np.float64).copy()
    if share <= 0 or not len(cells.diam):
        return out
    # drawn per window (its place) and share: the same somata whatever else is scored
    rng = np.random.default_rng([seed, abs(int(win["y0"])), abs(int(win["x0"])),
                                 int(round(share * 1000))])
    soft = np.flatnonzero(rng.random(len(cells.diam)) < share)
    steps = np.arange(sd_um[0], sd_um[1] + 1e-9, THICK_STEP_UM)
    sd = steps[rng.integers(len(steps), size=len(soft))]
    blurred = {s: ndi.gaussian_filter(out, s / pixel_um, mode="constant", cval=glass)
               for s in np.unique(sd)}
    length = np.where(cells.pyramidal, PYRAMID_DRAWN_LENGTH,
                      np.maximum(cells.elong, 1 / cells.elong)) * cells.diam
    h, w = out.shape
    for k, s in zip(soft, sd):
        cy = (cells.y[k] - win["y0"]) / pixel_um - 0.5
        cx = (cells.x[k] - win["x0"]) / pixel_um - 0.5
        r_in = (0.5 * length[k] + 2 * s) / pixel_um
        r_out = r_in + s / pixel_um
        y_lo, y_hi = max(0, int(cy - r_out) - 1), min(h, int(cy + r_out) + 2)
        x_lo, x_hi = max(0, int(cx - r_out) - 1), min(w, int(cx + r_out) + 2)
        if y_lo >= y_hi or x_lo >= x_hi:
            continue
        yy, xx = np.mgrid[y_lo:y_hi, x_lo:x_hi]
        r = np.hypot(yy - cy, xx - cx)
        wt = np.clip((r_out - r) / max(r_out - r_in, 1e-9), 0.0, 1.0)
        sl = (slice(y_lo, y_hi), slice(x_lo, x_hi))
        out[sl] = out[sl] * (1 - wt) + blurred[s][sl] * wt
    return out


def score_cell_windows(
    seed: int, windows: list[dict], glass: float, detect=None, records: list | None = None,
    blur_sd_um: float = 0.0, disc_um: float = 0.0, focus_check: bool = True,
    thick_share: float = 0.0,
) -> dict:
    """Detections in ``windows`` against the drawn somata (see module docstring); with
    ``records``, one dict per detection at least :data:`RECORD_MIN_UM` long is appended
    (:func:`large_records`). ``blur_sd_um`` / ``disc_um``: each window out of focus first
    (:func:`blur_light`); with ``focus_check`` a window the readout finds out of focus
    (``Somata.in_focus``) is left out as the readout leaves it (counted in ``rejected``).
    ``thick_share``: that share of each window's somata out of the focal plane
    (:func:`thick_section`), the rest sharp."""
    from scipy.spatial import cKDTree

    from cytowords.measure.cells import (
        GIANT_UM,
        LARGE_PYRAMID_UM,
        detect_somata,
        is_large,
        large_threshold_um,
    )

    detect = detect or detect_somata
    geom = section_geometry(seed)
    c = {k: 0 for k in ("tp_r", "n_true", "tp_p", "n_det", "g_tp_r", "g_true", "g_tp_p", "g_det",
                        "b_tp", "b_true", "s_tp", "s_true", "d_tp", "d_n", "rl_tp_r", "rl_true",
                        "rl_tp_p", "rl_det", "rg_tp_r", "rg_true", "rg_tp_p", "rg_det", "rb_tp",
                        "rb_true", "sp_tp", "sp_true", "rsp_tp", "rsp_true", "windows",
                        "rejected")}
    blurs = []
    per_layer = {name: [0, 0] for name in LAYERS}
    ratios = []

    def hits(a_yx, b_yx, tol):
        """For each point of ``a``: the nearest of ``b`` and whether it is within ``tol``."""
        if not len(a_yx) or not len(b_yx):
            return np.zeros(len(a_yx), bool), np.zeros(len(a_yx), int)
        d, j = cKDTree(b_yx).query(a_yx)
        return d < tol, j

    for win in windows:
        y0, x0, side, cells = win["y0"], win["x0"], win["side"], win["cells"]
        img = win["img"]
        if thick_share > 0:
            img = thick_section(img, glass, win, thick_share, seed)
        if blur_sd_um > 0 or disc_um > 0:
            img = blur_light(img, glass, blur_sd_um, disc_um)
        som = detect(img, 2.0, glass)
        blur = float(getattr(som, "blur_um", float("nan")))
        blurs.append(blur)
        c["windows"] += 1
        if focus_check and not getattr(som, "in_focus", True):
            c["rejected"] += 1
            print(f"{seed} {win['group']:>7} {win['area']:>6} layer {win['layer']}: out of "
                  f"focus (edge blur {blur:.2f} µm), left out")
            continue
        dyx = som.yx_um + [y0, x0]
        inner = np.all((dyx >= [y0 + 20, x0 + 20]) & (dyx < [y0 + side - 20, x0 + side - 20]), axis=1)
        dyx, dd, dl = dyx[inner], som.diam_um[inner], som.length_um[inner]
        tyx = np.stack([cells.y, cells.x], 1)
        tol = np.maximum(MATCH_UM, 0.25 * cells.diam)
        # giant as the readout calls it (CellStats.giant_min_um): large and that long
        large_d = is_large(dd, dl)
        giant_d = large_d & (dl >= GIANT_UM)
        # the readout's own rule: large relative to the window's somata (large_threshold_um)
        t_own = large_threshold_um(som.length_um, som.edge_um)
        large_o = is_large(dd, dl, t_own)
        giant_o = large_o & (dl >= t_own * GIANT_UM / LARGE_PYRAMID_UM)
        # the generator's special cells (Betz, IIIc magnopyramidal and giant pyramids,
        # Meynert, ganglion cells) drawn large: the "large pyramids"
        special_t = (cells.kind == 2) & (cells.diam >= LARGE_PYRAMID_UM)
        betz_t = special_t & (win["group"] == "betz")
        for big_t, det_ok, tp, nt in (
            (cells.diam >= LARGE_PYRAMID_UM, large_d, "tp_r", "n_true"),
            (cells.diam >= GIANT_UM, giant_d, "g_tp_r", "g_true"),
            (betz_t, large_d, "b_tp", "b_true"),
            (cells.diam >= LARGE_PYRAMID_UM, large_o, "rl_tp_r", "rl_true"),
            (cells.diam >= GIANT_UM, giant_o, "rg_tp_r", "rg_true"),
            (betz_t, large_o, "rb_tp", "rb_true"),
            (special_t, large_d, "sp_tp", "sp_true"),
            (special_t, large_o, "rsp_tp", "rsp_true"),
        ):
            ok, j = hits(tyx[big_t], dyx, tol[big_t])
            c[tp] += int(np.sum(ok & det_ok[j])) if len(dyx) else 0
            c[nt] += int(big_t.sum())
        for det_ok, least, tp, nd in ((large_d, 0.8 * LARGE_PYRAMID_UM, "tp_p", "n_det"),
                                      (giant_d, 0.8 * GIANT_UM, "g_tp_p", "g_det"),
                                      (large_o, 0.8 * LARGE_PYRAMID_UM, "rl_tp_p", "rl_det"),
                                      (giant_o, 0.8 * GIANT_UM, "rg_tp_p", "rg_det")):
            ok, j = hits(dyx[det_ok], tyx, MATCH_UM + 0.25 * LARGE_PYRAMID_UM)
            c[tp] += int(np.sum(ok & (cells.diam[j] >= least))) if len(tyx) else 0
            c[nd] += int(det_ok.sum())
        if records is not None:
            records.extend(large_records(seed, win, dyx, dd, dl, som.edge_um[inner], t_own))
        # all somata: recall of drawn somata >= 8 µm, precision of detections, count per layer
        mid = cells.diam >= 8
        ok, j = hits(tyx[mid], dyx, np.maximum(4.0, 0.25 * cells.diam[mid]))
        c["s_tp"] += int(ok.sum())
        c["s_true"] += int(mid.sum())
        if ok.any():
            ratios.extend(dl[j[ok]] / cells.diam[mid][ok])
        ok, j = hits(dyx, tyx, np.maximum(4.0, 0.25 * dd))
        c["d_tp"] += int(ok.sum())
        c["d_n"] += len(dyx)
        for yx, col in ((dyx, 0), (tyx, 1)):
            if not len(yx):
                continue
            tr = truth_at(geom, yx)
            rd = tr["rel_depth"]
            for li, name in enumerate(LAYERS):
                top = tr["layer_tops"][:, li]
                bottom = tr["layer_tops"][:, li + 1] if li < 5 else np.ones(len(yx))
                per_layer[name][col] += int(np.sum((rd >= top) & (rd < bottom)))
        print(
            f"{seed} {win['group']:>7} {win['area']:>6} layer {win['layer']}: drawn >= 25 µm "
            f"{int((cells.diam >= 25).sum())}, detected large {int(large_d.sum())}; somata "
            f"drawn {len(tyx)}, detected {len(dyx)}; edge blur {blur:.2f} µm"
        )
    c["per_layer"] = per_layer
    c["blurs"] = blurs
    c["ratios"] = ratios
    return c


def large_records(seed, win, dyx, dd, dl, edge, t_own) -> list[dict]:
    """Per detection at least :data:`RECORD_MIN_UM` long (µm: ``dyx`` position, ``dd``
    equivalent diameter, ``dl`` length, ``edge`` correction to the half-light edge): the
    large calls (fixed 25 µm and the window's own cut-off ``t_own``), the nearest drawn
    soma (size, kind, pyramidal, distance, its length at half coverage: a pyramid 1.16 x
    its size, an oval its size over its elongation) and how many drawn somata >= 8 µm lie
    within half the detection's length (> 1: overlapping somata read as one)."""
    from scipy.spatial import cKDTree

    from cytowords.measure.cells import is_large

    cells = win["cells"]
    sel = np.flatnonzero(dl >= RECORD_MIN_UM)
    if not len(sel) or not len(cells.diam):
        return []
    tree = cKDTree(np.stack([cells.y, cells.x], 1))
    dist, j = tree.query(dyx[sel])
    drawn_len = np.where(
        cells.pyramidal, PYRAMID_DRAWN_LENGTH, np.maximum(cells.elong, 1 / cells.elong)
    ) * cells.diam
    large_fixed, large_own = is_large(dd, dl), is_large(dd, dl, t_own)
    out = []
    for k, i in enumerate(sel):
        near = tree.query_ball_point(dyx[i], dl[i] / 2)
        out.append({
            "brain": seed, "group": win["group"], "area": win["area"],
            "y_um": round(float(dyx[i, 0]), 1), "x_um": round(float(dyx[i, 1]), 1),
            "length_um": round(float(dl[i]), 2), "eq_diam_um": round(float(dd[i]), 2),
            "edge_um": round(float(edge[i]), 2), "own_cutoff_um": round(float(t_own), 2),
            "large": bool(large_fixed[i]), "large_own": bool(large_own[i]),
            "drawn_um": round(float(cells.diam[j[k]]), 2),
            "drawn_length_um": round(float(drawn_len[j[k]]), 2),
            "drawn_kind": int(cells.kind[j[k]]), "drawn_pyramidal": bool(cells.pyramidal[j[k]]),
            "drawn_dist_um": round(float(dist[k]), 2),
            "drawn_within": int(np.sum(cells.diam[near] >= 8)),
        })
    return out


def report_cell_windows(c: dict) -> None:
    """Print the scores of :func:`score_cell_windows` (summed over brains)."""
    from cytowords.measure.cells import FOCUS_MAX_UM

    def f(a, b):
        return f"{c[a] / c[b]:.2f} ({c[a]}/{c[b]})" if c[b] else "- (0/0)"

    r = np.array(c["ratios"])
    b = np.array(c.get("blurs", []), dtype=float)
    if c.get("windows"):
        print(
            f"windows out of focus (edge blur > {FOCUS_MAX_UM:g} µm), left out: {c['rejected']} of "
            f"{c['windows']}; edge blur median {np.nanmedian(b):.2f} µm, range "
            f"{np.nanmin(b):.2f}-{np.nanmax(b):.2f} ({int(np.isnan(b).sum())} not judged)"
            if np.isfinite(b).any() else f"windows left out: {c['rejected']} of {c['windows']}"
        )
    print(f"large somata (>= 25 µm): recall {f('tp_r', 'n_true')}, precision {f('tp_p', 'n_det')}")
    print(f"giant somata (>= 40 µm): recall {f('g_tp_r', 'g_true')}, precision {f('g_tp_p', 'g_det')}")
    print(f"Betz cells of 4a/4p (drawn >= 25 µm) found as large: {f('b_tp', 'b_true')}")
    print(
        "by the window's own scale (large_threshold_um, as the readout): large recall "
        f"{f('rl_tp_r', 'rl_true')}, precision {f('rl_tp_p', 'rl_det')}; giant recall "
        f"{f('rg_tp_r', 'rg_true')}, precision {f('rg_tp_p', 'rg_det')}; Betz cells found as "
        f"large {f('rb_tp', 'rb_true')}"
    )
    print(
        "special large pyramids (the generator's special cells drawn >= 25 µm: Betz, IIIc "
        f"giants, Meynert...) found as large: recall {f('sp_tp', 'sp_true')} at large precision "
        f"{f('tp_p', 'n_det')}; own scale: recall {f('rsp_tp', 'rsp_true')} at precision "
        f"{f('rl_tp_p', 'rl_det')}"
    )
    print(f"somata >= 8 µm: recall {f('s_tp', 's_true')}; detections on a drawn soma {f('d_tp', 'd_n')}")
    if len(r):
        print(
            f"soma length measured / drawn diameter (somata >= 8 µm): median {np.median(r):.2f}, "
            f"IQR {np.percentile(r, 25):.2f}-{np.percentile(r, 75):.2f}"
        )
    print("somata per layer, detected / drawn - 1 (all drawn somata: neurons and glia):")
    print("  " + ", ".join(
        f"{k} {v[0] / v[1] - 1:+.0%} ({v[0]}/{v[1]})" for k, v in c["per_layer"].items() if v[1]
    ))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205])
    ap.add_argument("--rois", type=int, default=12, help="ROIs per brain (one per area)")
    ap.add_argument(
        "--areas", nargs="+", default=None,
        help="area ids: the ROIs are squares of these areas only (one per area the brain "
        "shows at mid-depth, in this order; e.g. the thick layer I of 25 s24 s32 p24c)",
    )
    ap.add_argument("--side-mm", type=float, default=3.0)
    ap.add_argument("--profile-um", type=float, default=16.0)
    ap.add_argument("--cells", action="store_true", help="measure somata too (slow)")
    ap.add_argument(
        "--finest-um", type=float, default=None,
        help="read each section as a coarse scan starting at its first level of at least this "
        "µm/px (e.g. 16: no grain, as BigBrain's 20 µm/px); default: the 2 µm/px scan",
    )
    ap.add_argument("--cell-windows", type=int, default=0, help="windows per brain")
    ap.add_argument("--cell-brains", type=int, nargs="+", default=[224])
    ap.add_argument(
        "--cell-blur", type=float, default=0.0,
        help="µm: blur each cell window's transmitted light (Gaussian SD) before detection",
    )
    ap.add_argument(
        "--cell-defocus", type=float, default=0.0,
        help="µm: blur each cell window's transmitted light with a defocus disc of this radius",
    )
    ap.add_argument(
        "--cell-thick", type=float, default=0.0,
        help="share (0-1) of each cell window's somata out of the focal plane of a thick "
        "section: each blurred around itself with a Gaussian of SD 2-5 µm, the rest sharp",
    )
    ap.add_argument(
        "--ignore-focus", action="store_true",
        help="score out-of-focus cell windows too (the readout leaves them out)",
    )
    ap.add_argument(
        "--cell-cache", default=None,
        help="folder: keep each brain's rendered cell windows there (pickled, keyed by the "
        "brain, the window count and the random state) and reuse them on the next run",
    )
    ap.add_argument(
        "--save-large", default=None,
        help="CSV file: each cell-window detection >= 15 µm long with its nearest drawn soma",
    )
    ap.add_argument(
        "--held-out", type=int, nargs="*", default=[],
        help="brains of --brains whose layer IV scores are also printed apart from the others",
    )
    ap.add_argument(
        "--save-cells", default=None,
        help="folder: each ROI's somata (relative depth, size, length) and truth as .npz",
    )
    ap.add_argument(
        "--save", default=None,
        help="JSON-lines file: each ROI's readout (Readout.to_dict with the traverses, and "
        "digests of its raw arrays), to compare two versions of the readout",
    )
    ap.add_argument(
        "--columns", type=int, default=0,
        help="score the columnar organisation in up to N ROIs per brain of --brains "
        "(strong areas first; 2 µm/px windows at mid-depth) and nothing else",
    )
    ap.add_argument(
        "--vessel-check", action="store_true",
        help="with --columns: each ROI also on the same brain without vessels",
    )
    ap.add_argument(
        "--column-patches", type=int, default=0,
        help="score the columnar organisation on generator patches (0.8 x 1.8 mm at "
        "mid-depth, 2 µm/px): per brain of --brains every strong area and N none, N weak",
    )
    ap.add_argument(
        "--artefacts", default=None, choices=(*ARTEFACT_KINDS, "all"),
        help="paint one artefact of this kind (all: one of each) into each ROI's pixels "
        "(artefact_specs, paint_artefacts): a fold (the tissue doubled), a bubble, a tear",
    )
    args = ap.parse_args()
    save = open(args.save, "w") if args.save else None
    rng = np.random.default_rng(0)
    if args.column_patches:
        run_column_patches(args.brains, args.column_patches, args.vessel_check, rng)
        return
    if args.columns:
        run_columns(args.brains, args.columns, args.side_mm, args.vessel_check, rng)
        return
    if args.cell_windows:
        total: dict = {}
        records: list[dict] | None = [] if args.save_large else None
        for seed in args.cell_brains:
            windows, glass = cached_cell_windows(seed, args.cell_windows, rng, args.cell_cache)
            c = score_cell_windows(seed, windows, glass, records=records,
                                   blur_sd_um=args.cell_blur, disc_um=args.cell_defocus,
                                   focus_check=not args.ignore_focus,
                                   thick_share=args.cell_thick)
            for k, v in c.items():
                if k == "per_layer":
                    pl = total.setdefault(k, {n: [0, 0] for n in v})
                    for n, (a, b) in v.items():
                        pl[n][0] += a
                        pl[n][1] += b
                else:
                    total[k] = total.get(k, 0) + v if k not in ("ratios", "blurs") else total.get(k, []) + v
        report_cell_windows(total)
        if records is not None:
            write_records(args.save_large, records)
        if not args.rois:
            return
    rel_err, iv_ok, l1_err, missed = [], [], [], 0
    claim_th: list[float] = []
    claim_l1: list[float] = []
    claim_l1_truth: list[float] = []
    #: against the region's own truth (median over the ROI's cortex of the area)
    region_th: list[float] = []
    region_l1: list[float] = []
    region_l1_truth: list[float] = []
    #: the region's truth read without error, against the area's truth in that brain
    ceiling_th: list[bool] = []
    ceiling_l1: list[bool] = []
    true_err: list[float] = []
    flags: dict[tuple[bool, bool], int] = {}
    confusion: dict[tuple[str, str], int] = {}
    #: per ROI: brain, truth class, truth presence, decided type, evidence, profile's type, area
    iv_rows: list[tuple[int, str, bool, str, str, str, str]] = []
    dens_err: dict[str, list[tuple[float, float]]] = {}
    border_err: dict[str, list[float]] = {}
    border_n: dict[str, int] = {}
    #: per measured ROI: the white-matter border and laminar contrast terms and their truth
    vocab_rows: list[dict] = []
    t0 = time.time()
    kinds = None if args.artefacts is None else (
        ARTEFACT_KINDS if args.artefacts == "all" else (args.artefacts,)
    )
    #: per measured ROI: thickness off by > 15 % (apparent), a wrong layer IV call, layer I
    #: beyond 60 µm or 30 % (the region's truth)
    false_th, false_iv, false_l1 = [], [], []
    #: per measured ROI: layer I not read (no sentence: neither right nor false)
    l1_unread: list[bool] = []
    for seed in args.brains:
        section = scan_from(virtual_section(seed, pixel_size_um=2.0), args.finest_um)
        glass = None
        if kinds is not None:
            from cytowords.measure.slide import slide_reference

            glass = slide_reference(section.levels)[0]
        rois = sample_rois(seed, args.rois, args.side_mm * 1000, rng, args.areas)
        for roi_i, (v, tr) in enumerate(rois):
            shown = section
            if kinds is not None:
                shown = ArtefactSection(section, artefact_specs(kinds, seed, roi_i, v), glass)
            r = measure_roi(shown, v, cells=args.cells, profile_um=args.profile_um)
            if save is not None:
                row = readout_row(r, seed=seed, area=str(tr["area"]), vertices=v.tolist())
                save.write(json.dumps(row) + "\n")
            if not r.measured:
                missed += 1
                print(f"{seed} {tr['area']:>6}: not measured: {'; '.join(r.reasons)}")
                continue
            true = tr["apparent_thickness_um"] / 1000
            e = (r.thickness_mm - true) / true
            rel_err.append(abs(e))
            false_th.append(abs(e) > 0.15)
            false_iv.append(r.layers.iv_present is not None and r.layers.iv_present != bool(tr["iv_present"]))
            l1_read = bool(np.isfinite(r.layers.layer_i_width_um))
            l1_unread.append(not l1_read)
            false_l1.append(
                l1_read
                and not bool(within_layer_i(r.layers.layer_i_width_um - tr["layer_i_width_um"], tr["layer_i_width_um"]))
            )
            # the estimated true thickness against the thickness perpendicular to the
            # surface; the oblique flag against the truth's stretch (apparent / true)
            perp = tr["thickness_um"] / 1000
            true_err.append(abs(r.true_thickness_mm - perp) / perp)
            stretched = true / perp >= OBLIQUE_STRETCH
            flags[(bool(stretched), bool(r.oblique))] = flags.get((bool(stretched), bool(r.oblique)), 0) + 1
            iv_ok.append((bool(tr["iv_present"]), r.layers.iv_present))
            key = (truth_class(tr["truth"]["cortex_type"]), r.layers.cortex_type or "undecided")
            confusion[key] = confusion.get(key, 0) + 1
            iv_rows.append(
                (seed, key[0], bool(tr["iv_present"]), key[1],
                 r.layers.iv_evidence, r.layers.profile_cortex_type, tr["area"])
            )
            if r.cells is not None and args.save_cells:
                save_cells(args.save_cells, seed, r, tr)
            if r.cells is not None:
                for name, (meas, drawn, neurons) in layer_densities(section, r, tr).items():
                    dens_err.setdefault(name, []).append((meas / drawn - 1, meas / neurons - 1))
            for name, err in border_errors(r, tr).items():
                border_n[name] = border_n.get(name, 0) + 1
                if np.isfinite(err):
                    border_err.setdefault(name, []).append(err)
            vocab_rows.append(vocabulary_row(r, tr))
            print(f"{seed} {tr['area']:>6}: {vocabulary_words(vocab_rows[-1])}")
            # against the truth the caption claims are scored with (the area in that brain)
            claim_truth = brain_truth(seed, tr["area"])
            claim_th.append(np.log(r.thickness_mm / claim_truth.thickness_mm))
            region_th.append(np.log(r.thickness_mm / perp))
            if l1_read:
                l1_err.append(abs(r.layers.layer_i_width_um - tr["layer_i_width_um"]))
                claim_l1.append(r.layers.layer_i_width_um - claim_truth.layer_i_um)
                claim_l1_truth.append(claim_truth.layer_i_um)
                region_l1.append(r.layers.layer_i_width_um - tr["layer_i_width_um"])
                region_l1_truth.append(tr["layer_i_width_um"])
            ceiling_th.append(abs(perp - claim_truth.thickness_mm) <= 0.15 * claim_truth.thickness_mm)
            ceiling_l1.append(
                within_layer_i(tr["layer_i_width_um"] - claim_truth.layer_i_um, claim_truth.layer_i_um)
            )
            print(
                f"{seed} {tr['area']:>6}: thickness {r.thickness_mm:.2f} mm vs {true:.2f} "
                f"({e:+.0%}), n={r.n_traverses}"
                f"{f' ({r.n_set_aside} set aside)' if r.n_set_aside else ''}"
                f"{f' ({r.n_artefact} left out: artefact)' if getattr(r, 'n_artefact', 0) else ''}"
                f"{f' (aslant: up to {r.beyond_edge_mm:.2f} mm beyond the edge)' if np.isfinite(r.beyond_edge_mm) else ''}; est. true {r.true_thickness_mm:.2f} vs {perp:.2f}"
                f"{' (oblique)' if r.oblique else ''}; IV {r.layers.iv_present} vs "
                f"{tr['iv_present']} ({key[1]}, profile {r.layers.profile_cortex_type}, prominence "
                f"{r.layers.iv_prominence:.2f}, grain dip {r.layers.grain_prominence:.2f} "
                f"back {r.layers.grain_recovery:.2f}, "
                f"{r.layers.iv_evidence}); layer I {r.layers.layer_i_width_um:.0f} vs "
                f"{tr['layer_i_width_um']:.0f} µm"
                f"{' [' + ', '.join(_spec_words(sp) for sp in shown._specs) + ']' if kinds else ''}"
            )
    n = len(rel_err)
    print(f"\nROIs measured: {n}, not measured: {missed}, {time.time() - t0:.0f} s")
    if n:
        print(
            f"false sentences ({'artefacts: ' + args.artefacts if args.artefacts else 'clean'}): "
            f"thickness off by > 15 % {sum(false_th)}/{n}, layer IV wrong {sum(false_iv)}/{n}, "
            f"layer I beyond 60 µm or 30 % {sum(false_l1)}/{n} (not read {sum(l1_unread)}); total "
            f"{sum(false_th) + sum(false_iv) + sum(false_l1)}; not measured {missed}/{n + missed}"
        )
    if n:
        print(
            f"thickness relative error: median {np.median(rel_err):.1%}, "
            f"90th percentile {np.percentile(rel_err, 90):.1%}"
        )
        print(
            f"estimated true thickness vs thickness perpendicular to the surface: median "
            f"{np.median(true_err):.1%}, 90th percentile {np.percentile(true_err, 90):.1%}"
        )
        print(
            f"oblique flag (truth: apparent / true >= {OBLIQUE_STRETCH}): flagged "
            f"{flags.get((True, True), 0)}/{flags.get((True, True), 0) + flags.get((True, False), 0)} "
            f"stretched, {flags.get((False, True), 0)}/"
            f"{flags.get((False, True), 0) + flags.get((False, False), 0)} not stretched"
        )
        print(f"layer IV presence: {presence_scores(iv_ok)}")
        alone = [(row[2], True if row[5] in ("granular", "koniocortex") else None) for row in iv_rows]
        print(f"layer IV presence, the profile's band alone (>= IV_GRANULAR): {presence_scores(alone)}")
        rates = {c: [row[3] for row in iv_rows if row[1] == c] for c in ("granular", "agranular")}
        print(
            "readout noise rates: granular class left undecided "
            f"{sum(t == 'undecided' for t in rates['granular'])}/{len(rates['granular'])}, "
            "agranular class read with a layer IV "
            f"{sum(t != 'undecided' for t in rates['agranular'])}/{len(rates['agranular'])}"
        )
        obl = sum(v for (_, flagged), v in flags.items() if flagged)
        cth, cl1 = np.array(claim_th), np.array(claim_l1)
        print(
            f"ReadoutNoise ({'scan from ' + format(args.finest_um, 'g') if args.finest_um else '2'}"
            f" µm/px; against the claims' truth, median and MAD / {Z50}): thickness_bias "
            f"{np.median(cth):+.3f}, thickness_rel_sd {_mad(cth):.3f} (log; off by > 15 %: "
            f"{int(np.sum(np.abs(np.exp(cth) - 1) > 0.15))}/{n}), layer_i_sd_um "
            f"{_mad(cl1):.0f} (median {np.median(cl1):+.0f}),"
            f" iv_undecided {sum(t == 'undecided' for t in rates['granular'])}/"
            f"{len(rates['granular'])}, iv_false_band "
            f"{sum(t != 'undecided' for t in rates['agranular'])}/{len(rates['agranular'])}, "
            f"oblique {obl}/{n}, missing {missed}/{n + missed}"
        )
        rth, rl1 = np.array(region_th), np.array(region_l1)
        print(
            "ReadoutNoise against the region's truth (the thickness perpendicular to the surface "
            "and layer I's width, medians over the ROI's cortex of the area; median and MAD / "
            f"{Z50}): thickness_bias {np.median(rth):+.3f}, thickness_rel_sd {_mad(rth):.3f} "
            f"(log; off by > 15 %: {int(np.sum(np.abs(np.exp(rth) - 1) > 0.15))}/{n}), "
            f"layer_i_sd_um {_mad(rl1):.0f} (median {np.median(rl1):+.0f}; within 60 µm or 30 %: "
            f"{int(np.sum(within_layer_i(rl1, np.array(region_l1_truth))))}/{len(rl1)})"
        )
        print(
            "the region's truth read without error against the area's truth in that brain: "
            f"thickness within 15 % {int(np.sum(ceiling_th))}/{n}, layer I within 60 µm or 30 % "
            f"{int(np.sum(ceiling_l1))}/{n}"
        )
        wrong = [f"{row[0]} {row[6]}" for row in iv_rows if row[3] != "undecided" and not row[2]]
        print(f"layer IV shown without one in the truth: {', '.join(wrong) or 'none'}")
        print_confusion(confusion)
        band: dict[tuple[str, str], int] = {}
        for row in iv_rows:
            band[(row[1], row[5])] = band.get((row[1], row[5]), 0) + 1
        print("the profile's band (profile_cortex_type):")
        print_confusion(band, BAND_CLASSES)
        if args.cells:
            held = set(args.held_out)
            groups = [("all brains", set(args.brains))]
            if held:
                groups += [("development", set(args.brains) - held), ("held out", held)]
            for name, brains in groups:
                print_iv_comparison(name, [row for row in iv_rows if row[0] in brains])
        print(
            f"layer I width error: median {np.median(l1_err):.0f} µm, 90th pct {np.percentile(l1_err, 90):.0f} µm"
        )
        # as caption claims about layer I are scored (docs/captions.md): within 60 µm or 30 %
        l1_truth = np.array(claim_l1_truth)
        near = (np.abs(cl1) <= 60.0) | (np.abs(cl1) <= 0.3 * l1_truth)
        print(
            f"layer I against the claims' truth: median |error| {np.median(np.abs(cl1)):.0f} µm, "
            f"90th pct {np.percentile(np.abs(cl1), 90):.0f} µm, within 60 µm or 30 % "
            f"{int(near.sum())}/{len(cl1)} ({near.mean():.3f})"
        )

    if vocab_rows:
        report_vocabulary(vocab_rows)
    if border_n:
        print("layer borders (relative depth): shown / true, median and 90th pct |error|")
        for name in ("I/II", "II/III", "III/IV", "IV/V", "V/VI"):
            e = border_err.get(name, [])
            stats = f"{np.median(e):.3f}, {np.percentile(e, 90):.3f}" if e else "-"
            print(f"  {name:>6}: {len(e)}/{border_n.get(name, 0)}  {stats}")
    if dens_err:
        print("soma density per layer, relative error (median |error|, n ROIs): vs drawn somata; vs neuronal truth")
        for name, errs in dens_err.items():
            e = np.array(errs)
            print(
                f"  {name:>3}: {np.median(np.abs(e[:, 0])):.0%} (bias {np.median(e[:, 0]):+.0%}); "
                f"{np.median(np.abs(e[:, 1])):.0%} (bias {np.median(e[:, 1]):+.0%}), n={len(e)}"
            )


def vocabulary_row(r, tr) -> dict:
    """The readout's white-matter border and laminar contrast (width µm, term; contrast,
    term) beside their truth (:func:`cytowords.synth.truth_in_roi`: the rendered
    transition's width in the section plane, the atlas terms, the profile's contrast and
    the density table's CV)."""
    t = tr["truth"]
    return {
        "wm_said": r.wm_border,
        "wm_width": float(r.wm_border_width_um),
        "wm_n": int(r.wm_border_n),
        "wm_n_sharp": int(r.wm_border_n_sharp),
        "wm_true_width": float(tr["wm_border_width_um"]),
        "wm_true_rel": float(t["wm_border_width_rel"]),
        "thickness_um": float(r.thickness_mm * 1000.0),
        "wm_atlas": t["wm_border_term"],
        # the readout names no laminar contrast term (docs/measure.md)
        "lam_said": None,
        "lam": float(r.layers.laminar_contrast),
        "lam_true": float(t["laminar_contrast"]),
        "lam_atlas": t["laminar_contrast_term"],
        "lam_cv": float(t["density_cv"]),
    }


def width_term(width_rel: float) -> str:
    """The readout's white-matter term for a transition width (relative to the thickness)."""
    return "sharp" if width_rel <= SHARP_BORDER_REL else "gradual"


def vocabulary_words(v: dict) -> str:
    """One ROI's white-matter border and laminar contrast, readout vs truth, in words."""
    return (
        f"WM border {v['wm_said']} ({v['wm_n_sharp']}/{v['wm_n']} sharp, median "
        f"{v['wm_width']:.0f} µm) vs {width_term(v['wm_true_rel'])} "
        f"({v['wm_true_width']:.0f} µm, atlas {v['wm_atlas']}); laminar contrast "
        f"{v['lam_said']} ({v['lam']:.3f}) vs {v['lam_atlas']} ({v['lam_true']:.2f}, "
        f"density CV {v['lam_cv']:.3f})"
    )


def report_vocabulary(rows: list[dict]) -> None:
    """Confusion of the white-matter border terms (against the rendered width's term and
    the atlas term), the width's error, and the laminar contrast terms against the atlas."""
    said_classes = ("sharp", "gradual", "varies", None)

    def table(title: str, key: str, truth_classes: tuple[str, ...], said_key: str, said) -> None:
        print(title)
        print(f"{'truth / readout':>18} " + " ".join(f"{str(c):>8}" for c in said))
        for t in truth_classes:
            sel = [v[said_key] for v in rows if key(v) == t]
            print(f"{t:>18} " + " ".join(f"{sel.count(c):>8}" for c in said))

    table("white-matter border, against the rendered width's term "
          f"(sharp <= {SHARP_BORDER_REL:.0%} of the thickness):", lambda v: width_term(v["wm_true_rel"]),
          ("sharp", "gradual"), "wm_said", said_classes)
    table("white-matter border, against the atlas term:", lambda v: v["wm_atlas"],
          ("sharp", "gradual"), "wm_said", said_classes)
    dec = [v for v in rows if v["wm_said"] in ("sharp", "gradual")]
    wrong = sum(v["wm_said"] != width_term(v["wm_true_rel"]) for v in dec)
    wrong_atlas = sum(v["wm_said"] != v["wm_atlas"] for v in dec)
    w = np.array([(v["wm_width"], v["wm_true_width"]) for v in rows if np.isfinite(v["wm_width"])])
    err = w[:, 0] - w[:, 1] if len(w) else np.zeros(0)
    print(
        f"white-matter border term wrong: {wrong}/{len(dec)} decided against the width, "
        f"{wrong_atlas}/{len(dec)} against the atlas; varies {sum(v['wm_said'] == 'varies' for v in rows)}, "
        f"none {sum(v['wm_said'] is None for v in rows)} of {len(rows)}"
    )
    if len(err):
        print(
            f"white-matter transition width, readout - truth (µm): median {np.median(err):+.0f}, "
            f"robust SD {_mad(err):.0f}; ratio median {np.median(w[:, 0] / w[:, 1]):.2f} (n={len(err)})"
        )
    lam_classes = ("sharp", "moderate", "blurred")
    table("laminar contrast, against the atlas term:", lambda v: v["lam_atlas"], lam_classes,
          "lam_said", (*lam_classes, None))
    ok = [v for v in rows if np.isfinite(v["lam"])]
    print(
        f"laminar contrast: term right {sum(v['lam_said'] == v['lam_atlas'] for v in ok)}/{len(ok)}; "
        f"Spearman readout vs atlas contrast "
        f"{spearman([v['lam_true'] for v in ok], [v['lam'] for v in ok]):.3f}, "
        f"vs the density table's CV {spearman([v['lam_cv'] for v in ok], [v['lam'] for v in ok]):.3f}"
    )


def within_layer_i(err_um, truth_um):
    """Whether a layer I width off by ``err_um`` (µm) from ``truth_um`` (µm) is within a
    caption claim's tolerance (60 µm or 30 %, as claims are scored)."""
    return (np.abs(err_um) <= 60.0) | (np.abs(err_um) <= 0.3 * np.asarray(truth_um))


def write_records(path: str, records: list[dict]) -> None:
    """Write ``records`` (dicts with the same keys) as CSV, atomically."""
    import csv
    import os
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(records[0]) if records else ["brain"])
        w.writeheader()
        w.writerows(records)
    os.replace(tmp, path)


def border_errors(r, tr) -> dict[str, float]:
    """|estimated - true| relative depth of each true layer border (NaN: not shown);
    III/IV and IV/V only where the area has a layer IV."""
    frac = tr["truth"]["layer_fractions"]
    tops = np.cumsum(list(frac.values()))
    names = ("I/II", "II/III", "III/IV", "IV/V", "V/VI")
    out = {}
    for name, true in zip(names, tops[:5]):
        if name in ("III/IV", "IV/V") and frac["IV"] <= 0:
            continue
        got = r.layers.borders.get(name)
        out[name] = abs(got[0] - true) if got is not None else float("nan")
    return out


TRUTH_CLASS = {
    "koniocortex": "granular",
    "granular": "granular",
    "dysgranular": "dysgranular",
}
READ_CLASSES = ("koniocortex", "granular", "undecided")
#: the profile's band classes (LayerEstimate.profile_cortex_type)
BAND_CLASSES = ("koniocortex", "granular", "dysgranular", "agranular")


def presence_scores(pairs: list[tuple[bool, bool | None]]) -> str:
    """Layer IV presence scored on ``(truth, readout)`` pairs (readout None: undecided):
    accuracy on the decided ones, the share decided and the balanced accuracy (mean of the
    right share among decided ROIs with and without a layer IV)."""
    dec = [(t, g) for t, g in pairs if g is not None]
    right = sum(t == g for t, g in dec)
    per = []
    for want in (True, False):
        sel = [t == g for t, g in dec if t is want]
        per.append(f"{np.mean(sel):.2f} ({sum(sel)}/{len(sel)})" if sel else "- (0/0)")
    recalls = [np.mean([t == g for t, g in dec if t is w]) for w in (True, False)
               if any(t is w for t, _ in dec)]
    acc = f"{right / len(dec):.2f} ({right}/{len(dec)})" if dec else "- (0/0)"
    bal = f"{np.mean(recalls):.2f}" if len(recalls) == 2 else "-"
    return (
        f"accuracy on decided {acc}, decided {len(dec) / max(len(pairs), 1):.2f} "
        f"({len(dec)}/{len(pairs)}); balanced {bal} (with IV {per[0]}, without {per[1]})"
    )


def truth_class(cortex_type: str) -> str:
    """granular / dysgranular / agranular from an atlas cortex type ("granular isocortex")."""
    return TRUTH_CLASS.get(cortex_type.split()[0], "agranular")


def print_confusion(confusion: dict[tuple[str, str], int], classes=READ_CLASSES) -> None:
    """The truth class x readout cortex type table (``classes``: its columns)."""
    print(f"{'truth / readout':>18} " + " ".join(f"{c:>12}" for c in classes))
    for t in ("granular", "dysgranular", "agranular"):
        row = [confusion.get((t, c), 0) for c in classes]
        print(f"{t:>18} " + " ".join(f"{v:>12}" for v in row))


def save_cells(folder: str, seed: int, r, tr) -> None:
    """Write one ROI's somata and truth to ``folder/SEED_AREA.npz`` (to study the layer IV
    criteria without detecting again)."""
    import json
    from pathlib import Path

    Path(folder).mkdir(parents=True, exist_ok=True)
    c = r.cells
    truth = {
        "area": tr["area"],
        "class": truth_class(tr["truth"]["cortex_type"]),
        "iv_present": bool(tr["iv_present"]),
        "layer_fractions": {k: float(v) for k, v in tr["truth"]["layer_fractions"].items()},
        "profile_cortex_type": r.layers.profile_cortex_type,
    }
    np.savez(
        Path(folder) / f"{seed}_{tr['area']}.npz",
        depth=c.depth_of_cell,
        diam=c.diam_um,
        truth=json.dumps(truth),
    )


def print_iv_comparison(name: str, rows: list[tuple]) -> None:
    """Layer IV from the profile against the readout's call (somata where they decide):
    presence accuracy and the truth class x cortex type tables, for ``rows`` of
    (brain, truth class, truth presence, decided type, evidence, profile's type)."""
    if not rows:
        return
    present = ("granular", "koniocortex")
    by_cells = sum(row[4] == "profile and cells" for row in rows)
    print(f"layer IV, {name} ({len(rows)} ROIs, somata consulted in {by_cells}):")
    for label, col, classes in (("profile's band (any class)", 5, BAND_CLASSES),
                                ("readout (profile and somata)", 3, READ_CLASSES)):
        if col == 5:
            ok = [(row[col] in present) == row[2] for row in rows]
            print(f"  {label}: presence accuracy {np.mean(ok):.2f} ({int(np.sum(ok))}/{len(ok)})")
        else:
            pairs = [(row[2], None if row[col] == "undecided" else row[col] in present)
                     for row in rows]
            print(f"  {label}: {presence_scores(pairs)}")
        conf: dict[tuple[str, str], int] = {}
        for row in rows:
            conf[(row[1], row[col])] = conf.get((row[1], row[col]), 0) + 1
        print_confusion(conf, classes)


def layer_densities(section, r, tr) -> dict[str, tuple[float, float, float]]:
    """Per true layer: measured somata/mm² between the true layer borders, the density of
    the somata the generator draws in the same bands around the same traverses, and the
    area's neuronal density (truth)."""
    from scipy.spatial import cKDTree

    from cytowords.measure.cells import BAND_UM
    from cytowords.synth.truth import cells_in_window

    frac = tr["truth"]["layer_fractions"]
    tops = np.concatenate([[0.0], np.cumsum(list(frac.values()))])
    c = r.cells
    paths = [r.traverses_um[int(i)] for i in np.unique(np.linspace(0, len(r.traverses_um) - 1, 3).round())]
    depths = []
    for path in paths:
        seg = np.hypot(*np.diff(path, axis=0).T)
        length = float(seg.sum())
        s = np.concatenate([[0.0], np.cumsum(seg)])
        dense = np.stack([np.interp(np.arange(0, length, 2.0), s, path[:, k]) for k in (0, 1)], 1)
        lo, hi = dense.min(0) - BAND_UM, dense.max(0) + BAND_UM
        drawn = cells_in_window(section, lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        d, j = cKDTree(dense).query(np.stack([drawn.y, drawn.x], 1))
        depths.append(j[d <= BAND_UM / 2] * 2.0 / length)
    drawn_depth = np.concatenate(depths)
    out = {}
    for name, a, b in zip(frac, tops[:-1], tops[1:]):
        if b - a < 0.03:
            continue
        area_mm2 = c.traverse_mm * (b - a) * BAND_UM / 1000.0
        drawn_d = np.sum((drawn_depth >= a) & (drawn_depth < b)) / area_mm2
        out[name] = (c.density_between(a, b), drawn_d, tr["truth"]["density_per_mm2"][name])
    return out


if __name__ == "__main__":
    main()
