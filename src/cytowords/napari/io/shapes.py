"""Shapes-layer geometry in physical units: the bridge between napari ROIs and the core.

napari stores shapes in data coordinates; world = data * scale + translate. Our images carry
their scale in µm, and so do the ROI layers we create, so world coordinates are µm. Only the
last two axes (y, x) are used.

Section coordinates (the core's, and the files': QuPath's and ImageJ's pixels times the
pixel size) count from the image's top-left pixel *corner*; napari centres pixel ``j`` on
``j * scale + translate``, so ``section = world - translate + pixel size / 2``
(:func:`section_offset`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from ...regions.roi import Roi, RoiError

#: shape types that enclose a region and can be described
AREA_SHAPES = ("rectangle", "polygon", "ellipse")


def ellipse_to_polygon(corners: np.ndarray, n: int = 48) -> np.ndarray:
    """Polygon approximating napari's ellipse given by its 4 bounding-box corners."""
    c = corners.mean(axis=0)
    a = (corners[1] - corners[0]) / 2.0
    b = (corners[3] - corners[0]) / 2.0
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)[:, None]
    return c + np.cos(t) * a + np.sin(t) * b


def shape_to_polygon_um(
    data: np.ndarray, shape_type: str, scale: Sequence[float], translate: Sequence[float]
) -> np.ndarray | None:
    """``(N, 2)`` polygon ``(y, x)`` in µm of one shape, or None for lines and paths."""
    if shape_type not in AREA_SHAPES:
        return None
    v = np.asarray(data, dtype=float)[:, -2:]
    v = v * np.asarray(scale, dtype=float)[-2:] + np.asarray(translate, dtype=float)[-2:]
    if shape_type == "ellipse":
        v = ellipse_to_polygon(v)
    return v


def layer_polygons_um(
    data: Sequence[np.ndarray],
    shape_types: Sequence[str],
    scale: Sequence[float],
    translate: Sequence[float],
) -> list[np.ndarray | None]:
    """Polygons in µm for all shapes of a layer (None where a shape encloses no region)."""
    return [shape_to_polygon_um(d, t, scale, translate) for d, t in zip(data, shape_types)]


def section_offset(translate: Sequence[float], pixel_size_um: float) -> np.ndarray:
    """``(dy, dx)`` µm to add to world coordinates to get section µm, over an image of
    ``translate`` (its last two axes) and ``pixel_size_um`` µm per pixel: napari centres
    pixel ``j`` on ``j * pixel size + translate``, section coordinates count from the
    top-left pixel's corner."""
    return -np.asarray(translate, dtype=float)[-2:] + float(pixel_size_um) / 2.0


def polygon_um_to_data(
    poly_um: np.ndarray, scale: Sequence[float], translate: Sequence[float]
) -> np.ndarray:
    """Inverse of :func:`shape_to_polygon_um` for a 2D layer."""
    s = np.asarray(scale, dtype=float)[-2:]
    t = np.asarray(translate, dtype=float)[-2:]
    return (np.asarray(poly_um, dtype=float) - t) / s


#: feature columns of a ROI layer that carry what a Shapes layer cannot hold itself: the
#: annotation's name, its (QuPath) class and colour, its QuPath object id, and its holes
NAME_COLUMN = "name"
CLASS_COLUMN = "classification"
COLOR_COLUMN = "color"
ID_COLUMN = "object_id"
#: a shape's holes: JSON list of rings, each a list of ``[y, x]`` in the layer's data
#: coordinates (napari cannot draw holes; describing and saving the layer honour them)
HOLES_COLUMN = "holes"


def holes_to_json(rings: Sequence[np.ndarray]) -> str:
    """The ``holes`` column value of rings ``(K, 2)`` in data coordinates ("" for none)."""
    if not len(rings):
        return ""
    return json.dumps([np.round(np.asarray(r, dtype=float), 6).tolist() for r in rings])


def holes_um(text: object, scale: Sequence[float], translate: Sequence[float]) -> list[np.ndarray]:
    """Holes ``(K, 2)`` ``(y, x)`` µm of a ``holes`` column value (none if it is empty or not
    a list of rings)."""
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        rings = [np.asarray(r, dtype=float) for r in json.loads(text)]
    except (ValueError, TypeError):
        return []
    s = np.asarray(scale, dtype=float)[-2:]
    t = np.asarray(translate, dtype=float)[-2:]
    return [r * s + t for r in rings if r.ndim == 2 and r.shape[1] == 2 and len(r) >= 3]


def shape_roi(poly_um: np.ndarray, holes: Sequence[np.ndarray], name: str = "") -> Roi:
    """The :class:`Roi` of a shape (µm) with its holes; holes that no longer fit the outline
    (the shape was edited after they were read) are dropped. Raises RoiError for a
    degenerate outline."""
    try:
        return Roi(poly_um, name=name, holes=tuple(holes))
    except RoiError:
        if not len(holes):
            raise
        return Roi(poly_um, name=name)
