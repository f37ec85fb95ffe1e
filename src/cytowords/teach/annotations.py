"""Named regions to teach from: one :class:`Annotation` per region, on a given section.

Names are the user's own (atlas ids such as ``hOc1`` or any text, spaces and non-ASCII
letters included); leading/trailing blanks are dropped. QuPath annotations are named by
their class (else by their own name); napari shapes by the ``name`` feature the widget
reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..regions.roi import Roi, beyond_section


class TeachError(ValueError):
    """Input that cannot be taught from; the message is one line saying why."""


@dataclass(frozen=True)
class Annotation:
    """A region (µm, ``(y, x)``) named ``name`` on section number ``section`` (0-based,
    the order the sections are given in); ``source`` names the file or layer."""

    section: int
    name: str
    roi: Roi
    source: str = ""


#: the name ImageJ's ROI Manager gives a ROI it was not told the name of (``Roi.getLabel``):
#: ``YYYY-XXXX`` (centre y, x in pixels), ``SSSS-YYYY-XXXX`` with a slice, each at least 4 digits
IMAGEJ_LABEL = re.compile(r"\d{4,}-\d{4,}(-\d{4,})?")


#: the name the region readers give a region that has none (``ROI k``): no area
_PLACEHOLDER = re.compile(r"ROI \d+")

#: QuPath's special classes, no areas: ``Ignore*`` (regions to leave out, e.g. of a
#: classifier's training) and ``Region*`` (regions to analyse, e.g. tissue detection's)
QUPATH_SPECIAL_CLASSES = ("Ignore*", "Region*")


def clean_name(name: object) -> str:
    """The area name as the model stores it: the text with surrounding blanks removed
    ("" for None and for pandas' missing value)."""
    if name is None or (isinstance(name, float) and name != name):
        return ""
    return str(name).strip()


def area_name(classification: object, name: object) -> str:
    """The area a region teaches, the one rule of the CLI and the napari widget: its class
    (QuPath), else its own name; "" when it has neither, when its class is one of QuPath's
    special classes (:data:`QUPATH_SPECIAL_CLASSES`), when its name is only the readers'
    placeholder ``ROI k``, or ImageJ's position label (:func:`is_position_label`)."""
    cls = clean_name(classification)
    if cls in QUPATH_SPECIAL_CLASSES:
        return ""
    if cls:
        return cls
    own = clean_name(name)
    if _PLACEHOLDER.fullmatch(own) or IMAGEJ_LABEL.fullmatch(own):
        return ""
    return own


def special_class_note(where: str, cls: str, n: int) -> str:
    """The one note on the ``n`` regions of ``where`` (a file, a layer) whose class is QuPath's
    special class ``cls`` (:data:`QUPATH_SPECIAL_CLASSES`), which teach nothing."""
    return f"{where}: {n} region(s) of QuPath's special class {cls!r} (no area); skipped"


def is_position_label(classification: object, name: object) -> bool:
    """Whether a region without a class is named only by ImageJ's position label (the ROI
    Manager's default: Analyze Particles' outlines), so no area to teach."""
    return not clean_name(classification) and bool(IMAGEJ_LABEL.fullmatch(clean_name(name)))


def position_label_note(source: str, labels: Sequence[str]) -> str:
    """The one note counting the regions :func:`is_position_label` skipped."""
    return (
        f"{source}: {len(labels)} ROI(s) named only by ImageJ's position label (e.g. "
        f"{labels[0]!r}: ROI Manager's default, Analyze Particles' outlines); skipped: "
        "rename the regions to teach after their area"
    )


def check_inside(ann: Annotation, shape_um: tuple[float, float], image: str) -> None:
    """:class:`TeachError` when ``ann`` lies outside the section of ``shape_um``
    ``(height, width)`` µm, or reaches beyond it by more than
    :data:`~cytowords.regions.roi.OUTSIDE_TOLERANCE` of its extent
    (:func:`~cytowords.regions.roi.beyond_section`: drawn on an image of another size or
    pixel size)."""
    y0, x0, y1, x1 = ann.roi.bounds
    h, w = shape_um
    where = f"{ann.source + ': ' if ann.source else ''}region {ann.name!r}"
    if y1 <= 0 or x1 <= 0 or y0 >= h or x0 >= w:
        raise TeachError(
            f"{where} ({x0:.0f}, {y0:.0f})–({x1:.0f}, {y1:.0f}) µm (x, y) lies outside {image} "
            f"({w:.0f} × {h:.0f} µm): annotations of another image?"
        )
    if beyond_section([[y0, x0], [y1, x1]], shape_um).any():
        raise TeachError(
            f"{where} reaches to ({x1:.0f}, {y1:.0f}) µm (x, y), beyond {image} "
            f"({w:.0f} × {h:.0f} µm): annotated on an image of another size or pixel size?"
        )


def annotations_from_geojson(
    path: str | os.PathLike, section: int, pixel_size_um: float
) -> tuple[list[Annotation], list[str]]:
    """Named regions of a region file (QuPath/plugin GeoJSON, Fiji/ImageJ ``.roi`` or
    ``RoiSet.zip``: :func:`cytowords.regions.read_region_file`) for section number ``section``
    (coordinates in full-resolution pixels of ``pixel_size_um`` µm, unless the file
    records its own). Returns the annotations and notes on what was skipped (unnamed
    regions, lines, points; ImageJ ROIs named only by their default position label, counted
    in one note; regions of QuPath's ``Ignore*`` and ``Region*`` classes, one note each). :class:`TeachError` when the file has no named region."""
    from ..regions.geojson import RegionFileError, read_region_file

    try:
        read = read_region_file(path, pixel_size_um=pixel_size_um)
    except RegionFileError as exc:
        raise TeachError(str(exc)) from None
    out, notes, labels = [], list(read.notes), []
    special: dict[str, int] = {}
    for f in read.rois:
        if is_position_label(f.classification, f.roi.name):
            labels.append(clean_name(f.roi.name))
            continue
        cls = clean_name(f.classification)
        if cls in QUPATH_SPECIAL_CLASSES:
            special[cls] = special.get(cls, 0) + 1
            continue
        name = area_name(f.classification, f.roi.name)
        if not name:
            notes.append(f"{path}: feature {f.index}: no class or name; skipped")
            continue
        out.append(Annotation(section, name, f.roi, str(path)))
    if labels:
        notes.append(position_label_note(str(path), labels))
    for cls, n in special.items():
        notes.append(special_class_note(str(path), cls, n))
    if not out:
        raise TeachError(f"{path}: no region with a class or a name (the area to teach)")
    return out, notes


def group_names(annotations: Sequence[Annotation]) -> list[str]:
    """The distinct area names in first-seen order."""
    return list(dict.fromkeys(a.name for a in annotations))


def roi_from_vertices(vertices_um: np.ndarray, name: str) -> Roi:
    """A :class:`Roi` from ``(N, 2)`` ``(y, x)`` µm vertices (napari shapes)."""
    return Roi(np.asarray(vertices_um, dtype=float), name=name)
