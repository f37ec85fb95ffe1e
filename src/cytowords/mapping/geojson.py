"""Area maps as QuPath annotations: one GeoJSON polygon per connected piece of each area.

An :class:`~cytowords.mapping.AreaMap` is a raster of tiles. QuPath (and GIS
tools) want outlines: each connected piece of tiles accepted as one area becomes a polygon
(with holes where other areas or rejected tiles lie inside it), classified by the area's id
and atlas colour, with its size and mean probability as measurements. Rejected tiles become
pieces of the classes ``Rejected: not a known area`` and ``Rejected: no cortex``.

Outlines follow the tile raster through the tile-edge midpoints (marching squares at
iso-level 0.5: a staircase with its corners cut), so a piece's polygon differs from its tiles
by less than half a tile. Coordinates are pixels of the full-resolution section image,
``[x, y]``, as QuPath and :mod:`cytowords.describe.export` use them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from skimage.measure import find_contours, points_in_poly

from ..colours import hex_to_rgb
from ..slide_reading import EXPORT_KEY

REJECTED_UNKNOWN = "Rejected: not a known area"
REJECTED_NO_CORTEX = "Rejected: no cortex"
_REJECT_COLORS = {REJECTED_UNKNOWN: "#ff00ff", REJECTED_NO_CORTEX: "#808080"}


def _signed_area(ring: np.ndarray) -> float:
    y, x = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def mask_polygons(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[int, np.ndarray, list]]]:
    """Outlines of the 4-connected pieces of a boolean raster.

    Returns ``(pieces, outlines)``: ``pieces`` labels each piece 1, 2, ...; ``outlines``
    holds per piece ``(piece label, exterior, holes)``, closed rings ``(N, 2)`` of
    ``(row, col)`` in pixel-centre coordinates (pixel ``(i, j)`` spans ``(i, j) ± 0.5``)."""
    pieces, _ = ndimage.label(mask)
    out = []
    for k, sl in enumerate(ndimage.find_objects(pieces), start=1):
        if sl is None:
            continue
        if sl[0].stop - sl[0].start == 1 and sl[1].stop - sl[1].start == 1:
            i, j = sl[0].start, sl[1].start  # one tile (common: isolated rejected tiles)
            out.append(
                (
                    k,
                    np.array(
                        [[i - 0.5, j], [i, j + 0.5], [i + 0.5, j], [i, j - 0.5], [i - 0.5, j]]
                    ),
                    [],
                )
            )
            continue
        sub = np.pad(pieces[sl] == k, 1)
        off = np.array([sl[0].start - 1, sl[1].start - 1], dtype=float)
        rings = [c + off for c in find_contours(sub.astype(float), 0.5) if len(c) >= 4]
        if not rings:
            continue
        areas = [_signed_area(r) for r in rings]
        outer = int(np.argmax(np.abs(areas)))
        sign = np.sign(areas[outer])
        holes = [
            r
            for i, r in enumerate(rings)
            if i != outer and np.sign(areas[i]) != sign and points_in_poly(r[:1], rings[outer])[0]
        ]
        out.append((k, rings[outer], holes))
    return pieces, out


def _ring_px(
    ring: np.ndarray, origin_um, tile_um: float, image_px_um: float, shape_px=None
) -> list[list]:
    """Pixel-centre map coordinates -> ``[x, y]`` full-resolution image pixels, closed,
    clamped to the image (``shape_px`` ``(h, w)``) where given."""
    yx = (np.asarray(origin_um, dtype=float) + (ring + 0.5) * tile_um) / image_px_um
    if shape_px is not None:
        yx = np.clip(yx, 0.0, np.asarray(shape_px, dtype=float))
    pts = [[round(float(x), 2), round(float(y), 2)] for y, x in yx]
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    return pts


def area_map_to_geojson(
    area_map: Any,
    *,
    image_pixel_size_um: float,
    image_shape_px: tuple[int, int] | None = None,
    include_rejected: bool = True,
    slide: str | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``area_map``'s areas (QuPath annotations).

    Args:
        area_map: an :class:`~cytowords.mapping.AreaMap`.
        image_pixel_size_um: µm per pixel of the full-resolution section image, whose
            pixels the coordinates count (QuPath's convention).
        image_shape_px: ``(height, width)`` of that image: outlines are clamped to it
            (edge tiles reach up to a tile beyond the section).
        include_rejected: also outline rejected tiles (two classes, see module doc).
        slide: how the section's slide was read (:mod:`cytowords.slide_reading`), kept in
            the collection's properties beside the pixel size (None: not said).

    Each feature: ``objectType: annotation``, ``classification`` (area id and colour),
    ``name`` (area name), ``measurements`` (``area_mm2``, ``tiles``,
    ``mean_probability``)."""
    if not image_pixel_size_um or image_pixel_size_um <= 0:
        raise ValueError(f"image_pixel_size_um must be positive, got {image_pixel_size_um}")
    am = area_map
    tile = float(am.pixel_size_um)
    rejected = np.asarray(am.rejected, bool)
    no_cortex = np.zeros_like(rejected) if am.no_cortex is None else np.asarray(am.no_cortex)
    labels = np.asarray(am.labels)
    classes: list[tuple[str, str, str, np.ndarray]] = []
    for v in sorted(int(x) for x in np.unique(labels) if x != 0):
        aid, name, color = am.area_table.get(v, (str(v), str(v), "#999999"))
        classes.append((aid, name, color, (labels == v) & ~rejected))
    if include_rejected:
        on = labels > 0
        classes.append(
            (
                REJECTED_UNKNOWN,
                REJECTED_UNKNOWN,
                _REJECT_COLORS[REJECTED_UNKNOWN],
                on & rejected & ~no_cortex,
            )
        )
        classes.append(
            (
                REJECTED_NO_CORTEX,
                REJECTED_NO_CORTEX,
                _REJECT_COLORS[REJECTED_NO_CORTEX],
                on & rejected & no_cortex,
            )
        )
    prob = np.asarray(am.probability, dtype=float)
    feats = []
    for aid, name, color, mask in classes:
        if not mask.any():
            continue
        pieces, outlines = mask_polygons(mask)
        # tiles and summed probability per piece in one pass (not one mask per piece: a
        # map can have many thousand one-tile pieces)
        counts = np.bincount(pieces.ravel())
        sums = np.bincount(pieces.ravel(), weights=prob.ravel())
        for k, ext, holes in outlines:
            rings = [
                _ring_px(r, am.origin_um, tile, image_pixel_size_um, image_shape_px)
                for r in (ext, *holes)
            ]
            n = int(counts[k])
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": rings},
                    "properties": {
                        "objectType": "annotation",
                        "name": f"{name} ({k})" if aid == name else f"{aid} {k}: {name}",
                        "classification": {"name": aid, "color": hex_to_rgb(color)},
                        "measurements": {
                            "area_mm2": round(n * tile * tile / 1e6, 4),
                            "tiles": n,
                            "mean_probability": round(float(sums[k] / n), 4) if n else None,
                        },
                    },
                }
            )
    props: dict[str, Any] = {
        "cytowords": "area map",
        "tile_um": tile,
        "pixel_size_um": float(image_pixel_size_um),
    }
    if slide:
        props[EXPORT_KEY] = slide
    return {"type": "FeatureCollection", "features": feats, "properties": props}
