"""``cytowords describe IMAGE --roi X0,Y0,X1,Y1 | --rois ROIS.geojson [--out FILE]``.

One rectangle, or every polygon of a GeoJSON file (e.g. annotations exported from QuPath:
coordinates in the image's full-resolution pixels), described in words; ``--out`` writes
the ROIs with their descriptions as QuPath GeoJSON or CSV (atomically, at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import CliError, add_lm_option, four_floats

_roi = four_floats("--roi", "X0,Y0,X1,Y1", "1000,2000,5000,6000")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "describe",
        help="describe regions of a section (area, confidence, rejection, caption)",
        description="Describe a rectangle, or the polygons of a GeoJSON file, in words.",
    )
    p.add_argument("image", help="section: OME-Zarr, zarr or TIFF")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--roi", type=_roi, help="X0,Y0,X1,Y1 in µm from the top-left corner")
    which.add_argument(
        "--rois",
        help="GeoJSON of polygons in the image's full-resolution pixels (QuPath annotations, "
        "or a file saved by the plugin)",
    )
    p.add_argument(
        "--model", default="default", help="model bundle folder (default: the bundled model)"
    )
    add_lm_option(p)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument(
        "--pixel-size-um", type=float, default=None, help="µm per pixel if the file has none"
    )
    p.add_argument("--out", help="write the described ROIs: .geojson (QuPath) or .csv")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--patches", action="store_true", help="with --json: include per-patch detail")
    p.set_defaults(func=run)


def _read_rois(path: str, pixel_size_um: float) -> tuple[list, list[str]]:
    """``(polygons in µm, names)`` of a GeoJSON file's polygon features."""
    from ..describe.export import geojson_to_rois

    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{p}: not JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        # our own files record their pixel size; QuPath's count the image's pixels
        polys, results, _ = geojson_to_rois(obj, pixel_size_um=pixel_size_um, source=str(p))
    except (ValueError, AttributeError, TypeError) as exc:
        raise CliError(f"{p}: {exc}") from None
    if not polys:
        raise CliError(f"{p}: no polygon features; expected QuPath annotations (Polygon)")
    skipped = len(obj["features"]) - len(polys)
    if skipped:
        print(
            f"{p}: skipped {skipped} feature(s) that are not polygons (points, lines, "
            "multipolygons)",
            file=sys.stderr,
        )
    return polys, [r.get("name") or f"ROI {i + 1}" for i, r in enumerate(results)]


def _print_one(res) -> None:
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


def _write(out: str, polys: list, names: list[str], results: list, pixel_size_um: float) -> None:
    from ..atlas import load_atlas
    from ..atomic import atomic_write_text
    from ..describe.export import description_row, results_to_csv, rois_to_geojson, write_geojson

    rows = [description_row(r) if r is not None else {} for r in results]
    if out.lower().endswith(".csv"):
        atomic_write_text(out, results_to_csv(polys, rows))
        return
    atlas = load_atlas()
    colors = {}
    for r in rows:
        try:
            colors[r["area"]] = atlas.color(r["area"])
        except (KeyError, ValueError):
            pass
    gj = rois_to_geojson(polys, rows, pixel_size_um=pixel_size_um, colors=colors, names=names)
    write_geojson(out, gj)


def run(args: argparse.Namespace) -> int:
    from ..describe import Describer, Roi, RoiError
    from ..describe.export import alternatives_text
    from ..sections import open_section

    if args.out and not args.out.lower().endswith((".geojson", ".csv")):
        raise CliError(f"--out {args.out}: expected a .geojson or .csv file name")
    section = open_section(args.image, pixel_size_um=args.pixel_size_um)
    px = float(section.pixel_size_um[0])
    if args.roi is not None:
        x0, y0, x1, y1 = args.roi
        polys = [Roi.rectangle(y0, x0, y1, x1).vertices]
        names = ["ROI 1"]
    else:
        polys, names = _read_rois(args.rois, px)
    describer = Describer(args.model, device=args.device)
    results: list = []
    for i, (poly, name) in enumerate(zip(polys, names)):
        try:
            results.append(describer.describe_roi(section, Roi(poly, name=name)))
        except RoiError as exc:
            if args.roi is not None:
                raise CliError(str(exc)) from None
            print(f"{name}: not described: {exc}", file=sys.stderr)
            results.append(None)
        if len(polys) > 1 and not args.json:
            print(f"[{i + 1}/{len(polys)}] {name}", file=sys.stderr)
    if args.out:
        _write(args.out, polys, names, results, px)
    if args.json:
        dicts = [r.to_dict(with_patches=args.patches) if r else None for r in results]
        print(json.dumps(dicts[0] if args.roi is not None else dicts, indent=1))
    elif args.roi is not None:
        _print_one(results[0])
    else:
        for name, r in zip(names, results):
            if r is None:
                continue
            verdict = "not a known area" if r.rejected else f"{r.area} {r.probability:.0%}"
            print(f"{name}: {verdict}  (also: {alternatives_text(r.top_k, r.area)})  {r.caption}")
    if args.out:
        print(f"wrote {args.out} ({len(polys)} ROIs)", file=sys.stderr if args.json else sys.stdout)
    return 0
