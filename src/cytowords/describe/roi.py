"""Regions of interest in physical units and the patch grids laid inside them.

A ROI is a rectangle or a polygon in section coordinates, **micrometres**, ``(y, x)`` order
(napari's world order for a 2D image with scale in µm). Patches are squares of side
``patch_um`` whose centres lie on a regular grid of spacing ``stride_um`` inside the ROI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class RoiError(ValueError):
    """A ROI that cannot be described (empty, degenerate, outside the section...)."""


@dataclass(frozen=True)
class Roi:
    """A polygon ROI in µm; ``vertices`` is ``(N, 2)`` in ``(y, x)`` order.

    Rectangles are polygons with four vertices; use :meth:`rectangle` to build one.
    """

    vertices: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2:
            raise RoiError(
                f"ROI {self.name!r}: vertices must be (N, 2) (y, x) in µm, got {v.shape}"
            )
        if len(v) < 3 or not np.all(np.isfinite(v)):
            raise RoiError(f"ROI {self.name!r}: a polygon needs at least 3 finite vertices")
        object.__setattr__(self, "vertices", v)
        if self.area_um2 <= 0:
            raise RoiError(f"ROI {self.name!r}: the polygon has no area (all vertices on a line)")

    @classmethod
    def rectangle(cls, y0: float, x0: float, y1: float, x1: float, name: str = "") -> Roi:
        """Axis-aligned rectangle from two corners in µm (any order)."""
        ya, yb = sorted((float(y0), float(y1)))
        xa, xb = sorted((float(x0), float(x1)))
        return cls(np.array([[ya, xa], [ya, xb], [yb, xb], [yb, xa]]), name=name)

    @property
    def area_um2(self) -> float:
        """Polygon area in µm² (shoelace formula)."""
        y, x = self.vertices[:, 0], self.vertices[:, 1]
        return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2.0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(y0, x0, y1, x1)`` bounding box in µm."""
        lo = self.vertices.min(axis=0)
        hi = self.vertices.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def contains(self, points_yx: np.ndarray) -> np.ndarray:
        """Boolean mask of the ``(M, 2)`` points (µm) inside the polygon (even-odd rule)."""
        pts = np.asarray(points_yx, dtype=float).reshape(-1, 2)
        py, px = pts[:, 0][:, None], pts[:, 1][:, None]
        vy, vx = self.vertices[:, 0], self.vertices[:, 1]
        wy, wx = np.roll(vy, -1), np.roll(vx, -1)
        crosses = (vy > py) != (wy > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = vx + (py - vy) * (wx - vx) / (wy - vy)
        inside = crosses & (px < x_at)
        return (inside.sum(axis=1) % 2) == 1


def patch_grid(
    roi: Roi,
    *,
    patch_um: float,
    stride_um: float | None = None,
    section_shape_um: tuple[float, float] | None = None,
    max_patches: int | None = None,
    min_patches: int = 1,
) -> np.ndarray:
    """Centres ``(M, 2)`` (y, x, µm) of the patches to read for ``roi``.

    Centres are the centres of grid cells of size ``stride_um`` (default: ``patch_um / 2``)
    tiling the bounding box, kept where they fall inside the polygon, clipped to the section when ``section_shape_um`` (height, width) is given. A ROI
    smaller than one grid cell still gets one patch at its centroid. With ``max_patches`` the
    grid is coarsened (never randomly subsampled) until it fits. A ROI with fewer than
    ``min_patches`` grid centres also gets its centroid and the four points a quarter of
    its extent away from it diagonally (those inside the polygon and the section), so that
    a ROI smaller than the model's field is not decided by one field alone.
    """
    if patch_um <= 0:
        raise RoiError(f"patch size must be positive, got {patch_um} µm")
    stride = float(stride_um) if stride_um else patch_um / 2.0
    if stride <= 0:
        raise RoiError(f"stride must be positive, got {stride_um} µm")
    y0, x0, y1, x1 = roi.bounds
    if section_shape_um is not None:
        h, w = section_shape_um
        if y1 <= 0 or x1 <= 0 or y0 >= h or x0 >= w:
            raise RoiError(
                f"ROI {roi.name!r} ({y0:.0f}, {x0:.0f})–({y1:.0f}, {x1:.0f}) µm lies outside "
                f"the section (0, 0)–({h:.0f}, {w:.0f}) µm"
            )
    while True:
        ys = _axis(y0, y1, stride)
        xs = _axis(x0, x1, stride)
        gy, gx = np.meshgrid(ys, xs, indexing="ij")
        pts = np.stack([gy.ravel(), gx.ravel()], axis=1)
        pts = pts[roi.contains(pts)]
        if section_shape_um is not None:
            h, w = section_shape_um
            ok = (pts[:, 0] >= 0) & (pts[:, 0] < h) & (pts[:, 1] >= 0) & (pts[:, 1] < w)
            pts = pts[ok]
        if max_patches is None or len(pts) <= max_patches:
            break
        stride *= np.sqrt(len(pts) / max_patches) * 1.05
    if len(pts) < min_patches:
        pts = np.concatenate([pts, _small_roi_points(roi, section_shape_um)])
        pts = pts[np.unique(np.round(pts, 3), axis=0, return_index=True)[1]]
    if len(pts) == 0:
        c = roi.vertices.mean(axis=0, keepdims=True)
        if section_shape_um is not None:
            c = np.clip(c, 0, np.asarray(section_shape_um) - 1e-6)
        pts = c
    return pts


def _small_roi_points(roi: Roi, section_shape_um: tuple[float, float] | None) -> np.ndarray:
    """Centroid and 4 diagonal points a quarter of the extent away, inside ROI and section."""
    y0, x0, y1, x1 = roi.bounds
    c = roi.vertices.mean(axis=0)
    dy, dx = (y1 - y0) / 4.0, (x1 - x0) / 4.0
    pts = c + np.array([[0, 0], [-dy, -dx], [-dy, dx], [dy, -dx], [dy, dx]])
    pts = pts[roi.contains(pts)]
    if section_shape_um is not None:
        h, w = section_shape_um
        pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < h) & (pts[:, 1] >= 0) & (pts[:, 1] < w)]
    return pts


def _axis(lo: float, hi: float, stride: float) -> np.ndarray:
    """Centres of the grid cells of size ``stride`` tiling [lo, hi], centred in the span."""
    n = max(int(np.floor((hi - lo) / stride + 1e-9)), 1)
    start = lo + ((hi - lo) - n * stride) / 2.0 + stride / 2.0
    return start + stride * np.arange(n)
