"""Fiji/ImageJ ROI files as ImageJ writes them (binary ``Iout`` format, via ``roifile``'s
writer): rectangles, ovals, integer polygons (the polygon, freehand and wand tools),
composite shapes, points, lines; single ``.roi`` files and ROI Manager ``RoiSet.zip``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from roifile import ROI_TYPE, ImagejRoi, roiwrite


def rect_roi(left: int, top: int, right: int, bottom: int, name: str = "") -> ImagejRoi:
    return ImagejRoi(
        roitype=ROI_TYPE.RECT, left=left, top=top, right=right, bottom=bottom, name=name
    )


def oval_roi(left: int, top: int, right: int, bottom: int, name: str = "") -> ImagejRoi:
    return ImagejRoi(
        roitype=ROI_TYPE.OVAL, left=left, top=top, right=right, bottom=bottom, name=name
    )


def polygon_roi(xy, kind: ROI_TYPE = ROI_TYPE.POLYGON, name: str = "", color=None) -> ImagejRoi:
    """Integer ``[x, y]`` vertices, stored relative to the bounds as ImageJ does."""
    xy = np.asarray(xy, np.int32)
    (left, top), (right, bottom) = xy.min(axis=0), xy.max(axis=0)
    roi = ImagejRoi(
        roitype=kind,
        name=name,
        left=int(left),
        top=int(top),
        right=int(right),
        bottom=int(bottom),
        n_coordinates=len(xy),
        integer_coordinates=xy - [left, top],
    )
    if color is not None:  # ARGB bytes, big-endian as ImageJ writes
        roi.stroke_color = bytes([255, *color])
    return roi


def composite_roi(path: list[float], name: str = "") -> ImagejRoi:
    """A "shape" ROI from Java ``PathIterator`` segments (0 move, 1 line, 3 cubic, 4 close)."""
    arr = np.asarray(path, np.float32)
    return ImagejRoi(
        roitype=ROI_TYPE.RECT, shape_roi_size=len(arr), multi_coordinates=arr, name=name
    )


def points_roi(xy, name: str = "") -> ImagejRoi:
    roi = polygon_roi(xy, ROI_TYPE.POINT, name)
    return roi


def line_roi(x1: float, y1: float, x2: float, y2: float, name: str = "") -> ImagejRoi:
    return ImagejRoi(roitype=ROI_TYPE.LINE, x1=x1, y1=y1, x2=x2, y2=y2, name=name)


def write_roiset(path: Path, rois: list[ImagejRoi], names: list[str] | None = None) -> Path:
    """A ROI Manager ``RoiSet.zip`` (entries ``<name>.roi``)."""
    roiwrite(path, rois, name=names, mode="w")
    return path
