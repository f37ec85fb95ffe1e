"""npe2 reader: open a section (OME-Zarr, zarr, TIFF, SVS/NDPI/SCN whole-slide scans, PNG/JPEG)
as a multiscale image + label layers.

``napari_get_reader`` only looks at the path (suffix / zarr metadata file names), so napari
can ask it about every file cheaply; opening happens in the returned reader function. Layer
data stays lazy (dask arrays); only the coarsest level is computed, for contrast limits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...formats import SECTION_FILE_SUFFIXES

_ZARR_META = ("zarr.json", ".zgroup", ".zarray", ".zattrs")

LayerData = tuple[Any, dict[str, Any], str]
#: image layer metadata: its levels are a section cytowords read (this reader, the sample
#: and demo data), which the widgets measure as they are
READ_KEY = "cytowords_read"

#: napari says where to choose the slide instead of the command line's
#: :data:`cytowords.sections.open.SLIDE_HINT`
NAPARI_SLIDE_HINT = (
    "choose Slide › fluorescent in the Describe regions or Area map widget (Plugins menu)"
)


def _handles(path: Any) -> bool:
    if not isinstance(path, (str, os.PathLike)):
        return False
    p = Path(os.fspath(path))
    if p.suffix.lower() in SECTION_FILE_SUFFIXES:
        return p.is_file()
    if p.is_dir():
        return any((p / f).is_file() for f in _ZARR_META)
    return False


def napari_get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """Return :func:`read_section_layers` if ``path`` looks like a section we open, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    return read_section_layers if _handles(path) else None


def contrast_limits(level: Any) -> tuple[float, float]:
    """``(min, max)`` of a (small, coarsest) level; widened if the image is constant."""
    # explicit threaded scheduler: small array, and no scheduler discovery (which imports
    # dask.distributed, ~0.25 s) on the open path
    arr = np.asarray(level.compute(scheduler="threads") if hasattr(level, "compute") else level)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def _label_layer(
    name: str, lab: Any, unit: str = "µm", translate: tuple[float, float] = (0.0, 0.0)
) -> LayerData:
    from cytowords.sections.ngff import hex_to_rgba

    meta: dict[str, Any] = {
        "name": name,
        "scale": (lab.pixel_size_um[0], lab.pixel_size_um[0]),
        "units": (unit, unit),
        "translate": translate,
        "multiscale": len(lab.levels) > 1,
        "opacity": 0.5,
        "metadata": {"label_names": dict(lab.names)},
    }
    if lab.names:
        values = sorted(lab.names)
        meta["features"] = {
            "index": [0, *values],
            "name": ["background", *(lab.names[v] for v in values)],
        }
    if lab.colors:
        cmap: dict[Any, Any] = {None: [0, 0, 0, 0], 0: [0, 0, 0, 0]}
        for v, c in lab.colors.items():
            cmap[int(v)] = [x / 255 for x in hex_to_rgba(c)]
        meta["colormap"] = cmap
    data = lab.levels if len(lab.levels) > 1 else lab.levels[0]
    return (data, meta, "labels")


def read_section_layers(path: str | list[str], dark_field: bool | None = None) -> list[LayerData]:
    """Layer data tuples: the section as a multiscale image (µm scale), its label images.

    A file that stores no pixel size (e.g. a TIFF without resolution tags) still opens, in
    ``pixel`` units with a warning; the dock widgets then ask for its µm per pixel.

    Opened from the viewer (*File › Open*, a drop, napari's console: Qt's event loop is
    running), the section is opened in a worker thread: reading its metadata, the first
    imports of the readers and the coarsest level for the contrast limits take seconds on a
    big store. The reader then returns napari's null layer ``[(None,)]`` at once, says so in
    a notification with a busy bar, and adds the layers when they are made. A script's
    ``viewer.open`` gets its layers back as from any reader.

    ``dark_field``: :func:`~cytowords.sections.open_section`'s (None: the slide is judged
    from the image; True: bright cells on a dark slide, read inverted; False: as it is),
    for napari's console; in the viewer the *Slide* row of the widgets reads an opened
    image again either way (:mod:`.slide`)."""
    from .geojson_reader import _gui_viewer

    if isinstance(path, list):
        path = path[0]
    path = str(path)
    viewer = _gui_viewer()
    if viewer is not None:
        _in_background(viewer, path, dark_field)
        return [(None,)]
    layers, notes = section_layer_data(path, dark_field)
    _show_notes(notes)
    return layers


def _show_notes(notes: list[tuple[str, str]]) -> None:
    from napari.utils.notifications import show_info, show_warning

    for kind, text in notes:
        (show_warning if kind == "warning" else show_info)(text)


def _in_background(viewer, path: str, dark_field: bool | None = None) -> None:
    """Open ``path`` and make its layers in a worker thread; add them to ``viewer`` (on the
    GUI thread) when they are made; an error is one notification line."""
    from napari.qt.threading import create_worker
    from napari.utils.notifications import show_error, show_info

    name = Path(path).name

    def done(result: tuple[list, list[tuple[str, str]]]) -> None:
        layers, notes = result
        _show_notes(notes)
        try:
            for layer in layers:
                viewer.add_layer(layer)
        except RuntimeError:  # the viewer was closed meanwhile
            return

    def failed(exc: Exception) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        show_error(f"{name}: not opened ({first})")

    show_info(f"{name}: opening the section; its layers appear when they are ready")
    create_worker(
        _make_layers,
        path,
        dark_field,
        _progress={"desc": f"Opening {name}"},
        _connect={"returned": done, "errored": failed},
        _start_thread=True,
    )


def _make_layers(path: str, dark_field: bool | None = None) -> tuple[list, list[tuple[str, str]]]:
    """``(layers, notes)`` of a section (runs in a worker thread: napari's Layer is no Qt
    object; its vispy visual is made when the viewer adds it)."""
    from napari.layers import Layer
    from napari.layers._source import layer_source

    data, notes = section_layer_data(path, dark_field)
    with layer_source(path=path, reader_plugin="napari-cytowords"):
        return [Layer.create(*t) for t in data], notes


def section_layer_data(
    path: str, dark_field: bool | None = None
) -> tuple[list[LayerData], list[tuple[str, str]]]:
    """``(layer data tuples, notes)`` of the section at ``path``, read here and now
    (``dark_field``: :func:`read_section_layers`'s); notes are ``("warning" | "info",
    text)`` for the caller to show."""
    from cytowords.sections import PixelSizeMissingError, calibration_warning, open_section
    from cytowords.sections.ome_zarr import LOST_CHUNKS_KEY
    from cytowords.sections.open import SLIDE_HINT

    notes: list[tuple[str, str]] = []
    try:
        section, unit = open_section(path, dark_field=dark_field), "µm"
    except PixelSizeMissingError as exc:
        section, unit = open_section(path, pixel_size_um=1.0, dark_field=dark_field), "pixel"
        notes.append(
            (
                "warning",
                f"{exc}. Opened in pixels: set its µm per pixel under 'Pixel size' in the "
                "cytowords widgets before describing or mapping.",
            )
        )
    if section.metadata.get(LOST_CHUNKS_KEY):  # a store copied incompletely
        notes.append(("warning", str(section.metadata[LOST_CHUNKS_KEY])))
    if calibration_warning(section):
        notes.append(
            (
                "warning",
                f"{calibration_warning(section)}; set it under 'Pixel size' in the widgets",
            )
        )
    said = {
        key: str(section.metadata[key]).replace(SLIDE_HINT, NAPARI_SLIDE_HINT)
        for key in ("background", "slide")
        if section.metadata.get(key)
    }
    notes += [("info", f"{section.name}: {text}") for text in said.values()]
    p0 = section.pixel_size_um[0]
    # an OME-Zarr's translation places the image in its space (an area map over its section)
    origin = tuple(float(v) for v in section.metadata.get("origin_um") or (0.0, 0.0))
    image_meta: dict[str, Any] = {
        "name": section.name,
        "scale": (p0, p0),
        "translate": origin,
        "units": (unit, unit),
        "multiscale": len(section.levels) > 1,
        "contrast_limits": contrast_limits(section.levels[-1]),
        "colormap": "gray",
        "metadata": {
            **section.metadata,
            **said,
            "pixel_size_um": list(section.pixel_size_um) if unit == "µm" else None,
            READ_KEY: True,
        },
    }
    data = section.levels if len(section.levels) > 1 else section.levels[0]
    layers: list[LayerData] = [(data, image_meta, "image")]
    for name, lab in section.labels.items():
        layers.append(_label_layer(f"{section.name} {name}", lab, unit, origin))
    return layers, notes
