"""``cytowords demo``: napari with a synthetic section, ground truth, ROIs and the widgets."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CliError, add_lm_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="open napari on a synthetic section with the plugin's widgets",
        description=(
            "Open napari with a synthetic cell-body-stained section, its ground-truth areas "
            "(hidden layer), two example ROIs on cortex and the Describe regions / Area map "
            "widgets, on the bundled default model (or --model)."
        ),
    )
    p.add_argument("--seed", type=int, default=1, help="synthetic brain/section seed")
    p.add_argument(
        "--size-mm",
        type=float,
        nargs=2,
        default=(80.0, 60.0),
        metavar=("W", "H"),
        help="slide size in mm (default 80 60, as the sample data)",
    )
    p.add_argument(
        "--model", default="default", help="model bundle folder (default: the bundled model)"
    )
    add_lm_option(p)
    p.add_argument("--rois", type=int, default=2, help="example ROIs drawn on cortex")
    p.add_argument("--describe", action="store_true", help="describe the example ROIs at once")
    p.add_argument("--screenshot", type=Path, help="save a PNG of the window and exit")
    p.add_argument("--no-show", action="store_true", help="do not show the window (tests, scripts)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open the demo viewer; blocks in the Qt event loop unless --no-show/--screenshot."""
    if min(args.size_mm) <= 0:
        raise CliError(f"--size-mm {args.size_mm}: expected two positive sizes in mm")
    if str(args.model) != "default" and not Path(args.model).is_dir():
        raise CliError(f"--model {args.model}: no such model bundle folder")
    from ..napari.demo import run_demo

    return run_demo(args)
