"""npe2 writer: an area-map Labels layer (from the Area map widget) to OME-Zarr, atomically.

Also :func:`write_area_map_geojson`: the map's areas as QuPath annotations (GeoJSON).
The store holds ``labels/areas`` (with the area table as NGFF properties/colours),
``labels/rejected``, ``probability`` and ``ood_score`` (see
:func:`cytowords.mapping.write_area_map`). The image is the probability map
(uint8), as the section itself is not part of the layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _area_map(path: str, data: Any, meta: dict):
    """The :class:`AreaMap` an area-map Labels layer (``data``, ``meta``) carries."""
    from ...mapping import AreaMap

    md = meta.get("metadata") or {}
    if not md.get("cytowords_area_map"):
        raise ValueError(
            f"{path}: layer {meta.get('name')!r} is not an area map made by the Area map "
            "widget; save plain label layers with napari's own writers"
        )
    labels = np.asarray(data, dtype=np.int32)
    zeros = np.zeros(labels.shape, dtype=np.float32)
    return AreaMap(
        labels=labels,
        probability=np.asarray(md.get("probability", zeros), dtype=np.float32),
        ood_score=np.asarray(md.get("ood_score", zeros), dtype=np.float32),
        rejected=np.asarray(md.get("rejected", zeros), dtype=bool),
        no_cortex=None if md.get("no_cortex") is None else np.asarray(md["no_cortex"], bool),
        pixel_size_um=float(md["pixel_size_um"]),
        origin_um=tuple(float(v) for v in md["origin_um"]),
        area_table={int(k): tuple(v) for k, v in (md.get("area_table") or {}).items()},
    )


def write_area_map_zarr(path: str, data: Any, meta: dict) -> list[str]:
    """Write an area-map Labels layer as OME-Zarr at ``path`` (a new ``*.zarr`` folder)."""
    from ...mapping import write_area_map

    amap = _area_map(path, data, meta)
    # the layer's own placement: opened again (with the section where it was), it lies
    # where it was computed
    translate = meta.get("translate")
    where = None if translate is None else tuple(float(v) for v in list(translate)[-2:])
    return [str(write_area_map(path, amap, translation_um=where))]


def write_area_map_geojson(path: str, data: Any, meta: dict) -> list[str]:
    """Write an area-map Labels layer as QuPath GeoJSON: one annotation per connected
    piece of each area (and of rejected tiles), in the section's full-resolution pixels
    (:func:`cytowords.mapping.area_map_to_geojson`); atomic."""
    from ...describe.export import write_geojson
    from ...mapping import area_map_to_geojson

    amap = _area_map(path, data, meta)
    px = (meta.get("metadata") or {}).get("section_pixel_size_um")
    if not px:
        raise ValueError(
            f"{path}: layer {meta.get('name')!r} does not record its section's pixel size "
            "(made by an older version): compute the area map again, or save it as OME-Zarr"
        )
    shape = (meta.get("metadata") or {}).get("section_shape_px")
    gj = area_map_to_geojson(
        amap, image_pixel_size_um=float(px), image_shape_px=None if shape is None else tuple(shape)
    )
    return [str(write_geojson(path, gj))]
