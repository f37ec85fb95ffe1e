"""``cytowords synth``: persist a virtual section (with ground-truth labels) or render a patch."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write a synthetic section (OME-Zarr + area labels) or a patch PNG",
        description="Synthetic cell-body-stained cortex with ground-truth area labels.",
    )
    s = p.add_subparsers(dest="synth_command", metavar="WHAT")
    sec = s.add_parser("section", help="write a virtual section and its labels as OME-Zarr")
    sec.add_argument("out", type=Path, help="target folder, e.g. section.ome.zarr")
    sec.add_argument("--seed", type=int, required=True, help="brain/section seed (>= 0)")
    sec.add_argument("--size-mm", type=float, nargs=2, default=(80.0, 60.0), metavar=("W", "H"))
    sec.add_argument("--pixel-size-um", type=float, default=2.0, help="level-0 µm per pixel")
    sec.add_argument("--include-unseen", action="store_true", help="also place unseen areas")
    sec.add_argument("--ngff-version", choices=("0.4", "0.5"), default="0.5")
    sec.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    sec.set_defaults(func=run_section)
    pat = s.add_parser("patch", help="render one patch of an area as PNG")
    pat.add_argument("out", type=Path, help="target .png")
    pat.add_argument("--area", required=True, help="area id or alias (e.g. hOc1, V1, 44)")
    pat.add_argument("--brain", type=int, default=0, help="brain seed")
    pat.add_argument("--size-um", type=float, default=2048.0)
    pat.add_argument("--pixel-size-um", type=float, default=2.0)
    pat.add_argument("--angle", type=float, default=0.0, help="degrees")
    pat.add_argument(
        "--depth-offset", type=float, default=-100.0, help="µm (negative: pia visible)"
    )
    pat.add_argument("--seed", type=int, default=0)
    pat.add_argument("--artefacts", action="store_true")
    pat.set_defaults(func=run_patch)
    p.set_defaults(func=lambda args: p.print_help() or 0)


def png_gray8(img) -> bytes:
    """Encode a 2D uint8 array as an 8-bit grayscale PNG (no imaging library needed)."""
    import struct
    import zlib

    import numpy as np

    a = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = a.shape
    raw = b"".join(b"\x00" + a[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _progress(done: int, total: int) -> None:
    if done == total or done % max(1, total // 20) == 0:
        print(f"\r  {done}/{total} chunks", end="\n" if done == total else "", flush=True)


def run_section(args: argparse.Namespace) -> int:
    """Render the virtual section chunk by chunk into an OME-Zarr store (atomic)."""
    if args.seed < 0:
        raise CliError(f"--seed {args.seed}: expected a non-negative integer")
    if min(args.size_mm) <= 0 or args.pixel_size_um <= 0:
        raise CliError("--size-mm and --pixel-size-um must be positive")
    from ..sections import write_section
    from ..synth import virtual_section

    section = virtual_section(
        args.seed,
        size_mm=tuple(args.size_mm),
        pixel_size_um=args.pixel_size_um,
        include_unseen=args.include_unseen,
    )
    h, w = section.levels[0].shape
    print(f"writing {w} x {h} px ({len(section.levels)} levels) to {args.out}")
    out = write_section(
        args.out,
        section,
        ngff_version=args.ngff_version,
        on_progress=_progress,
        overwrite=args.overwrite,
    )
    print(f"wrote {out}")
    return 0


def run_patch(args: argparse.Namespace) -> int:
    """Render one patch and save it as an 8-bit grayscale PNG."""
    if args.out.suffix.lower() != ".png":
        raise CliError(f"{args.out}: expected a .png file name")
    from ..synth import render_patch

    try:
        img = render_patch(
            args.area,
            args.brain,
            size_um=args.size_um,
            pixel_size_um=args.pixel_size_um,
            angle=args.angle,
            depth_offset=args.depth_offset,
            seed=args.seed,
            artefacts=args.artefacts,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_bytes(png_gray8(img))
    tmp.replace(args.out)
    print(f"wrote {args.out} ({img.shape[1]} x {img.shape[0]} px)")
    return 0
