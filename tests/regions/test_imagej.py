"""Fiji/ImageJ ROI files (``.roi``, ROI Manager ``RoiSet.zip``) through the one region
loader: shapes, holes, names and colours, pixel -> µm exactly as QuPath GeoJSON."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from roifile import ROI_OPTIONS, ROI_TYPE, ImagejRoi

from cytowords.regions import RegionFileError, read_region_file
from cytowords.regions.imagej import CURVE_VERTICES, OVAL_VERTICES, is_roiset
from tests.support.imagej_files import (
    composite_roi,
    line_roi,
    oval_roi,
    points_roi,
    polygon_roi,
    rect_roi,
    write_roiset,
)

PX = 2.0  # µm per pixel of the image the ROIs were drawn on


def test_roiset_shapes_names_and_areas(tmp_path: Path) -> None:
    tri = [[300, 300], [480, 320], [350, 480]]
    donut = [
        0,
        0,
        0,
        1,
        100,
        0,
        1,
        100,
        100,
        1,
        0,
        100,
        4,
        0,
        40,
        40,
        1,
        60,
        40,
        1,
        60,
        60,
        1,
        40,
        60,
        4,
    ]
    path = write_roiset(
        tmp_path / "RoiSet.zip",
        [
            rect_roi(100, 50, 300, 150, name="V1 box"),
            oval_roi(0, 0, 100, 50, name="oval"),
            polygon_roi(tri, name="polygon", color=(255, 0, 0)),
            polygon_roi(tri, ROI_TYPE.FREEHAND, name="freehand"),
            polygon_roi(tri, ROI_TYPE.TRACED, name="traced"),
            composite_roi(donut, name="around a vessel"),
            points_roi([[5, 5], [6, 7]], name="cells"),
            line_roi(0, 0, 50, 50, name="a cut"),
        ],
    )
    assert is_roiset(path)
    read = read_region_file(path, pixel_size_um=PX)
    names = [f.name for f in read.rois]
    assert names == ["V1 box", "oval", "polygon", "freehand", "traced", "around a vessel"]
    box, oval, poly, free, traced, holey = (f.roi for f in read.rois)
    # [x, y] pixels -> (y, x) µm, the QuPath GeoJSON conversion
    assert box.bounds == (50 * PX, 100 * PX, 150 * PX, 300 * PX)
    assert box.area_um2 == pytest.approx(200 * 100 * PX**2)
    assert len(oval.vertices) == OVAL_VERTICES
    assert oval.area_um2 == pytest.approx(np.pi * 50 * 25 * PX**2, rel=1e-9)
    tri_area = 0.5 * abs((480 - 300) * (480 - 300) - (350 - 300) * (320 - 300)) * PX**2
    for roi in (poly, free, traced):
        assert roi.area_um2 == pytest.approx(tri_area)
        np.testing.assert_allclose(roi.vertices, np.array(tri)[:, ::-1] * PX)
    assert len(holey.holes) == 1 and holey.area_um2 == pytest.approx((100**2 - 20**2) * PX**2)
    assert not holey.contains(np.array([[50 * PX, 50 * PX]]))[0], "the hole is cut out"
    assert read.rois[2].color == "#ff0000" and read.rois[0].color is None
    assert read.notes == [
        f"{path}: feature 7 ('cells'): 2 point(s), not a region; skipped",
        f"{path}: feature 8 ('a cut'): a line, not a region; skipped",
    ]
    # points and lines when asked for (the borders command reads paths)
    both = read_region_file(path, pixel_size_um=PX, points=True, paths=True)
    np.testing.assert_allclose(both.points[0].vertices, [[5 * PX, 5 * PX], [7 * PX, 6 * PX]])
    np.testing.assert_allclose(both.paths[0].vertices, [[0, 0], [50 * PX, 50 * PX]])


def test_composite_with_islands_and_curves(tmp_path: Path) -> None:
    """Nesting decides holes (even-odd): an island inside a hole is a part of its own; a
    cubic curve (ImageJ's ShapeRoi keeps ovals as curves) is flattened."""
    square = lambda a, b: [0, a, a, 1, b, a, 1, b, b, 1, a, b, 4]  # noqa: E731
    path = square(0, 100) + square(20, 80) + square(40, 60)
    # a closed cubic "lens": from (200, 0) bulging to x=300 and back
    path += [0, 200, 0, 3, 300, 0, 300, 100, 200, 100, 1, 200, 0, 4]
    roi_file = tmp_path / "shape.roi"
    composite_roi(path, name="nested").tofile(roi_file)
    (f,) = read_region_file(roi_file, pixel_size_um=1.0).rois
    assert f.name == "nested"
    (outer, holes), (island, no_holes), (lens, _) = f.roi.polygons
    assert len(holes) == 1 and not no_holes
    assert ring_bounds(island) == (40, 40, 60, 60) and ring_bounds(holes[0]) == (20, 20, 80, 80)
    # the lens: x - 200 = 300 t (1 - t), y = 100 (3 t² - 2 t³); area ∫ (x - 200) dy = 6000
    # exactly; flattened to CURVE_VERTICES chords, a little less
    assert len(lens) == CURVE_VERTICES + 1 and 5950 < _area(lens) < 6000
    assert f.roi.area_um2 == pytest.approx(100**2 - 60**2 + 20**2 + _area(lens))


def ring_bounds(ring: np.ndarray) -> tuple[float, ...]:
    lo, hi = ring.min(axis=0), ring.max(axis=0)
    return (*lo.tolist(), *hi.tolist())


def _area(ring: np.ndarray) -> float:
    y, x = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def test_subpixel_rectangle_and_oval(tmp_path: Path) -> None:
    """ImageJ 1.52+ keeps float bounds of a rectangle/oval drawn at sub-pixel resolution."""
    opts = ROI_OPTIONS.SUB_PIXEL_RESOLUTION
    common = {"options": opts, "version": 228, "left": 10, "top": 20, "right": 31, "bottom": 41}
    box = ImagejRoi(roitype=ROI_TYPE.RECT, xd=10.25, yd=20.5, widthd=20.5, heightd=20.0, **common)
    ell = ImagejRoi(roitype=ROI_TYPE.OVAL, xd=10.25, yd=20.5, widthd=20.5, heightd=20.0, **common)
    path = write_roiset(tmp_path / "sub.zip", [box, ell], names=["box", "ell"])
    rect, oval = (f.roi for f in read_region_file(path, pixel_size_um=1.0).rois)
    assert rect.bounds == pytest.approx((20.5, 10.25, 40.5, 30.75))
    assert oval.area_um2 == pytest.approx(np.pi * 10.25 * 10.0)


def test_names_as_imagej_shows_them(tmp_path: Path) -> None:
    """No stored name: the ROI Manager's entry name (a zip) or the file name (a .roi)."""
    zpath = write_roiset(tmp_path / "set.zip", [rect_roi(1, 2, 30, 40)], names=["0002-0001"])
    assert [f.name for f in read_region_file(zpath, pixel_size_um=1.0).rois] == ["0002-0001"]
    rect_roi(1, 2, 30, 40).tofile(tmp_path / "layer 3.roi")
    (f,) = read_region_file(tmp_path / "layer 3.roi", pixel_size_um=1.0).rois
    assert f.name == "layer 3"


def test_unreadable_rois_are_notes_or_one_line_errors(tmp_path: Path) -> None:
    zpath = tmp_path / "RoiSet.zip"
    good = rect_roi(0, 0, 10, 10, name="good").tobytes()
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("good.roi", good)
        zf.writestr("broken.roi", b"not a roi at all")
        zf.writestr("angle.roi", ImagejRoi(roitype=ROI_TYPE.ANGLE, name="angle").tobytes())
    read = read_region_file(zpath, pixel_size_um=1.0)
    assert [f.name for f in read.rois] == ["good"]
    assert read.notes[0].startswith(f"{zpath}: ROI 2 ('broken'): cannot decode it")
    assert read.notes[1] == f"{zpath}: ROI 3 ('angle'): an angle measurement, not a region; skipped"

    cases = {
        "garbage.roi": (b"\x00\x01\x02", "not an ImageJ ROI"),
        "notazip.zip": (b"PK but not really", "not a zip file"),
        "missing.roi": (None, "cannot read it"),
    }
    other = tmp_path / "pictures.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("a.png", b"x")
    for name, (data, why) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(RegionFileError) as err:
            read_region_file(tmp_path / name, pixel_size_um=1.0)
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path / name}: ") and why in msg and "\n" not in msg
    with pytest.raises(RegionFileError, match="no .roi file in the zip"):
        read_region_file(other, pixel_size_um=1.0)
    assert not is_roiset(other) and not is_roiset(tmp_path / "notazip.zip")
    only_points = write_roiset(tmp_path / "pts.zip", [points_roi([[1, 1], [2, 2]], "p")])
    with pytest.raises(RegionFileError, match="no polygon annotation"):
        read_region_file(only_points, pixel_size_um=1.0)
    with pytest.raises(RegionFileError, match="no pixel size"):
        read_region_file(zpath)


def test_same_rois_as_the_qupath_geojson(tmp_path: Path) -> None:
    """The same polygon as an ImageJ ROI and as QuPath GeoJSON gives the same µm ROI."""
    ring = [[10, 20], [200, 25], [180, 160], [15, 140]]
    polygon_roi(ring, name="same").tofile(tmp_path / "same.roi")
    gj = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        "properties": {"objectType": "annotation", "name": "same"},
    }
    (tmp_path / "same.geojson").write_text(json.dumps(gj))
    a = read_region_file(tmp_path / "same.roi", pixel_size_um=0.4).rois[0].roi
    b = read_region_file(tmp_path / "same.geojson", pixel_size_um=0.4).rois[0].roi
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert a.name == b.name == "same"
