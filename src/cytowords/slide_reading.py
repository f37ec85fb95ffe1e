"""How a section's slide was read, in the words its exports record.

A scan is read as a bright-field stain (cells dark on a bright slide, as stored) or as a
fluorescent one (bright cells on a dark slide, read inverted), judged from the image or
chosen (the command line's ``--slide``, napari's *Slide* row). A describe, measure, map or
teach export made from an inverted reading otherwise looks like a bright-field one, so
each records the reading beside the image facts it holds (the pixel size), under
:data:`EXPORT_KEY`, e.g. ``"slide": "fluorescent, read inverted (judged from the image)"``.

Whoever opens the section (the command line, napari's layer reading) puts the reading in
the section's metadata under :data:`SECTION_KEY` (:func:`slide_reading`); the exports take
it from there (:func:`section_slide`).
"""

from __future__ import annotations

from typing import Any

#: the key of an export's reading (a GeoJSON collection's properties, a CSV column, a
#: readout's JSON, an area map's attributes, a taught bundle's sections)
EXPORT_KEY = "slide"
#: the key of the reading in ``Section.metadata``
SECTION_KEY = "slide_reading"
#: the key in ``Section.metadata`` (and a layer's metadata from our reader) that says the
#: pixels were read inverted (``True``; absent when read as stored)
INVERTED_KEY = "slide_inverted"
#: a bright-field reading (as stored)
BRIGHT = "bright field"
#: a fluorescent reading
INVERTED = "fluorescent, read inverted"
#: how the reading came about: the ``--slide`` choice -> words
HOW = {"auto": "judged from the image", "bright": "chosen", "dark": "chosen"}


def slide_reading(inverted: bool, choice: str = "auto") -> str:
    """How a section was read, in an export's words: ``"bright field"`` or ``"fluorescent,
    read inverted"``, with ``"(judged from the image)"`` or ``"(chosen)"``.

    Args:
        inverted: whether the reading inverted the pixels (a fluorescent slide:
            ``Section.metadata[INVERTED_KEY]``, :func:`cytowords.sections.open.read_levels`).
        choice: the reading asked for: ``auto`` (judged), ``bright`` or ``dark`` (chosen;
            the keys of :data:`cytowords.cli.SLIDES`).
    """
    if choice not in HOW:
        raise ValueError(f"slide {choice!r}: expected one of {', '.join(HOW)}")
    inverted = choice == "dark" or (choice == "auto" and bool(inverted))
    return f"{INVERTED if inverted else BRIGHT} ({HOW[choice]})"


def section_slide(section: Any) -> str | None:
    """The reading recorded in ``section``'s metadata (:data:`SECTION_KEY`; None when whoever
    opened it recorded none)."""
    value = (getattr(section, "metadata", None) or {}).get(SECTION_KEY)
    return value if isinstance(value, str) and value else None
