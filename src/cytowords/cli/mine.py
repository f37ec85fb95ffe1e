"""``cytowords mine``: mine captions and area descriptions from documents."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mine`` sub-command."""
    p = subparsers.add_parser(
        "mine",
        help="mine area descriptions and training captions from documents",
        description=(
            "Find sentences describing cortical areas in txt/md/PDF/JATS-XML documents and "
            "assemble captions (jsonl: area, caption, source, passage). DOCS 'builtin' or "
            "omitted: the corpus shipped with the package."
        ),
    )
    p.add_argument("docs", nargs="?", default="builtin", help="documents folder or 'builtin'")
    p.add_argument("--out", required=True, help="captions jsonl file to write")
    p.add_argument(
        "--split",
        choices=("train", "reference"),
        default=None,
        help="only documents of this split (needs manifest.yaml; builtin default: train)",
    )
    p.add_argument("--min-captions", type=int, default=20, help="wanted captions per area")
    p.add_argument("--descriptions", default=None, help="also write per-area descriptions (json)")
    p.add_argument(
        "--rewrite-model",
        default=None,
        metavar="PATH",
        help="local Hugging Face instruct model folder to paraphrase captions (off by default)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first unreadable document (default: skip it with a warning naming "
        "it, and stop only when no document is readable)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _table(result, atlas) -> str:
    counts = result.captions_per_area()
    lines = [f"{'area':<8} {'lobe':<34} {'captions':>8}", "-" * 52]
    for area_id in atlas.in_scope_ids:
        lobe = atlas.areas[area_id].lobe
        lines.append(f"{area_id:<8} {lobe[:34]:<34} {counts.get(area_id, 0):>8}")
    docs = result.stats.get("documents", {})
    covered = [a for a in atlas.in_scope_ids if counts.get(a)]
    lines += [
        "-" * 52,
        f"areas covered: {len(covered)}/{len(atlas.in_scope_ids)} in scope; "
        f"captions: {len(result.captions)}; described areas: {len(result.descriptions)}",
        f"documents used: {sum(1 for n in docs.values() if n)}/{len(docs)}",
    ]
    lines += [f"  {name}: {n} statements" for name, n in docs.items()]
    return "\n".join(lines)


def _check_output(flag: str, path: str) -> None:
    """Make the folder of an output file as writing it would, then refuse in one line an
    output that cannot be written (a folder, a read-only place): :func:`check_out`."""
    from pathlib import Path

    from cytowords.cli import CliError, check_out

    parent = Path(path).expanduser().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(
            f"{flag} {path}: cannot make folder {parent} ({exc.strerror or exc})"
        ) from None
    check_out(flag, path)


def run(args: argparse.Namespace) -> int:
    """Mine, optionally rewrite, write the captions file and print a summary table."""
    import json
    from pathlib import Path

    from tqdm import tqdm

    from cytowords.atlas import load_atlas
    from cytowords.atomic import atomic_write_text
    from cytowords.cli import CliError
    from cytowords.training.mining import mine_corpus, write_captions
    from cytowords.training.mining.documents import skipped_summary

    if args.min_captions < 1:
        raise CliError(f"--min-captions must be >= 1, got {args.min_captions}")
    for flag, path in (("--out", args.out), ("--descriptions", args.descriptions)):
        if path:  # refused now, not after mining every document
            _check_output(flag, path)
    if args.rewrite_model:
        from cytowords.training.mining.rewrite import check_rewrite_model

        check_rewrite_model(args.rewrite_model)
    docs = args.docs
    split = args.split
    if docs == "builtin" and split is None:
        split = "train"
    atlas = load_atlas()
    bar = tqdm(total=0, desc="mining", unit="doc", file=sys.stderr, disable=args.no_progress)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        result = mine_corpus(
            docs,
            atlas,
            split=split,
            min_captions=args.min_captions,
            on_progress=progress,
            strict=args.strict,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from None
    finally:
        bar.close()
    records = list(result.captions)
    if args.rewrite_model:
        from cytowords.training.mining.rewrite import rewrite_captions

        records += rewrite_captions(records, atlas, args.rewrite_model)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    skipped = skipped_summary(result.stats["skipped"], result.stats["listed"])
    if not records:
        print("no captions mined: no document describes an area of the atlas", file=sys.stderr)
        if skipped:
            print(f"warning: {skipped}", file=sys.stderr)
        return 1
    write_captions(records, args.out)
    if args.descriptions:
        atomic_write_text(Path(args.descriptions), json.dumps(result.descriptions, indent=1))
    print(_table(result, atlas))
    print(f"wrote {len(records)} captions to {args.out}")
    if skipped:
        print(f"warning: {skipped}", file=sys.stderr)
    return 0
