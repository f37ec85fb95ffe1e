"""Cortical geometry: map world positions (µm) to cortical depth, ribbon position and area.

A :class:`Geometry` answers, for arrays of points ``(x, y)`` in µm (x to the right, y
down): the depth below the pia in µm (negative above the pia / outside the tissue), the
position along the ribbon in µm, and the two areas whose profiles blend there (``ia``,
``ib``, weight ``w`` of ``ib``; gradual borders). Renderers only talk to this interface, so
patches (analytic, :class:`PatchGeometry`) and whole sections (folded ribbon,
``ribbon.RibbonGeometry``) share the same cell and stain code.
"""

from __future__ import annotations

import numpy as np

from . import equivolume
from .brain import REALISM_COMPONENTS
from .profile_table import depth_to_bin


def wobble(along: np.ndarray) -> np.ndarray:
    """Small undulation of the layer borders along the ribbon (relative depth)."""
    return 0.012 * np.sin(along / 170.0 + 1.3) + 0.008 * np.sin(along / 57.0 + 0.4)


class Geometry:
    """Base class. Subclasses set ``area_ids``, ``tables`` (n_areas, F, bins) and
    ``thickness`` (n_areas,) and implement :meth:`sample`; ``realism`` is the set of
    realistic components in use (``Brain.realism``): with ``"bok"`` in it, thickness and
    laminar proportions follow the pial curvature (:meth:`curvature`, see
    :mod:`.equivolume`)."""

    area_ids: list[str]
    tables: np.ndarray
    thickness: np.ndarray
    realistic: bool = False
    realism: frozenset[str] = frozenset()

    def sample(self, x: np.ndarray, y: np.ndarray):
        """Return ``depth_um, along_um, ia, ib, w`` for points (µm)."""
        raise NotImplementedError

    def curvature(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | float:
        """Curvature (1/µm) of the pia nearest to the points (+ gyral crown, − fundus);
        a scalar where it is the same everywhere."""
        return np.zeros(np.shape(x))

    def local(self, x: np.ndarray, y: np.ndarray):
        """``depth_um, along_um, ia, ib, w, thickness_um, k`` at points: the local cortical
        thickness (areas blended; on crowns thicker with Bok) and the bend ``k = κ T``."""
        depth, along, ia, ib, w = self.sample(x, y)
        th = self.thickness[ia]
        if np.any(w > 1e-4):
            th = (1 - w) * th + w * self.thickness[ib]
        if "bok" not in self.realism:
            return depth, along, ia, ib, w, th, None
        kappa = self.curvature(x, y)
        th = th * equivolume.thickness_factor(kappa)
        return depth, along, ia, ib, w, th, equivolume.bend(kappa, th)

    def table_depth(self, depth: np.ndarray, along: np.ndarray, th: np.ndarray, k) -> np.ndarray:
        """Position on the depth tables' (volume) axis of points at ``depth`` µm."""
        rel = depth / th
        if k is not None:
            rel = equivolume.volume_depth(rel, k)
        return rel + wobble(along) * (depth > 0)

    def props(
        self,
        x: np.ndarray,
        y: np.ndarray,
        rows: tuple[int, ...] | None = None,
        with_thickness: bool = False,
    ):
        """Blended depth-table properties ``(len(rows), N)`` (all rows by default), along
        (µm) and depth (µm) at points (and the local thickness, µm, ``with_thickness``)."""
        depth, along, ia, ib, w, th, k = self.local(x, y)
        n_rows = self.tables.shape[1]
        rows = tuple(range(n_rows)) if rows is None else rows
        blend = bool(np.any(w > 1e-4))
        # layer borders undulate slightly along the ribbon (no two columns identical)
        b = depth_to_bin(self.table_depth(depth, along, th, k))
        flat = self.tables.reshape(-1, self.tables.shape[2])
        out = np.empty((len(rows), depth.size))
        base_a = ia * n_rows
        base_b = ib * n_rows
        for i, r in enumerate(rows):
            va = flat[base_a + r, b]
            out[i] = (1 - w) * va + w * flat[base_b + r, b] if blend else va
        if with_thickness:
            return out, along, depth, th
        return out, along, depth

    def rel_depth(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Relative cortical depth (0 pia, 1 white-matter border) at points."""
        depth, _, _, _, _, th, _ = self.local(x, y)
        return depth / th

    def up_angle(self, x: np.ndarray, y: np.ndarray, eps: float = 3.0) -> np.ndarray:
        """Angle (radians, image coordinates) of the direction towards the pia."""
        dxp = self.sample(x + eps, y)[0] - self.sample(x - eps, y)[0]
        dyp = self.sample(x, y + eps)[0] - self.sample(x, y - eps)[0]
        return np.arctan2(-dyp, -dxp)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(t))


class PatchGeometry(Geometry):
    """A locally curved piece of cortex seen in a ``height_um × width_um`` field.

    World coordinates run from (0, 0) at the top-left corner. With ``angle = 0`` the pia is
    horizontal and the white matter is below; ``depth_offset_um`` is the cortical depth at
    the top edge's centre (negative: background above the pia is visible); ``angle``
    (degrees) rotates the cortex about the field centre; ``curvature_per_mm`` bends it
    (positive: gyral crown, convex towards the pia; negative: sulcal fundus);
    ``obliquity_deg`` simulates an oblique cut (layers look wider by 1/cos).
    A second area ``neighbour`` takes over beyond ``border_um`` (along the ribbon, relative
    to the field centre, on the side away from the centre whatever its sign) over a
    transition of ``border_width_um``; the field centre always belongs to the first area.
    With ``realistic`` the thickness and laminar proportions follow the curvature
    (:mod:`.equivolume`); ``realism`` (default: every component when ``realistic``) names
    the realistic components in use (``Brain.realism``).
    """

    def __init__(
        self,
        tables: np.ndarray,
        thickness: np.ndarray,
        area_ids: list[str],
        *,
        height_um: float,
        width_um: float,
        angle: float = 0.0,
        curvature_per_mm: float = 0.0,
        depth_offset_um: float = 0.0,
        obliquity_deg: float = 0.0,
        border_um: float | None = None,
        border_width_um: float = 250.0,
        realistic: bool = False,
        realism: frozenset[str] | None = None,
    ) -> None:
        self.realistic = bool(realistic)
        if realism is None:
            realism = frozenset(REALISM_COMPONENTS) if self.realistic else frozenset()
        self.realism = frozenset(realism)
        self.tables, self.thickness, self.area_ids = tables, thickness, area_ids
        self.h, self.w = height_um, width_um
        th = np.deg2rad(angle)
        self.cos, self.sin = np.cos(th), np.sin(th)
        self.kappa = curvature_per_mm / 1000.0
        self.v_c = depth_offset_um + height_um / 2
        self.stretch = float(np.cos(np.deg2rad(min(abs(obliquity_deg), 80.0))))
        self.border = border_um
        self.bw = border_width_um

    def curvature(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(self.kappa)  # the same everywhere in the field

    def sample(self, x: np.ndarray, y: np.ndarray):
        x = np.asarray(x, dtype=np.float64) - self.w / 2
        y = np.asarray(y, dtype=np.float64) - self.h / 2
        u = x * self.cos + y * self.sin
        v = -x * self.sin + y * self.cos
        vt = (v * self.stretch) + self.v_c
        if abs(self.kappa) < 1e-9:
            depth, along = vt, u
        elif self.kappa > 0:  # circle centre deep below: gyral crown
            r0 = 1.0 / self.kappa
            rad = np.hypot(u, r0 - vt)
            depth = r0 - rad
            along = r0 * np.arctan2(u, r0 - vt)
        else:
            r0 = -1.0 / self.kappa
            rad = np.hypot(u, vt + r0)
            depth = rad - r0
            along = r0 * np.arctan2(u, vt + r0)
        ia = np.zeros(depth.shape, np.int64)
        if self.border is None or len(self.area_ids) == 1:
            return depth, along, ia, ia, np.zeros(depth.shape)
        # the neighbour lies beyond the border, on the side away from the field centre
        # (border_um > 0: towards +along; < 0: towards -along); the centre keeps its area
        side = 1.0 if self.border >= 0 else -1.0
        w = _sigmoid(side * (along - self.border) / (self.bw / 2))
        return depth, along, ia, ia + 1, w
