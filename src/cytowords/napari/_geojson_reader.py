"""npe2 reader for GeoJSON ROIs (ours or QuPath's) as a Shapes layer with results."""

from __future__ import annotations

import json
from pathlib import Path

from ..describe.export import RESULT_FIELDS, geojson_to_rois


def napari_get_geojson_reader(path: str | list[str]):
    """Return a reader for a ``.geojson`` file, or None for anything else."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if not str(path).lower().endswith(".geojson") or not Path(path).is_file():
        return None
    return read_geojson


def read_geojson(path: str | list[str]) -> list[tuple]:
    """Read polygons (µm) and description results into a Shapes layer data tuple."""
    if isinstance(path, list):
        path = path[0]
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read GeoJSON ({exc})") from exc
    # ours record their pixel size (shapes in µm); QuPath's count the image's pixels: the
    # layer keeps pixel coordinates and is placed over the image by the Describe widget
    stored = (obj.get("properties") or {}).get("pixel_size_um") if isinstance(obj, dict) else None
    polys, results, ps = geojson_to_rois(obj, pixel_size_um=1.0, source=str(path))
    features = {k: [r.get(k) for r in results] for k in RESULT_FIELDS}
    meta = {
        "name": Path(path).stem,
        "shape_type": "polygon",
        "features": features,
        "edge_width": 20.0 if stored else 10.0,
        "face_color": "transparent",
        "metadata": {
            "cytowords_pixel_size_um": ps if stored else None,
            "cytowords_roi_layer": True,
            "cytowords_in_image_pixels": not stored,
        },
    }
    return [(polys, meta, "shapes")]
