"""``cytowords pixel-size IMAGE...``: does each section's stated pixel size fit its tissue?

A quality check to run over a lab's scans before mapping them: reads tissue fields of each
section at ½× to 2× its stated pixel size with the model
(:func:`cytowords.sections.scale_check.check_pixel_size`) and prints the verdict. Exit
status 0 when every section is consistent or inconclusive (an inconclusive one whose
tissue the model hardly recognises also gets the familiarity verdict: the scan looks
unlike the model's training sections), 1 when one looks wrong, 2 on
errors (a missing file, a file without pixel size and no ``--pixel-size-um``).
"""

from __future__ import annotations

import argparse
import json
import sys

from . import add_slide_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pixel-size",
        help="check that sections' stated pixel sizes fit their tissue (exit 1 if not)",
        description="Check each section's stated pixel size against its tissue, with the model.",
    )
    p.add_argument("images", nargs="+", help="sections (each as IMAGE of describe)")
    p.add_argument("--model", default="default", help="model bundle folder (default: bundled)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument(
        "--pixel-size-um", type=float, default=None, help="check this µm/px instead of the file's"
    )
    p.add_argument(
        "--fields",
        type=int,
        default=96,
        help="tissue fields read per scale by a model read per field (96); a model with a "
        "dense evaluation, as the bundled one, maps 16 tissue windows instead",
    )
    add_slide_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per section")
    p.set_defaults(func=run)


#: scans with at least this many pixels at full resolution are told that the check runs
#: before it starts (smaller ones take seconds, and their errors stay one line)
SAY_CHECK_PX = 10**8


def check_scan(section, model: str, device: str):
    """The pixel size check before describing or mapping: warns on stderr when the
    section's pixel size does not fit its tissue or the model hardly recognises the tissue
    (:func:`cytowords.sections.scale_check.check_pixel_size`); the caller lets every field
    abstain on a suspect pixel size (:attr:`ScaleCheck.abstain_reason`). Returns
    the check (None without tissue: the work itself reports that). The model comes from
    the process's model handle: the work that follows reuses it."""
    from ..model import get_bundle
    from ..sections import NoTissueError, SectionError
    from ..sections.scale_check import check_pixel_size

    if section.levels[0].shape[0] * section.levels[0].shape[1] >= SAY_CHECK_PX:
        # said first on a large scan: without a pyramid it reads the whole image (minutes)
        print(
            "checking that the pixel size fits the tissue (--no-pixel-size-check skips it) ...",
            file=sys.stderr,
            flush=True,
        )
    try:
        res = check_pixel_size(section, get_bundle(model, device, captioner=False))
    except NoTissueError:  # the work itself reports it
        return None
    except SectionError:  # the file cannot be read: one error line, no work
        raise
    except ValueError as exc:  # the check could not run: say so, the work goes on unchecked
        print(f"warning: the pixel size check did not run: {exc}", file=sys.stderr)
        return None
    if res.verdict == "suspect":
        print(
            f"warning: {res.message}. Every field abstains: --pixel-size-um overrides the "
            "file's pixel size; --no-pixel-size-check skips this check.",
            file=sys.stderr,
        )
    if not res.familiar:
        print(f"warning: {res.familiarity_message}", file=sys.stderr)
    return res


def run(args: argparse.Namespace) -> int:
    from ..model import get_bundle
    from ..sections.scale_check import check_pixel_size
    from . import open_image

    bundle = get_bundle(args.model, args.device, captioner=False)
    worst = 0
    for path in args.images:
        try:
            section = open_image(path, args.pixel_size_um, args.slide)
            res = check_pixel_size(section, bundle, n_fields=args.fields)
        except ValueError as exc:  # SectionError, NoTissueError: say so, go on
            print(f"cytowords pixel-size: error: {exc}", file=sys.stderr)
            worst = 2
            continue
        if res.verdict == "suspect":
            worst = max(worst, 1)
        if args.json:
            print(json.dumps({"image": path, **res.to_dict()}))
        else:
            print(f"{path}: {res.verdict}: {res.message}")
            if not res.familiar:
                print(f"{path}: {res.familiarity_message}")
    return worst
