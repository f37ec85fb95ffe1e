"""Why the section's pixel size check misses a stated size ×0.8 the true one, and whether
the measured cortical thickness (a model-free, scale-bearing quantity) tells it.

Per brain (virtual section, 80 × 60 mm at 32 µm/px, rendered once): the check's acceptance
curve at the true scale on a fine grid of factors (read as ``A(g)``: the share of tissue
tiles read as a known area when the tissue is read at ``g ×`` its true size); the check
itself (dense, 1 view, as ``describe`` runs it) at each stated factor; and the readout's
estimated true cortical thickness in 8 mm squares centred on the check's own random tissue
points (no labels used), at each stated factor. Prints one JSON line per brain and stated
factor (``--out`` keeps them).

The thickness cue (:func:`section_thickness`; ``roi_scale.py`` reports it beside the check)
is research, not part of ``check_pixel_size``: its range (:data:`SECTION_THICKNESS_MM`) was
set on development brains 200-212 and, on fresh brains 290-293, flagged a correctly scaled
section (docs/benchmarks.md, "Pixel size check").

    python benchmarks/section_scale_cues.py --brains 205 206 207 208 --out runs.jsonl

The bundle's scale head (:mod:`cytowords.model.scale_head`), when it has one, is part of the
check: each row carries its estimate (``scale``: stated / true factor, interval, band,
suspect) and whether the acceptance rule alone flagged it (``acceptance_suspect``).
``--no-thickness`` skips the readout; ``--head-only`` runs only the scale head's estimate
(:func:`estimate_scale`, no acceptance curve); ``--summary FILE`` prints the per-factor
table of a ``--out`` file (share flagged, by which rule, the estimate's error):

    python benchmarks/section_scale_cues.py --brains 200 ... 212 --stated 1 0.8 1.25 1.33 \
        --no-curve --no-thickness --out dev.jsonl
    python benchmarks/section_scale_cues.py --summary dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from cytowords.measure.readout import MeasureError, measure_roi
from cytowords.model import get_bundle
from cytowords.sections.roi_scale import MIN_THICKNESS_TRAVERSES
from cytowords.sections.scale_check import (
    DENSE_WINDOWS,
    FACTORS,
    check_pixel_size,
    estimate_scale,
    rescaled,
    tissue_points,
)
from cytowords.synth import virtual_section

#: the fine grid of the acceptance curve: 2^(k/8) from about 0.35 to 2.8
FINE = tuple(round(2.0 ** (k / 8.0), 4) for k in range(-12, 13))
#: the readout measures the cortical thickness in squares of this side (µm at the stated
#: pixel size) centred on the check's tissue points (:func:`section_thickness`)
THICKNESS_SQUARE_UM = 8000.0
#: a section's thickness is judged from at least this many squares in which the readout
#: measured it (each from at least ``MIN_THICKNESS_TRAVERSES`` traverses)
MIN_THICKNESS_SQUARES = 5
#: the median estimated true cortical thickness (mm) of a section at its right pixel size
#: lay within this range on the 13 development brains 200-212 (2.07 mm on brain 203 to 3.70
#: mm on brain 209, median 2.76; human cortex 1.5-4.5 mm, mean about 2.5), rounded outward
#: to 0.05 mm (``--brains 200 201 ... 212 --stated 1``)
SECTION_THICKNESS_MM = (2.05, 3.7)


def thickness_at_points(section, points: np.ndarray, side_um: float) -> list[dict]:
    """The readout's thickness figures in squares of ``side_um`` centred on ``points``
    (fractions of the section's height and width)."""
    out = []
    for c in points * np.asarray(section.shape_um):
        h = side_um / 2.0
        v = np.array(
            [[c[0] - h, c[1] - h], [c[0] - h, c[1] + h], [c[0] + h, c[1] + h], [c[0] + h, c[1] - h]]
        )
        try:
            r = measure_roi(section, v, cells=False)
        except MeasureError:
            continue
        spans = r.layers.layer_spans() if r.layers is not None else {}
        l1 = spans.get("I")
        out.append(
            dict(
                n=int(r.n_traverses),
                median=float(r.thickness_mm),
                true=float(r.true_thickness_mm),
                layer_i_mm=(l1[1] - l1[0]) * float(r.true_thickness_mm) if l1 else float("nan"),
            )
        )
    return out


@dataclass(frozen=True)
class SectionThickness:
    """The cortical thickness of a section measured by the model-free readout.

    Attributes:
        stated_um: the section's stated µm per pixel of level 0.
        squares_mm: the estimated true cortical thickness (mm at the stated pixel size) in
            each square measured from at least ``MIN_THICKNESS_TRAVERSES`` traverses.
        n_points: squares tried.
    """

    stated_um: float
    squares_mm: tuple[float, ...]
    n_points: int

    @property
    def median_mm(self) -> float:
        """Median over the measured squares (mm); NaN below :data:`MIN_THICKNESS_SQUARES`."""
        if len(self.squares_mm) < MIN_THICKNESS_SQUARES:
            return float("nan")
        return float(np.median(self.squares_mm))

    @property
    def abstain_reason(self) -> str:
        """One line when the median lies outside :data:`SECTION_THICKNESS_MM`, else ""."""
        m = self.median_mm
        lo, hi = SECTION_THICKNESS_MM
        if not math.isfinite(m) or lo <= m <= hi:
            return ""
        return (
            f"the cortex measures {m:.2f} mm thick at the stated {self.stated_um:.4g} µm/px "
            f"(median of {len(self.squares_mm)} places), outside {lo:g}-{hi:g} mm"
        )


def section_thickness(
    section, *, n_points: int = DENSE_WINDOWS, seed: int = 0, side_um: float = THICKNESS_SQUARE_UM
) -> SectionThickness:
    """The readout's thickness in squares of ``side_um`` centred on the check's tissue
    points (:func:`tissue_points`, the dense check's ``n_points`` and ``seed``)."""
    squares = thickness_at_points(section, tissue_points(section, n_points, seed), side_um)
    good = [
        t["true"] for t in squares if t["n"] >= MIN_THICKNESS_TRAVERSES and math.isfinite(t["true"])
    ]
    return SectionThickness(float(section.pixel_size_um[0]), tuple(good), n_points)


def summary(path: str) -> None:
    """Print the per-stated-factor table of a ``--out`` file: share flagged (either rule,
    scale head, acceptance), and the scale head's estimate against the truth; "without
    calibration" maps the estimates back through the default bundle's head calibration
    (its regression's own output)."""
    from cytowords.model import resolve_model_path
    from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead

    ca, cb = ScaleHead.load(resolve_model_path("default") / SCALE_HEAD_FILE).calibration
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    print(
        "| stated / true | sections | flagged | by scale head | by acceptance | estimate "
        "(median) | median abs error of log estimate | estimate within interval "
        "| estimate without calibration (median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k in sorted({r["stated"] for r in rows}):
        rs = [r for r in rows if r["stated"] == k]
        est = [r["scale"] for r in rs if r.get("scale")]
        fac = np.array([e["factor"] for e in est])
        err = np.abs(np.log(fac) - math.log(k)) if len(fac) else np.array([np.nan])
        cover = np.mean([e["interval"][0] <= k <= e["interval"][1] for e in est]) if est else 0
        head = np.mean([bool(e["suspect"]) for e in est]) if est else float("nan")
        acc = [r["acceptance_suspect"] for r in rs if r.get("acceptance_suspect") is not None]
        flag = [r["verdict"] == "suspect" for r in rs if r.get("verdict") is not None]
        print(
            f"| {k:g} | {len(rs)} | {np.mean(flag) if flag else float('nan'):.2f} | "
            f"{head:.2f} | {np.mean(acc) if acc else float('nan'):.2f} | "
            f"{np.median(fac) if len(fac) else float('nan'):.3f} | {np.median(err):.3f} | "
            f"{cover:.2f} | {np.exp((np.median(np.log(fac)) - ca) / cb) if len(fac) else np.nan:.3f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--summary", default=None, help="print the table of a --out file")
    ap.add_argument("--no-thickness", action="store_true", help="skip the readout")
    ap.add_argument("--head-only", action="store_true", help="only the scale head's estimate")
    ap.add_argument("--brains", type=int, nargs="+", default=[])
    ap.add_argument("--stated", type=float, nargs="+", default=[1.0, 1.33, 0.8])
    ap.add_argument("--points", type=int, default=16, help="thickness squares per section")
    ap.add_argument("--side-mm", type=float, default=8.0)
    ap.add_argument("--no-curve", action="store_true", help="skip the fine acceptance curve")
    ap.add_argument("--pixel-um", type=float, default=32.0, help="true µm/px of the sections")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.summary:
        summary(a.summary)
        return
    from roi_scale import _in_memory  # imports this module: not at the top

    torch.set_num_threads(1)
    bundle = get_bundle("default", "cpu", captioner=False)
    for b in a.brains:
        t0, c0 = time.perf_counter(), time.process_time()
        sec = _in_memory(virtual_section(b, size_mm=(80, 60), pixel_size_um=a.pixel_um))
        t_render = time.process_time() - c0
        curve = None if a.no_curve else check_pixel_size(sec, bundle, factors=FINE)
        points = tissue_points(sec, a.points, seed=0)
        for k in a.stated:
            s = rescaled(sec, k)
            if a.head_only:
                est, check = estimate_scale(s, bundle), None
            else:
                check = check_pixel_size(s, bundle)
                est = check.scale
            th = [] if a.no_thickness else thickness_at_points(s, points, a.side_mm * 1000.0 * k)
            good = [
                t["true"]
                for t in th
                if t["n"] >= MIN_THICKNESS_TRAVERSES and np.isfinite(t["true"])
            ]
            row = dict(
                brain=b,
                stated=k,
                verdict=None if check is None else check.verdict,
                acceptance_suspect=None if check is None else check.acceptance_suspect,
                scale=None if est is None else est.to_dict(),
                accepted=None if check is None else [round(x, 4) for x in check.accepted],
                factors=list(FACTORS),
                domain=None
                if check is None or check.domain is None
                else [round(x, 4) for x in check.domain],
                curve=None if curve is None or k != 1.0 else [round(x, 4) for x in curve.accepted],
                fine=list(FINE) if curve is not None and k == 1.0 else None,
                thickness=th,
                n_thick=len(good),
                median_true_mm=float(np.median(good)) if good else float("nan"),
                cpu_s=round(time.process_time() - c0, 1),
                render_cpu_s=round(t_render, 1),
                wall_s=round(time.perf_counter() - t0, 1),
            )
            line = json.dumps(row)
            print(line, flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
