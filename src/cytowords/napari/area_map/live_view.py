"""What the Area map widget's *Follow view* mode maps: whether to map the current view, and
at which stride (the finest that stays fast).

Qt- and napari-free (unit-tested without a viewer). The cost of a live map is bounded two
ways: by the number of map pixels per side (the per-field path runs the encoder once per
tile, so few tiles; the dense path runs it once per view whatever the stride, so more,
down to the encoder's feature stride) and by the view's area over the section (the dense
trunk, the field reads and the tissue mask grow with it).
"""

from __future__ import annotations

import math
from typing import Any

#: map pixels (tiles) per side of a live map: dense models (one trunk pass per view,
#: whatever the stride) and per-field models (one encoder pass per tile)
LIVE_MAP_PX_DENSE = 128
LIVE_MAP_PX_FIELD = 48
#: a view covering more of the section than this (mm²) is not mapped live: the map's
#: cost grows with the view's area. Set when the bundled dense model mapped a 25 × 25 mm
#: view in about 2 s at the finest stride (256 µm, its feature stride), 1 view, on 2 CPU
#: cores shared with other jobs; it now takes about 1 s (``python benchmarks/live_view.py
#: --model default --repeats 3 5 10 14 17 20 25 30``, load 3–4: 0.05 s for 25 mm², 0.15 s
#: for 100, 0.28 s for 196, 0.60 s for 400, 1.07 s for 625, 1.42 s for 900)
LIVE_MAX_VIEW_MM2 = 625.0
#: the view is mapped this long (ms) after the camera stops moving
LIVE_DEBOUNCE_MS = 400


def model_strides(bundle: Any) -> tuple[float, float | None]:
    """``(model pixel µm, dense feature stride µm or None)`` of a loaded model bundle:
    the stride is None when the encoder is evaluated per field (no dense path)."""
    from ...mapping.dense import dense_layout

    px = float(bundle.pixel_size_um)
    layout = dense_layout(bundle.encoder)
    return px, (None if layout is None else layout.stride_px * px)


def live_stride_um(
    region_um: tuple[float, float, float, float],
    model_px_um: float,
    feature_stride_um: float | None = None,
    *,
    max_map_px: int | None = None,
) -> float:
    """The finest stride (µm) that maps ``region_um = (y0, x0, y1, x1)`` in at most
    ``max_map_px`` tiles per side (default :data:`LIVE_MAP_PX_DENSE` with a dense feature
    stride, :data:`LIVE_MAP_PX_FIELD` without).

    The stride is a whole multiple of the dense feature stride (never finer: finer tiles
    only interpolate the features) or, per field, of the model pixel (the map grid's
    quantum), rounded up so that the tile budget holds."""
    if not (model_px_um > 0 and math.isfinite(model_px_um)):
        raise ValueError(f"model pixel size {model_px_um!r}; expected a positive number of µm")
    dense = feature_stride_um is not None
    quantum = float(feature_stride_um) if dense else float(model_px_um)
    if not quantum > 0:
        raise ValueError(f"feature stride {feature_stride_um!r}; expected a positive number of µm")
    n = int(max_map_px or (LIVE_MAP_PX_DENSE if dense else LIVE_MAP_PX_FIELD))
    if n < 1:
        raise ValueError(f"max_map_px={max_map_px}; expected >= 1")
    y0, x0, y1, x1 = (float(v) for v in region_um)
    extent = max(y1 - y0, x1 - x0, 0.0)
    steps = max(1, math.ceil(extent / n / quantum - 1e-9))
    return steps * quantum


def live_region(
    view_um: tuple[float, float, float, float],
    section_shape_um: tuple[float, float],
    *,
    max_mm2: float = LIVE_MAX_VIEW_MM2,
) -> tuple[tuple[float, float, float, float] | None, str]:
    """``(region, "")``: the part of the view ``(y0, x0, y1, x1)`` µm that lies on the
    section (``(height, width)`` µm) when it is worth mapping live; ``(None, why)`` when
    it is not: the view shows none of the section, or more than ``max_mm2`` mm² of it."""
    hu, wu = (float(v) for v in section_shape_um)
    y0, x0, y1, x1 = (float(v) for v in view_um)
    y0, x0, y1, x1 = max(0.0, y0), max(0.0, x0), min(hu, y1), min(wu, x1)
    if not (y1 > y0 and x1 > x0):
        return None, "the view shows none of the image: pan to the section to map it"
    mm2 = (y1 - y0) * (x1 - x0) / 1e6
    if mm2 > max_mm2:
        return None, (
            f"the view shows {mm2:,.0f} mm² of the section, more than the {max_mm2:g} mm² "
            "mapped live: zoom in (or compute the map with the button)"
        )
    return (y0, x0, y1, x1), ""
