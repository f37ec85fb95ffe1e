"""``cytowords borders IMAGE --path FILE.geojson | --path-um "y,x;y,x;..." [--spacing-um S]
[--test bonferroni|permutation] [--alpha A] [--n-permutations N] [--min-support S]
[--combine support|min_p] [--slide auto|bright|dark] [--json]
[--out borders.geojson]``.

Observer-independent borders (:func:`cytowords.measure.borders.find_borders`) along a path
drawn on the cortex: ``--path`` reads the first LineString of a GeoJSON file (QuPath line
annotation, full-resolution pixel coordinates), ``--path-um`` takes ``y,x`` µm pairs.
``--out`` writes the borders (Points) and the segments between them (LineStrings along the
path) as GeoJSON in full-resolution pixels, atomically.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from . import IMAGE_HELP, CliError, add_slide_option


def _path_um(text: str) -> np.ndarray:
    try:
        pts = [[float(v) for v in pair.split(",")] for pair in text.split(";") if pair.strip()]
    except ValueError:
        pts = []
    if len(pts) < 2 or any(len(p) != 2 for p in pts):
        raise argparse.ArgumentTypeError(
            f"--path-um {text!r}: expected at least two y,x pairs in µm separated by ';', "
            "e.g. 1000,2000;1000,8000"
        )
    return np.array(pts)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "borders",
        help="find area borders along a path on the cortex (observer-independent, no model)",
        description="Place traverses along a path drawn on the cortex, compare the laminar "
        "profiles of neighbouring blocks (Mahalanobis distance, Hotelling T²) and report "
        "where the cytoarchitecture changes.",
    )
    p.add_argument("image", help=IMAGE_HELP)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--path",
        help="a line in full-resolution pixels: GeoJSON with a LineString, or a Fiji/ImageJ "
        "line ROI (.roi)",
    )
    which.add_argument("--path-um", type=_path_um, help='"y,x;y,x;..." in µm')
    p.add_argument("--spacing-um", type=float, default=100.0, help="traverse spacing (µm)")
    p.add_argument(
        "--test",
        choices=("bonferroni", "permutation"),
        default="bonferroni",
        help="Hotelling T² with Bonferroni correction (default) or the max-statistic "
        "permutation test over the path",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="test level (default 1e-4; min_p 1e-5; permutation 0.002)",
    )
    p.add_argument(
        "--n-permutations", type=int, default=1000, help="shuffles for --test permutation"
    )
    p.add_argument(
        "--min-support",
        type=float,
        default=0.5,
        help="share of the block sizes that must find a border (0.75: fewer false borders, "
        "fewer found)",
    )
    p.add_argument(
        "--combine",
        choices=("support", "min_p"),
        default="support",
        help="a border is found by the share --min-support of the block sizes (default) or "
        "by the smallest p over the block sizes (min_p: default level 1e-5, more borders "
        "found, more false ones)",
    )
    p.add_argument(
        "--pixel-size-um", type=float, default=None, help="µm per pixel if the file has none"
    )
    add_slide_option(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", help="write borders and segments to a .geojson file")
    p.set_defaults(func=run)


def _read_path(path: str, pixel_size_um: float) -> np.ndarray:
    from ..regions.geojson import RegionFileError, read_region_file

    try:
        read = read_region_file(path, pixel_size_um=pixel_size_um, paths=True)
    except RegionFileError as exc:
        raise CliError(str(exc)) from None
    if not read.paths:
        raise CliError(f"{path}: no LineString (path) in the file")
    if len(read.paths) > 1:
        print(f"{path}: {len(read.paths)} paths; using the first", file=sys.stderr)
    return np.asarray(read.paths[0].vertices, dtype=float)


def _check_inside(path_um: np.ndarray, shape_um: tuple[float, float], image: str, src: str) -> None:
    """One line when the path leaves the section by more than
    :data:`~cytowords.regions.roi.OUTSIDE_TOLERANCE` of its extent (drawn on another image,
    or on one of another pixel size), instead of the finder's "off the cortex"."""
    from ..regions.roi import beyond_section

    p = np.asarray(path_um, dtype=float)
    h, w = shape_um
    out = beyond_section(p, shape_um)
    if out.any():
        y, x = p[int(np.argmax(out))]
        raise CliError(
            f"{src}: the path reaches (x {x:.0f}, y {y:.0f}) µm, beyond {image} "
            f"({w:.0f} × {h:.0f} µm): drawn on an image of another size or pixel size?"
        )


def run(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write_text
    from ..measure import MeasureError
    from ..measure.borders import borders_geojson, find_borders
    from ..slide_reading import EXPORT_KEY, section_slide
    from . import check_not_input, check_out, open_image

    if args.out and not args.out.lower().endswith((".geojson", ".json")):
        raise CliError(f"--out {args.out}: expected a .geojson file name")
    if args.out:
        check_out("--out", args.out)
        check_not_input("--out", args.out, [args.image, *([args.path] if args.path else [])])
    if args.spacing_um <= 0:
        raise CliError(f"--spacing-um {args.spacing_um:g}: must be positive")
    if args.n_permutations < 1:
        raise CliError(f"--n-permutations {args.n_permutations}: must be at least 1")
    if not 0 < args.min_support <= 1:
        raise CliError(f"--min-support {args.min_support:g}: must lie in (0, 1]")
    section = open_image(args.image, args.pixel_size_um, args.slide)
    px = float(section.pixel_size_um[0])
    path = _read_path(args.path, px) if args.path else args.path_um
    _check_inside(path, section.shape_um, args.image, args.path or "--path-um")
    try:
        r = find_borders(
            section,
            path,
            spacing_um=args.spacing_um,
            test=args.test,
            alpha=args.alpha,
            n_permutations=args.n_permutations,
            min_support=args.min_support,
            combine=args.combine,
        )
    except MeasureError as exc:
        raise CliError(f"{args.image}: {exc}") from None
    if args.out:
        gj = borders_geojson(r, px)
        slide = section_slide(section)
        if slide:  # beside the pixel size
            gj["properties"][EXPORT_KEY] = slide
        atomic_write_text(args.out, json.dumps(gj, indent=1))
    if args.json:
        print(json.dumps(r.to_dict(), indent=1))
    else:
        print(
            f"{len(r.traverses_um)} traverses over {r.path_length_um / 1000:.1f} mm; "
            f"{len(r.border_along_um)} border(s)"
        )
        for a, pt, s in zip(r.border_along_um, r.border_um, r.border_support):
            print(
                f"  {a / 1000:.2f} mm along the path at (x {pt[1]:.0f}, y {pt[0]:.0f}) µm, "
                f"found with {s:.0%} of the block sizes"
            )
        for note in r.notes:
            print(f"  note: {note}")
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr if args.json else sys.stdout)
    return 0
