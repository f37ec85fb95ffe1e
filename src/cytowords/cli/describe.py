"""``cytowords describe IMAGE --roi X0,Y0,X1,Y1``: describe a rectangle of a section."""

from __future__ import annotations

import argparse
import json

from . import CliError, four_floats

_roi = four_floats("--roi", "X0,Y0,X1,Y1", "1000,2000,5000,6000")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "describe",
        help="describe a region of a section (area, confidence, rejection, caption)",
        description="Describe a rectangular region of a section in words.",
    )
    p.add_argument("image", help="section: OME-Zarr, zarr or TIFF")
    p.add_argument(
        "--roi", type=_roi, required=True, help="X0,Y0,X1,Y1 in µm from the top-left corner"
    )
    p.add_argument(
        "--model", default="default", help="model bundle folder (default: the bundled model)"
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument(
        "--pixel-size-um", type=float, default=None, help="µm per pixel if the file has none"
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--patches", action="store_true", help="with --json: include per-patch detail")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..describe import Describer, Roi, RoiError
    from ..sections import open_section

    section = open_section(args.image, pixel_size_um=args.pixel_size_um)
    x0, y0, x1, y1 = args.roi
    try:
        roi = Roi.rectangle(y0, x0, y1, x1, name="cli")
        res = Describer(args.model, device=args.device).describe_roi(section, roi)
    except RoiError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(res.to_dict(with_patches=args.patches), indent=1))
        return 0
    flag = "REJECTED — not a known area" if res.rejected else f"{res.probability:.0%}"
    print(f"area:        {res.area} ({res.area_name})  [{flag}]")
    print(f"open-set:    score {res.ood_score:.2f} (threshold {res.threshold:.2f})")
    alts = ", ".join(f"{a} {p:.0%}" for a, p in res.top_k)
    print(f"top areas:   {alts}")
    other = res.n_patches - res.n_voting
    skipped = f"; {other} read as white matter or background and did not vote" if other else ""
    print(
        f"fields:      {res.n_patches} read, {res.n_accepted} of {res.n_voting} voting accepted{skipped}"
    )
    print(f"description: {res.caption}")
    return 0
