"""npe2 writers: described ROIs to QuPath GeoJSON and CSV (atomic writes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..describe.export import RESULT_FIELDS, results_to_csv, rois_to_geojson, write_geojson
from ._shapes import layer_polygons_um


def _polygons_and_results(data: Any, meta: dict) -> tuple[list[np.ndarray], list[dict]]:
    types = meta.get("shape_type") or ["polygon"] * len(data)
    polys = layer_polygons_um(data, types, meta.get("scale", (1, 1)), meta.get("translate", (0, 0)))
    feats = meta.get("features")
    rows: list[dict] = []
    for i in range(len(data)):
        row = {}
        if feats is not None and len(feats) > i:
            for k in RESULT_FIELDS:
                if k in feats.columns:
                    v = feats[k].iloc[i]
                    row[k] = v.item() if isinstance(v, np.generic) else v
        rows.append(row)
    keep = [i for i, p in enumerate(polys) if p is not None]
    return [polys[i] for i in keep], [rows[i] for i in keep]


def _pixel_size(meta: dict) -> float:
    md = meta.get("metadata") or {}
    ps = md.get("cytowords_pixel_size_um")
    if ps:
        return float(ps)
    return 1.0  # µm coordinates written as-is: 1 "pixel" = 1 µm


def write_shapes_geojson(path: str, data: Any, meta: dict) -> list[str]:
    """Write a Shapes layer with its description features as QuPath GeoJSON."""
    polys, rows = _polygons_and_results(data, meta)
    md = meta.get("metadata") or {}
    gj = rois_to_geojson(
        polys, rows, pixel_size_um=_pixel_size(meta), colors=md.get("cytowords_colors")
    )
    return [str(write_geojson(path, gj))]


def write_shapes_csv(path: str, data: Any, meta: dict) -> list[str]:
    """Write a Shapes layer's ROIs and their description features as CSV."""
    polys, rows = _polygons_and_results(data, meta)
    return [str(atomic_write_text(path, results_to_csv(polys, rows)))]
