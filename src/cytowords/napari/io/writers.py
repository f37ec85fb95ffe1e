"""npe2 writers: described ROIs to QuPath GeoJSON and CSV (atomic writes).

Names, QuPath classes and colours, object ids and holes come from the layer's feature columns
(:mod:`._shapes`), so a layer read from QuPath's GeoJSON is written back as QuPath knows it
(an annotation without a name stays without one).

Coordinates are section µm (the file's pixels times the pixel size, from the image's top-left
pixel corner, as QuPath and the CLI count them): the layer's world coordinates in µm (the
world is in the unit of the image it is drawn over: µm, or e.g. mm when that image is
scaled in mm) minus the translate of that image plus half its pixel size
(:func:`~.shapes.section_offset`), written in that image's pixels. The image is found in
the viewer (:func:`~.layers.image_under`), so a plain napari Shapes layer drawn over a
translated image is written in its pixels too; without a viewer or an image, the layer's
own translate and recorded pixel size (``cytowords_pixel_size_um``) are used, and a layer
still in a file's pixels (not placed over an image) is written as read.

How that image's slide is read by the widgets (:func:`~.slide.layer_slide`; an image of
another reader not read yet is not read for it, its reading said only when chosen) is recorded:
in the GeoJSON collection's properties beside the pixel size, as the CSV's last column
(``slide``); without an image, as the layer recorded it when it was described
(:data:`~.layers.SLIDE_READING_KEY`), else not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...atomic import atomic_write_text
from ...regions.geojson import RESULT_FIELDS
from ...regions.roi import RoiError
from .shapes import (
    CLASS_COLUMN,
    COLOR_COLUMN,
    HOLES_COLUMN,
    ID_COLUMN,
    NAME_COLUMN,
    holes_um,
    layer_polygons_um,
    section_offset,
    shape_roi,
)


def _records(meta: dict) -> list[dict]:
    """The layer's feature rows as dicts (read once: pandas' per-cell access would take
    most of the time of writing hundreds of ROIs, on the GUI thread)."""
    feats = meta.get("features")
    return [] if feats is None else feats.to_dict("records")


def _text(recs: list[dict], column: str, i: int) -> str | None:
    """A text feature of row ``i`` (None when the column is absent, empty or not text)."""
    v = recs[i].get(column) if i < len(recs) else None
    return v if isinstance(v, str) and v else None


def _placement(
    path: str, meta: dict, image: Any = None
) -> tuple[float, np.ndarray, float, str | None]:
    """``(µm per world unit, offset, pixel size, slide)``: world coordinates times the first
    plus the offset (µm ``(dy, dx)``) are section µm, the file's coordinates count pixels of
    that pixel size (µm), and ``slide`` says how the image's slide is read (None: not
    known). From ``image`` (else the image the layer is drawn over in the current viewer,
    :func:`~.layers.image_under`: the world is in its unit, e.g. mm; else the layer's own
    translate, unit, recorded pixel size and reading). ValueError naming ``path`` when the
    viewer shows several images the layer could be drawn over."""
    from .layers import IN_PIXELS_KEY, SLIDE_READING_KEY, LayerError, layer_pixel_size_um
    from .slide import layer_slide

    md = meta.get("metadata") or {}
    recorded = md.get(SLIDE_READING_KEY) or None
    if not md.get(IN_PIXELS_KEY):  # placed: world µm
        if image is None:
            try:
                image = _viewer_image(meta)
            except LayerError as exc:
                raise ValueError(f"{path}: {exc}") from None
        if image is not None:
            ps = layer_pixel_size_um(image)
            um = 1.0 if ps is None else ps / float(image.scale[-1])
            ps = ps or 1.0
            off = section_offset(np.asarray(image.translate) * um, ps)
            return um, off, ps, layer_slide(image, read=False) or recorded
    ps = _pixel_size(meta)
    um = _um_per_unit((meta.get("units") or ("pixel",))[-1])
    return um, section_offset(np.asarray(meta.get("translate", (0, 0))) * um, ps), ps, recorded


def _um_per_unit(unit: Any) -> float:
    """µm per ``unit`` (a pint unit or its name); 1 for ``pixel`` and what is not a length
    (read as µm, as readers that set no unit mean it)."""
    import pint

    try:
        q = unit if isinstance(unit, pint.Unit) else pint.get_application_registry()(str(unit))
        return float((1 * q).to("micrometer").magnitude)
    except Exception:  # pint's DimensionalityError or UndefinedUnitError: not a length
        return 1.0


def _viewer_image(meta: dict) -> Any:
    """The image the layer named in ``meta`` is drawn over in napari's current viewer (None
    without a viewer, that layer or an image)."""
    import napari
    from napari.layers import Shapes

    from .layers import image_under

    viewer = napari.current_viewer()
    if viewer is None:
        return None
    name = meta.get("name")
    layer = next((ly for ly in viewer.layers if ly.name == name), None)
    return image_under(viewer, layer) if isinstance(layer, Shapes) else None


def _rois_and_results(
    data: Any, meta: dict, um: float, off: np.ndarray, feats: list[dict]
) -> tuple[list, list[dict], list[dict]]:
    """Per area shape: its region (section µm: world coordinates times ``um`` plus ``off``;
    a :class:`Roi` when it has holes), its result fields and its annotation ``{name,
    classification, color, id}`` from the feature rows ``feats`` (:func:`_records`)."""
    types = meta.get("shape_type") or ["polygon"] * len(data)
    scale, translate = meta.get("scale", (1, 1)), meta.get("translate", (0, 0))
    polys = [
        None if p is None else p * um + off
        for p in layer_polygons_um(data, types, scale, translate)
    ]
    rois, rows, notes = [], [], []
    for i, poly in enumerate(polys):
        if poly is None:
            continue
        row = {}
        if len(feats) > i:
            for k in RESULT_FIELDS:
                if k in feats[i]:
                    v = feats[i][k]
                    row[k] = v.item() if isinstance(v, np.generic) else v
        note = {
            "name": _text(feats, NAME_COLUMN, i),
            "classification": _text(feats, CLASS_COLUMN, i),
            "color": _text(feats, COLOR_COLUMN, i),
            "id": _text(feats, ID_COLUMN, i),
        }
        holes = [h * um + off for h in holes_um(_text(feats, HOLES_COLUMN, i), scale, translate)]
        try:
            region = shape_roi(poly, holes, note["name"] or "") if holes else poly
        except RoiError:
            region = poly  # a degenerate outline is written as drawn
        rois.append(region)
        rows.append(row)
        notes.append(note)
    return rois, rows, notes


def _path_features(
    data: Any,
    meta: dict,
    colors: dict[str, str],
    um: float,
    off: np.ndarray,
    ps: float,
    feats: list[dict],
) -> list[dict]:
    """The layer's path and line shapes (e.g. a path along the cortex read from QuPath) as
    GeoJSON LineString annotations in full-resolution pixels (world coordinates times
    ``um`` plus ``off`` µm are section µm; ``ps`` µm per pixel), with their names and
    classes (feature rows ``feats``): written with the regions, so that nothing drawn is
    lost."""
    from ...describe.export import hex_to_rgb

    types = meta.get("shape_type") or ["polygon"] * len(data)
    scale, translate = meta.get("scale", (1, 1)), meta.get("translate", (0, 0))
    out = []
    for i, (d, t) in enumerate(zip(data, types)):
        if t not in ("path", "line"):
            continue
        v = np.asarray(d, dtype=float)[:, -2:] * np.asarray(scale, dtype=float)[-2:]
        px = ((v + np.asarray(translate, dtype=float)[-2:]) * um + off) / ps
        props: dict[str, Any] = {"objectType": "annotation"}
        name, cls = _text(feats, NAME_COLUMN, i), _text(feats, CLASS_COLUMN, i)
        if name:
            props["name"] = name
        if cls:
            props["classification"] = {"name": cls}
            if cls in colors:
                props["classification"]["color"] = hex_to_rgb(colors[cls])
        coords = [[round(float(x), 6), round(float(y), 6)] for y, x in px]
        out.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": props,
            }
        )
    return out


def _pixel_size(meta: dict) -> float:
    md = meta.get("metadata") or {}
    ps = md.get("cytowords_pixel_size_um")
    if ps:
        return float(ps)
    return 1.0  # µm coordinates written as-is: 1 "pixel" = 1 µm


def write_shapes_geojson(path: str, data: Any, meta: dict, image: Any = None) -> list[str]:
    """Write a Shapes layer with its description features as QuPath GeoJSON, in the pixels
    of ``image`` (None: the image it is drawn over in the viewer; module doc)."""
    # cytowords.describe imports the model code (torch): not when a widget is made
    from ...describe.export import class_colors, rois_to_geojson, write_geojson

    um, off, ps, slide = _placement(path, meta, image)
    feats = _records(meta)
    rois, rows, notes = _rois_and_results(data, meta, um, off, feats)
    md = meta.get("metadata") or {}
    colors = dict(md.get("cytowords_colors") or {})
    for n in notes:
        if n["classification"] and n["color"]:
            colors.setdefault(n["classification"], n["color"])
    # QuPath refuses a file with a class without a colour (a taught area, __none__ ...)
    types = meta.get("shape_type") or []
    paths = [i for i, t in enumerate(types) if t in ("path", "line")]
    path_classes = [_text(feats, CLASS_COLUMN, i) for i in paths]
    for cls, color in zip(path_classes, (_text(feats, COLOR_COLUMN, i) for i in paths)):
        if cls and color:
            colors.setdefault(cls, color)
    colors = class_colors(
        [*(n["classification"] or r.get("area") for n, r in zip(notes, rows)), *path_classes],
        colors,
    )
    gj = rois_to_geojson(
        rois,
        rows,
        pixel_size_um=ps,
        colors=colors,
        names=[n["name"] or "" for n in notes],
        classes=[n["classification"] for n in notes],
        ids=[n["id"] for n in notes],
        slide=slide,
    )
    gj["features"] += _path_features(data, meta, colors, um, off, ps, feats)
    return [str(write_geojson(path, gj))]


def write_shapes_csv(path: str, data: Any, meta: dict) -> list[str]:
    """Write a Shapes layer's ROIs and their description features as CSV (section µm of
    the image it is drawn over; module doc)."""
    from ...describe.export import results_to_csv

    um, off, _, slide = _placement(path, meta)
    rois, rows, notes = _rois_and_results(data, meta, um, off, _records(meta))
    names = [n["name"] or "" for n in notes]
    classes = [n["classification"] for n in notes]
    text = results_to_csv(rois, rows, names=names, classes=classes, slide=slide)
    return [str(atomic_write_text(path, text))]
