"""An :class:`~cytowords.mapping.AreaMap` as napari layer data (Labels in µm).

The map is at tile resolution (one pixel = one tile, ``pixel_size_um`` µm), so it is small
even for a whole section. Hovering shows the area name: the Labels layer carries
``features`` with an ``index`` column (the label value) plus ``area`` and ``area_name``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.utils.colormaps import DirectLabelColormap

LayerData = tuple[Any, dict[str, Any], str]
#: rejected tiles are painted neutral grey (no area colour is grey): light for cortex of
#: no known area, dark for no cortex at all (white matter, background)
REJECTED_TILE_COLOR = "#d0d0d0"
NO_CORTEX_TILE_COLOR = "#707070"


def _rgba(hex_color: str, alpha: float = 1.0) -> list[float]:
    c = hex_color.lstrip("#")
    return [int(c[i : i + 2], 16) / 255 for i in (0, 2, 4)] + [alpha]


def map_translate(amap, section_to_world: np.ndarray) -> tuple[float, float]:
    """World translate of the map layer: napari centres pixel ``i`` on ``translate + i*s``;
    map pixel ``i`` covers ``origin + [i, i+1) * s`` µm of the section."""
    s = float(amap.pixel_size_um)
    o = np.asarray(amap.origin_um, dtype=float)
    return tuple(float(v) for v in o + s / 2.0 + section_to_world)


def area_map_layers(
    amap,
    section_to_world: np.ndarray,
    name: str = "area map",
    section_pixel_size_um: float | None = None,
    section_shape_px: tuple[int, int] | None = None,
) -> list:
    """``[labels layer data, rejection layer data]`` for ``amap``.

    Args:
        amap: an AreaMap.
        section_to_world: ``(dy, dx)`` µm added to section coordinates to get world ones.
        name: base name of the layers.
        section_pixel_size_um: µm per pixel of the section image (for the GeoJSON writer,
            whose coordinates are the section's full-resolution pixels) and
        section_shape_px: its ``(height, width)`` in pixels (outlines are clamped to it).
    """
    s = float(amap.pixel_size_um)
    translate = map_translate(amap, section_to_world)
    table = dict(amap.area_table)
    present = sorted(int(v) for v in np.unique(amap.labels) if v != 0)
    colors: dict[Any, list[float]] = {None: [0, 0, 0, 0], 0: [0, 0, 0, 0]}
    for v in present:
        colors[v] = _rgba(table[v][2]) if v in table else [0.6, 0.6, 0.6, 1.0]
    values = [0, *present]
    features = {
        "index": values,
        "area": ["", *(table.get(v, (str(v), "", ""))[0] for v in present)],
        "area_name": ["no tissue", *(table.get(v, ("", str(v), ""))[1] for v in present)],
    }
    common = {"scale": (s, s), "translate": translate, "units": ("µm", "µm")}
    labels_meta = {
        "name": name,
        "colormap": DirectLabelColormap(color_dict=colors),
        "features": features,
        "opacity": 0.55,
        "metadata": {
            "cytowords_area_map": True,
            "origin_um": [float(v) for v in amap.origin_um],
            "pixel_size_um": s,
            "section_pixel_size_um": section_pixel_size_um,
            "section_shape_px": section_shape_px,
            "label_names": {v: table[v][0] for v in present if v in table},
            # everything the OME-Zarr writer needs (tile resolution: small arrays)
            "area_table": {int(k): tuple(v) for k, v in table.items()},
            "probability": amap.probability,
            "ood_score": amap.ood_score,
            "rejected": amap.rejected,
            "no_cortex": amap.no_cortex,
        },
        **common,
    }
    rej = amap.rejection_codes()
    rej_colors = {None: [0, 0, 0, 0], 0: [0, 0, 0, 0], 1: _rgba(REJECTED_TILE_COLOR)}
    rej_colors[2] = _rgba(NO_CORTEX_TILE_COLOR)
    rej_meta = {
        "name": f"{name} rejected",
        "colormap": DirectLabelColormap(color_dict=rej_colors),
        "features": {
            "index": [0, 1, 2],
            "area_name": ["", "rejected: not a known area", "rejected: no cortex"],
        },
        "opacity": 0.85,
        "metadata": {"cytowords_rejection_map": True},
        **common,
    }
    return [
        (amap.labels.astype(np.int32), labels_meta, "labels"),
        (rej, rej_meta, "labels"),
    ]
