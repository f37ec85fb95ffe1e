"""How a section image layer's slide is read: bright field (as stored) or fluorescent (bright
cells on a dark slide, read inverted), chosen in napari instead of the command line's
``--slide``.

The reader judges the slide when it opens a section
(:func:`~cytowords.sections.open_section`); when that judgement is undecided or wrong, the
user chooses the reading (the *Slide* row of the dock widgets, :mod:`..qt.slide`). The
section is then opened again from its file with that reading, in a worker thread, and the
layer's data is replaced in place: the same layer object, name, place in the layer list,
scale and translate (a pixel size set in the widgets is kept), its contrast limits those of
the new reading. Every widget reads the layer's data (:func:`.layers.section_from_layer`),
so what is shown and what is measured agree. The choice is kept in the layer's metadata
(:data:`SLIDE_KEY`), and the layer's ``events.metadata`` says it to every widget's *Slide*
row.

An image of another reader (napari's own, a console layer) is not read again: the choice
changes how the widgets read its data (:func:`.layers.section_from_layer`), and the layer
is shown as stored (:func:`_choose_foreign`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari.layers import Image

from ...cli import SLIDES
from ...slide_reading import INVERTED_KEY
from . import layers as _layers

#: layer metadata: the reading chosen for the layer (a key of the CLI's ``--slide`` choices,
#: :data:`cytowords.cli.SLIDES`; none: judged)
SLIDE_KEY = "cytowords_slide"
#: how each reading is named to the user
SLIDE_NAMES = {
    "auto": "as judged from the image",
    "bright": "bright field (as stored)",
    "dark": "fluorescent (dark slide, inverted)",
}
#: section metadata that the reading sets (replaced in the layer's metadata on a re-read)
_READING_KEYS = ("slide", "background", INVERTED_KEY)


def slide_of(layer: Image) -> str:
    """The reading chosen for ``layer`` (a key of :data:`SLIDES`; ``auto`` when none was)."""
    choice = layer.metadata.get(SLIDE_KEY)
    return choice if choice in SLIDES else "auto"


def slide_source(layer: Image) -> str | None:
    """The file the cytowords reader opened ``layer`` from (None: not opened by it, e.g. an
    image of another reader or made in Python, read by the widgets as chosen instead)."""
    source = layer.metadata.get("source")
    if not isinstance(source, str) or not source or not _layers.read_by_cytowords(layer):
        return None
    return source


def layer_slide(layer: Any, read: bool = True) -> str | None:
    """How the widgets read ``layer``'s slide, in an export's words
    (:func:`cytowords.slide_reading.slide_reading`); None when it is no image they can read
    (no pixel size, not 2D, not an image). ``read=False`` (a writer, on the GUI thread):
    a layer of another reader not read yet is not read for it (up to seconds on a large
    scan): its chosen reading is said, a judged one not (None)."""
    from ...slide_reading import section_slide, slide_reading

    if not isinstance(layer, Image):
        return None
    try:
        if not read and not _layers.read_by_cytowords(layer):
            section = _layers.cached_section(layer)
            if section is None:
                choice = slide_of(layer)
                return None if choice == "auto" else slide_reading(choice == "dark", choice)
            return section_slide(section)
        return section_slide(_layers.section_from_layer(layer, notify=False))
    except ValueError:  # a LayerError among them
        return None


def slide_problem(layer: Image) -> str | None:
    """Why ``layer``'s slide cannot be chosen (None when it can): a layer cytowords read
    with no file to read again (its sample and demo data)."""
    if _layers.read_by_cytowords(layer) and slide_source(layer) is None:
        return "made by cytowords (no file to read again): read as it is"
    return None


def foreign_status(layer: Image) -> str:
    """The *Slide* row's line for a layer of another reader: how the widgets read it, what
    its last reading said (:func:`.layers.last_reading_note`), that it is shown as stored."""
    said = _layers.last_reading_note(layer)
    how = f"opened by another reader: measured {_measured(slide_of(layer))}"
    return f"{how}: {said}" if said else f"{how}; {_layers.SHOWN_AS_STORED}"


def _measured(slide: str) -> str:
    """How a reading is named after "measured" (``as judged from the image``, ``as
    fluorescent (dark slide, inverted)``, ...)."""
    return SLIDE_NAMES[slide] if slide == "auto" else f"as {SLIDE_NAMES[slide]}"


def _choose_foreign(layer: Image, slide: str, on_done, on_failed):
    """Read ``layer`` (of another reader) as ``slide`` in the widgets: the choice goes to its
    metadata and its section is read again in a worker (:func:`.layers.read_in_background`);
    its data and display stay. One notification says what was done (one line when it
    cannot be read). Returns the started worker (None when nothing is read: no pixel size
    yet, then read when a widget measures it)."""
    from napari.utils.notifications import show_error, show_info

    how = _measured(slide)

    def failed(_layer: Image, exc: Exception) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        show_error(f"{layer.name}: not read as {SLIDE_NAMES[slide]} ({first})")
        if on_failed is not None:
            on_failed(layer)

    try:
        _layers.check_grayscale(layer)
    except Exception as exc:  # an image it cannot read (a 3D layer, ...)
        failed(layer, exc)
        return None
    layer.metadata[SLIDE_KEY] = slide  # the worker's reading depends on it
    _layers.forget_section(layer)
    worker = _layers.read_in_background(layer, on_done, failed, lead=f"measured {how}")
    # the choice said to every widget (their Slide rows listen) once its read is under way
    layer.events.metadata()
    if worker is None:
        show_info(f"{layer.name}: measured {how}; {_layers.SHOWN_AS_STORED}")
        if on_done is not None:
            on_done(layer)
    return worker


def read_slide(path: str, slide: str) -> tuple[Any, tuple[float, float], dict, list]:
    """``(data, contrast limits, metadata, notes)`` of the section image at ``path`` read
    as ``slide`` (a key of :data:`SLIDES`); reads the file's metadata and its coarsest level
    (run it in a worker thread)."""
    from .reader import section_layer_data

    layers, notes = section_layer_data(path, SLIDES[slide])
    data, meta, _ = layers[0]
    return data, tuple(meta["contrast_limits"]), dict(meta["metadata"]), notes


def apply_slide(layer: Image, slide: str, read: tuple[Any, tuple[float, float], dict, list]) -> str:
    """Put the reading ``read`` (:func:`read_slide`'s) into ``layer`` in place: its data,
    contrast limits and the reading's metadata; scale, translate, name and the other
    metadata stay. Returns what was done, in one sentence."""
    data, limits, meta, _ = read
    if layer.multiscale and not isinstance(data, list):
        data = [data]
    elif not layer.multiscale and isinstance(data, list):
        data = data[0]
    new = tuple(int(v) for v in (data[0] if isinstance(data, list) else data).shape)
    old = tuple(int(v) for v in layer.level_shapes[0])
    if new != old:  # the file was replaced: the ROIs drawn over the layer would move
        raise _layers.LayerError(
            f"its file now holds an image of {new[0]} × {new[1]} px, the layer one of "
            f"{old[0]} × {old[1]} px: open the file again"
        )
    md = {k: v for k, v in layer.metadata.items() if k not in _READING_KEYS}
    md.update({k: meta[k] for k in _READING_KEYS if meta.get(k)})
    md[SLIDE_KEY] = slide
    _layers.forget_section(layer)
    # the metadata first: a widget refreshed by the data event sees the new reading
    layer.metadata = md
    layer.data = data
    layer.contrast_limits_range = limits
    layer.contrast_limits = limits
    said = md.get("slide") or md.get("background")
    how = "judged again from the image" if slide == "auto" else f"read as {SLIDE_NAMES[slide]}"
    return f"{layer.name}: {how}" + (f": {said}" if said else "")


def reread_slide(
    layer: Image,
    slide: str,
    on_done: Callable[[Image], None] | None = None,
    on_failed: Callable[[Image], None] | None = None,
):
    """Open ``layer``'s section again as ``slide`` in a worker thread and put it into the
    layer (:func:`apply_slide`) on the GUI thread; one notification says what was done (or
    why nothing was: one line). ``on_done`` / ``on_failed`` get the layer afterwards.
    A layer of another reader is read again as ``slide`` for the widgets, also in a worker,
    its data and display unchanged (:func:`_choose_foreign`). Returns the started worker
    (None when nothing is read in a worker)."""
    from napari.qt.threading import create_worker
    from napari.utils.notifications import show_error, show_info

    if slide not in SLIDES:
        raise ValueError(f"slide {slide!r}: expected one of {', '.join(SLIDES)}")
    if not _layers.read_by_cytowords(layer):
        return _choose_foreign(layer, slide, on_done, on_failed)
    path = slide_source(layer)
    if path is None:
        show_error(f"{layer.name}: {slide_problem(layer) or 'no file to read again'}")
        if on_failed is not None:
            on_failed(layer)
        return None
    name = layer.name

    def done(read) -> None:
        try:
            text = apply_slide(layer, slide, read)
        except Exception as exc:  # the file or the layer was changed meanwhile
            failed(exc)
            return
        show_info(text)
        if on_done is not None:
            on_done(layer)

    def failed(exc: Exception) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        show_error(f"{name}: not read again from {Path(path).name} ({first})")
        if on_failed is not None:
            on_failed(layer)

    return create_worker(
        read_slide,
        path,
        slide,
        _progress={"desc": f"Reading {name} as {SLIDE_NAMES[slide]}"},
        _connect={"returned": done, "errored": failed},
        _start_thread=True,
    )
