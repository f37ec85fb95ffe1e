"""npe2 reader for region files as a Shapes layer: GeoJSON ROIs (ours, or QuPath's in any
form it writes) and Fiji/ImageJ ROIs (a ``.roi`` file, or a ROI Manager ``RoiSet.zip``; any
other zip is left to other readers).

Each region becomes a polygon shape whose features carry its results (the plugin's files),
its name, QuPath class and colour, QuPath object id, and its holes (napari cannot draw holes:
they live in the ``holes`` column, see :mod:`._shapes`, and describing or saving the layer
honours them). A MultiPolygon annotation becomes one shape per piece, named ``name [k]`` (a
Shapes layer holds one polygon per shape; the pieces are described one by one here). Points
and lines are skipped, with one notification listing what was skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...regions.geojson import RESULT_FIELDS, notes_text, read_region_file
from ...regions.imagej import is_roiset
from ..describe.results import DEFAULTS
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


def read_geojson(path: str | list[str]) -> list[tuple]:
    """Read the regions of a GeoJSON or ImageJ ROI file, with any description results, into
    a Shapes layer data tuple."""
    if isinstance(path, list):
        path = path[0]
    # ours record their pixel size (shapes in µm); QuPath's and ImageJ's count the image's
    # pixels: the layer keeps pixel coordinates and is placed over the image by the Describe
    # widget
    read = read_region_file(path, pixel_size_um=1.0)
    if read.notes:
        from napari.utils.notifications import show_warning

        show_warning("\n".join(notes_text(read.notes)))
    stored = read.recorded
    shapes: list[np.ndarray] = []
    rows: list[dict] = []
    for f in read.rois:
        parts = f.roi.polygons
        for k, (ring, holes) in enumerate(parts):
            row = {c: f.results.get(c, DEFAULTS[c]) for c in RESULT_FIELDS}
            row[NAME_COLUMN] = f.name if len(parts) == 1 else f"{f.name} [{k + 1}]"
            row[CLASS_COLUMN] = f.classification or ""
            row[COLOR_COLUMN] = f.color or ""
            row[ID_COLUMN] = (f.id or "") if k == 0 else ""
            row[HOLES_COLUMN] = holes_to_json(holes)
            shapes.append(ring)
            rows.append(row)
    columns = [*RESULT_FIELDS, NAME_COLUMN, CLASS_COLUMN, COLOR_COLUMN, ID_COLUMN, HOLES_COLUMN]
    features = {k: [r[k] for r in rows] for k in columns}
    meta = {
        "name": Path(path).stem,
        "shape_type": "polygon",
        "features": features,
        "edge_width": 20.0 if stored else 10.0,
        "face_color": "transparent",
        "metadata": {
            "cytowords_pixel_size_um": read.pixel_size_um if stored else None,
            "cytowords_roi_layer": True,
            "cytowords_in_image_pixels": not stored,
        },
    }
    return [(shapes, meta, "shapes")]
