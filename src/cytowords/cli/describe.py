"""``cytowords describe IMAGE --roi X0,Y0,X1,Y1 | --rois ROIS [--out FILE]``.

One rectangle, or every region of a region file (annotations exported from QuPath as GeoJSON
in any form it writes, see :mod:`cytowords.regions.geojson`, or Fiji/ImageJ ROIs, a ``.roi``
or a ROI Manager ``RoiSet.zip``: coordinates in the image's full-resolution pixels; holes
honoured, a multi-part region described as one; points and lines skipped with a note),
described in words; ``--out`` writes the ROIs with their
descriptions as QuPath GeoJSON (names, the user's classes and object ids kept) or CSV
(atomically, at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from . import IMAGE_HELP, ROIS_HELP, CliError, add_lm_option, add_slide_option, four_floats
from .measure import CELLS

#: why a ROI has no readout when ``--no-measure`` is given
NOT_MEASURED = "the readout was skipped (--no-measure)"

_roi = four_floats("--roi", "X0,Y0,X1,Y1", "1000,2000,5000,6000")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "describe",
        help="describe regions of a section (area, confidence, rejection, caption)",
        description="Describe a rectangle, or the regions of a region file, in words.",
    )
    p.add_argument("image", help=IMAGE_HELP)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--roi", type=_roi, help="X0,Y0,X1,Y1 in µm from the top-left corner")
    which.add_argument(
        "--rois",
        help=ROIS_HELP,
    )
    p.add_argument(
        "--model", default="default", help="model bundle folder (default: the bundled model)"
    )
    add_lm_option(p)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument(
        "--pixel-size-um", type=float, default=None, help="µm per pixel if the file has none"
    )
    add_slide_option(p)
    p.add_argument("--out", help="write the described ROIs: .geojson (QuPath) or .csv")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--patches", action="store_true", help="with --json: include per-patch detail")
    p.add_argument(
        "--no-pixel-size-check",
        action="store_true",
        help="skip the check that the pixel size fits the tissue and that the model knows "
        "the tissue (a few seconds)",
    )
    p.add_argument(
        "--no-measure",
        action="store_true",
        help="skip the model-free readout (thickness, profile, layers): faster; the "
        "output says it was not measured",
    )
    p.add_argument(
        "--cells",
        choices=tuple(CELLS),
        default="no",
        help="cell statistics in the readout: auto (when the scan has <= 2 µm/px), yes or no "
        "(default; seconds more per ROI). Only with them may a caption state Betz or "
        "Meynert cells (where giant deep pyramids were found)",
    )
    p.add_argument(
        "--no-scale-check",
        action="store_true",
        help="do not read each named region again at x0.8 and x1.25 the pixel size (by "
        "default fields that read as another area there do not vote, and a region where "
        "most do is not named)",
    )
    p.set_defaults(func=run)


def _read_rois(path: str, pixel_size_um: float) -> list:
    """The ROI features (µm, holes and parts kept, names and classes) of a region file;
    a note on stderr for each feature skipped (points, lines, detections, bad polygons)."""
    from ..regions.geojson import RegionFileError, notes_text, read_region_file

    try:
        # our own files record their pixel size; QuPath's count the image's pixels
        read = read_region_file(path, pixel_size_um=pixel_size_um)
    except RegionFileError as exc:
        raise CliError(str(exc)) from None
    for note in notes_text(read.notes):
        print(note, file=sys.stderr)
    return read.rois


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name the same (existing) file."""
    import os

    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def list_line(name: str, res) -> str:
    """One region's line in ``describe --rois``' text output: its name, :func:`verdict`, the
    alternatives (as napari's panel labels them: the nearest known areas of a rejected
    region, else the next most probable) and the caption."""
    from ..describe.export import alternatives_text

    what = "nearest known areas" if res.rejected else "also"
    return (
        f"{name}: {verdict(res)}  ({what}: {alternatives_text(res.top_k, res.area)})  {res.caption}"
    )


def verdict(res) -> str:
    """The one-line verdict on a described region: its area and probability, "not a
    known area" (the model judged it unlike every known area) or "no area named" (set
    aside before the model's verdict, for the reason in its note)."""
    from ..describe.result import ABSTAINED_NAME

    if res.rejected:
        return ABSTAINED_NAME if res.rejection_reason else "not a known area"
    return f"{res.area} {res.probability:.0%}"


def _print_one(res) -> None:
    flag = f"{res.probability:.0%}"
    if res.rejected:
        flag = (
            "NOT NAMED — see the reason" if res.rejection_reason else "REJECTED — not a known area"
        )
    print(f"area:        {res.area} ({res.area_name})  [{flag}]")
    print(f"open-set:    score {res.ood_score:.2f} (threshold {res.threshold:.2f})")
    alts = ", ".join(f"{a} {p:.0%}" for a, p in res.top_k)
    print(f"top areas:   {alts}")
    other = res.n_patches - res.n_voting - res.n_flagged - res.n_scale_flagged
    skipped = f"; {other} read as white matter or background and did not vote" if other else ""
    if res.n_flagged:
        skipped += f"; {res.n_flagged} unfit to read (see note) and did not vote"
    if res.n_scale_flagged:
        skipped += f"; {res.n_scale_flagged} read better at another pixel size and did not vote"
    print(
        f"fields:      {res.n_patches} read, {res.n_accepted} of {res.n_voting} voting accepted{skipped}"
    )
    print(f"description: {res.caption}")
    if res.rejection_reason:
        print(f"rejected:    {res.rejection_reason}")
    if res.note:
        print(f"note:        {res.note}")
    for i, s in enumerate(res.statements):
        print(f"{'measured:' if i == 0 else '':<12} {s}")


#: the note of the regions an interrupted run did not describe, in the file it writes
INTERRUPTED = "not described: the run was interrupted before this region"


def _write(
    out: str,
    feats: list,
    results: list,
    pixel_size_um: float,
    *,
    notes: dict | None = None,
    slide: str | None = None,
) -> None:
    """Write the ROIs (holes, parts, names, the user's classes and QuPath ids kept) with
    their descriptions as GeoJSON or CSV; ``notes``: region index -> the note of a region
    without a result (why it has none); ``slide``: how the section's slide was read
    (:mod:`cytowords.slide_reading`)."""
    from ..atlas import load_atlas
    from ..atomic import atomic_write_text
    from ..describe.export import (
        class_colors,
        description_row,
        results_to_csv,
        rois_to_geojson,
        write_geojson,
    )

    notes = notes or {}
    rows = [
        description_row(r) if r is not None else ({"note": notes[i]} if i in notes else {})
        for i, r in enumerate(results)
    ]
    rois = [f.roi for f in feats]
    classes = [f.classification for f in feats]
    if out.lower().endswith(".csv"):
        atomic_write_text(out, results_to_csv(rois, rows, classes=classes, slide=slide))
        return
    atlas = load_atlas()
    colors = {f.classification: f.color for f in feats if f.classification and f.color}
    for r in rows:
        try:
            colors.setdefault(r["area"], atlas.color(r["area"]))
        except (KeyError, ValueError):
            pass
    # QuPath refuses a file with a class without a colour (a taught area, __none__ ...)
    colors = class_colors((c or r.get("area") for c, r in zip(classes, rows)), colors)
    ids = [f.id for f in feats]
    # a region the file left unnamed stays unnamed ("ROI k" is only the label shown here)
    names = [f.name if f.named else "" for f in feats]
    gj = rois_to_geojson(
        rois,
        rows,
        pixel_size_um=pixel_size_um,
        colors=colors,
        names=names,
        classes=classes,
        ids=ids,
        slide=slide,
    )
    write_geojson(out, gj)


def run(args: argparse.Namespace) -> int:
    from ..describe import DescribeParams, Describer
    from ..min_traverse import too_small, too_small_line
    from ..regions import Roi, RoiError
    from ..regions.geojson import RoiFeature
    from ..regions.roi import reaching_beyond, reaching_beyond_line
    from ..slide_reading import section_slide
    from . import check_out, open_image

    if args.out and not args.out.lower().endswith((".geojson", ".csv")):
        raise CliError(f"--out {args.out}: expected a .geojson or .csv file name")
    if args.out:
        check_out("--out", args.out)
        if args.rois and _same_file(args.out, args.rois):
            raise CliError(
                f"--out {args.out} is the --rois file: writing the described regions over it "
                "would lose what it holds besides them (QuPath's detections, points, lines, "
                "measurements); give another file name"
            )
    section = open_image(args.image, args.pixel_size_um, args.slide)
    px = float(section.pixel_size_um[0])
    if args.roi is not None:
        x0, y0, x1, y1 = args.roi
        feats = [RoiFeature(Roi.rectangle(y0, x0, y1, x1, name="ROI 1"), named=False)]
    else:
        feats = _read_rois(args.rois, px)
    if args.roi is None:
        beyond = reaching_beyond([f.roi for f in feats], section.shape_um)
        if beyond:
            rois = [f.roi for f in feats]
            line = reaching_beyond_line(rois, beyond, section.shape_um, args.image)
            print(f"{args.rois}: {line}", file=sys.stderr)
    small = set(too_small([f.roi for f in feats])) if args.roi is None else set()
    if small:
        line = too_small_line([f.roi for f in feats], sorted(small))
        if len(small) == len(feats):
            raise CliError(f"{args.rois}: {line.replace('ROI(s)', 'ROI(s), all of them,', 1)}")
        print(f"{args.rois}: {line}", file=sys.stderr)
    names = [f.name for f in feats]
    params = DescribeParams(measure_cells=CELLS[args.cells])
    if args.no_measure:
        params = replace(params, measure=False)
    if args.no_scale_check:
        params = replace(params, scale=None)
    describer = Describer(args.model, device=args.device, params=params)
    describer.check_section(section)
    check = None
    if not args.no_pixel_size_check:
        from .pixel_size import check_scan

        check = check_scan(section, args.model, args.device)
    results: list = []
    todo = len(feats) - len(small)
    try:
        for i, (feat, name) in enumerate(zip(feats, names)):
            if i in small:  # refused above, no pixel read
                results.append(None)
                continue
            try:
                abstain = "" if check is None else check.abstain_reason
                results.append(describer.describe_roi(section, feat.roi, abstain=abstain))
                if check is not None:
                    results[-1].add_note(check.familiarity_message)
            except RoiError as exc:
                if args.roi is not None:
                    raise CliError(str(exc)) from None
                print(f"{name}: not described: {exc}", file=sys.stderr)
                results.append(None)
            if todo > 1 and not args.json:
                done = i + 1 - sum(1 for k in small if k < i)
                print(f"[{done}/{todo}] {name}", file=sys.stderr)
    except KeyboardInterrupt:
        # Ctrl-C (or a scheduler's SIGTERM) after hours of work: keep what was described
        done = sum(r is not None for r in results)
        if args.out and done:
            left = {i: INTERRUPTED for i in range(len(results), len(feats)) if i not in small}
            _write(
                args.out,
                feats,
                results + [None] * len(left),
                px,
                notes=left,
                slide=section_slide(section),
            )
            print(
                f"\ninterrupted: wrote the {done} region(s) described so far to {args.out}; "
                f"the other {len(feats) - done} are in it without results",
                file=sys.stderr,
            )
        raise
    if args.no_measure:
        for r in results:
            if r is not None:
                r.measurements = {"not_measured": [NOT_MEASURED]}
                r.statements = [f"Not measured: {NOT_MEASURED}."]
    if args.out:
        _write(args.out, feats, results, px, slide=section_slide(section))
    if args.json:
        if args.roi is not None:
            print(json.dumps(results[0].to_dict(with_patches=args.patches), indent=1))
        else:  # in the file's order, each named as in the text output (null: not described)
            dicts = [
                {"name": n, **r.to_dict(with_patches=args.patches)} if r else None
                for n, r in zip(names, results)
            ]
            print(json.dumps(dicts, indent=1))
    elif args.roi is not None:
        _print_one(results[0])
    else:
        for name, r in zip(names, results):
            if r is None:
                continue
            print(list_line(name, r))
            if r.rejection_reason or r.note:
                print(f"  note: {'; '.join(t for t in (r.rejection_reason, r.note) if t)}")
            if r.statements:
                print(f"  measured: {' '.join(r.statements)}")
    if args.out:
        print(f"wrote {args.out} ({len(feats)} ROIs)", file=sys.stderr if args.json else sys.stdout)
    return 0
