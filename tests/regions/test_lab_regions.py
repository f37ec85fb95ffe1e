"""Region files labs produce by accident: a bow-tie (an outline that crosses itself so that
its two loops cancel) is refused with the reason, not as a line; a region drawn in another
image's pixels (far beyond the section) is tiled on the section only; absurd coordinates
are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cytowords.regions.geojson import RegionFileError, read_region_file
from cytowords.regions.roi import Roi, _axis, patch_grid


def _geojson(path: Path, ring: list[list[float]], name: str) -> Path:
    geom = {"type": "Polygon", "coordinates": [ring]}
    props = {"objectType": "annotation", "name": name}
    feature = {"type": "Feature", "geometry": geom, "properties": props}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def test_a_bow_tie_is_said_to_cross_itself(tmp_path: Path) -> None:
    # a freehand outline closed the wrong way round: two equal loops traced in opposite
    # senses; formerly "all vertices on a line", which they are not
    bow = [[315, 300], [475, 450], [475, 300], [315, 450], [315, 300]]
    path = _geojson(tmp_path / "bow.geojson", bow, "bow")
    with pytest.raises(RegionFileError) as err:
        read_region_file(path, pixel_size_um=20.0)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "\n" not in msg
    assert "crosses itself" in msg and "on a line" not in msg


def test_a_flat_polygon_is_still_said_to_lie_on_a_line(tmp_path: Path) -> None:
    flat = [[315, 300], [475, 400], [395, 350], [315, 300]]
    path = _geojson(tmp_path / "flat.geojson", flat, "flat")
    with pytest.raises(RegionFileError, match=r"all vertices on a line"):
        read_region_file(path, pixel_size_um=20.0)


def _grid_over_the_span(roi: Roi, patch_um: float, shape_um: tuple[float, float]) -> np.ndarray:
    """The grid of :func:`patch_grid` over the region's whole bounding box, then clipped (as
    it was computed before the grid was limited to the section)."""
    y0, x0, y1, x1 = roi.bounds
    stride = patch_um / 2
    gy, gx = np.meshgrid(_axis(y0, y1, stride), _axis(x0, x1, stride), indexing="ij")
    pts = np.stack([gy.ravel(), gx.ravel()], axis=1)
    pts = pts[roi.contains(pts)]
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < shape_um[0]) & (pts[:, 1] >= 0)
    return pts[ok & (pts[:, 1] < shape_um[1])]


def test_a_region_reaching_beyond_the_section_keeps_its_grid(tmp_path: Path) -> None:
    # partly beyond the 10 × 14 mm section: the same centres as over its whole span
    shape = (14000.0, 10000.0)
    roi = Roi(np.array([[-7300.0, -3100.0], [9000.0, 2500.0], [12000.0, 23000.0], [-900, 18000]]))
    got = patch_grid(roi, patch_um=1000.0, section_shape_um=shape)
    np.testing.assert_array_equal(got, _grid_over_the_span(roi, 1000.0, shape))
    assert len(got) > 20


def test_a_region_drawn_in_another_images_pixels_is_tiled_only_on_the_section() -> None:
    # a QuPath annotation drawn on a 40x finer image (0.5 µm/px) read at 20 µm/px: it spans
    # 40 m; formerly a grid of 4e8 centres over its span ("Maximum allowed size exceeded"
    # from `cytowords describe`, no file named)
    shape = (14000.0, 10000.0)
    roi = Roi(np.array([[0.0, 0.0], [0.0, 4e7], [4e7, 4e7], [4e7, 0.0]]), name="big")
    got = patch_grid(roi, patch_um=4096.0, section_shape_um=shape)
    assert 0 < len(got) <= 8 * 6
    assert (got >= 0).all() and (got < np.array(shape)).all()


def test_absurd_coordinates_are_refused_in_one_line(tmp_path: Path) -> None:
    ring = [[0, 0], [1e300, 0], [1e300, 1e300], [0, 0]]
    path = _geojson(tmp_path / "huge.geojson", ring, "huge")
    with pytest.raises(RegionFileError, match=r"huge.geojson: .*coordinates too large"):
        read_region_file(path, pixel_size_um=20.0)
