"""``cytowords teach IMAGE [IMAGE ...] --rois FILE [FILE ...] --out DIR [--model BUNDLE]
[--pixel-size-um S] [--slide auto|bright|dark ...] [--views N] [--compare-profiles] [--json]``.

Teach an area model from named regions (:func:`cytowords.teach.teach`): ``--rois`` gives
one region file per image, in the same order (QuPath annotations, named by their class,
else by their own name; full-resolution pixel coordinates). Prints the cross-validated
result before writing the bundle; ``--out`` is then a model folder that ``describe`` and
``map`` take as ``--model``. ``--slide`` gives each image's reading, in the same order, or
one for all (``auto`` judges each).
"""

from __future__ import annotations

import argparse
import json
import sys

from . import CliError, add_slide_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "teach",
        help="teach an area model from your own named regions (cross-validated)",
        description="Fit an area model on fields inside named regions of one or more "
        "sections, report how well it names held-out sections, and save it as a model "
        "bundle for describe and map.",
    )
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="sections (each as IMAGE of describe)"
    )
    p.add_argument(
        "--rois",
        nargs="+",
        required=True,
        metavar="FILE",
        help="one region file of named regions per image, in the same order (QuPath GeoJSON, "
        "or Fiji/ImageJ .roi / RoiSet.zip named in the ROI Manager)",
    )
    p.add_argument("--out", required=True, help="folder to write the taught model bundle to")
    p.add_argument("--model", default="default", help="bundle whose encoder embeds the fields")
    p.add_argument(
        "--pixel-size-um", type=float, default=None, help="µm per pixel if the files have none"
    )
    add_slide_option(p, per_image=True)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument(
        "--views",
        type=int,
        default=None,
        choices=(1, 2, 4, 8),
        help="mirror/rotation views per field (default: the base model's; each costs one "
        "encoder pass when teaching and mapping)",
    )
    p.add_argument(
        "--compare-profiles",
        action="store_true",
        help="also validate the readout's profile features of each region (slower)",
    )
    p.add_argument("--json", action="store_true", help="print the validation as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..jobs import Cancelled
    from ..regions.geojson import notes_text
    from ..teach import TeachError, annotations_from_geojson, save_taught, teach
    from ..teach.fit import check_replaceable
    from . import check_not_input, check_out, open_image, slides_per_image

    if len(args.rois) != len(args.images):
        raise CliError(
            f"{len(args.images)} image(s) but {len(args.rois)} --rois file(s): give one "
            "region file per image, in the same order"
        )
    slides = slides_per_image(args.slide, args.images)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise CliError(f"--out {out}: exists (pass --overwrite to replace it)")
    check_out("--out", str(out), folder=True)
    check_not_input("--out", str(out), [*args.images, *args.rois, args.model])
    try:
        check_replaceable(out)
    except TeachError as exc:
        raise CliError(f"--out {exc}") from None
    sections, anns = [], []
    for i, (image, rois, slide) in enumerate(zip(args.images, args.rois, slides)):
        sec = open_image(image, args.pixel_size_um, slide)
        sec.name = getattr(sec, "name", "") or image
        try:
            found, notes = annotations_from_geojson(rois, i, float(sec.pixel_size_um[0]))
        except TeachError as exc:
            raise CliError(str(exc)) from None
        for n in notes_text(notes, 5):
            print(f"note: {n}", file=sys.stderr)
        sections.append(sec)
        anns += found
    try:
        taught = teach(
            sections,
            anns,
            model=args.model,
            device=args.device,
            compare_profiles=args.compare_profiles,
            views=args.views,
        )
    except TeachError as exc:
        raise CliError(str(exc)) from None
    except Cancelled:
        raise KeyboardInterrupt from None
    if args.json:
        print(json.dumps(taught.cv.to_dict(), indent=1, ensure_ascii=False))
    else:
        counts = ", ".join(f"{n} {sum(v)}" for n, v in taught.fields.items())
        print(f"{len(taught.names)} areas from {len(sections)} section(s); fields: {counts}")
        print(taught.cv.table())
    save_taught(taught, out)  # atomic: an existing folder is replaced only when complete
    print(f"wrote {out} ({taught.seconds:.0f} s)", file=sys.stderr if args.json else sys.stdout)
    return 0
