"""Read ROIs from GeoJSON in every form QuPath writes (and the plugin's own files); the one
loader of region files, :func:`read_region_file`, also reads Fiji/ImageJ ROIs (``.roi``,
``RoiSet.zip``) through the same conversion (:mod:`.imagej`).

QuPath's *Export objects as GeoJSON* writes, depending on version and options:

- a top-level JSON **list** of Feature objects (the default), a ``FeatureCollection``
  ("export as FeatureCollection"), or a single ``Feature``; a bare geometry is read too;
- properties in the 0.2/0.3 style (``"object_type": "annotation"``, legacy ``"id":
  "PathAnnotationObject"``, ``classification: {"name", "colorRGB": <packed signed 32-bit
  ARGB int>}`` with derived classes as nested ``parentClass``) or the 0.4+ style
  (``"objectType"``, ``id`` a UUID, ``classification: {"name" | "names", "color": [r, g, b]}``);
- geometries: Polygon (holes are its interior rings), MultiPolygon (one annotation in several
  pieces), LineString (line annotations), Point/MultiPoint (points objects), and rarely a
  GeometryCollection.

Coordinates are ``[x, y]`` pixels of the full-resolution image. ROIs come back in µm,
``(y, x)``, as :class:`~cytowords.regions.Roi`: holes kept (no field is read in a hole,
their area does not count) and a MultiPolygon kept as **one** ROI with several parts, so an
annotation the user drew as one object (e.g. a layer cut in two by a vessel) is described as
one region and written back as one object. Lines are returned as paths only when asked for,
points only when asked for; otherwise each is skipped with a note. QuPath detections, cells
and tiles are skipped (thousands of tiny objects, each far smaller than a field) with one note
per object type counting them. Every other skipped feature gets one note naming the file and
the feature; input that holds no
readable ROI raises :class:`RegionFileError` with one line saying why.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..colours import color_hex
from ..formats import IMAGEJ_ROI_SUFFIXES
from .roi import Roi, RoiError

#: the description properties of a feature (the plugin writes them, in this order, and
#: reads them back)
RESULT_FIELDS = (
    "area",
    "area_name",
    "probability",
    "rejected",
    "ood_score",
    "caption",
    "alternatives",
    "note",
    "measured",
    "thickness_mm",
    "layer_iv",
)
#: result columns that are numbers (QuPath measurements); the others are text (metadata)
NUMERIC_FIELDS = ("probability", "ood_score", "thickness_mm", "layer_iv")

#: QuPath object types that are not regions a user drew (any other type is read)
_SKIPPED_TYPES = {
    "detection",
    "cell",
    "tile",
    "root",
    "pathdetectionobject",
    "pathcellobject",
    "pathtileobject",
    "pathrootobject",
}
#: QuPath 0.2 stored the object type in the feature's ``id``
_LEGACY_IDS = {
    "PathAnnotationObject",
    "PathDetectionObject",
    "PathCellObject",
    "PathTileObject",
    "TMACoreObject",
    "PathRootObject",
}
_GEOMETRIES = {
    "Polygon",
    "MultiPolygon",
    "LineString",
    "MultiLineString",
    "Point",
    "MultiPoint",
    "GeometryCollection",
}


class RegionFileError(ValueError):
    """A region file (GeoJSON, ImageJ ``.roi`` / ``RoiSet.zip``) without readable ROIs; the
    message is one line naming the file."""


@dataclass(frozen=True)
class RoiFeature:
    """One region read from GeoJSON.

    ``roi`` (µm, named by the feature's name, else ``ROI k``) keeps holes and parts;
    ``classification`` is the QuPath class name (derived classes joined by ``": "``) and
    ``color`` its ``#rrggbb`` colour (else the object's own colour); ``results`` the
    description fields found in the file (the plugin's output, or QuPath's re-export of it);
    ``id`` QuPath's object UUID; ``index`` the 1-based position of the feature in the file.
    """

    roi: Roi
    classification: str | None = None
    color: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    index: int = 0

    @property
    def name(self) -> str:
        return self.roi.name


@dataclass(frozen=True)
class MarkFeature:
    """Points (``(M, 2)``) or a line (path, ``(M, 2)``) in µm ``(y, x)`` from GeoJSON."""

    vertices: np.ndarray
    name: str
    classification: str | None = None
    color: str | None = None
    index: int = 0


@dataclass
class GeoJsonRois:
    """What a GeoJSON file holds: ROIs, points and paths (when asked for), notes on what was
    skipped, and the pixel size used (µm; ``recorded``: stored in the file by the plugin)."""

    rois: list[RoiFeature]
    pixel_size_um: float
    recorded: bool = False
    points: list[MarkFeature] = field(default_factory=list)
    paths: list[MarkFeature] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def classification_of(value: Any) -> tuple[str | None, str | None]:
    """``(name, #rrggbb)`` of a QuPath classification in any form it writes: a string,
    ``{"name", "color"}``, ``{"names": [...], "color"}`` (derived class, joined by ``": "``)
    or 0.2/0.3's ``{"name", "colorRGB", "parentClass": {...}}``."""
    if isinstance(value, str):
        return (value.strip() or None), None
    if not isinstance(value, Mapping):
        return None, None
    names = value.get("names")
    if isinstance(names, list) and names:
        name = ": ".join(str(n) for n in names)
    else:
        name = value.get("name")
        parent, _ = classification_of(value.get("parentClass"))
        if parent and isinstance(name, str):
            name = f"{parent}: {name}"
    name = name.strip() if isinstance(name, str) and name.strip() else None
    color = value.get("color", value.get("colorRGB"))
    return name, color_hex(color)


def _object_type(feature: Mapping[str, Any], props: Mapping[str, Any]) -> str | None:
    for key in ("objectType", "object_type", "type"):
        if isinstance(props.get(key), str):
            return props[key]
    fid = feature.get("id")
    return fid if fid in _LEGACY_IDS else None


def _measurements(value: Any) -> dict[str, float]:
    """QuPath measurements: ``{name: value}`` (0.4+) or ``[{"name", "value"}]`` (older)."""
    if isinstance(value, list):
        value = {
            m.get("name"): m.get("value")
            for m in value
            if isinstance(m, Mapping) and isinstance(m.get("name"), str)
        }
    out = {}
    for k, v in (value or {}).items() if isinstance(value, Mapping) else ():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def _results(props: Mapping[str, Any]) -> dict[str, Any]:
    """Description fields of a feature: the plugin's properties, else what QuPath keeps of
    them when it exports the objects again (metadata strings, measurements)."""
    res = {k: props[k] for k in RESULT_FIELDS if k in props}
    if res:
        return res
    meta = props.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    res = {k: meta[k] for k in RESULT_FIELDS if k in meta and k not in NUMERIC_FIELDS}
    if not res:
        return {}
    if "rejected" in res:
        res["rejected"] = str(res["rejected"]).strip().lower() == "true"
    meas = _measurements(props.get("measurements"))
    for k in NUMERIC_FIELDS:
        if k in meas:
            res[k] = meas[k] if math.isfinite(meas[k]) else None
    return res


def _rings(coords: Any, ps: float) -> list[np.ndarray]:
    """Rings of ``[x, y(, z)]`` pixels as ``(N, 2)`` ``(y, x)`` µm arrays."""
    out = []
    for ring in coords:
        a = np.asarray(ring, dtype=float)
        if a.ndim != 2 or a.shape[1] < 2:
            raise ValueError("coordinates are not a list of [x, y] positions")
        out.append(a[:, 1::-1] * ps)
    return out


def _polygon(coords: Any, ps: float, name: str) -> Roi:
    """A GeoJSON Polygon's coordinates (exterior ring, then holes) as a Roi."""
    if not isinstance(coords, list) or not coords:
        raise RoiError("a Polygon without coordinates")
    rings = _rings(coords, ps)
    return Roi(rings[0], name=name, holes=tuple(rings[1:]))


def _note_label(index: int, props: Mapping[str, Any], cls: str | None) -> str:
    name = props.get("name")
    label = name if isinstance(name, str) and name else cls
    return f"feature {index}" + (f" ({label!r})" if label else "")


def _features(obj: Any, source: str) -> list[Any]:
    """The features of any top-level form: list, FeatureCollection, Feature or geometry."""
    if isinstance(obj, list):
        return obj
    if not isinstance(obj, Mapping):
        raise RegionFileError(f"{source}: not GeoJSON (a JSON {type(obj).__name__}, not features)")
    kind = obj.get("type")
    if kind == "FeatureCollection":
        if not isinstance(obj.get("features"), list):
            raise RegionFileError(f"{source}: a FeatureCollection without a 'features' list")
        return obj["features"]
    if kind == "Feature":
        return [obj]
    if kind in _GEOMETRIES:
        return [{"type": "Feature", "geometry": obj, "properties": {}}]
    raise RegionFileError(
        f"{source}: not GeoJSON (expected a list of features, a FeatureCollection, a Feature "
        f"or a geometry; found type {kind!r})"
    )


def parse_geojson_rois(
    obj: Any,
    *,
    pixel_size_um: float | None = None,
    source: str = "GeoJSON",
    points: bool = False,
    paths: bool = False,
) -> GeoJsonRois:
    """ROIs (µm) of a parsed GeoJSON object in any form QuPath writes (see the module doc).

    Args:
        obj: the parsed JSON (list of features, FeatureCollection, Feature or geometry).
        pixel_size_um: µm per pixel of the image the coordinates count (QuPath: the full
            resolution image); the pixel size the plugin records in its files wins.
        source: the file name, for messages.
        points: return points objects in ``points`` instead of skipping them with a note.
        paths: return line annotations in ``paths`` instead of skipping them with a note.

    Raises:
        RegionFileError: not GeoJSON, no features, no pixel size, or no readable ROI (one line
            naming ``source``; with ``points``/``paths``, points or paths alone suffice).
    """
    feats = _features(obj, source)
    if not feats:
        raise RegionFileError(f"{source}: no features (an empty export?)")
    meta = obj.get("properties") if isinstance(obj, Mapping) else None
    stored = meta.get("pixel_size_um") if isinstance(meta, Mapping) else None
    ps = stored or pixel_size_um
    if not ps or not isinstance(ps, (int, float)) or ps <= 0:
        raise RegionFileError(
            f"{source}: no pixel size in the file; pass the image's pixel size (µm per pixel)"
        )
    ps = float(ps)
    out = GeoJsonRois([], ps, recorded=bool(stored))
    skipped: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for i, f in enumerate(feats, start=1):
        if isinstance(f, Mapping) and f.get("type") in _GEOMETRIES:
            f = {"type": "Feature", "geometry": f}
        if not isinstance(f, Mapping) or f.get("type") != "Feature":
            out.notes.append(f"{source}: feature {i}: not a GeoJSON Feature; skipped")
            continue
        props = f.get("properties") if isinstance(f.get("properties"), Mapping) else {}
        otype = _object_type(f, props)
        if otype is not None and otype.lower() in _SKIPPED_TYPES:
            # checked first: an export of all objects holds tens of thousands of these
            skipped.setdefault(otype, []).append((i, props))
            continue
        cls, color = classification_of(props.get("classification"))
        color = color or color_hex(props.get("color"))
        results = _results(props)
        if cls is not None and cls == results.get("area"):
            cls = color = None  # the plugin's own result, not a class the user gave
        label = _note_label(i, props, cls)
        name = props.get("name") if isinstance(props.get("name"), str) else ""
        geom = f.get("geometry") if isinstance(f.get("geometry"), Mapping) else {}
        problems: list[str] = []
        try:
            polys, marks = _geometry(geom, ps, name or f"ROI {len(out.rois) + 1}", problems)
        except (RoiError, ValueError, TypeError) as exc:
            out.notes.append(f"{source}: {label}: {_reason(exc)}; skipped")
            continue
        out.notes += [f"{source}: {label}: {p}; skipped" for p in problems]
        for kind, verts in marks:
            mark = MarkFeature(verts, name or (cls or ""), cls, color, i)
            wanted = points if kind == "points" else paths
            if wanted:
                (out.points if kind == "points" else out.paths).append(mark)
            else:
                what = f"{len(verts)} point(s)" if kind == "points" else "a line"
                out.notes.append(f"{source}: {label}: {what}, not a region; skipped")
        if polys:
            roi = (
                polys[0]
                if len(polys) == 1
                else Roi(polys[0].vertices, polys[0].name, polys[0].holes, tuple(polys[1:]))
            )
            fid = f.get("id") if isinstance(f.get("id"), str) else None
            fid = None if fid in _LEGACY_IDS else fid
            out.rois.append(RoiFeature(roi, cls, color, results, fid, i))
    out.notes += _skipped_notes(skipped, source)
    if not out.rois and not (out.points or out.paths):
        why = ""
        if out.notes:
            why = "; e.g. " + out.notes[0].removeprefix(f"{source}: ").removesuffix("; skipped")
        raise RegionFileError(f"{source}: no polygon annotation among {len(feats)} feature(s){why}")
    return out


def _skipped_notes(
    skipped: Mapping[str, list[tuple[int, Mapping[str, Any]]]], source: str
) -> list[str]:
    """One note per QuPath object type that is not an annotation (detections, cells, tiles):
    a single object is named, several are counted in one line (an export of all objects holds
    tens of thousands)."""
    notes = []
    for otype, found in skipped.items():
        if len(found) == 1:
            i, props = found[0]
            label = _note_label(i, props, classification_of(props.get("classification"))[0])
            notes.append(f"{source}: {label}: a QuPath {otype} object, not an annotation; skipped")
        else:
            first, last = found[0][0], found[-1][0]
            notes.append(
                f"{source}: {len(found):,} QuPath {otype} objects (features {first}–{last}), "
                "not annotations; skipped"
            )
    return notes


def _reason(exc: Exception) -> str:
    """The message of a geometry error without the ROI prefix (the note names the feature)."""
    msg = str(exc)
    return msg.split(": ", 1)[1] if msg.startswith("ROI ") and ": " in msg else msg


def _geometry(
    geom: Mapping[str, Any], ps: float, name: str, problems: list[str]
) -> tuple[list[Roi], list[tuple[str, np.ndarray]]]:
    """``(polygons, marks)`` of one geometry; marks are ``("points" | "path", (M, 2) µm)``.
    A MultiPolygon piece that is no polygon is left out and said in ``problems``."""
    kind = geom.get("type")
    coords = geom.get("coordinates")
    if kind == "Polygon":
        return [_polygon(coords, ps, name)], []
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise ValueError("a MultiPolygon without coordinates")
        parts, errors = [], []
        for k, c in enumerate(coords, start=1):
            try:
                parts.append(_polygon(c, ps, name))
            except (RoiError, ValueError, TypeError) as exc:
                errors.append(f"piece {k} of its MultiPolygon: {_reason(exc)}")
        if not parts:
            raise ValueError(errors[0])
        problems += errors
        return parts, []
    if kind == "Point":
        return [], [("points", _rings([[coords]], ps)[0])]
    if kind == "MultiPoint":
        return [], [("points", _rings([coords], ps)[0])]
    if kind == "LineString":
        return [], [("path", _rings([coords], ps)[0])]
    if kind == "MultiLineString":
        return [], [("path", r) for r in _rings(coords, ps)]
    if kind == "GeometryCollection":
        polys: list[Roi] = []
        marks: list[tuple[str, np.ndarray]] = []
        for g in geom.get("geometries") or []:
            p, m = _geometry(g if isinstance(g, Mapping) else {}, ps, name, problems)
            polys += p
            marks += m
        if not polys and not marks:
            raise ValueError("an empty GeometryCollection")
        return polys, marks
    raise ValueError(f"no geometry (type {kind!r})" if kind else "no geometry")


def read_region_file(
    path: str | os.PathLike,
    *,
    pixel_size_um: float | None = None,
    points: bool = False,
    paths: bool = False,
) -> GeoJsonRois:
    """Read a region file: Fiji/ImageJ ``.roi`` or ROI Manager ``RoiSet.zip`` (see
    :mod:`.imagej`), otherwise GeoJSON (QuPath's or the plugin's). Both count the image's
    level-0 pixels; they are converted to µm here, by :func:`parse_geojson_rois`, with
    ``pixel_size_um`` (unless a plugin GeoJSON records its own). Every failure to read the
    file is a :class:`RegionFileError` with one line naming the file."""
    p = Path(path)
    if p.suffix.lower() in IMAGEJ_ROI_SUFFIXES:
        return _read_imagej(p, pixel_size_um, points, paths)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RegionFileError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise RegionFileError(f"{p}: not a text file (GeoJSON is UTF-8 JSON)") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegionFileError(f"{p}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return parse_geojson_rois(
        obj, pixel_size_um=pixel_size_um, source=str(p), points=points, paths=paths
    )


def _read_imagej(p: Path, pixel_size_um: float | None, points: bool, paths: bool) -> GeoJsonRois:
    """ImageJ ROIs as pixel-coordinate GeoJSON features, read like QuPath's."""
    from .imagej import imagej_features

    feats, notes = imagej_features(p)
    if not feats:
        why = "; e.g. " + notes[0].removeprefix(f"{p}: ").removesuffix("; skipped") if notes else ""
        raise RegionFileError(f"{p}: no region among {len(notes)} ImageJ ROI(s){why}")
    read = parse_geojson_rois(
        feats, pixel_size_um=pixel_size_um, source=str(p), points=points, paths=paths
    )
    read.notes[:0] = notes
    return read


def notes_text(notes: Sequence[str], limit: int = 10) -> list[str]:
    """At most ``limit`` notes, then one line counting the rest."""
    out = list(notes[:limit])
    if len(notes) > limit:
        out.append(f"... and {len(notes) - limit} more feature(s) skipped")
    return out
