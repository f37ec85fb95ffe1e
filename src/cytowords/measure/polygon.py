"""The region as a polygon in µm: validation and rasterisation onto a window's pixel grid."""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon2mask

from ..regions.roi import ring_area
from .errors import MeasureError


def as_vertices(vertices_um) -> np.ndarray:
    """Validated ``(N, 2)`` float array of ``(y, x)`` polygon vertices in µm.

    Raises :class:`MeasureError` for fewer than 3 finite vertices or a polygon without area.
    """
    v = np.asarray(vertices_um, dtype=float)
    if v.ndim != 2 or v.shape[1] != 2:
        raise MeasureError(f"ROI vertices must be an (N, 2) array of (y, x) µm, got {v.shape}")
    if len(v) < 3 or not np.all(np.isfinite(v)):
        raise MeasureError("ROI is empty: a polygon needs at least 3 finite vertices")
    if ring_area(v) <= 0:
        raise MeasureError("ROI is empty: the polygon has no area (all vertices on a line)")
    return v


def polygon_mask(
    v: np.ndarray, origin_um: tuple[float, float], shape: tuple[int, int], pixel_um: float
) -> np.ndarray:
    """Pixels (centres) of a ``shape`` grid with top-left corner ``origin_um`` inside ``v``."""
    pts = (v - np.asarray(origin_um)) / pixel_um - 0.5
    return polygon2mask(shape, pts)
