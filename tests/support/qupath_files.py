"""Write GeoJSON exactly the way QuPath's *Export objects as GeoJSON* writes it.

QuPath 0.3 (Gson, default serialisation of PathClass): a top-level **list** of features
(no FeatureCollection option), ``"id": "PathAnnotationObject"``, ``"object_type"``,
``classification: {"name", "colorRGB"}`` with ``colorRGB`` a packed signed 32-bit ARGB int,
``isLocked`` always written, measurements as a list of ``{"name", "value"}``.

QuPath 0.5 (``QuPathTypeAdapters``): ``id`` a UUID, ``objectType``, ``name`` when set,
``classification: {"name", "color": [r, g, b]}``, measurements as a map, ``metadata``; a
list by default, a FeatureCollection with "Export as FeatureCollection"; pretty-printed
with two-space indent when asked. Coordinates are ``[x, y]`` full-resolution pixels with
closed rings.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any


def packed_argb(r: int, g: int, b: int, a: int = 255) -> int:
    """QuPath's packed colour: ``(a << 24 | r << 16 | g << 8 | b)`` as a signed 32-bit int."""
    v = (a << 24) | (r << 16) | (g << 8) | b
    return v - (1 << 32) if v >= 1 << 31 else v


def closed(ring: list[list[float]]) -> list[list[float]]:
    """A ring closed the way QuPath writes it (last vertex repeats the first)."""
    return [*ring, ring[0]] if ring[0] != ring[-1] else ring


def feature_v03(
    geometry: dict[str, Any], cls: str | None = None, rgb: tuple[int, int, int] = (255, 0, 0)
) -> dict[str, Any]:
    """A QuPath 0.3 annotation feature (0.3 writes no name unless one is set; classes
    carry their colour as a packed int)."""
    props: dict[str, Any] = {"object_type": "annotation", "isLocked": False}
    if cls is not None:
        props["classification"] = {"name": cls, "colorRGB": packed_argb(*rgb)}
    return {
        "type": "Feature",
        "id": "PathAnnotationObject",
        "geometry": geometry,
        "properties": props,
    }


def feature_v05(
    geometry: dict[str, Any],
    name: str | None = None,
    cls: str | None = None,
    rgb: tuple[int, int, int] = (0, 128, 255),
    object_type: str = "annotation",
) -> dict[str, Any]:
    """A QuPath 0.5 feature (UUID id, ``objectType``, ``classification.color``)."""
    props: dict[str, Any] = {"objectType": object_type}
    if name is not None:
        props["name"] = name
    if cls is not None:
        props["classification"] = {"name": cls, "color": list(rgb)}
    return {"type": "Feature", "id": str(uuid.uuid4()), "geometry": geometry, "properties": props}


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    """A Polygon: exterior ring then holes, ``[x, y]`` pixels."""
    return {"type": "Polygon", "coordinates": [closed(r) for r in rings]}


def rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def write_v03(path: Path, features: list[dict[str, Any]]) -> Path:
    """QuPath 0.3's export: a bare list, compact."""
    path.write_text(json.dumps(features), encoding="utf-8")
    return path


def write_v05(path: Path, features: list[dict[str, Any]], *, collection: bool = True) -> Path:
    """QuPath 0.5's export: a FeatureCollection (or a bare list), pretty-printed."""
    obj: Any = {"type": "FeatureCollection", "features": features} if collection else features
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")
    return path


def tma_core_v05(name: str, cx: float, cy: float, r: float = 300.0) -> dict[str, Any]:
    """A TMA core as QuPath 0.5 exports it after *TMA > TMA dearrayer*: ``objectType``
    ``tma_core``, named by its grid position (``A-1``), ``isMissing``, an ellipse's polygon."""
    t = [2 * math.pi * k / 24 for k in range(24)]
    ring = [[cx + r * math.cos(a), cy + r * math.sin(a)] for a in t]
    feat = feature_v05(polygon(ring), name=name, object_type="tma_core")
    feat["properties"]["isMissing"] = False
    return feat


def tma_core_v03(name: str, cx: float, cy: float, r: float = 300.0) -> dict[str, Any]:
    """A TMA core as QuPath 0.3 exports it (``"id": "TMACoreObject"``, ``object_type``)."""
    feat = tma_core_v05(name, cx, cy, r)
    return {
        "type": "Feature",
        "id": "TMACoreObject",
        "geometry": feat["geometry"],
        "properties": {"object_type": "tma_core", "name": name, "isMissing": False},
    }


def cell_v05(k: int) -> dict[str, Any]:
    """A cell of QuPath 0.5's cell detection (``objectType`` ``cell``, its nucleus's
    geometry, measurements), ~1 kB of JSON like audit2's real-size export."""
    x, y = 100 + 13 * (k % 500), 5000 + 13 * (k // 500)
    cell = feature_v05(polygon(rect(x, y, x + 12, y + 12)), cls="Positive", object_type="cell")
    cell["nucleusGeometry"] = polygon(rect(x + 3, y + 3, x + 9, y + 9))
    cell["properties"]["measurements"] = {
        "Nucleus: Area µm^2": 12.5 + k % 7,
        "Nucleus: Perimeter µm": 13.1,
        "Nucleus: Circularity": 0.91,
        "Nucleus: Hematoxylin OD mean": 0.42,
        "Cell: Area µm^2": 60.0,
        "Cell: Perimeter µm": 30.2,
        "Cytoplasm: Hematoxylin OD mean": 0.12,
        "Nucleus/Cell area ratio": 0.21,
    }
    return cell
