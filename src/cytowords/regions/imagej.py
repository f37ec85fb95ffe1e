"""Fiji/ImageJ region files: one ``.roi`` file, or a ROI Manager set (``RoiSet.zip``).

The binary ROI format is decoded with ``roifile`` (Christoph Gohlke's reader of the files
exactly as ImageJ writes them). Each ROI becomes a GeoJSON feature in the image's **pixel**
coordinates, as QuPath exports them, and goes through the one GeoJSON reader
(:func:`cytowords.regions.geojson.parse_geojson_rois`), which converts pixels to µm with the
image's level-0 pixel size, keeps holes and parts, and skips points and lines with a note
unless asked for them. So:

- rectangle, oval (a polygon of :data:`OVAL_VERTICES` vertices), polygon, freehand, traced,
  rotated rectangle and ellipse: a polygon;
- composite ("shape") ROIs: each closed outline of the path is an outer ring or a hole by
  how deeply it is nested (even-odd), several outer rings a multi-part ROI; curved path
  segments are flattened to :data:`CURVE_VERTICES` vertices each;
- straight, segmented and freehand lines (and arrows): lines; point and multi-point ROIs:
  points; angle, text and image overlays, and empty ROIs: skipped with a note.

A ROI's name is the name ImageJ shows: its stored name, else (ROI Manager) the zip entry's
name without ``.roi``, else (single file) the file name. Its stroke colour, when set, is
the region's colour. Stack positions are ignored (sections are 2D).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .geojson import RegionFileError
from .roi import _in_ring, ring_area

#: vertices of the polygon an oval ROI becomes (area within 0.2 % of the ellipse's)
OVAL_VERTICES = 72
#: vertices per curved segment of a composite ROI's path
CURVE_VERTICES = 16
#: largest ROI entry read from a RoiSet.zip (bytes); larger entries are not ImageJ ROIs
MAX_ROI_BYTES = 64 << 20


def is_roiset(path: str | Path) -> bool:
    """Whether ``path`` is a zip file whose entries are ImageJ ``.roi`` files (a ROI
    Manager set) -- a quick check on the entry names, nothing decoded."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(n.lower().endswith(".roi") for n in names)


def imagej_features(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """``(features, notes)``: the ROIs of a ``.roi`` or ``RoiSet.zip`` file as GeoJSON
    Features in pixel ``[x, y]`` coordinates (``properties``: ``name``, ``color``), and one
    note per ROI left out (not decodable, or no region, line or points: angle, text...)
    naming the file and the ROI.

    Raises:
        RegionFileError: unreadable file, a zip without ``.roi`` entries, or a ``.roi`` file
            that is not in ImageJ's format (one line naming the file).
    """
    p = Path(path)
    entries = _entries(p)
    feats: list[dict[str, Any]] = []
    notes: list[str] = []
    for k, (label, data) in enumerate(entries, start=1):
        try:
            feat = roi_feature(_decode(data), label)
        except Exception as exc:  # noqa: BLE001  (corrupt bytes: roifile and numpy raise many types)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            if len(entries) == 1:
                raise RegionFileError(f"{p}: not an ImageJ ROI ({first})") from None
            notes.append(f"{p}: ROI {k} ({label!r}): cannot decode it ({first}); skipped")
            continue
        skip = feat["properties"].pop("skip", None)
        if skip:
            notes.append(f"{p}: ROI {k} ({feat['properties']['name']!r}): {skip}; skipped")
        else:
            feats.append(feat)
    return feats, notes


def _entries(p: Path) -> list[tuple[str, bytes]]:
    """``(default name, bytes)`` of each ROI in the file."""
    try:
        if p.suffix.lower() != ".zip":
            return [(p.stem, p.read_bytes())]
        with zipfile.ZipFile(p) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            rois = [i for i in infos if i.filename.lower().endswith(".roi")]
            if not rois:
                what = f"its {len(infos)} entries" if infos else "it is empty"
                raise RegionFileError(
                    f"{p}: not an ImageJ ROI set (no .roi file in the zip; {what}); expected "
                    "a RoiSet.zip saved by Fiji's ROI Manager"
                )
            out = []
            for i in rois:
                if i.file_size > MAX_ROI_BYTES:
                    raise RegionFileError(f"{p}: entry {i.filename!r} is too large for a ROI")
                out.append((Path(i.filename).stem, zf.read(i)))
            return out
    except zipfile.BadZipFile:
        raise RegionFileError(f"{p}: not a zip file (a RoiSet.zip is one)") from None
    except OSError as exc:
        raise RegionFileError(f"{p}: cannot read it ({exc.strerror or exc})") from None


def _decode(data: bytes) -> Any:
    """An ``ImagejRoi`` of the bytes; roifile's log warnings on damaged ROIs are not printed
    (a damaged ROI either decodes or becomes a note)."""
    from roifile import ImagejRoi

    if data[:4] != b"Iout":
        raise ValueError("no 'Iout' header")
    log = logging.getLogger("roifile")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return ImagejRoi.frombytes(data)
    finally:
        log.setLevel(level)


def roi_feature(roi: Any, default_name: str) -> dict[str, Any]:
    """One decoded ``roifile.ImagejRoi`` as a GeoJSON Feature in pixel coordinates (see
    the module doc for the shapes); a skipped kind gets a ``null`` geometry and the reason
    in ``properties["skip"]``."""
    from roifile import ROI_SUBTYPE, ROI_TYPE

    props: dict[str, Any] = {"name": roi.name or default_name}
    color = roi.hexcolor(roi.stroke_color)
    if color:
        props["color"] = color
    kind, sub = roi.roitype, roi.subtype
    geom: dict[str, Any] | None
    if sub in (ROI_SUBTYPE.TEXT, ROI_SUBTYPE.IMAGE):
        geom, props["skip"] = None, f"a {sub.name.lower()} overlay, not a region"
    elif roi.composite:
        geom = _composite(roi.multi_coordinates)
    elif kind == ROI_TYPE.OVAL:
        geom = _polygon_geometry([[_oval(*_bounds(roi))]])
    elif kind == ROI_TYPE.RECT:
        x0, y0, x1, y1 = _bounds(roi)
        geom = _polygon_geometry([[_closed(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))]])
    elif kind in (ROI_TYPE.POLYGON, ROI_TYPE.FREEHAND, ROI_TYPE.TRACED):
        geom = _polygon_geometry([[_closed(np.asarray(roi.coordinates(), float))]])
    elif kind in (ROI_TYPE.LINE, ROI_TYPE.FREELINE, ROI_TYPE.POLYLINE):
        geom = {"type": "LineString", "coordinates": np.asarray(roi.coordinates()).tolist()}
    elif kind == ROI_TYPE.POINT:
        geom = {"type": "MultiPoint", "coordinates": np.asarray(roi.coordinates()).tolist()}
    elif kind == ROI_TYPE.ANGLE:
        geom, props["skip"] = None, "an angle measurement, not a region"
    else:
        geom, props["skip"] = None, f"an ImageJ ROI of type {int(kind)} ({kind.name}), no region"
    return {"type": "Feature", "geometry": geom, "properties": props}


def _bounds(roi: Any) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` pixels of a rectangle or oval: the sub-pixel bounds
    ImageJ stores when the ROI was drawn with sub-pixel resolution, else the integer ones."""
    if roi.subpixelrect and roi.widthd > 0 and roi.heightd > 0:
        return (roi.xd, roi.yd, roi.xd + roi.widthd, roi.yd + roi.heightd)
    return (float(roi.left), float(roi.top), float(roi.right), float(roi.bottom))


def _closed(ring: np.ndarray) -> list[list[float]]:
    """An ``(N, 2)`` ``[x, y]`` ring as a closed GeoJSON ring."""
    r = np.asarray(ring, dtype=float).reshape(-1, 2)
    if len(r) and not np.array_equal(r[0], r[-1]):
        r = np.vstack([r, r[:1]])
    return r.tolist()


def _polygon_geometry(polygons: list[list[list[list[float]]]]) -> dict[str, Any]:
    """GeoJSON Polygon (one) or MultiPolygon (several) of ``[exterior, *holes]`` rings."""
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def _oval(left: float, top: float, right: float, bottom: float) -> np.ndarray:
    """The ellipse inscribed in the bounds as ``OVAL_VERTICES`` ``[x, y]`` vertices,
    scaled so that the polygon's area equals the ellipse's."""
    t = np.linspace(0.0, 2.0 * np.pi, OVAL_VERTICES, endpoint=False)
    n = OVAL_VERTICES
    grow = np.sqrt(2.0 * np.pi / (n * np.sin(2.0 * np.pi / n)))  # polygon area = ellipse area
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    rx, ry = (right - left) / 2.0 * grow, (bottom - top) / 2.0 * grow
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def path_rings(path: np.ndarray) -> list[np.ndarray]:
    """The closed outlines ``(N, 2)`` ``[x, y]`` of a composite ROI's path (Java
    ``PathIterator`` segments: 0 move, 1 line, 2 quadratic, 3 cubic curve, 4 close)."""
    vals = [float(v) for v in np.asarray(path, dtype=float).ravel()]
    rings: list[np.ndarray] = []
    pts: list[tuple[float, float]] = []
    n, t = 0, np.linspace(0.0, 1.0, CURVE_VERTICES + 1)[1:]
    nargs = {0: 2, 1: 2, 2: 4, 3: 6, 4: 0}
    while n < len(vals):
        op = int(vals[n])
        if op not in nargs or n + 1 + nargs[op] > len(vals):
            raise ValueError(f"invalid path segment {op} at position {n}")
        a = vals[n + 1 : n + 1 + nargs[op]]
        if op == 0:
            if len(pts) >= 3:
                rings.append(np.asarray(pts))
            pts = [(a[0], a[1])]
        elif op == 1:
            pts.append((a[0], a[1]))
        elif op in (2, 3):
            if not pts:
                raise ValueError("a curve before any point")
            ctrl = np.array([pts[-1], *zip(a[0::2], a[1::2])])
            pts += [tuple(p) for p in _bezier(ctrl, t)]
        elif op == 4 and len(pts) >= 3:
            rings.append(np.asarray(pts))
            pts = []
        n += 1 + nargs[op]
    if len(pts) >= 3:
        rings.append(np.asarray(pts))
    return rings


def _bezier(ctrl: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at ``t`` of the Bézier curve with control points ``ctrl`` (de Casteljau)."""
    pts = np.repeat(ctrl[None], len(t), axis=0)
    while pts.shape[1] > 1:
        pts = pts[:, :-1] + t[:, None, None] * (pts[:, 1:] - pts[:, :-1])
    return pts[:, 0]


def _composite(path: np.ndarray | None) -> dict[str, Any]:
    """A composite ROI as a Polygon/MultiPolygon: outlines nested an odd number of times in
    others are holes of the smallest outline around them, the others are outer rings."""
    rings = [r for r in path_rings(path if path is not None else np.empty(0)) if ring_area(r) > 0]
    if not rings:
        raise ValueError("a composite ROI without an outline")
    # (y, x) for the ring helpers; a ring is inside another if its first vertex is
    yx = [r[:, ::-1] for r in rings]
    inside = [
        [j for j in range(len(rings)) if j != i and _in_ring(yx[j], yx[i][:1])[0]]
        for i in range(len(rings))
    ]
    outer = [i for i in range(len(rings)) if len(inside[i]) % 2 == 0]
    polys: dict[int, list[list[list[float]]]] = {i: [_closed(rings[i])] for i in outer}
    for i in range(len(rings)):
        if len(inside[i]) % 2 == 1:
            parents = [j for j in inside[i] if j in polys]
            parent = min(parents, key=lambda j: ring_area(rings[j]))
            polys[parent].append(_closed(rings[i]))
    return _polygon_geometry(list(polys.values()))
