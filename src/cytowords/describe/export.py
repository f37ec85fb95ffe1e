"""Export described ROIs: GeoJSON that QuPath reads, and CSV.

ROIs are polygons in µm, ``(y, x)`` order (arrays, or :class:`~cytowords.regions.roi.Roi`
with holes and parts). QuPath 0.4+ expects coordinates in pixels of the full resolution
image, ``[x, y]`` order, closed rings (holes as further rings of a Polygon, several pieces as
a MultiPolygon), a UUID ``id``, ``objectType: "annotation"``, a ``name`` and a
``classification`` with a name and an RGB colour; numbers go to ``measurements`` and text to
``metadata`` (which QuPath 0.5+ keeps). We write pixels (``pixel_size_um`` given) and keep
the µm size in the collection's properties so the file reads back exactly, with how the
section's slide was read (``slide``: :mod:`cytowords.slide_reading`; a CSV has it as a last
column). Reading is :mod:`.geojson`.
"""

from __future__ import annotations

import colorsys
import csv
import io
import json
import math
import os
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..colours import hex_to_rgb
from ..regions.geojson import NUMERIC_FIELDS, RESULT_FIELDS
from ..regions.roi import Roi, ring_area
from ..slide_reading import EXPORT_KEY


def alternatives_text(top_k: Sequence[tuple[str, float]], area: str) -> str:
    """The next most probable areas besides ``area``, e.g. ``"4a 38%, 6d1 3%"`` (for a
    rejected region: the nearest known areas)."""
    return ", ".join(f"{a} {p:.0%}" for a, p in top_k if a != area)


def description_row(res: Any) -> dict[str, Any]:
    """The :data:`RESULT_FIELDS` of a :class:`~cytowords.describe.RegionDescription`."""
    return {
        "area": res.area,
        "area_name": res.area_name,
        "probability": float(res.probability),
        "rejected": bool(res.rejected),
        "ood_score": float(res.ood_score),
        "caption": res.caption,
        "alternatives": alternatives_text(res.top_k, res.area),
        # why a ROI was rejected other than by the model, and the warnings for the user
        "note": "; ".join(t for t in (res.rejection_reason, res.note) if t),
        **measured_columns(getattr(res, "measurements", {}), getattr(res, "statements", [])),
    }


def measured_columns(measurements: Mapping[str, Any], statements: Sequence[str]) -> dict[str, Any]:
    """The readout's export columns: ``measured`` (its statements, space-joined),
    ``thickness_mm`` (median cortical thickness, mm) and ``layer_iv`` (1 an inner granular
    layer IV is shown, NaN undecided or not measured; older readouts: 0 none)."""
    thick = (measurements.get("thickness_mm") or {}).get("median")
    layers = measurements.get("layers") or {}
    iv = layers.get("iv_present")
    return {
        "measured": " ".join(statements),
        "thickness_mm": float(thick) if thick is not None else math.nan,
        "layer_iv": float(bool(iv)) if iv is not None else math.nan,
    }


#: the colour of the class of a region that matches no known area (``__none__``)
NONE_COLOR = "#808080"


def class_colors(
    names: Iterable[str | None], colors: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``colors`` (class name -> ``#rrggbb``) completed with a colour for every class in
    ``names`` that has none: QuPath's GeoJSON import refuses the whole file when one
    classification has a name but no colour (``PathClassTypeAdapter``: "Unable to parse
    PathClass"), as for a class a Fiji file or napari gave without a colour, an area of a
    taught model (not in the atlas) or a region that matches no known area (grey). A
    derived colour depends on the name only."""
    out = dict(colors or {})
    for name in names:
        if not name or name in out:
            continue
        if name == "__none__":
            out[name] = NONE_COLOR
            continue
        hue = (zlib.crc32(str(name).encode("utf-8")) % 360) / 360.0
        r, g, b = (round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.65, 0.85))
        out[name] = f"#{r:02x}{g:02x}{b:02x}"
    return out


def _clean(value: Any) -> Any:
    """JSON-safe scalar (numpy -> python, NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _ring_px(ring: np.ndarray, pixel_size_um: float) -> list[list[float]]:
    """A ``(y, x)`` µm ring as a closed GeoJSON ring of ``[x, y]`` pixels."""
    out = [[float(x / pixel_size_um), float(y / pixel_size_um)] for y, x in ring]
    return [*out, out[0]]


def roi_geometry(roi: np.ndarray | Roi, pixel_size_um: float) -> dict[str, Any]:
    """GeoJSON geometry (pixels) of a ROI: a Polygon with its holes, or a MultiPolygon when
    the ROI has several parts."""
    polys = roi.polygons if isinstance(roi, Roi) else [(np.asarray(roi, dtype=float), ())]
    rings = [
        [_ring_px(v, pixel_size_um), *(_ring_px(h, pixel_size_um) for h in holes)]
        for v, holes in polys
    ]
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": rings[0]}
    return {"type": "MultiPolygon", "coordinates": rings}


def _feature_id(fid: str | None) -> str:
    """The feature's QuPath UUID when it has one (QuPath keeps its object), else a new one."""
    try:
        return str(uuid.UUID(str(fid)))
    except ValueError:
        return str(uuid.uuid4())


def rois_to_geojson(
    polygons_um: Sequence[np.ndarray | Roi],
    results: Sequence[Mapping[str, Any]],
    *,
    pixel_size_um: float,
    colors: Mapping[str, str] | None = None,
    names: Sequence[str] | None = None,
    classes: Sequence[str | None] | None = None,
    ids: Sequence[str | None] | None = None,
    slide: str | None = None,
) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection that QuPath 0.4+ imports as annotations.

    Args:
        polygons_um: per ROI an ``(N, 2)`` array of ``(y, x)`` vertices in µm, or a
            :class:`Roi` (holes and parts written as Polygon rings / MultiPolygon).
        results: per ROI a mapping with (some of) :data:`RESULT_FIELDS`.
        pixel_size_um: µm per pixel of the full-resolution image (QuPath's coordinates).
        colors: class name (area id or the user's class) -> ``#rrggbb`` colour.
        names: per ROI its annotation name, "" for an unnamed one (default: the Roi's
            name); an unnamed ROI is written without ``name``, as QuPath writes it.
        classes: per ROI the user's classification (e.g. QuPath's ``L1``), kept as the
            annotation's class; ROIs without one are classified by their described area.
        ids: per ROI the QuPath object UUID read from the input (kept), else a new UUID.
        slide: how the section's slide was read (:func:`cytowords.slide_reading.slide_reading`),
            kept in the collection's properties beside the pixel size (None: not said).
    """
    if len(polygons_um) != len(results):
        raise ValueError(f"{len(polygons_um)} polygons but {len(results)} results")
    if not pixel_size_um or pixel_size_um <= 0:
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um}")
    colors = colors or {}
    feats = []
    for i, (poly, res) in enumerate(zip(polygons_um, results)):
        if names is not None:
            name = names[i] if i < len(names) else ""
        else:
            name = poly.name if isinstance(poly, Roi) else ""
        props: dict[str, Any] = {"objectType": "annotation"}
        if name:
            props["name"] = name
        user_cls = classes[i] if classes is not None and i < len(classes) else None
        cls_name = user_cls or res.get("area")
        if cls_name:
            cls: dict[str, Any] = {"name": str(cls_name)}
            if cls_name in colors:
                cls["color"] = hex_to_rgb(colors[cls_name])
            props["classification"] = cls
        props["measurements"] = {
            k: _clean(res[k]) for k in NUMERIC_FIELDS if k in res and _clean(res[k]) is not None
        }
        text = {
            k: str(res[k]).lower() if isinstance(res[k], (bool, np.bool_)) else str(res[k])
            for k in RESULT_FIELDS
            if k not in NUMERIC_FIELDS and _clean(res.get(k)) is not None
        }
        if text:
            props["metadata"] = text
        for k in RESULT_FIELDS:
            if k in res:
                props[k] = _clean(res[k])
        fid = ids[i] if ids is not None and i < len(ids) else None
        feats.append(
            {
                "type": "Feature",
                "id": _feature_id(fid),
                "geometry": roi_geometry(poly, pixel_size_um),
                "properties": props,
            }
        )
    props = {"generator": "napari-cytowords", "pixel_size_um": pixel_size_um}
    if slide:
        props[EXPORT_KEY] = slide
    return {"type": "FeatureCollection", "properties": props, "features": feats}


def write_geojson(path: str | os.PathLike, collection: Mapping[str, Any]) -> Path:
    """Write a GeoJSON object atomically."""
    return atomic_write_text(path, json.dumps(collection, indent=1, ensure_ascii=False))


def results_to_csv(
    polygons_um: Sequence[np.ndarray | Roi],
    results: Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str] | None = None,
    classes: Sequence[str | None] | None = None,
    slide: str | None = None,
) -> str:
    """CSV text: one row per ROI with its name, the user's class, its centroid and area
    (holes excluded) in µm and the result fields; with ``slide`` (how the section's slide
    was read, :func:`cytowords.slide_reading.slide_reading`) a last column holding it."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["roi", "name", "classification", "centroid_y_um", "centroid_x_um", "area_um2"]
        + list(RESULT_FIELDS)
        + ([EXPORT_KEY] if slide else [])
    )
    for i, (poly, res) in enumerate(zip(polygons_um, results)):
        roi = poly if isinstance(poly, Roi) else None
        if roi is not None:
            a, c = roi.area_um2, roi.centroid
        else:
            a, c = ring_area(poly), np.asarray(poly, dtype=float).mean(axis=0)
        name = names[i] if names is not None and i < len(names) else None
        name = name or (roi.name if roi is not None else "")
        cls = classes[i] if classes is not None and i < len(classes) else None
        row = [i + 1, name, cls or "", f"{c[0]:.1f}", f"{c[1]:.1f}", f"{a:.0f}"]
        row += ["" if _clean(res.get(k)) is None else _clean(res.get(k)) for k in RESULT_FIELDS]
        w.writerow(row + ([slide] if slide else []))
    return buf.getvalue()
