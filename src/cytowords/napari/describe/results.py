"""Description results stored in a ROI Shapes layer: features, canvas text and edge colours.

The layer's ``features`` table is the single source of truth: napari keeps its rows aligned
with the shapes when shapes are added or deleted. Each shape has a stable ``roi_id`` so a
result computed in a worker lands on the right shape even if others were deleted meanwhile.
The GeoJSON/CSV writers read the :data:`~cytowords.regions.geojson.RESULT_FIELDS` columns and
the ``cytowords_pixel_size_um`` / ``cytowords_colors`` metadata.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from napari.layers import Shapes

from ...atlas import NONE_ID, load_atlas
from ...regions import Roi, RoiError
from ..io.layers import shapes_section_um
from ..io.shapes import (
    CLASS_COLUMN,
    COLOR_COLUMN,
    HOLES_COLUMN,
    ID_COLUMN,
    NAME_COLUMN,
    shape_roi,
)

if TYPE_CHECKING:  # cytowords.describe imports torch: not when napari makes the widget
    from ...describe import RegionDescription

#: edge / text colours for states that are not an area
REJECTED_COLOR = "#ff3b30"
PENDING_COLOR = "#ffd700"
STALE_COLOR = "#9e9e9e"
ERROR_COLOR = "#ff00ff"
REJECTED_LABEL = "✕ not a known area"
#: a ROI set aside with a reason before the model's verdict (image, scale, too few fields)
ABSTAINED_LABEL = "✕ no area named"

DEFAULTS: dict[str, Any] = {
    "roi_id": -1,
    "area": "",
    "area_name": "",
    "probability": math.nan,
    "rejected": False,
    "ood_score": math.nan,
    "caption": "",
    "alternatives": "",
    "note": "",
    "reason": "",
    "measured": "",
    "thickness_mm": math.nan,
    "layer_iv": math.nan,
    "n_fields": 0,
    "n_voting": 0,
    "n_accepted": 0,
    "status": "new",
    "label": "",
    "text_color": PENDING_COLOR,
    NAME_COLUMN: "",
    CLASS_COLUMN: "",
    COLOR_COLUMN: "",
    ID_COLUMN: "",
    HOLES_COLUMN: "",
}


def area_color(area: str) -> str:
    """``#rrggbb`` display colour of an area id (red for rejection, yellow if unknown)."""
    if area == NONE_ID or not area:
        return REJECTED_COLOR
    try:
        return load_atlas().color(area)
    except KeyError:
        return PENDING_COLOR


def label_text(row: dict[str, Any]) -> str:
    """Canvas text of one ROI: ``"hOc1 93%"``, ``"✕ not a known area"`` (``"✕ no area
    named"`` when it was set aside with a reason) or its state."""
    status = row.get("status", "new")
    if status == "done":
        if bool(row.get("rejected")):
            return ABSTAINED_LABEL if row.get("reason") else REJECTED_LABEL
        p = row.get("probability")
        pct = "" if p is None or not np.isfinite(p) else f" {100 * float(p):.0f}%"
        return f"{row.get('area', '')}{pct}"
    return {"new": "", "queued": "… queued", "describing": "… describing"}.get(
        status, "⟳ changed — describe again" if status == "stale" else f"⚠ {status}"
    )


def _row_color(row: dict[str, Any]) -> str:
    status = row.get("status")
    if status == "done":
        return REJECTED_COLOR if bool(row.get("rejected")) else area_color(row.get("area", ""))
    if status == "stale":
        return STALE_COLOR
    if status in ("new", "queued", "describing"):
        return PENDING_COLOR
    return ERROR_COLOR


def prepare_layer(layer: Shapes, pixel_size_um: float | None = None) -> None:
    """Add result columns, ids, text and metadata to a ROI layer (idempotent)."""
    df = layer.features.copy()
    for k, v in DEFAULTS.items():
        if k not in df.columns:
            df[k] = pd.Series([v] * len(df), index=df.index, dtype=type(v))
    if "area" in df.columns and len(df):
        # results read from a file: keep them, mark them done
        has = df["area"].astype(str) != ""
        df.loc[has & (df["status"] == "new"), "status"] = "done"
    layer.features = df
    layer.feature_defaults = dict(DEFAULTS)
    assign_ids(layer)
    layer.text = {
        "string": "{label}",
        "color": {"feature": "text_color"},
        "size": 11,
        "anchor": "upper_left",
        "blending": "translucent",
    }
    if pixel_size_um:
        layer.metadata["cytowords_pixel_size_um"] = float(pixel_size_um)
    layer.metadata.setdefault("cytowords_colors", {})
    layer.metadata["cytowords_roi_layer"] = True
    restyle(layer)


def assign_ids(layer: Shapes) -> list[int]:
    """Give shapes without an id a new one; returns the row indices that got one."""
    df = layer.features
    if "roi_id" not in df.columns or not len(df):
        return []
    ids = pd.to_numeric(df["roi_id"], errors="coerce").fillna(-1).astype(int).to_numpy().copy()
    missing = np.flatnonzero(ids < 0)
    seen = set()
    dup = []
    for i, v in enumerate(ids):
        if v >= 0 and v in seen:
            dup.append(i)
        seen.add(v)
    missing = sorted({*missing.tolist(), *dup})
    if missing:
        nxt = int(ids.max(initial=-1)) + 1
        for j, i in enumerate(missing):
            ids[i] = nxt + j
        df = df.copy()
        df["roi_id"] = ids
        layer.features = df
    return missing


def row_of(layer: Shapes, roi_id: int) -> int | None:
    """Current row index of the shape with ``roi_id`` (None if it was deleted)."""
    if "roi_id" not in layer.features.columns:
        return None
    hits = np.flatnonzero(layer.features["roi_id"].to_numpy() == roi_id)
    return int(hits[0]) if len(hits) else None


def rows_of(layer: Shapes) -> dict[int, int]:
    """Current row index of each ROI id of ``layer`` (the first row, were one repeated)."""
    rows: dict[int, int] = {}
    if "roi_id" in layer.features.columns:
        for i, v in enumerate(layer.features["roi_id"].tolist()):
            rows.setdefault(int(v), i)
    return rows


def ids_of(layer: Shapes, rows) -> list[int]:
    """Stable ids of the given rows."""
    col = layer.features["roi_id"].to_numpy()
    return [int(col[i]) for i in rows if 0 <= i < len(col)]


def set_rows(layer: Shapes, updates: dict[int, dict[str, Any]], *, later: bool = False) -> None:
    """Write column values for several rows at once (with their canvas labels and colours).

    The layer's features are written at once, in place; the canvas text, edge colours and
    the features event (results panel, autosave) follow at once, or, with ``later``, at the
    next :func:`redraw` of the layer: napari redraws every text of the layer for each such
    update, so a stream of results is drawn a few at a time (:func:`pending` says whether a
    layer waits for one)."""
    if not updates:
        return
    df = layer.features
    rows = list(updates)
    few = len(rows) <= 4  # a job's status change or result: cell by cell is quicker
    if few:
        for i, values in updates.items():
            for k, v in values.items():
                df.at[i, k] = v
        records = [df.loc[i].to_dict() for i in rows]
    else:  # e.g. 500 ROIs queued: column by column
        columns: dict[str, tuple[list[int], list[Any]]] = {}
        for i, values in updates.items():
            for k, v in values.items():
                at, vals = columns.setdefault(k, ([], []))
                at.append(i)
                vals.append(v)
        for k, (at, vals) in columns.items():
            df.loc[at, k] = vals
        records = df.loc[rows].to_dict("records")
    colors = [_row_color(r) for r in records]
    labels = [label_text(r) for r in records]
    if few:
        for i, label, color in zip(rows, labels, colors):
            df.at[i, "label"] = label
            df.at[i, "text_color"] = color
    else:
        df.loc[rows, "label"] = labels
        df.loc[rows, "text_color"] = colors
    edges = layer.edge_color
    shown = [i for i in rows if i < len(edges)]
    recolour = len(shown) < len(rows) or not _same_colors(edges[shown], colors)
    _PENDING[layer] = _PENDING.get(layer, False) or recolour
    if not later:
        redraw(layer)


def pending(layer: Shapes) -> bool:
    """True when rows of ``layer`` were written with ``later`` and are not drawn yet."""
    return layer in _PENDING


def redraw(layer: Shapes) -> None:
    """Draw ``layer``'s canvas text and edge colours from its features (edge colours only
    when one changed: napari redraws every shape for them) and emit its features event;
    a no-op when nothing of it waits (:func:`pending`)."""
    if layer not in _PENDING:
        return
    recolour = _PENDING.pop(layer)
    df = layer.features
    if not len(df):
        layer.events.features()
        return
    if recolour:
        # one canvas update for both: the edge colour event redraws the texts too
        with layer.text.events.blocker():
            layer.text.refresh(df)
        with layer.events.edge_color.blocker():
            layer.edge_color = df["text_color"].tolist()
        layer.events.edge_color()
    else:
        layer.text.refresh(df)
    layer.events.features()


#: layers with rows written and not drawn: True when an edge colour changed
_PENDING: weakref.WeakKeyDictionary[Shapes, bool] = weakref.WeakKeyDictionary()


def set_status(layer: Shapes, rows, status: str, *, later: bool = False) -> None:
    """Mark rows queued/describing/stale/error (keeps earlier results for the record);
    ``later``: drawn at the next :func:`redraw` (:func:`set_rows`)."""
    set_rows(layer, {i: {"status": status} for i in rows}, later=later)


def apply_result(layer: Shapes, row: int, res: RegionDescription, *, later: bool = False) -> None:
    """Store a description in row ``row`` and colour it (``later``: see :func:`set_rows`)."""
    from ...describe.export import description_row

    values = {
        **description_row(res),
        # why no area was named when it is not the model's verdict (image unfit, scale)
        "reason": res.rejection_reason,
        "n_fields": int(res.n_patches),
        "n_voting": int(res.n_voting),
        "n_accepted": int(res.n_accepted),
        "status": "done",
    }
    if not res.rejected:
        layer.metadata.setdefault("cytowords_colors", {})[res.area] = area_color(res.area)
    set_rows(layer, {row: values}, later=later)


def restyle(layer: Shapes) -> None:
    """Recompute canvas labels, text colours and edge colours from the features."""
    df = layer.features
    if len(df):
        rows = df.to_dict("records")
        df["label"] = [label_text(r) for r in rows]
        colors = [_row_color(r) for r in rows]
        df["text_color"] = colors
        _PENDING[layer] = not _same_colors(layer.edge_color, colors)
        redraw(layer)


def _same_colors(current: np.ndarray, colors: list[str]) -> bool:
    """True when the layer's RGBA edge colours ``current`` are ``colors`` (``#rrggbb``)."""
    from napari.utils.colormaps.standardize_color import transform_color

    new = transform_color(colors)
    return current.shape == new.shape and bool(np.allclose(current, new, atol=1e-6))


def roi_jobs(
    layer: Shapes, ids: list[int], image
) -> tuple[list[tuple[int, Roi]], dict[int, bytes], dict[int, str]]:
    """ROIs (section µm) of shapes ``ids``: ``(jobs, geometry by id, error by row)``.

    Each ROI keeps the shape's name and holes (``name`` / ``holes`` columns). Lines/paths and
    degenerate polygons give an error message instead of a job; the geometry bytes let a
    late result be checked against the shape as it is then.
    """
    jobs, geoms, errors = [], {}, {}
    rows = rows_of(layer)
    found = [(i, rows[int(i)]) for i in ids if int(i) in rows]
    # napari builds the lists of every shape's vertices and types at each read: read once
    data, types = layer.data, layer.shape_type
    df = layer.features
    names = df[NAME_COLUMN].tolist() if NAME_COLUMN in df.columns else [""] * len(df)
    regions = shapes_section_um(layer, [row for _, row in found], image)
    for (roi_id, row), (poly, holes) in zip(found, regions):
        try:
            if poly is None:
                raise RoiError(
                    f"ROI {row + 1} is a {types[row]}, which encloses no region; "
                    "draw a rectangle, polygon or ellipse"
                )
            name = names[row] if isinstance(names[row], str) else ""
            jobs.append((roi_id, shape_roi(poly, holes, name or f"ROI {row + 1}")))
        except RoiError as exc:
            errors[row] = str(exc)
            continue
        geoms[roi_id] = np.asarray(data[row]).tobytes()
    return jobs, geoms, errors
