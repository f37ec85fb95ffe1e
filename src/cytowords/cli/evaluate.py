"""``cytowords evaluate``: the paper's table on held-out synthetic brains, with baselines."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROWS = (
    ("label match accuracy", "label_match_accuracy", "0.906"),
    ("masked 8-way accuracy", "masked_8way_accuracy", "0.686"),
    ("masked 8-way (nearest distractors)", "masked_8way_nearest_accuracy", "-"),
    ("classification accuracy", "classification_accuracy", "-"),
    ("open-set AUROC (unseen vs in-scope)", "open_set_auroc", "-"),
    ("FPR at 95% TPR", "fpr_at_95tpr", "-"),
    ("unseen rejection rate", "unseen_rejection_rate", "-"),
    ("in-scope false rejection rate", "in_scope_false_rejection_rate", "-"),
    ("non-cortex rejection rate", "noncortex_rejection_rate", "-"),
)


#: headline defaults: development range / --published (>= 10 brains, >= 50 fields per area)
DEV_FIELDS_PER_AREA = 5
PUBLISHED_FIELDS_PER_AREA = 5
DEV_CAPTIONS = 2
PUBLISHED_CAPTIONS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a model bundle on held-out synthetic brains (paper's table, baselines)",
        description=(
            "Headline: read fields from whole held-out sections (in-scope and unseen areas "
            "side by side) of >= 10 test brains, caption and classify them, and report "
            "label match, masked 8-way, classification and open-set metrics with 95 % "
            "bootstrap intervals over brains, beside the GLI-profile and readout-feature "
            "baselines on the same fields (headline.md/json). Secondary view: patches "
            "rendered one by one (synth.sample_patches), with baselines and robustness "
            "shifts. Development test seeds 200-299 unless --published (500-599, only for "
            "the numbers in docs/results.md)."
        ),
    )
    p.add_argument("--model", default="default", help="bundle folder or 'default'")
    p.add_argument(
        "--brains",
        type=int,
        default=3,
        help="sampler view: number of test brains, the first seeds of the range (200, 201, "
        "...; 500, 501, ... with --published; at most 100)",
    )
    p.add_argument(
        "--published",
        action="store_true",
        help="use the published test range (seeds 500-599) instead of the development "
        "range (200-299); only for the numbers in docs/results.md",
    )
    p.add_argument(
        "--section-brains",
        type=int,
        default=10,
        help="headline: held-out sections, one per brain (default 10)",
    )
    p.add_argument(
        "--section-fields-per-area",
        type=int,
        default=None,
        help=f"headline: fields per area and brain (default {DEV_FIELDS_PER_AREA}; "
        f"{PUBLISHED_FIELDS_PER_AREA} with --published: >= 50 per area over 10 brains)",
    )
    p.add_argument(
        "--headline-captions",
        type=int,
        default=None,
        metavar="N",
        help=f"headline: caption N fields per area (and N non-cortex fields), chosen at "
        f"random with --seed, once each (default {DEV_CAPTIONS}; {PUBLISHED_CAPTIONS} with "
        "--published; 0: no captions)",
    )
    p.add_argument(
        "--readout-fields-per-area",
        type=int,
        default=None,
        help="headline: fields per area and brain measured for the readout baseline "
        "(default: EvalOptions.readout_per_area, 1, what docs/results.md was measured with)",
    )
    p.add_argument(
        "--bootstrap", type=int, default=1000, help="headline: bootstrap resamples over brains"
    )
    p.add_argument("--no-headline", action="store_true", help="skip the section-read headline")
    p.add_argument("--no-sampler", action="store_true", help="skip the sampler-based view")
    p.add_argument(
        "--patches-per-area",
        type=int,
        default=51,
        help="sampler view: patches per area over all its test brains",
    )
    p.add_argument(
        "--caption-patches",
        type=int,
        default=None,
        metavar="N",
        help="sampler view: caption a stratified subset of about N patches (default: all)",
    )
    p.add_argument("--out", default="evaluation", help="output folder (report and cache)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--no-robustness", action="store_true", help="skip the shifted test sets")
    p.add_argument("--no-baselines", action="store_true", help="skip the baselines")
    p.add_argument(
        "--robust-patches-per-area",
        type=int,
        default=12,
        help="patches per area under each robustness shift",
    )
    p.add_argument("--seed", type=int, default=0, help="sampling and distractor seed")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def table(m: dict) -> str:
    """The human-readable summary table."""
    base = m.get("baselines", {})
    names = [
        k for k in ("linear_head", "retrieval", "gli_profile", "oracle_text", "chance") if k in base
    ]
    head = f"{'metric':<38} {'ours':>7} {'paper':>7}" + "".join(f" {n[:11]:>11}" for n in names)
    lines = [head, "-" * len(head)]
    for label, key, paper in ROWS:
        row = f"{label:<38} {_fmt(m.get(key)):>7} {paper:>7}"
        row += "".join(f" {_fmt(base[n].get(key)):>11}" for n in names)
        lines.append(row)
    lines.append(
        f"patches: {m['n_patches']} ({m['n_in_scope']} in-scope over {m['n_areas']} "
        f"areas, {m['n_unseen']} unseen, {m['n_noncortex']} non-cortex); "
        f"captioned: {m['n_captioned']}"
    )
    for shift, r in (m.get("robustness") or {}).items():
        lines.append(
            f"shift {shift:<16} label match {_fmt(r['label_match_accuracy'])} "
            f"8-way {_fmt(r['masked_8way_accuracy'])} class {_fmt(r['classification_accuracy'])}"
            f" AUROC {_fmt(r['open_set_auroc'])} FRR {_fmt(r['in_scope_false_rejection_rate'])}"
        )
    return "\n".join(lines)


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` the report cannot go to or would damage: a file, a model bundle
    (unlisted files break it) or a training run folder (its ``metrics.json`` would be
    replaced)."""
    from cytowords.cli import CliError

    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: this is a file; give a folder for the report")
    if (out / "hashes.json").is_file():
        raise CliError(
            f"--out {out}: this is a model bundle, which the report's files would break; "
            "give another folder"
        )
    if (out / "run.json").is_file():
        raise CliError(
            f"--out {out}: this is a run folder of cytowords train, whose metrics.json the "
            "report would replace; give another folder"
        )


def run(args: argparse.Namespace) -> int:
    """Run the evaluation, print the table (or JSON) and write the report folder."""
    from cytowords.cli import CliError

    if args.section_fields_per_area is None:
        args.section_fields_per_area = (
            PUBLISHED_FIELDS_PER_AREA if args.published else DEV_FIELDS_PER_AREA
        )
    if args.headline_captions is None:
        args.headline_captions = PUBLISHED_CAPTIONS if args.published else DEV_CAPTIONS
    if args.readout_fields_per_area is None:
        # one default for the CLI and the Python API: the dataclass field's, read here
        # rather than in register() because importing the evaluation package loads torch
        # (seconds), and every sub-command's parser is built for `cytowords --help`
        from cytowords.training.evaluate import EvalOptions

        args.readout_fields_per_area = EvalOptions.readout_per_area
    for name in (
        "brains",
        "patches_per_area",
        "robust_patches_per_area",
        "section_brains",
        "section_fields_per_area",
        "readout_fields_per_area",
        "bootstrap",
    ):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1")
    if args.no_headline and args.no_sampler:
        raise CliError("--no-headline and --no-sampler together leave nothing to evaluate")
    _check_out(Path(args.out))
    from cytowords.training.evaluate.testset import eval_brains

    try:  # the one place that knows the test seed ranges
        eval_brains(args.brains, args.published)
        eval_brains(args.section_brains, args.published)
    except ValueError as e:
        raise CliError(str(e)) from None
    if args.caption_patches is not None and args.caption_patches < 0:
        raise CliError("--caption-patches must be non-negative")
    if args.headline_captions < 0:
        raise CliError("--headline-captions must be non-negative")
    from cytowords.training.evaluate import EvalOptions, run_evaluation
    from cytowords.training.evaluate.report import metrics_json

    opts = EvalOptions(
        model=args.model,
        out=args.out,
        brains=args.brains,
        per_area=args.patches_per_area,
        caption_patches=args.caption_patches,
        robustness=not args.no_robustness,
        baselines=not args.no_baselines,
        robust_per_area=args.robust_patches_per_area,
        seed=args.seed,
        published=args.published,
        headline=not args.no_headline,
        sampler=not args.no_sampler,
        section_brains=args.section_brains,
        section_per_area=args.section_fields_per_area,
        headline_captions=args.headline_captions,
        readout_per_area=args.readout_fields_per_area,
        bootstrap=args.bootstrap,
    )
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=1, file=sys.stderr, leave=False)

    def progress(stage: str, done: int, total: int) -> None:
        if bar is not None:
            bar.set_description(stage)
            bar.total = max(total, 1)
            bar.n = done
            bar.refresh()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    try:
        m = run_evaluation(opts, progress, log)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(metrics_json(m))
    else:
        if "headline" in m:
            from cytowords.training.evaluate.headline import headline_markdown

            print(headline_markdown(m["headline"]))
        if not args.no_sampler:
            print("Sampler view (secondary):")
            print(table(m))
    if not args.json:
        print(f"report: {args.out}")
    return 0
