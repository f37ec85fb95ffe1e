"""npe2 reader for region files as a Shapes layer: GeoJSON ROIs (ours, or QuPath's in any
form it writes) and Fiji/ImageJ ROIs (a ``.roi`` file, or a ROI Manager ``RoiSet.zip``; any
other zip is left to other readers).

Each region becomes a polygon shape whose features carry its results (the plugin's files),
its name ("" when the file gives none: QuPath leaves ``name`` out of an unnamed annotation,
and the widgets show ``ROI n``), QuPath class and colour, QuPath object id, and its holes
(napari cannot draw holes: they live in the ``holes`` column, see :mod:`._shapes`, and
describing or saving the layer honours them). A MultiPolygon annotation becomes one shape
per piece, named ``name [k]`` (a Shapes layer holds one polygon per shape; the pieces are
described one by one here). A line (LineString, an ImageJ line ROI) becomes a path shape,
e.g. a path along the cortex for the Borders dock; Describe reads no field on it, and
saving the layer writes it back as a line. Points are skipped, with one notification listing
what was skipped.

Files count from the image's top-left pixel *corner* (QuPath's and ImageJ's pixels, the
plugin's µm); napari centres pixel ``j`` on ``j``, so a layer holds the file's pixels minus
0.5 (its µm minus half a pixel): over the image it belongs to, every vertex lies where
QuPath draws it, and saving the layer writes the file's coordinates back. A QuPath or
ImageJ file (pixels) opened in a viewer that shows one image (or with an image selected)
is placed over that image at once (its scale, translate and units); otherwise the Describe
widget places it over the image chosen there. The plugin's files open in µm (over that
image's translate).

napari calls readers on its GUI thread. A file of at least :data:`BACKGROUND_BYTES` (a
QuPath export of all objects: tens of MB, seconds to decode), or of more than
:data:`BACKGROUND_SHAPES` shapes, opened from the viewer (its event loop running), is read
and made into its layer in a worker thread: the reader returns at once (napari's "nothing
to add" answer), says so in a notification, shows a busy bar in napari's activity panel,
and adds the layer when it is made (an error is one notification line). The decoding
hands the GUI thread its turn between features
(:func:`cytowords.regions.geojson.loads_by_feature`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ...regions.geojson import (
    RESULT_DEFAULTS,
    RESULT_FIELDS,
    GeoJsonRois,
    RegionFileError,
    notes_text,
    read_region_file,
)
from ...regions.imagej import is_roiset
from .shapes import (
    CLASS_COLUMN,
    COLOR_COLUMN,
    HOLES_COLUMN,
    ID_COLUMN,
    NAME_COLUMN,
    holes_to_json,
)


def napari_get_geojson_reader(path: str | list[str]):
    """Return a reader for a ``.geojson``, ImageJ ``.roi`` or ROI Manager ``.zip`` file (one
    whose entries are all ``.roi`` files), or None for anything else."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".geojson", ".roi", ".zip") or not p.is_file():
        return None
    if suffix == ".zip" and not is_roiset(p):
        return None
    return read_geojson


#: region files of at least this many bytes opened from the viewer are read in a worker
#: thread (json decodes ~20 MB/s on one busy core: 2 MB is ~0.1 s of a frozen GUI)
BACKGROUND_BYTES = 2_000_000
#: layers of more shapes than this opened from the viewer are made in a worker thread
#: (napari triangulates each polygon when the layer is made: ~5-15 ms for a particle's
#: outline, 3 s for a Fiji RoiSet of 350)
BACKGROUND_SHAPES = 10


def read_geojson(path: str | list[str]) -> list[tuple]:
    """Read the regions of a GeoJSON or ImageJ ROI file, with any description results, into
    a Shapes layer data tuple. Opened from the viewer (:func:`_gui_viewer`), a large file or
    many shapes are read and made into the layer in a worker thread: napari's null layer
    ``[(None,)]`` is returned and the layer is added to the viewer when it is ready. A file
    that holds no readable region is one error notification there (a script gets the
    :class:`~cytowords.regions.geojson.RegionFileError`)."""
    if isinstance(path, list):
        path = path[0]
    path = str(path)
    viewer = _gui_viewer()
    large = _large_file(path) if viewer is not None else ""
    image = _image_under(viewer if viewer is not None else _script_viewer())
    if large:
        _in_background(viewer, path, None, image, f"reading {large}")
        return [(None,)]
    try:
        read = read_region_file(path, pixel_size_um=1.0, paths=True)
    except RegionFileError as exc:
        if viewer is None:
            raise
        # napari would show its own "Tried to read ... but it gave an error" instead
        from napari.utils.notifications import show_error

        show_error((str(exc).strip().splitlines() or [type(exc).__name__])[0])
        return [(None,)]
    if viewer is not None and sum(len(f.roi.polygons) for f in read.rois) > BACKGROUND_SHAPES:
        _in_background(viewer, path, read, image, f"drawing {len(read.rois)} regions")
        return [(None,)]
    return [_shown(read, path, image)]


def read_region_layer(path: str, image=None) -> tuple:
    """The Shapes layer data tuple of a region file, read here and now and placed over
    ``image`` when given (what the widgets use to restore their own files); notes are
    shown as one warning."""
    return _shown(read_region_file(path, pixel_size_um=1.0, paths=True), str(path), image)


def _shown(read: GeoJsonRois, path: str, image=None) -> tuple:
    if read.notes:
        from napari.utils.notifications import show_warning

        show_warning("\n".join(notes_text(read.notes)))
    return _layer_tuple(read, path, image)


def _script_viewer():
    """The current napari viewer (a script's ``viewer.open``), else None."""
    from napari import current_viewer

    return current_viewer()


def _image_under(viewer):
    """The image a region file of pixel coordinates opened in ``viewer`` belongs to: the
    selected layer when it is a 2D image, else the viewer's only 2D image; None when there
    is none, or several and none selected (the Describe widget then places the layer over
    the image chosen there)."""
    from napari.layers import Image

    if viewer is None:
        return None
    images = [ly for ly in viewer.layers if isinstance(ly, Image) and ly.ndim == 2]
    active = viewer.layers.selection.active
    if active is not None and any(active is im for im in images):
        return active
    return images[0] if len(images) == 1 else None


def _gui_viewer():
    """The current napari viewer when called from Qt's running event loop (a menu, a drop,
    napari's console) on the GUI thread, else None: a script's ``viewer.open`` (before
    ``napari.run()``, or from an IPython prompt) gets its layer back as from any reader."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    from qtpy.QtCore import QThread

    if QThread.currentThread().loopLevel() < 1:
        return None
    from napari import current_viewer

    return current_viewer()


def _large_file(path: str) -> str:
    """What makes ``path`` large ("55.8 MB of regions", "352 ROIs"), or "": at least
    :data:`BACKGROUND_BYTES`, or a RoiSet of more than :data:`BACKGROUND_SHAPES` ROIs
    (ImageJ's ROIs are small: 350 particles are 160 kB); both cheap to tell."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size >= BACKGROUND_BYTES:
            return f"{size / 1e6:.1f} MB of regions"
        if p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as zf:
                n = len(zf.namelist())
            return f"{n} ROIs" if n > BACKGROUND_SHAPES else ""
    except (OSError, zipfile.BadZipFile):
        pass  # the reader says why, in one line
    return ""


def _in_background(viewer, path: str, read: GeoJsonRois | None, image, what: str) -> None:
    """Read ``path`` (unless ``read``) and make its Shapes layer (placed over ``image`` when
    given) in a worker thread, with a notification and a busy bar; add the layer to
    ``viewer`` when it is made."""
    from napari.qt.threading import create_worker
    from napari.utils.notifications import show_error, show_info, show_warning

    name = Path(path).name

    def done(result: tuple[Any, list[str]]) -> None:
        layer, notes = result
        if notes:
            show_warning("\n".join(notes_text(notes)))
        try:
            viewer.add_layer(layer)
        except RuntimeError:  # the viewer was closed meanwhile
            return

    def failed(exc: Exception) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        show_error(first if isinstance(exc, RegionFileError) else f"{path}: not read ({first})")

    show_info(f"{name}: {what}; the layer appears when it is ready")
    create_worker(
        _make_layer,
        path,
        read,
        image,
        _progress={"desc": f"Reading {name}"},
        _connect={"returned": done, "errored": failed},
        _start_thread=True,
    )


def _make_layer(path: str, read: GeoJsonRois | None, image=None) -> tuple[Any, list[str]]:
    """``(Shapes layer, notes)`` of a region file, placed over ``image`` when given (runs in
    a worker thread: napari's Layer is no Qt object; its vispy visual is made when the
    viewer adds it)."""
    from napari.layers import Layer

    if read is None:
        read = read_region_file(path, pixel_size_um=1.0, paths=True)
    return Layer.create(*_layer_tuple(read, path, image)), read.notes


def _layer_tuple(read: GeoJsonRois, path: str, image=None) -> tuple:
    """The ``(shapes, meta, "shapes")`` layer data of what a region file holds; a file of
    pixel coordinates is placed over ``image`` when given (module doc), one of µm takes its
    translate."""
    # ours record their pixel size (shapes in µm); QuPath's and ImageJ's count the image's
    # pixels (read at 1 µm per pixel). Both count from the top-left pixel's corner, napari
    # from its centre: half a pixel less.
    # (the layer helpers import the section code: only when a file is read)
    from .layers import IN_PIXELS_KEY, PIXEL_SIZE_KEY, layer_pixel_size_um, pixel_placement

    stored = read.recorded
    half = read.pixel_size_um / 2.0
    shapes: list[np.ndarray] = []
    rows: list[dict] = []
    types: list[str] = []
    for f in read.rois:
        parts = f.roi.polygons
        for k, (ring, holes) in enumerate(parts):
            row = {c: f.results.get(c, RESULT_DEFAULTS[c]) for c in RESULT_FIELDS}
            name = f.name if len(parts) == 1 else f"{f.name} [{k + 1}]"
            row[NAME_COLUMN] = name if f.named else ""
            row[CLASS_COLUMN] = f.classification or ""
            row[COLOR_COLUMN] = f.color or ""
            row[ID_COLUMN] = (f.id or "") if k == 0 else ""
            row[HOLES_COLUMN] = holes_to_json([h - half for h in holes])
            shapes.append(ring - half)
            rows.append(row)
            types.append("polygon")
    for m in read.paths:  # lines (e.g. a path along the cortex for the Borders dock)
        row = {c: RESULT_DEFAULTS[c] for c in RESULT_FIELDS}
        row.update({NAME_COLUMN: m.name, CLASS_COLUMN: m.classification or ""})
        row.update({COLOR_COLUMN: m.color or "", ID_COLUMN: "", HOLES_COLUMN: ""})
        shapes.append(m.vertices - half)
        rows.append(row)
        types.append("path")
    columns = [*RESULT_FIELDS, NAME_COLUMN, CLASS_COLUMN, COLOR_COLUMN, ID_COLUMN, HOLES_COLUMN]
    features = {k: [r[k] for r in rows] for k in columns}
    meta = {
        "name": Path(path).stem,
        "shape_type": types,
        "features": features,
        "edge_width": 20.0 if stored else 10.0,
        "face_color": "transparent",
        "metadata": {
            PIXEL_SIZE_KEY: read.pixel_size_um if stored else None,
            "cytowords_roi_layer": True,
            IN_PIXELS_KEY: not stored,
        },
    }
    if stored:  # µm from the section's corner: over the image's translate, if any
        meta["units"] = ("µm", "µm")
        if image is not None:
            meta["translate"] = pixel_placement(image)["translate"]
    elif image is not None:
        meta.update(pixel_placement(image))
        meta["metadata"][IN_PIXELS_KEY] = False
        meta["metadata"][PIXEL_SIZE_KEY] = layer_pixel_size_um(image)
    return (shapes, meta, "shapes")
