"""The ``cytowords`` command line.

Each sub-command lives in its own module of this package exposing
``register(subparsers) -> None``; the module adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code). Heavy imports happen
inside ``func`` so that ``cytowords --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from .. import __version__

#: sub-command modules, in the order they appear in ``--help``
COMMAND_MODULES = (
    "demo",
    "synth",
    "describe",
    "measure",
    "borders",
    "teach",
    "map",
    "pixel_size",
    "mine",
    "train",
    "evaluate",
)


#: help of the IMAGE argument of the commands that open a section
IMAGE_HELP = (
    "section: OME-Zarr, zarr, TIFF/OME-TIFF, Aperio .svs, Hamamatsu .ndpi, Leica .scn, or "
    ".png/.jpg (these need --pixel-size-um)"
)
#: help of ``--rois``: the region files :func:`cytowords.regions.read_region_file` reads
ROIS_HELP = (
    "regions in the image's full-resolution pixels: QuPath GeoJSON ('Export objects as "
    "GeoJSON', any version or form), a file saved by the plugin, or Fiji/ImageJ ROIs "
    "(a .roi file or the ROI Manager's RoiSet.zip)"
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""


def four_floats(flag: str, order: str, example: str):
    """argparse ``type=`` for options taking four comma-separated numbers in µm."""

    def parse(text: str) -> tuple[float, float, float, float]:
        try:
            vals = [float(v) for v in text.split(",")]
        except ValueError:
            vals = []
        if len(vals) != 4:
            raise argparse.ArgumentTypeError(
                f"{flag} {text!r}: expected {order} in µm, e.g. {example}"
            )
        return vals[0], vals[1], vals[2], vals[3]

    return parse


def add_lm_option(p: argparse.ArgumentParser) -> None:
    """``--lm FOLDER``: where the language model of a bundle that references its LM (frozen
    or LoRA base) lives now; applied by :func:`main` through ``CYTOWORDS_LM_PATH``, so it
    reaches every bundle load of the command (worker processes included)."""
    p.add_argument(
        "--lm",
        dest="bundle_lm",
        default=None,
        metavar="FOLDER",
        help="the bundle's language model folder, if it moved (checked against the hash the "
        "bundle recorded; ignored by bundles that embed their LM)",
    )


#: ``--slide`` choice -> ``open_section``'s ``dark_field``
SLIDES = {"auto": None, "bright": False, "dark": True}


#: help of ``--slide``
SLIDE_HELP = (
    "the empty slide: bright (bright-field stain, cells dark), dark (fluorescence, "
    "cells bright: read inverted) or auto (judged from the image; default)"
)


def add_slide_option(p: argparse.ArgumentParser, *, per_image: bool = False) -> None:
    """``--slide auto|bright|dark``: how the image's slide is read (``open_section``'s
    ``dark_field``). ``per_image``: a command of several images takes one value per image,
    in their order, or one for all (:func:`slides_per_image`)."""
    if not per_image:
        p.add_argument("--slide", choices=tuple(SLIDES), default="auto", help=SLIDE_HELP)
        return
    p.add_argument(
        "--slide",
        nargs="+",
        choices=tuple(SLIDES),
        default=["auto"],
        metavar="{" + ",".join(SLIDES) + "}",
        help=SLIDE_HELP + "; one per IMAGE, in the same order, or one for all",
    )


def slides_per_image(slides: Sequence[str], images: Sequence[str]) -> list[str]:
    """The ``--slide`` reading of each of ``images``: ``slides`` holds one per image or one
    for all; :class:`CliError` (one line) for another count."""
    if len(slides) == 1:
        return list(slides) * len(images)
    if len(slides) != len(images):
        raise CliError(
            f"{len(images)} image(s) but {len(slides)} --slide value(s): give one per image, "
            "in the same order, or one for all"
        )
    return list(slides)


def _use_bundle_lm(folder: str) -> None:
    import os
    from pathlib import Path

    from ..model.bundle.lm import LM_PATH_ENV

    if not Path(folder).is_dir():
        raise CliError(f"--lm {folder}: not a folder (the language model's folder)")
    os.environ[LM_PATH_ENV] = str(Path(folder).resolve())


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="cytowords",
        description="Describe cell-body-stained brain sections in words (napari-cytowords).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # command not built yet
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def check_out(flag: str, path: str, *, folder: bool = False) -> None:
    """Fail before any long work, in one line, when ``path`` (the value of ``flag``) cannot
    be written at the end: its folder is missing, read-only or refuses a new file, it is a
    read-only file, or (``folder`` False) an existing folder; else the whole run would be
    lost at its end."""
    import tempfile
    from pathlib import Path

    from ..atomic import check_writable

    p = Path(path).expanduser()
    if not folder and p.is_dir():
        raise CliError(f"{flag} {path}: cannot write it, it is a folder")
    try:
        check_writable(p)
    except OSError as exc:
        raise CliError(f"{flag} {path}: {exc}") from None
    # the permission bits can say yes where writing fails (root, a read-only or network
    # mount, ACLs): write a probe file where the output's temporary file will be written
    where = p.parent
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".cytowords-probe-"):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise CliError(f"{flag} {path}: cannot write in folder {where} ({why})") from None


def check_not_input(flag: str, path: str, inputs: Sequence[str]) -> None:
    """Refuse, in one line, an output ``path`` that is one of the command's ``inputs`` (a
    section, a region file, a model folder) or a folder holding one: writing the output
    there (with ``--overwrite``) would replace the input, which is lost."""
    from pathlib import Path

    out = Path(path).expanduser().resolve()
    for given in inputs:
        src = Path(given).expanduser()
        if not src.exists():
            continue
        src = src.resolve()
        if src == out or out in src.parents:
            what = "is" if src == out else "holds"
            raise CliError(
                f"{flag} {path} {what} the input {given}: writing the output there would "
                f"replace it; give another {flag}"
            )


def open_image(path: str, pixel_size_um: float | None, slide: str = "auto") -> Any:
    """:func:`~cytowords.sections.open_section`, saying on stderr (one line) when the file's
    stored pixel size is implausible for a histology scan, before any long work, and how
    its background and slide are read. ``slide``: a ``--slide`` choice (:data:`SLIDES`);
    the reading is recorded in the section's metadata for the exports
    (:mod:`cytowords.slide_reading`)."""
    from ..sections import calibration_warning, open_section
    from ..sections.ome_zarr import LOST_CHUNKS_KEY
    from ..slide_reading import INVERTED_KEY, SECTION_KEY, slide_reading

    section = open_section(path, pixel_size_um=pixel_size_um, dark_field=SLIDES[slide])
    section.metadata[SECTION_KEY] = slide_reading(bool(section.metadata.get(INVERTED_KEY)), slide)
    warning = calibration_warning(section)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if section.metadata.get(LOST_CHUNKS_KEY):  # a store copied incompletely
        print(f"warning: {section.metadata[LOST_CHUNKS_KEY]}", file=sys.stderr)
    if section.metadata.get("background"):
        print(f"note: {path}: {section.metadata['background']}", file=sys.stderr)
    if section.metadata.get("slide"):
        print(f"note: {path}: {section.metadata['slide']}", file=sys.stderr)
    return section


class _LogLines(logging.Handler):
    """While entered, the records of the logger ``name`` (tifffile logs each problem of a
    file once per page read, the same line many times) are kept here, each distinct one
    once, as ``"FILE: message"`` lines, instead of printed; the command prints them when it
    ends without an error (an error's own line says what went wrong)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.WARNING)
        self.logger = logging.getLogger(name)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = re.sub(r"<tifffile\.\w+ '([^']*)'>\s*", r"\1: ", record.getMessage().strip())
        if line not in self.lines:
            self.lines.append(line)

    def __enter__(self) -> _LogLines:
        self._propagate = self.logger.propagate
        self.logger.addHandler(self)
        self.logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = self._propagate


def _one_line_warnings(command: str, show):
    """``warnings.showwarning`` that prints cytowords' own warnings as one line."""

    def showwarning(message, category, filename, lineno, file=None, line=None) -> None:
        if category.__module__.startswith("cytowords."):
            print(f"cytowords {command}: warning: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler ending a job, ``kill``) handled as Ctrl-C while the command
    runs, so that it stops the same way: a resumable map says how to resume, a describe
    writes the regions done so far. Only in the main thread (signals need it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cytowords`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    tiff_notes = _LogLines("tifffile")
    try:
        if getattr(args, "bundle_lm", None):
            _use_bundle_lm(args.bundle_lm)
        with warnings.catch_warnings(), _sigterm_as_interrupt(), tiff_notes:
            warnings.showwarning = _one_line_warnings(args.command, warnings.showwarning)
            code = int(args.func(args) or 0)
        for line in tiff_notes.lines:
            print(f"cytowords {args.command}: warning: {line}", file=sys.stderr)
        return code
    except CliError as exc:
        print(f"cytowords {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cytowords {args.command}: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, PermissionError) as exc:
        print(f"cytowords {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
