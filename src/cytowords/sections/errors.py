"""Errors raised by :mod:`cytowords.sections`."""

from __future__ import annotations


class SectionError(ValueError):
    """A section file cannot be opened or written.

    The message always names the file (or argument), the problem and what was expected.
    """


def fail(path: object, problem: str, expected: str = "") -> SectionError:
    """Build a :class:`SectionError` ``"<path>: <problem>[; expected <expected>]"``."""
    msg = f"{path}: {problem}"
    if expected:
        msg += f"; expected {expected}"
    return SectionError(msg)


class PixelSizeMissingError(SectionError):
    """The file stores no physical pixel size (no length unit, no resolution); open it
    again with an explicit ``pixel_size_um`` (CLI: ``--pixel-size-um``)."""


class NonSquarePixelsError(PixelSizeMissingError):
    """The file stores pixels that are not square (height and width differ by more than
    :data:`~.ngff.MAX_PIXEL_ASPECT`): one µm per pixel cannot measure them, so the stored
    size is not used; open it again with ``pixel_size_um`` if the stored sizes are wrong, or
    resample the image to square pixels."""


class SectionNotFoundError(SectionError, FileNotFoundError):
    """The section path does not exist (both a :class:`SectionError` and FileNotFoundError)."""
