"""Export described ROIs: GeoJSON that QuPath reads, and CSV.

ROIs are polygons in µm, ``(y, x)`` order. QuPath expects coordinates in pixels of the full
resolution image, ``[x, y]`` order, closed rings, ``objectType: "annotation"`` and a
``classification`` with a name and an RGB colour; numbers go to ``measurements``. We write
pixels (``pixel_size_um`` given) and keep the µm size in the collection's properties so the
file reads back exactly.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text

#: result columns, in export order
RESULT_FIELDS = (
    "area",
    "area_name",
    "probability",
    "rejected",
    "ood_score",
    "caption",
    "alternatives",
)
_NUMERIC = ("probability", "ood_score")


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
    }


def _hex_to_rgb(color: str) -> list[int]:
    c = color.lstrip("#")
    return [int(c[i : i + 2], 16) for i in (0, 2, 4)]


def _clean(value: Any) -> Any:
    """JSON-safe scalar (numpy -> python, NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def rois_to_geojson(
    polygons_um: Sequence[np.ndarray],
    results: Sequence[Mapping[str, Any]],
    *,
    pixel_size_um: float,
    colors: Mapping[str, str] | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build a QuPath-compatible GeoJSON FeatureCollection.

    Args:
        polygons_um: per ROI an ``(N, 2)`` array of ``(y, x)`` vertices in µm.
        results: per ROI a mapping with (some of) :data:`RESULT_FIELDS`.
        pixel_size_um: µm per pixel of the full-resolution image (QuPath's coordinates).
        colors: area id -> ``#rrggbb`` for the classification colour.
        names: per ROI its annotation name (default ``ROI 1``, ``ROI 2``...).
    """
    if len(polygons_um) != len(results):
        raise ValueError(f"{len(polygons_um)} polygons but {len(results)} results")
    if not pixel_size_um or pixel_size_um <= 0:
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um}")
    colors = colors or {}
    feats = []
    for i, (poly, res) in enumerate(zip(polygons_um, results)):
        v = np.asarray(poly, dtype=float)
        ring = [[float(x / pixel_size_um), float(y / pixel_size_um)] for y, x in v]
        ring.append(ring[0])
        name = names[i] if names is not None and i < len(names) else f"ROI {i + 1}"
        props: dict[str, Any] = {"objectType": "annotation", "name": name}
        area = res.get("area")
        if area:
            cls = {"name": str(area)}
            if area in colors:
                cls["color"] = _hex_to_rgb(colors[area])
            props["classification"] = cls
        props["measurements"] = {
            k: _clean(res[k]) for k in _NUMERIC if k in res and _clean(res[k]) is not None
        }
        for k in RESULT_FIELDS:
            if k in res:
                props[k] = _clean(res[k])
        feats.append(
            {
                "type": "Feature",
                "id": f"cytowords-roi-{i + 1}",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": props,
            }
        )
    return {
        "type": "FeatureCollection",
        "properties": {"generator": "napari-cytowords", "pixel_size_um": pixel_size_um},
        "features": feats,
    }


def geojson_to_rois(
    obj: Mapping[str, Any], *, pixel_size_um: float | None = None, source: str = "GeoJSON"
) -> tuple[list[np.ndarray], list[dict[str, Any]], float]:
    """Read polygons (µm, ``(y, x)``) and results back from a GeoJSON object.

    The pixel size comes from the collection's properties (written by us), else from
    ``pixel_size_um`` (e.g. the image's, for QuPath files, which count its pixels).
    Non-polygon features are skipped. Each result also carries the feature's ``name``
    when it has one.
    """
    if obj.get("type") != "FeatureCollection" or not isinstance(obj.get("features"), list):
        raise ValueError(f"{source}: not a GeoJSON FeatureCollection")
    ps = (obj.get("properties") or {}).get("pixel_size_um") or pixel_size_um
    if not ps:
        raise ValueError(f"{source}: no pixel size in the file; pass pixel_size_um (µm per pixel)")
    polys, results = [], []
    for f in obj["features"]:
        geom = f.get("geometry") or {}
        if geom.get("type") != "Polygon" or not geom.get("coordinates"):
            continue
        ring = np.asarray(geom["coordinates"][0], dtype=float)
        if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
            ring = ring[:-1]
        polys.append(ring[:, ::-1] * float(ps))
        props = f.get("properties") or {}
        res = {k: props[k] for k in RESULT_FIELDS if k in props}
        if isinstance(props.get("name"), str):
            res["name"] = props["name"]
        if "area" not in res and isinstance(props.get("classification"), dict):
            res["area"] = props["classification"].get("name")
        results.append(res)
    return polys, results, float(ps)


def write_geojson(path: str | os.PathLike, collection: Mapping[str, Any]) -> Path:
    """Write a GeoJSON object atomically."""
    return atomic_write_text(path, json.dumps(collection, indent=1, ensure_ascii=False))


def results_to_csv(polygons_um: Sequence[np.ndarray], results: Sequence[Mapping[str, Any]]) -> str:
    """CSV text: one row per ROI with its centroid/area in µm and the result fields."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["roi", "centroid_y_um", "centroid_x_um", "area_um2", *RESULT_FIELDS])
    for i, (poly, res) in enumerate(zip(polygons_um, results)):
        v = np.asarray(poly, dtype=float)
        y, x = v[:, 0], v[:, 1]
        a = abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2.0
        c = v.mean(axis=0)
        row = [i + 1, f"{c[0]:.1f}", f"{c[1]:.1f}", f"{a:.0f}"]
        row += ["" if _clean(res.get(k)) is None else _clean(res.get(k)) for k in RESULT_FIELDS]
        w.writerow(row)
    return buf.getvalue()
