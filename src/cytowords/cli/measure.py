"""``cytowords measure IMAGE --roi X0,Y0,X1,Y1 | --rois ROIS [--json] [--out FILE]``.

The model-free readout (:func:`cytowords.measure.measure_roi`) of one rectangle or of every
polygon of a GeoJSON file: cortical thickness, laminar profile, layer I and IV, the
white-matter border and, at <= 2 µm/px, cell statistics, with what could not be measured.
``--out`` writes the readouts as JSON (atomically, at the end), each with how the slide was
read (``slide``, :mod:`cytowords.slide_reading`).
"""

from __future__ import annotations

import argparse
import json
import sys

from . import IMAGE_HELP, ROIS_HELP, CliError, add_slide_option, four_floats

_roi = four_floats("--roi", "X0,Y0,X1,Y1", "1000,2000,5000,6000")
#: ``--cells`` choice -> the readout's ``cells`` argument (:func:`cytowords.measure.measure_roi`)
CELLS = {"auto": "auto", "yes": True, "no": False}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "measure",
        help="measure the cytoarchitecture of regions without a model (thickness, layers)",
        description="Measure cortical thickness, the laminar profile, layers and cells of a "
        "rectangle or of the polygons of a GeoJSON file, from the pixels only.",
    )
    p.add_argument("image", help=IMAGE_HELP)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--roi", type=_roi, help="X0,Y0,X1,Y1 in µm from the top-left corner (as describe)"
    )
    which.add_argument(
        "--rois",
        help=ROIS_HELP,
    )
    p.add_argument(
        "--pixel-size-um", type=float, default=None, help="µm per pixel if the file has none"
    )
    add_slide_option(p)
    p.add_argument(
        "--cells",
        choices=tuple(CELLS),
        default="auto",
        help="cell statistics: auto (when the scan has <= 2 µm/px), yes or no",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", help="write the readouts to a .json file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write_text
    from ..measure import MeasureError, measure_roi
    from ..min_traverse import too_small, too_small_line
    from ..slide_reading import EXPORT_KEY, section_slide
    from . import check_out, open_image
    from .describe import _read_rois

    if args.out and not args.out.lower().endswith(".json"):
        raise CliError(f"--out {args.out}: expected a .json file name")
    if args.out:
        check_out("--out", args.out)
    section = open_image(args.image, args.pixel_size_um, args.slide)
    if args.roi is not None:
        x0, y0, x1, y1 = args.roi
        ya, yb = sorted((y0, y1))
        xa, xb = sorted((x0, x1))
        polys = [[[ya, xa], [ya, xb], [yb, xb], [yb, xa]]]
        names = ["ROI 1"]
    else:
        # the readout follows a region's outline: holes and further parts are not measured
        feats = _read_rois(args.rois, float(section.pixel_size_um[0]))
        small = set(too_small([f.roi for f in feats]))
        if small:
            line = too_small_line([f.roi for f in feats], sorted(small))
            line = line.replace("not described", "not measured")
            if len(small) == len(feats):
                raise CliError(f"{args.rois}: {line}")
            print(f"{args.rois}: {line}", file=sys.stderr)
            feats = [f for k, f in enumerate(feats) if k not in small]
        polys, names = [f.roi.vertices for f in feats], [f.name for f in feats]
    cells = CELLS[args.cells]
    slide = {EXPORT_KEY: section_slide(section)}
    out = []
    for name, poly in zip(names, polys):
        try:
            r = measure_roi(section, poly, cells=cells)
        except MeasureError as exc:
            if args.roi is not None:
                raise CliError(f"{args.image}: {exc}") from None
            print(f"{name}: not measured: {exc}", file=sys.stderr)
            out.append({"name": name, **slide, "error": str(exc)})
            continue
        d = {"name": name, **slide, **r.to_dict()}
        out.append(d)
        if args.roi is not None and not r.measured and not args.json:
            raise CliError(f"{args.image}: ROI not measured: {'; '.join(r.reasons)}")
        if not args.json:
            print(f"{name}:")
            for s in r.statements():
                print(f"  {s}")
    if args.out:
        atomic_write_text(args.out, json.dumps(out, indent=1))
    if args.json:
        print(json.dumps(out[0] if args.roi is not None else out, indent=1))
    if args.out:
        print(f"wrote {args.out} ({len(out)} ROIs)", file=sys.stderr if args.json else sys.stdout)
    return 0
