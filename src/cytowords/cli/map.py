"""``cytowords map IMAGE --out OUT.ome.zarr``: whole-section area map (resumable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import IMAGE_HELP, CliError, add_lm_option, add_slide_option, four_floats
from .pixel_size import check_scan

_region = four_floats("--region", "Y0,X0,Y1,X1", "0,0,20000,30000")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "map",
        help="map the cortical areas of a whole section (OME-Zarr label image)",
        description=(
            "Classify every tile over tissue into an area (with probability, open-set score "
            "and rejection) and write OME-Zarr label images. Interrupted runs resume from "
            "OUT.partial beside the output. Runs on dask threads, on a LocalCluster "
            "(--workers) or on a dask.distributed cluster (--scheduler)."
        ),
    )
    p.add_argument("image", help=IMAGE_HELP)
    p.add_argument("--out", required=True, help="output OME-Zarr folder (e.g. map.ome.zarr)")
    p.add_argument("--model", default="default", help="model bundle folder (default: bundled)")
    add_lm_option(p)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="autocast precision (auto: bf16/fp16 on CUDA, fp32 on CPU)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="patches per model call")
    p.add_argument(
        "--views",
        type=int,
        default=None,
        choices=[1, 2, 4, 8],
        help="mirror/rotation views averaged per tile (default: the model's; each view "
        "costs one encoder pass, 1 is fastest)",
    )
    p.add_argument(
        "--stride-um", type=float, default=None, help="tile side in µm (default: half a patch)"
    )
    p.add_argument(
        "--block-tiles",
        type=int,
        default=None,
        help="tiles per block side (default: 16 per field; a window of about 8 fields dense)",
    )
    p.add_argument("--scheduler", default=None, help="dask.distributed scheduler tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None, help="start a LocalCluster of N workers")
    p.add_argument("--region", type=_region, default=None, help="Y0,X0,Y1,X1 in µm")
    p.add_argument("--pixel-size-um", type=float, default=None, help="µm/px if the file has none")
    add_slide_option(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument("--restart", action="store_true", help="discard an unfinished OUT.partial")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--geojson",
        default=None,
        help="also write the mapped areas as QuPath GeoJSON annotations (.geojson)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="map even an implausible plan (more than 2 million tiles, a pixel size of >= 100 µm)",
    )
    p.add_argument(
        "--no-pixel-size-check",
        action="store_true",
        help="skip the check that the pixel size fits the tissue (a few seconds)",
    )
    p.set_defaults(func=run)


def _check_before_work(section, args: argparse.Namespace) -> None:
    """Refuse, in one line and before any pixel is read, an absurd plan (unless --force)
    and outputs that cannot be written."""
    from ..mapping import PlanError, check_plan_size
    from ..mapping.write import check_target
    from . import check_not_input, check_out

    for flag, path, folder in (("--out", args.out, True), ("--geojson", args.geojson, False)):
        if path:
            check_out(flag, path, folder=folder)
            check_not_input(flag, path, [args.image, args.model])
    try:
        check_target(Path(args.out).expanduser(), args.overwrite)
    except FileExistsError as exc:
        raise CliError(_exists_line(exc, args)) from None
    if args.force:
        return
    try:
        check_plan_size(section, args.model, region_um=args.region, stride_um=args.stride_um)
    except PlanError as exc:
        raise CliError(f"{exc}; --force maps it anyway") from None


def _exists_line(exc: FileExistsError, args: argparse.Namespace) -> str:
    """The error line of an existing ``--out`` (``--overwrite`` replaces only an area map)."""
    return f"{exc}{'' if args.overwrite else ' (or pass --overwrite)'}"


def accepted_histogram(amap) -> dict[str, int]:
    """Tiles per area id over the *accepted* tiles of ``amap``, most frequent first."""
    import numpy as np

    ok = (amap.labels > 0) & ~amap.rejected
    labels, counts = np.unique(amap.labels[ok], return_counts=True)
    ids = {lab: aid for lab, (aid, _n, _c) in amap.area_table.items()}
    pairs = sorted(zip(labels.tolist(), counts.tolist()), key=lambda lc: -lc[1])
    return {ids.get(lab, str(lab)): int(n) for lab, n in pairs}


def _summary(amap, out: str, check=None) -> str:
    s = amap.stats
    hist = accepted_histogram(amap)
    n_acc = sum(hist.values())
    lines = [
        f"wrote {out}",
        f"tiles:      {s['tiles']} over tissue of {s['tiles_grid']} "
        f"({amap.labels.shape[0]} × {amap.labels.shape[1]} tiles of {amap.pixel_size_um:g} µm)",
        f"blocks:     {s['blocks_computed']} computed, {s['blocks_resumed']} resumed",
        f"time:       {s['seconds']:.1f} s ({s['patches_per_s']:.1f} patches/s; "
        f"reading {s['read_s']:.1f} s, model {s['compute_s']:.1f} s summed over tasks)",
        f"rejected:   {s['rejected']} tiles ({s.get('no_cortex', 0)} of them no cortex: "
        f"white matter, background; {s.get('unfit', 0)} unfit to read: out of focus, JPEG "
        "blocks or clipped)",
        f"areas (top 10) of the {n_acc} accepted tiles:{'' if n_acc else ' none'}",
    ]
    total = max(1, n_acc)
    by_id = {aid: name for aid, name, _c in amap.area_table.values()}
    for aid, n in list(hist.items())[:10]:
        lines.append(f"  {aid:<10} {n:>8}  {n / total:6.1%}  {by_id.get(aid, '')}")
    if check is not None and not check.familiar:
        lines.append(f"note:       {check.familiarity_message}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..jobs import Cancelled
    from ..mapping import NoTissueError, compute_area_map
    from . import open_image

    if args.batch_size < 1:
        raise CliError(f"--batch-size {args.batch_size}: expected >= 1")
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers {args.workers}: expected >= 1")
    if args.scheduler and args.workers:
        raise CliError("--scheduler and --workers exclude each other: give one of them")
    section = open_image(args.image, args.pixel_size_um, args.slide)
    _check_before_work(section, args)
    check = None
    if not args.no_pixel_size_check:
        check = check_scan(section, args.model, args.device)
    if check is not None and check.abstain_reason:  # every tile would abstain: no map
        raise CliError(
            f"{args.image}: {check.abstain_reason} (--pixel-size-um UM), or map at the stated "
            "one with --no-pixel-size-check"
        )
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="tile", desc="mapping", file=sys.stderr, dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        amap = compute_area_map(
            section,
            args.model,
            out=args.out,
            region_um=args.region,
            stride_um=args.stride_um,
            batch_size=args.batch_size,
            device=args.device,
            precision=args.precision,
            scheduler=args.scheduler,
            workers=args.workers,
            block_tiles=args.block_tiles,
            on_progress=progress,
            overwrite=args.overwrite,
            restart=args.restart,
            views=args.views,
        )
    except NoTissueError as exc:
        raise CliError(str(exc)) from None
    except FileExistsError as exc:
        raise CliError(_exists_line(exc, args)) from None
    except Cancelled:
        raise CliError(f"cancelled; rerun to resume from {args.out}.partial") from None
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; rerun the same command to resume ({args.out}.partial)", file=sys.stderr
        )
        raise
    finally:
        if bar is not None:
            bar.close()
    if check is not None:
        amap.stats["familiarity"] = round(check.familiarity, 4)
        amap.stats["familiar"] = check.familiar
        if check.domain is not None:
            amap.stats["domain_familiarity"] = round(float(check.domain_familiarity), 4)
    print(_summary(amap, args.out, check))
    if args.geojson:
        from ..describe.export import write_geojson
        from ..mapping import area_map_to_geojson
        from ..slide_reading import section_slide

        gj = area_map_to_geojson(
            amap,
            image_pixel_size_um=section.pixel_size_um[0],
            image_shape_px=tuple(section.levels[0].shape),
            slide=section_slide(section),
        )
        write_geojson(args.geojson, gj)
        print(f"wrote {args.geojson} ({len(gj['features'])} annotations for QuPath)")
    return 0
