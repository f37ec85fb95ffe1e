"""Drawn regions on mis-scaled sections: named, wrong among named, before and after the
scale-consistency check of :mod:`cytowords.sections.roi_scale`.

Squares of ``--side-mm`` centred on one area's cortex (``roi_accuracy.sample_rois``) of
virtual sections at 32 µm/px are described as they are and with the section's stated
pixel size multiplied by ``--stated`` factors (1.33: stated a third too large, the tissue
is read ×0.75 too small; 0.8: stated too small). For each it prints the ROIs named (not
rejected) and the share wrong among them without any scale check (the fields the check
set aside vote again) and with the describer's default check (fields that read as another
area and more familiar at ×0.8 / ×1.25 abstain; the ROI abstains when its tissue reads
clearly better at another pixel size or its measured thickness is far outside the human
range), and how many ROIs abstained for the scale. The section's pixel size check
(:func:`cytowords.sections.scale_check.check_pixel_size`, dense, 1 view, as ``describe``
runs it first) gives each brain and stated factor a verdict; the last columns count the
ROIs of sections it calls suspect as abstaining (``ScaleCheck.abstain_reason``, what
``cytowords describe`` does); the columns after them add the research cue of the
section's measured cortical thickness (``section_scale_cues.section_thickness``, not part of
the check): a section whose median lies outside the development brains' range abstains too.

The ROI check's scale head rule (a ROI abstains when the bundle's scale head median over
its accepted voting fields lies outside ``ScaleLimits.head_band``) is applied to the same
descriptions afterwards (it runs first in ``describe`` and, when it abstains, ends the
ROI's check, so the verdict is the same): the columns "checked" are the check without it,
"+ head" with it. The last table (issue #22) gives, per stated factor, what the plugin
answers with every check on (the section's check, the ROI check with its head rule and
the thickness rule): ROIs named and wrong among them, and the accepted voting fields of the
named ROIs and the share of them whose area is not the one labelled at their centre
(fields centred off labelled cortex are not scored).

``--calibrate`` runs the validation brains (100, 101; never the test brains) and prints
the ROI-level open-set gain, measured thickness and scale head median of ROIs at the right
pixel size, from which :class:`cytowords.sections.roi_scale.ScaleLimits` takes its ROI
limits (``head_band``: the 2.5–97.5 % range of the head medians of ROIs with at least
``head_min_fields`` accepted voting fields, log).

    python benchmarks/roi_scale.py [--brains 203 204] [--side-mm 8] [--per-area 1] [--max-rois 20]
    python benchmarks/roi_scale.py --calibrate --stated 1 --per-area 3 --max-rois 60
    python benchmarks/roi_scale.py --brains 100 101 --scale-views 1   # re-reads with 1 view
    python benchmarks/roi_scale.py --brains 100 101 --factors   # no re-reads: no field rule

``--factors`` sets the re-reads' factors (``ScaleLimits.factors``; none: no field rule and
no ROI gain rule, the head and thickness rules stay). Per stated factor it also prints the
median wall and CPU time of the checked description per ROI.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import dask.array as da
import numpy as np
import torch
from roi_accuracy import sample_rois
from section_scale_cues import SectionThickness, section_thickness

from cytowords.atlas import NONE_ID
from cytowords.describe import DescribeParams, Describer
from cytowords.regions import Roi
from cytowords.sections import Section
from cytowords.sections.roi_scale import DEFAULT_SCALE_LIMITS, head_rejection
from cytowords.sections.scale_check import check_pixel_size, rescaled
from cytowords.synth import virtual_section


def describe_rows(
    d: Describer,
    sections: dict,
    stated: float,
    a,
    verdicts: list | None = None,
    times: list | None = None,
) -> list[dict]:
    """Per ROI: truth, the verdict with ``d``'s check (``after``) and without any scale
    check (``before``: the same describer with ``scale=None``, no readout), with the
    section check (``section``) and with it or the section's measured thickness
    (``thick``, :func:`section_thickness`). ``verdicts`` collects per section ``(suspect
    by the check, suspect by the thickness)``; ``times`` per ROI ``(wall s, CPU s)`` of
    the checked description (the head rule applied afterwards: its re-reads run even where
    the head would have ended the check)."""
    rng = np.random.default_rng(a.seed)
    plain = replace(d.params, scale=None, measure=False)
    head_limits = replace(DEFAULT_SCALE_LIMITS, head_band=a.head_band)
    rows = []
    for sec in sections.values():
        lab = sec.labels["areas"]
        lk = int(np.argmin([abs(p - 128.0) for p in lab.pixel_size_um]))
        lab_img, lab_px = np.asarray(lab.levels[lk].compute()), lab.pixel_size_um[lk]
        s = rescaled(sec, stated)
        check = check_pixel_size(s, d)
        th = SectionThickness(float(s.pixel_size_um[0]), (), 0) if a.no_thickness else None
        th = th or section_thickness(s)
        why = check.abstain_reason or th.abstain_reason
        print(f"    {sec.name} ×{stated:g}: {check.verdict} ({check.message})", flush=True)
        print(
            f"    {sec.name} ×{stated:g}: thickness median {th.median_mm:.3f} mm of "
            f"{len(th.squares_mm)}/{th.n_points} squares "
            f"({' '.join(f'{v:.2f}' for v in sorted(th.squares_mm))}) "
            f"{'SUSPECT' if th.abstain_reason else 'ok'}",
            flush=True,
        )
        if verdicts is not None:
            verdicts.append((bool(check.abstain_reason), bool(th.abstain_reason)))
        picked = sample_rois(sec, a.side_mm * 1000.0, a.per_area, 0.7, rng)
        keep = np.sort(rng.permutation(len(picked))[: a.max_rois])
        for roi, area in [picked[i] for i in keep]:
            roi_s = Roi(roi.vertices * stated)
            t0, c0 = time.perf_counter(), time.process_time()
            r = d.describe_roi(s, roi_s)
            if times is not None:
                times.append((time.perf_counter() - t0, time.process_time() - c0))
            # --calibrate needs the checked descriptions only
            before = r.area if a.calibrate else d.describe_roi(s, roi_s, params=plain).area
            thick = (r.measurements.get("thickness_mm") or {}).get("estimated_true")
            med = (r.scale or {}).get("median_ood")
            acc = [not p.rejected and (p.votes or p.reads_better_at is not None) for p in r.patches]
            flagged = [p.reads_better_at is not None for p, a in zip(r.patches, acc) if a]
            sc = r.scale or {}
            hf, hn = sc.get("head_factor"), int(sc.get("head_fields") or 0)
            head_why = "" if hf is None else head_rejection(np.log(hf), hn, stated, head_limits)
            with_head = NONE_ID if head_why else r.area
            plugin = NONE_ID if check.abstain_reason else with_head
            # the named ROI's accepted voting fields against the label at their centre
            f_ok = f_wrong = 0
            if plugin != NONE_ID:
                for pr in r.patches:
                    if pr.rejected or not pr.votes:
                        continue
                    iy, ix = (int(c / stated / lab_px) for c in pr.center_um)
                    if not (0 <= iy < lab_img.shape[0] and 0 <= ix < lab_img.shape[1]):
                        continue
                    v = int(lab_img[iy, ix])
                    if v > 0:
                        f_ok += pr.area == lab.names[v]
                        f_wrong += pr.area != lab.names[v]
            rows.append(
                dict(
                    truth=area,
                    after=r.area,
                    head=with_head,
                    plugin=plugin,
                    section=NONE_ID if check.abstain_reason else r.area,
                    thick=NONE_ID if why else r.area,
                    before=before,
                    reason=r.rejection_reason,
                    head_reason=head_why,
                    head_log=np.nan
                    if hf is None or hn < head_limits.head_min_fields
                    else float(np.log(hf)),
                    fields=(f_ok, f_wrong),
                    gain=med[0] - min(med[1:]) if med else np.nan,
                    share=np.mean(flagged) if med and flagged else np.nan,
                    thickness=np.nan if thick is None else thick,
                )
            )
    return rows


def _in_memory(sec: Section) -> Section:
    """The section's finest level rendered once (a virtual section renders its chunks
    again on every read), with its labels."""
    img = da.from_array(np.asarray(sec.levels[0]), chunks=1024)
    return Section([img], sec.pixel_size_um[:1], sec.name, dict(sec.metadata), sec.labels)


def _named(rows: list[dict], key: str) -> tuple[float, float]:
    named = [r for r in rows if r[key] != NONE_ID]
    wrong = np.mean([r[key] != r["truth"] for r in named]) if named else float("nan")
    return len(named) / max(len(rows), 1), wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=None)
    ap.add_argument("--stated", type=float, nargs="+", default=[1.0, 1.33, 0.8])
    ap.add_argument("--side-mm", type=float, default=8.0)
    ap.add_argument("--per-area", type=int, default=1)
    ap.add_argument("--max-rois", type=int, default=20, help="ROIs per brain (random areas)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibrate", action="store_true", help="ROI limits on validation brains")
    ap.add_argument(
        "--scale-views", type=int, default=None, help="views of the re-reads (ScaleLimits.views)"
    )
    ap.add_argument(
        "--factors",
        type=float,
        nargs="*",
        default=DEFAULT_SCALE_LIMITS.factors,
        help="the field rule's re-read factors (ScaleLimits.factors; none: no re-reads, "
        "no field rule and no ROI gain rule)",
    )
    ap.add_argument(
        "--no-thickness",
        action="store_true",
        help="skip the section's measured thickness (its columns then equal the check's)",
    )
    ap.add_argument(
        "--head-band",
        type=float,
        nargs=2,
        default=DEFAULT_SCALE_LIMITS.head_band,
        help="the head rule's ROI band (log stated / true; default: ScaleLimits.head_band)",
    )
    a = ap.parse_args()
    torch.set_num_threads(1)
    brains = a.brains or ([100, 101] if a.calibrate else [203, 204])
    # the head rule is applied to the descriptions afterwards (describe_rows)
    limits = replace(
        DEFAULT_SCALE_LIMITS, views=a.scale_views, head_band=None, factors=tuple(a.factors)
    )
    if a.calibrate:  # collect the ROI statistics without the ROI rules deciding
        limits = replace(limits, max_flagged_share=1.0, roi_margin=np.inf, thickness_tolerance=0.0)
    d = Describer(a.model, device="cpu", params=DescribeParams(max_new_tokens=4, scale=limits))
    sections = {
        b: _in_memory(virtual_section(b, size_mm=(80, 60), pixel_size_um=32.0)) for b in brains
    }
    print(f"model {a.model}, brains {brains}, {a.side_mm:g} mm squares, limits {limits}\n")
    print(
        "| stated × true | ROIs | named, no check | wrong among named | named, checked "
        "| wrong among named | abstained for the scale | named, checked + head "
        "| wrong among named | abstained by the head | named, + section check "
        "| wrong among named | suspect sections: check, + thickness "
        "| named, + section check + thickness | wrong among named |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    plugin_rows = []
    for k in a.stated:
        t0, c0 = time.perf_counter(), time.process_time()
        verdicts: list = []
        times: list = []
        rows = describe_rows(d, sections, k, a, verdicts, times)
        nb, wb = _named(rows, "before")
        na, wa = _named(rows, "after")
        nh, wh = _named(rows, "head")
        by_head = np.mean([bool(r["head_reason"]) and r["after"] != NONE_ID for r in rows])
        ns, ws = _named(rows, "section")
        scale = np.mean(["pixel" in r["reason"] for r in rows])
        n_wrong = sum(r["section"] not in (NONE_ID, r["truth"]) for r in rows)
        nt, wt = _named(rows, "thick")
        t_wrong = sum(r["thick"] not in (NONE_ID, r["truth"]) for r in rows)
        n_check = sum(c for c, _ in verdicts)
        n_either = sum(c or t for c, t in verdicts)
        print(
            f"| {k:g} | {len(rows)} | {nb:.3f} | {wb:.3f} | {na:.3f} | {wa:.3f} | {scale:.3f} "
            f"| {nh:.3f} | {wh:.3f} | {by_head:.3f} | {ns:.3f} | {ws:.3f} ({n_wrong} of {round(ns * len(rows))}) "
            f"| {n_check}, {n_either} of {len(verdicts)} "
            f"| {nt:.3f} | {wt:.3f} ({t_wrong} of {round(nt * len(rows))}) |"
            f"  ({time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU)",
            flush=True,
        )
        tw, tc = np.array(times).T
        print(
            f"    ×{k:g}: checked describe per ROI median {np.median(tw):.3f} s wall, "
            f"{np.median(tc):.3f} s CPU (mean {tc.mean():.3f} s CPU, {len(tc)} ROIs)",
            flush=True,
        )
        npl, wpl = _named(rows, "plugin")
        f_ok = sum(r["fields"][0] for r in rows)
        f_wrong = sum(r["fields"][1] for r in rows)
        plugin_rows.append(
            f"| {k:g} | {len(rows)} | {n_check} of {len(verdicts)} | {npl:.3f} "
            f"({round(npl * len(rows))}) | {wpl:.3f} "
            f"({sum(r['plugin'] not in (NONE_ID, r['truth']) for r in rows)}) "
            f"| {f_ok + f_wrong} | {f_wrong / max(f_ok + f_wrong, 1):.3f} |"
        )
        if a.calibrate:
            h = np.array([r["head_log"] for r in rows])
            h = h[np.isfinite(h)]
            if len(h):
                q = np.quantile(h, [0.0, 0.025, 0.5, 0.975, 1.0])
                print(
                    f"    head log s over {len(h)} ROIs: min {q[0]:.3f} p2.5 {q[1]:.3f} "
                    f"median {q[2]:.3f} p97.5 {q[3]:.3f} max {q[4]:.3f} "
                    f"(factor ×{np.exp(q[1]):.3f}–×{np.exp(q[3]):.3f})"
                )
            g = np.array([r["gain"] for r in rows])
            sh = np.array([r["share"] for r in rows])
            print(
                "    share of accepted fields flagged, per ROI checked: "
                + " ".join(f"{v:.2f}" for v in np.sort(sh[np.isfinite(sh)]))
            )
            t = np.array([r["thickness"] for r in rows])
            for q in (50, 90, 95, 99, 100):
                print(f"    gain p{q} {np.nanpercentile(g, q):.3f}", end="")
            print(
                f"\n    thickness (mm) min {np.nanmin(t):.2f} p5 {np.nanpercentile(t, 5):.2f} "
                f"p95 {np.nanpercentile(t, 95):.2f} max {np.nanmax(t):.2f}; gains: "
                + " ".join(f"{v:.2f}" for v in np.sort(g[np.isfinite(g)])[-8:])
            )

    print(
        "\nWhat the plugin answers (section check, ROI check with the head, thickness; "
        f"head band {a.head_band}):\n"
        "| stated × true | ROIs | suspect sections | named ROIs | wrong among named "
        "| accepted fields of named ROIs | wrong among them |\n|---|---|---|---|---|---|---|"
    )
    print("\n".join(plugin_rows))


if __name__ == "__main__":
    main()
