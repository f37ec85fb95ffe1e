"""``cytowords train --preset default --out DIR``: rebuild a model bundle (see docs/training.md)."""

from __future__ import annotations

import argparse
import sys

from . import CliError

PRESET_NAMES = ("smoke", "default", "gpu-large", "llm", "llm-cpu")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model bundle from labelled sections and documents",
        description=(
            "Train encoder, area head, open-set scorer and captioner stage by stage, with "
            "resumable checkpoints in --out; the bundle ends up in OUT/bundle."
        ),
    )
    p.add_argument("--preset", default="default", choices=PRESET_NAMES, help="model/data size")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, bundle)")
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue a run in --out (default) or start over (--no-resume)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument(
        "--data",
        default=None,
        help="data spec YAML listing your labelled sections (default: synthetic brains)",
    )
    p.add_argument(
        "--docs", default=None, help="folder of documents to mine captions from (default: builtin)"
    )
    p.add_argument(
        "--lm",
        default=None,
        help="local Hugging Face causal LM folder for the captioner (needed by preset llm); "
        "trained as --caption-mode says",
    )
    p.add_argument(
        "--caption-mode",
        choices=("projector", "lora", "full"),
        default=None,
        help="what trains with the projector: projector (LM frozen; the bundle references "
        "--lm by path and hash), lora (LoRA adapter saved in the bundle; needs peft) or full "
        "(the trained LM saved in the bundle). Default: projector with --lm, else the "
        "preset's (full for the compact bundled LM)",
    )
    p.add_argument(
        "--from",
        dest="base_bundle",
        default=None,
        metavar="BUNDLE",
        help="with --only captioner: keep this bundle's encoder, head, scorer, views, "
        "thresholds, non-cortex levels and cortex detector ('default': the bundled model)",
    )
    p.add_argument(
        "--only",
        choices=("captioner",),
        default=None,
        help="train only this stage on the --from bundle",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..training.pipeline import TrainingCancelled, train
    from ..training.presets import get_preset

    preset = get_preset(args.preset)
    if args.lm:
        if not Path(args.lm).is_dir():
            raise CliError(f"--lm {args.lm}: not a folder (a local Hugging Face model folder)")
        preset = preset.with_(lm_path=str(Path(args.lm).resolve()), caption_mode="projector")
    elif preset.name in ("llm", "llm-cpu"):
        raise CliError(
            f"--preset {preset.name} needs --lm PATH (a local Hugging Face causal LM folder)"
        )
    if args.caption_mode:
        preset = preset.with_(caption_mode=args.caption_mode)
    if (args.base_bundle is None) != (args.only is None):
        raise CliError("--from BUNDLE and --only captioner go together")
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if args.quiet:
            return
        from tqdm import tqdm

        bar = bars.get(stage)
        if bar is None:
            for b in bars.values():
                b.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=True)
        bar.update(done - bar.n)

    try:
        bundle = train(
            preset,
            args.out,
            data=args.data,
            docs=args.docs,
            resume=args.resume,
            on_progress=progress,
            device=args.device,
            base_bundle=args.base_bundle,
            only=args.only,
        )
    except TrainingCancelled as exc:
        raise CliError(str(exc)) from None
    finally:
        for b in bars.values():
            b.close()
    metrics = json.loads((Path(args.out) / "metrics.json").read_text(encoding="utf-8"))
    keys = ("val_accuracy", "val_label_match", "val_false_rejection", "val_none_rejected")
    for k in keys:
        if k in metrics:
            print(f"{k:22s} {metrics[k]:.3f}")
    print(f"{'seconds':22s} {metrics.get('seconds', {})}")
    print(f"bundle: {bundle}")
    return 0
