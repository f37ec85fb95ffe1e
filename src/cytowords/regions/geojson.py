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

Coordinates are ``[x, y]`` pixels of the full-resolution image counted from its top-left
pixel corner, as QuPath and ImageJ count them (pixel ``(0, 0)`` spans ``[0, 1]`` in x and
y): section µm are these pixels times the pixel size. ROIs come back in µm, ``(y, x)``, as :class:`~cytowords.regions.Roi`: holes kept (no field is read in a hole,
their area does not count) and a MultiPolygon kept as **one** ROI with several parts, so an
annotation the user drew as one object (e.g. a layer cut in two by a vessel) is described as
one region and written back as one object. Lines are returned as paths only when asked for,
points only when asked for; otherwise each is skipped with a note. QuPath detections, cells
and tiles (thousands of tiny objects, each far smaller than a field) and TMA cores (tissue
spots, not drawn regions) are skipped with one note per object type counting them. Every other skipped feature gets one note naming the file and
the feature; input that holds no
readable ROI raises :class:`RegionFileError` with one line saying why.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
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
#: the value of a result field a file does not give (not described yet)
RESULT_DEFAULTS: dict[str, Any] = {
    k: math.nan if k in NUMERIC_FIELDS else False if k == "rejected" else "" for k in RESULT_FIELDS
}

#: QuPath object types that are not regions a user drew (any other type is read): detections,
#: cells and tiles (thousands of objects far smaller than a field), the root, and TMA cores
#: (the tissue spots of a microarray, found by QuPath's dearrayer: a spot is a piece of
#: tissue, not an area or layer someone outlined; to describe one, draw an annotation in it)
_SKIPPED_TYPES = {
    "detection",
    "cell",
    "tile",
    "root",
    "tma_core",
    "pathdetectionobject",
    "pathcellobject",
    "pathtileobject",
    "pathrootobject",
    "tmacoreobject",
}
#: how a note names the object types that are not plain words
_TYPE_WORDS = {"tma_core": "TMA core", "tmacoreobject": "TMA core"}
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
    ``named`` is False when the file gave the region no name (QuPath leaves ``name`` out of
    an unnamed annotation): ``ROI k`` is then only a label to show, never written back;
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
    named: bool = True

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
    skipped: dict[str, list[Any]] = {}  # type: [count, first index, last index, first label]
    for i, f in enumerate(feats, start=1):
        if isinstance(f, tuple) and f[:1] == (_SKIPPED,):  # cut by _slim
            _count_skipped(skipped, f[1], i, f[2], f[3])
            continue
        if isinstance(f, Mapping) and f.get("type") in _GEOMETRIES:
            f = {"type": "Feature", "geometry": f}
        if not isinstance(f, Mapping) or f.get("type") != "Feature":
            out.notes.append(f"{source}: feature {i}: not a GeoJSON Feature; skipped")
            continue
        props = f.get("properties") if isinstance(f.get("properties"), Mapping) else {}
        otype = _object_type(f, props)
        if otype is not None and otype.lower() in _SKIPPED_TYPES:
            # checked first: an export of all objects holds tens of thousands of these
            name = props.get("name")
            cls = classification_of(props.get("classification"))[0]
            _count_skipped(skipped, otype, i, name if isinstance(name, str) else None, cls)
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
            out.rois.append(RoiFeature(roi, cls, color, results, fid, i, named=bool(name)))
    out.notes += _skipped_notes(skipped, source)
    if not out.rois and not (out.points or out.paths):
        why = ""
        if out.notes:
            why = "; e.g. " + out.notes[0].removeprefix(f"{source}: ").removesuffix("; skipped")
        raise RegionFileError(f"{source}: no polygon annotation among {len(feats)} feature(s){why}")
    return out


def _count_skipped(
    skipped: dict[str, list[Any]], otype: str, i: int, name: str | None, cls: str | None
) -> None:
    """Count feature ``i``, a QuPath object of type ``otype`` that is not a region."""
    if otype in skipped:
        seen = skipped[otype]
        seen[0] += 1
        seen[2] = i
    else:
        props = {"name": name} if name else {}
        skipped[otype] = [1, i, i, _note_label(i, props, cls)]


def _skipped_notes(skipped: Mapping[str, list[Any]], source: str) -> list[str]:
    """One note per QuPath object type that is not an annotation (detections, cells, tiles,
    TMA cores): a single object is named, several are counted in one line (an export of all objects holds
    tens of thousands)."""
    notes = []
    for otype, (count, first, last, label) in skipped.items():
        what = _TYPE_WORDS.get(otype.lower(), otype)
        hint = " (draw an annotation in a core to describe it)" if what == "TMA core" else ""
        if count == 1:
            notes.append(
                f"{source}: {label}: a QuPath {what} object, not an annotation{hint}; skipped"
            )
        else:
            notes.append(
                f"{source}: {count:,} QuPath {what} objects (features {first}–{last}), "
                f"not annotations{hint}; skipped"
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
        text = _read_text(p)
    except OSError as exc:
        raise RegionFileError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise RegionFileError(f"{p}: not a text file (GeoJSON is UTF-8 JSON)") from None
    try:
        obj = loads_by_feature(text, _slim)
    except json.JSONDecodeError as exc:
        raise RegionFileError(f"{p}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return parse_geojson_rois(
        obj, pixel_size_um=pixel_size_um, source=str(p), points=points, paths=paths
    )


def _read_text(p: Path) -> str:
    """The file as UTF-8 text (BOM or not), decoded in 4 MB pieces: one decode of a 100 MB
    export holds Python's GIL ~0.1 s (a GUI thread waits that long), a piece ~4 ms."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    parts = []
    with open(p, "rb") as fh:
        while chunk := fh.read(4 << 20):
            parts.append(decoder.decode(chunk))
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def _slim(feature: Any) -> Any:
    """A QuPath object that is no region (detection, cell, tile, TMA core: ``_SKIPPED_TYPES``)
    cut to ``(SKIPPED, type, name, class)`` (what its note needs); any other value as it is. An export of all objects holds tens of
    thousands, each with its geometry and measurements: dropped as soon as each is decoded.
    A tuple of strings is no work for Python's garbage collector (JSON never gives tuples)."""
    if not isinstance(feature, Mapping):
        return feature
    props = feature.get("properties")
    props = props if isinstance(props, Mapping) else {}
    otype = _object_type(feature, props)
    if otype is None or otype.lower() not in _SKIPPED_TYPES:
        return feature
    name = props.get("name")
    return (
        _SKIPPED,
        otype,
        name if isinstance(name, str) else None,
        classification_of(props.get("classification"))[0],
    )


#: first item of a feature that :func:`_slim` cut
_SKIPPED = "skipped QuPath object"


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def loads_by_feature(text: str, each: Callable[[Any], Any] | None = None) -> Any:
    """``json.loads(text)``, decoding a top-level list, and the ``features`` list of a
    top-level object, one element at a time; ``each`` (if given) replaces every element.

    The errors are json's. The point is the time each call into json's C code holds Python's
    GIL: one ``json.loads`` of a 54 MB export of all objects holds it for seconds, and so
    does freeing what it built (a napari reader run in a worker thread would still freeze
    the GUI that long); one feature takes well under a millisecond, the interpreter hands
    the GIL to the GUI thread between features, and ``each`` can drop what is not needed
    feature by feature (:func:`_slim`).
    """

    def skip(i: int) -> int:
        return _SPACE.match(text, i).end()  # type: ignore[union-attr]

    def expect(i: int, char: str, what: str) -> int:
        if not text.startswith(char, i):
            raise json.JSONDecodeError(f"Expecting {what}", text, i)
        return skip(i + 1)

    def array(i: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        i = skip(i + 1)
        if text.startswith("]", i):
            return out, i + 1
        while True:
            value, i = _DECODER.raw_decode(text, i)
            out.append(each(value) if each is not None else value)
            i = skip(i)
            if text.startswith("]", i):
                return out, i + 1
            i = expect(i, ",", "',' delimiter")

    def value(i: int, key: Any = "features") -> tuple[Any, int]:
        if text.startswith("[", i) and key == "features":
            return array(i)
        return _DECODER.raw_decode(text, i)

    i = skip(0)
    if text.startswith("{", i):  # a FeatureCollection (or a Feature): its keys one by one
        obj: Any = {}
        i = skip(i + 1)
        if text.startswith("}", i):
            i += 1
        else:
            while True:
                if not text.startswith('"', i):
                    raise json.JSONDecodeError(
                        "Expecting property name enclosed in double quotes", text, i
                    )
                key, i = _DECODER.raw_decode(text, i)
                i = expect(skip(i), ":", "':' delimiter")
                obj[key], i = value(i, key)
                i = skip(i)
                if text.startswith("}", i):
                    i += 1
                    break
                i = expect(i, ",", "',' delimiter")
    else:
        obj, i = value(i)
    if skip(i) != len(text):
        raise json.JSONDecodeError("Extra data", text, skip(i))
    return obj


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
