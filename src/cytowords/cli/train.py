"""``cytowords train --preset default --out DIR``: rebuild a model bundle (see docs/training.md)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from . import CliError

#: the names of :data:`cytowords.training.presets.PRESETS`, written out so that building
#: the parser does not import torch (a test checks that the two agree)
PRESET_NAMES = ("smoke", "default", "gpu-large", "llm", "llm-cpu", "dense-cpu")


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
    p.add_argument("--out", default=None, help="run folder (checkpoints, logs, bundle); required")
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
        "--strict-docs",
        action="store_true",
        help="stop at the first unreadable document of --docs (default: skip it with a "
        "warning naming it; stop only when none is readable)",
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
        "--caption-input",
        choices=("embedding", "embedding+probs", "embedding+probs+readout"),
        default=None,
        help="what the captioner reads (default: the preset's); embedding+probs+readout "
        "also conditions it on the region's readout, so its captions follow the tissue "
        "(docs/captions.md)",
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
    _register_checks(p)
    _register_encoder(p)
    p.set_defaults(func=run)


def _register_checks(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checking the data spec (done before every training)")
    g.add_argument(
        "--check",
        action="store_true",
        help="check the data spec (and --encoder-torchscript), print fields per area and "
        "split, train nothing",
    )
    g.add_argument(
        "--check-pixel-size",
        action="store_true",
        help="also check each section's pixel size against its tissue with the bundled "
        "model (reads 9 × 96 fields per section; judges neocortex of the bundled atlas only)",
    )


def _register_encoder(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "your own encoder (TorchScript: (B, 1, N, N) grayscale in [0, 1] -> (B, D); "
        "used frozen, no pretraining)"
    )
    g.add_argument("--encoder-torchscript", metavar="FILE", help="the exported network")
    g.add_argument(
        "--encoder-pixel-size-um", type=float, metavar="P", help="µm per pixel it reads"
    )
    g.add_argument("--encoder-patch-px", type=int, metavar="N", help="patch side in pixels")
    g.add_argument("--encoder-dim", type=int, metavar="D", help="embedding size it returns")


ENCODER_OPTIONS = ("encoder_pixel_size_um", "encoder_patch_px", "encoder_dim")


def _with_encoder(args: argparse.Namespace, preset):
    """The preset with the user's TorchScript encoder, checked on a probe batch."""
    given = [k for k in ENCODER_OPTIONS if getattr(args, k) is not None]
    if not args.encoder_torchscript:
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise CliError(f"{flags} only apply with --encoder-torchscript FILE")
        return preset
    missing = [k for k in ENCODER_OPTIONS if getattr(args, k) is None]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise CliError(f"--encoder-torchscript {args.encoder_torchscript} also needs {flags}")
    from pathlib import Path

    from ..model import ExternalEncoder
    from ..model.encoder import probe_encoder

    path = Path(args.encoder_torchscript).resolve()
    probe_encoder(
        ExternalEncoder(
            path,
            pixel_size_um=args.encoder_pixel_size_um,
            patch_px=args.encoder_patch_px,
            embed_dim=args.encoder_dim,
        )
    )
    return preset.with_(
        encoder_torchscript=str(path),
        pixel_size_um=float(args.encoder_pixel_size_um),
        patch_px=int(args.encoder_patch_px),
        embed_dim=int(args.encoder_dim),
    )


def _checked_data(args: argparse.Namespace, preset):
    """The data spec, checked (every problem printed, then CliError), with its notes and
    the fields per area and split printed; None without --data."""
    from ..training.data.spec import DataSpecError, read_data_spec
    from ..training.data.spec_check import check_data_spec, pixel_size_problems

    if args.data is None:
        if args.check_pixel_size:
            raise CliError("--check-pixel-size checks the sections of --data SPEC")
        return None
    try:
        spec = read_data_spec(args.data)
        problems: list[str] = []
        notes: list[str] = []
        if args.check_pixel_size:
            from ..model import get_bundle

            bundle = get_bundle("default", args.device, captioner=False)
            problems, notes = pixel_size_problems(spec, bundle)
        try:
            checked = check_data_spec(spec, preset)
        except DataSpecError as exc:
            raise DataSpecError([*problems, *exc.problems]) from None
        if problems:
            raise DataSpecError(problems)
    except DataSpecError as exc:
        for line in exc.problems:
            print(f"cytowords train: error: {line}", file=sys.stderr)
        n = len(exc.problems)
        raise CliError(
            f"{n} problem{'s' if n > 1 else ''} in the data spec; nothing was trained"
        ) from None
    for line in [*checked.notes, *notes]:
        print(f"note: {line}")
    print(f"fields per area and split (preset {preset.name}):")
    print(checked.table())
    return checked


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..jobs import Cancelled
    from ..training.pipeline import train
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
    if args.caption_input:
        preset = preset.with_(caption_input=args.caption_input)
    if args.strict_docs and args.docs is None:
        raise CliError("--strict-docs only applies with --docs DIR (your documents)")
    if (args.base_bundle is None) != (args.only is None):
        raise CliError("--from BUNDLE and --only captioner go together")
    if args.check and not (args.data or args.encoder_torchscript):
        raise CliError("--check checks --data SPEC and/or --encoder-torchscript FILE; give one")
    preset = _with_encoder(args, preset)
    if not args.check and not args.out:
        raise CliError("--out DIR is required (the run folder), unless --check")
    checked = _checked_data(args, preset)
    if args.check:
        print("checked: nothing was trained")
        return 0
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
        with _hf_progress_bars_off(args.quiet):
            bundle = train(
                preset,
                args.out,
                data=checked,
                docs=args.docs,
                resume=args.resume,
                on_progress=progress,
                device=args.device,
                base_bundle=args.base_bundle,
                only=args.only,
                strict_docs=args.strict_docs,
                on_warning=lambda line: print(f"warning: {line}", file=sys.stderr),
            )
    except Cancelled as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; run the same command again to go on from the checkpoints in "
            f"{args.out}",
            file=sys.stderr,
        )
        raise
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


@contextlib.contextmanager
def _hf_progress_bars_off(off: bool) -> Iterator[None]:
    """With ``off``, Hugging Face's own progress bars (loading / writing model shards) are
    disabled while training and restored afterwards."""
    if not off:
        yield
        return
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if before:
            hf_logging.enable_progress_bar()
