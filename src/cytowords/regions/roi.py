"""Regions of interest in physical units and the patch grids laid inside them.

A ROI is a rectangle or a polygon in section coordinates, **micrometres**, ``(y, x)`` order
(napari's world order for a 2D image with scale in µm). Patches are squares of side
``patch_um`` whose centres lie on a regular grid of spacing ``stride_um`` inside the ROI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class RoiError(ValueError):
    """A ROI that cannot be described (empty, degenerate, outside the section...)."""


def _ring(v: np.ndarray | list, name: str, what: str) -> np.ndarray:
    """A ring as a float ``(N, 2)`` array of at least 3 finite vertices (closing vertex dropped)."""
    r = np.asarray(v, dtype=float)
    if r.ndim != 2 or r.shape[1] != 2:
        raise RoiError(f"ROI {name!r}: {what} vertices must be (N, 2) (y, x) in µm, got {r.shape}")
    if len(r) > 1 and np.array_equal(r[0], r[-1]):
        r = r[:-1]
    if len(r) < 3 or not np.all(np.isfinite(r)):
        raise RoiError(f"ROI {name!r}: {what} needs at least 3 finite vertices, got {len(r)}")
    return r


def ring_area(r: np.ndarray) -> float:
    """Unsigned area of an ``(N, 2)`` ring (shoelace formula), in its units squared."""
    r = np.asarray(r, dtype=float)
    y, x = r[:, 0], r[:, 1]
    with np.errstate(over="ignore", invalid="ignore"):  # absurd coordinates: inf / nan
        return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2.0)


def _no_area_why(r: np.ndarray) -> str:
    """Why a ring of at least 3 vertices encloses no area: all its vertices on one line, its
    holes covering it, or an outline that crosses itself so that its loops cancel (a
    bow-tie: the shoelace area of two equal loops traced in opposite senses is 0)."""
    d = r - r[0]
    far = d[int(np.argmax(np.hypot(d[:, 0], d[:, 1])))]  # the line, if they are on one
    cross = d[:, 0] * far[1] - d[:, 1] * far[0]
    if float(np.abs(cross).max()) > 1e-9 * float(far @ far):
        if ring_area(r) > 0:
            return "its holes cover it"
        return "its outline crosses itself and its loops cancel, like a bow-tie; redraw it"
    return "all vertices on a line"


def _in_ring(r: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Boolean mask of the ``(M, 2)`` points inside the ring (even-odd rule)."""
    py, px = pts[:, 0][:, None], pts[:, 1][:, None]
    vy, vx = r[:, 0], r[:, 1]
    wy, wx = np.roll(vy, -1), np.roll(vx, -1)
    crosses = (vy > py) != (wy > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = vx + (py - vy) * (wx - vx) / (wy - vy)
    inside = crosses & (px < x_at)
    return (inside.sum(axis=1) % 2) == 1


@dataclass(frozen=True)
class Roi:
    """A polygon ROI in µm; ``vertices`` is ``(N, 2)`` in ``(y, x)`` order.

    ``holes`` are interior rings (``(K, 2)`` arrays, µm) cut out of the polygon: points in a
    hole are outside the ROI, their area does not count and no field is read there (QuPath
    annotations with holes, e.g. a region around a vessel). ``parts`` are further polygons
    (each a :class:`Roi`, possibly with holes) of one multi-part ROI, e.g. a QuPath
    annotation stored as a MultiPolygon: the ROI is their union and is described as one
    region. Rectangles are polygons with four vertices; use :meth:`rectangle` to build one.
    """

    vertices: np.ndarray
    name: str = ""
    holes: tuple[np.ndarray, ...] = ()
    parts: tuple[Roi, ...] = ()

    def __post_init__(self) -> None:
        v = _ring(self.vertices, self.name, "a polygon")
        object.__setattr__(self, "vertices", v)
        holes = tuple(_ring(h, self.name, f"hole {k + 1}") for k, h in enumerate(self.holes))
        object.__setattr__(self, "holes", holes)
        parts: list[Roi] = []
        for p in self.parts:
            p = p if isinstance(p, Roi) else Roi(p, name=self.name)
            # one level: the parts of a part are parts of the whole
            parts += [Roi(p.vertices, self.name, p.holes), *p.parts]
        object.__setattr__(self, "parts", tuple(parts))
        for k, h in enumerate(holes):
            if ring_area(h) <= 0 or not _in_ring(v, h).any():
                raise RoiError(
                    f"ROI {self.name!r}: hole {k + 1} has no area or lies outside the polygon"
                )
        if not np.isfinite(ring_area(v)):
            raise RoiError(
                f"ROI {self.name!r}: coordinates too large to measure (up to "
                f"{float(np.abs(v).max()):.3g} µm): drawn in another unit or image?"
            )
        if ring_area(v) - sum(ring_area(h) for h in holes) <= 0:
            raise RoiError(f"ROI {self.name!r}: the polygon has no area ({_no_area_why(v)})")

    @classmethod
    def rectangle(cls, y0: float, x0: float, y1: float, x1: float, name: str = "") -> Roi:
        """Axis-aligned rectangle from two corners in µm (any order)."""
        ya, yb = sorted((float(y0), float(y1)))
        xa, xb = sorted((float(x0), float(x1)))
        return cls(np.array([[ya, xa], [ya, xb], [yb, xb], [yb, xa]]), name=name)

    @property
    def polygons(self) -> list[tuple[np.ndarray, tuple[np.ndarray, ...]]]:
        """``(exterior, holes)`` of each polygon of the ROI (one unless it has ``parts``)."""
        return [(self.vertices, self.holes), *((p.vertices, p.holes) for p in self.parts)]

    @property
    def area_um2(self) -> float:
        """Area in µm² (shoelace formula): the polygons' areas less their holes'."""
        return float(sum(ring_area(v) - sum(ring_area(h) for h in hs) for v, hs in self.polygons))

    @property
    def centroid(self) -> np.ndarray:
        """Mean vertex ``(y, x)`` µm of all outer rings (may lie in a hole or between parts)."""
        return np.concatenate([v for v, _ in self.polygons]).mean(axis=0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(y0, x0, y1, x1)`` bounding box in µm."""
        allv = np.concatenate([v for v, _ in self.polygons])
        lo = allv.min(axis=0)
        hi = allv.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def contains(self, points_yx: np.ndarray) -> np.ndarray:
        """Boolean mask of the ``(M, 2)`` points (µm) inside the ROI: inside a polygon
        (even-odd rule) and in none of its holes."""
        pts = np.asarray(points_yx, dtype=float).reshape(-1, 2)
        out = np.zeros(len(pts), bool)
        for v, holes in self.polygons:
            inside = _in_ring(v, pts)
            for h in holes:
                inside &= ~_in_ring(h, pts)
            out |= inside
        return out


#: a region or path may reach this share of the section's extent beyond its edge (a loosely
#: drawn outline) before it reads as drawn on another image (of another size or pixel size)
OUTSIDE_TOLERANCE = 0.05


def beyond_section(points_um: np.ndarray | list, shape_um: tuple[float, float]) -> np.ndarray:
    """For each ``(y, x)`` µm point (``(N, 2)``; a region's bounding-box corners, a path's
    vertices): whether it lies beyond the section of ``shape_um`` (height, width) µm by more
    than :data:`OUTSIDE_TOLERANCE` of the section's extent: the one rule of ``describe``,
    ``borders``, ``teach`` and napari's *Describe* for regions drawn on another image."""
    p = np.asarray(points_um, dtype=float).reshape(-1, 2)
    h, w = shape_um
    ty, tx = OUTSIDE_TOLERANCE * h, OUTSIDE_TOLERANCE * w
    return (p[:, 0] < -ty) | (p[:, 0] > h + ty) | (p[:, 1] < -tx) | (p[:, 1] > w + tx)


def reaching_beyond(rois: Sequence[Roi], shape_um: tuple[float, float]) -> list[int]:
    """Indices of the ``rois`` that overlap the section of ``shape_um`` (height, width) µm
    but reach beyond it by more than :data:`OUTSIDE_TOLERANCE` of its extent
    (:func:`beyond_section`): described, but likely drawn on an image of another size or
    pixel size (those wholly outside are refused each on its own)."""
    h, w = shape_um
    out = []
    for i, roi in enumerate(rois):
        y0, x0, y1, x1 = roi.bounds
        inside = y1 > 0 and x1 > 0 and y0 < h and x0 < w
        if inside and beyond_section([[y0, x0], [y1, x1]], shape_um).any():
            out.append(i)
    return out


def reaching_beyond_line(
    rois: Sequence[Roi], beyond: Sequence[int], shape_um: tuple[float, float], image: str
) -> str:
    """One line on the regions :func:`reaching_beyond` found (indices ``beyond``, not
    empty), naming the first, for the CLI's stderr and napari's notification."""
    h, w = shape_um
    return (
        f"{len(beyond)} region(s) reach beyond {image} ({w:.0f} × {h:.0f} µm), e.g. "
        f"{rois[beyond[0]].name!r}: drawn on an image of another size or pixel size?"
    )


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
    tiling the bounding box, kept where they fall inside the ROI (never in a hole), clipped to
    the section when ``section_shape_um`` (height, width) is given. A ROI smaller than one
    grid cell still gets one patch at its centroid (or, when that lies in a hole or outside,
    at a point inside the ROI near it). With ``max_patches`` the
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
                f"ROI {roi.name!r} ({x0:.0f}, {y0:.0f})–({x1:.0f}, {y1:.0f}) µm (x, y) lies "
                f"outside the section ({w:.0f} × {h:.0f} µm): drawn on another image?"
            )
    while True:
        h, w = section_shape_um if section_shape_um is not None else (None, None)
        ys = _axis(y0, y1, stride, h)
        xs = _axis(x0, x1, stride, w)
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
        c = _inside_point(roi)[None]
        if section_shape_um is not None:
            c = np.clip(c, 0, np.asarray(section_shape_um) - 1e-6)
        pts = c
    return pts


def _inside_point(roi: Roi, n: int = 64) -> np.ndarray:
    """A point ``(y, x)`` µm inside the ROI (not in a hole): its vertex centroid when that
    is inside, else the inside point of an ``n`` x ``n`` grid over its bounds nearest to it."""
    c = roi.centroid
    if roi.contains(c[None])[0]:
        return c
    y0, x0, y1, x1 = roi.bounds
    gy, gx = np.meshgrid(np.linspace(y0, y1, n + 2)[1:-1], np.linspace(x0, x1, n + 2)[1:-1])
    pts = np.stack([gy.ravel(), gx.ravel()], axis=1)
    pts = pts[roi.contains(pts)]
    if not len(pts):  # thinner than the grid: a vertex is on the ROI
        return roi.vertices[0]
    return pts[np.argmin(((pts - c) ** 2).sum(axis=1))]


def _small_roi_points(roi: Roi, section_shape_um: tuple[float, float] | None) -> np.ndarray:
    """Centroid and 4 diagonal points a quarter of the extent away, inside ROI and section."""
    y0, x0, y1, x1 = roi.bounds
    c = roi.centroid
    dy, dx = (y1 - y0) / 4.0, (x1 - x0) / 4.0
    pts = c + np.array([[0, 0], [-dy, -dx], [-dy, dx], [dy, -dx], [dy, dx]])
    pts = pts[roi.contains(pts)]
    if section_shape_um is not None:
        h, w = section_shape_um
        pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < h) & (pts[:, 1] >= 0) & (pts[:, 1] < w)]
    return pts


def _axis(lo: float, hi: float, stride: float, extent: float | None = None) -> np.ndarray:
    """Centres of the grid cells of size ``stride`` tiling [lo, hi], centred in the span;
    with ``extent`` only those in [0, extent) (the section): the same centres, never a grid
    over the whole span of a region drawn far beyond the section (e.g. in another image's
    pixels), which could not be held in memory."""
    n = max(int(np.floor((hi - lo) / stride + 1e-9)), 1)
    start = lo + ((hi - lo) - n * stride) / 2.0 + stride / 2.0
    k0, k1 = 0, n
    if extent is not None:
        k0 = min(max(int(np.ceil((0.0 - start) / stride)), 0), n)
        k1 = max(min(int(np.floor((extent - start) / stride)) + 1, n), k0)
    return start + stride * np.arange(k0, k1)
