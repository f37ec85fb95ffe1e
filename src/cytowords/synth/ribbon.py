"""A folded cortical ribbon for whole virtual sections (gyri, sulci, territories of areas).

The section outline is a closed curve with sulci (:mod:`.folding`: irregular clefts of
varying depth, width, bend and branching; ``classic`` brains: an ellipse indented by
U-shaped sulci). Cortical
depth is the signed distance (µm) to that outline (positive inside the tissue), computed
once per section on a coarse grid (Euclidean distance transform, lightly smoothed) and
interpolated bilinearly at any point; the position along the ribbon is the arclength of the
point of the outline (smoothed over ~0.2 mm) whose normal passes through the point, the
normals interpolated between vertices: it grows continuously, ~1 µm per µm along the pia,
so the radial cell columns are drawn as on patches (``classic`` brains: the arclength of
the nearest outline vertex, as before). Area territories are consecutive stretches of the
outline, ordered by a walk through the atlas neighbour graph, with gradual borders. Realistic brains also
get the pial curvature at every point (nearest outline point, smoothed over ~0.7 mm; it
drives Bok's equivolume variation) and a smoothly varying cutting angle: where the section
plane meets the ribbon obliquely, depth grows more slowly across it and the ribbon looks
wider than it is.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from scipy.ndimage import (
    distance_transform_edt,
    gaussian_filter,
    gaussian_filter1d,
    map_coordinates,
    maximum_filter,
    uniform_filter,
    zoom,
)
from scipy.spatial import cKDTree

from ..atlas import Atlas, load_atlas
from .brain import Brain, stable_seed
from .folding import folded_outline, outline_curvature
from .geometry import Geometry
from .stain import smooth_field

BORDER_WIDTH_UM = 400.0
#: largest angle (degrees) between the section plane and the ribbon's normal
OBLIQUE_MAX_DEG = 50.0


def area_order(atlas: Atlas, ids: list[str]) -> list[str]:
    """Order areas so that consecutive ones are atlas neighbours as often as possible."""
    todo = list(ids)
    nb = {i: [n for n in atlas.get(i).neighbours if n in todo] for i in ids}
    order = [todo.pop(0)]
    while todo:
        cand = [n for n in nb[order[-1]] if n in todo]
        if not cand:  # jump: an unvisited neighbour of any placed area, else the next in list
            cand = [n for o in reversed(order) for n in nb[o] if n in todo][:1] or todo[:1]
        nxt = min(cand, key=lambda n: (sum(m in todo for m in nb[n]), todo.index(n)))
        order.append(nxt)
        todo.remove(nxt)
    return order


def _outline(rng: np.random.Generator, w_um: float, h_um: float, n: int = 8000) -> np.ndarray:
    """Closed outline polyline ``(n, 2)`` (x, y in µm) with gyri and sulci."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rx, ry = 0.43 * w_um, 0.42 * h_um
    wobble = 1 + 0.04 * np.sin(2 * t + rng.uniform(0, 6)) + 0.03 * np.sin(3 * t + rng.uniform(0, 6))
    base = np.stack([w_um / 2 + rx * np.cos(t) * wobble, h_um / 2 + ry * np.sin(t) * wobble], 1)
    per = np.sum(np.hypot(*np.diff(np.vstack([base, base[:1]]), axis=0).T))
    n_sulci = max(3, int(per / rng.uniform(8000, 10000)))
    indent = np.zeros(n)
    gaps = rng.uniform(0.6, 1.4, n_sulci)
    centres = np.cumsum(gaps) / gaps.sum() * 2 * np.pi + rng.uniform(0, 2 * np.pi)
    for c in centres:
        half_w = rng.uniform(0.7, 1.3) * 1000 / per * 2 * np.pi  # ~0.7-1.3 mm half-gap
        depth = rng.uniform(0.06, 0.32) * min(rx, ry)
        d = np.angle(np.exp(1j * (t - c))) / half_w
        indent = np.maximum(indent, depth * np.exp(-(d**4)))
    # move inwards (towards the centre) by the indentation
    vec = base - np.array([w_um / 2, h_um / 2])
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    return base - vec * indent[:, None]


#: the outline is smoothed over this length (µm, Gaussian σ) before positions along it are
#: read off: the contour has pixel-scale kinks whose normals would fan out at depth
ALONG_SMOOTH_UM = 200.0
_CHUNK = 1 << 18


def along_outline(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smoothed outline used for positions along the ribbon: vertices ``(n, 2)`` (µm),
    their arclength (µm, scaled so that the total equals ``poly``'s perimeter) and unit
    normals ``(n, 2)`` (one per vertex, central differences)."""
    seg = np.hypot(*(np.roll(poly, -1, axis=0) - poly).T)
    sigma = ALONG_SMOOTH_UM / max(float(seg.mean()), 1e-9)
    sm = gaussian_filter1d(poly, sigma, axis=0, mode="wrap") if sigma > 0.3 else poly.copy()
    ssm = np.hypot(*(np.roll(sm, -1, axis=0) - sm).T)
    arc = np.concatenate([[0.0], np.cumsum(ssm)[:-1]]) * (seg.sum() / max(ssm.sum(), 1e-9))
    tan = np.roll(sm, -1, axis=0) - np.roll(sm, 1, axis=0)
    tan /= np.maximum(np.hypot(*tan.T), 1e-12)[:, None]
    return sm, arc, np.stack([-tan[:, 1], tan[:, 0]], 1)


def nearest_arclength(
    poly: np.ndarray,
    arclen: np.ndarray,
    normals: np.ndarray,
    perimeter: float,
    x: np.ndarray,
    y: np.ndarray,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Position along a smooth closed outline (µm, in ``[0, perimeter)``) of points
    ``(x, y)`` (µm): the outline point whose normal passes through the point, the normals
    interpolated linearly between the vertices (so the position grows continuously across
    the ribbon's depth, with no fans or jumps at vertices). ``poly`` ``(n, 2)``: vertices
    (µm); ``arclen``: their arclength; ``normals``: unit vertex normals; ``start``: a vertex
    near the nearest one for each point (default: the nearest, by a k-d tree). From there
    the nearest vertex is found by walking along the outline; then the segment before or
    after it (whichever holds the point's normal foot, else the nearer) gives the position."""
    n = len(poly)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if start is None:
        start = cKDTree(poly).query(np.stack([x, y], 1))[1]
    if len(x) > _CHUNK:  # bounded memory (~20 temporaries per point)
        parts = [slice(a, a + _CHUNK) for a in range(0, len(x), _CHUNK)]
        args = (poly, arclen, normals, perimeter)
        return np.concatenate([nearest_arclength(*args, x[c], y[c], start[c]) for c in parts])
    v = np.asarray(start, np.int64) % n

    def d2(i, sel):
        return (x[sel] - poly[i, 0]) ** 2 + (y[sel] - poly[i, 1]) ** 2

    active = np.arange(len(x))
    for _ in range(n):  # walk to the locally nearest vertex
        if active.size == 0:
            break
        va = v[active]
        here = d2(va, active)
        prev, nxt = (va - 1) % n, (va + 1) % n
        dp, dn = d2(prev, active), d2(nxt, active)
        step = np.where(dp < np.minimum(here, dn), prev, np.where(dn < here, nxt, va))
        moved = step != va
        v[active] = step
        active = active[moved]
    seg_len = np.diff(np.append(arclen, perimeter))
    best = np.full(len(x), np.inf)
    out = np.zeros(len(x))
    for i in ((v - 1) % n, v):  # the segments before and after the nearest vertex
        j = (i + 1) % n
        ex, ey = poly[j, 0] - poly[i, 0], poly[j, 1] - poly[i, 1]
        qx, qy = x - poly[i, 0], y - poly[i, 1]
        nax, nay = normals[i, 0], normals[i, 1]
        dnx, dny = normals[j, 0] - nax, normals[j, 1] - nay
        # foot t in [0, 1]: (q - t e) parallel to n(t) = n_i + t (n_j - n_i), a quadratic
        qa = -(ex * dny - ey * dnx)
        qb = (qx * dny - qy * dnx) - (ex * nay - ey * nax)
        qc = qx * nay - qy * nax
        disc = np.sqrt(np.maximum(qb**2 - 4 * qa * qc, 0.0))
        den = qb + np.where(qb >= 0, disc, -disc)
        t = np.where(np.abs(den) > 1e-12, -2 * qc / np.where(den == 0, 1.0, den), 0.5)
        off = np.maximum(-t, t - 1)  # > 0: the foot lies beyond this segment
        t = np.clip(t, 0.0, 1.0)
        dist2 = (qx - t * ex) ** 2 + (qy - t * ey) ** 2
        # prefer the segment holding the foot; among those (or none), the nearer
        score = np.where(off > 1e-6, 1e30 * (1 + off) + dist2, dist2)
        better = score < best
        best = np.where(better, score, best)
        out = np.where(better, arclen[i] + t * seg_len[i], out)
    return np.mod(out, perimeter)


def _inside(poly: np.ndarray, shape: tuple[int, int], g: float) -> np.ndarray:
    """Grid cells (centres at ``(i + 0.5) * g``) inside the polygon (even-odd scan lines)."""
    ny, nx = shape
    x0, y0 = poly[:, 0] / g - 0.5, poly[:, 1] / g - 0.5
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    mask = np.zeros(shape, bool)
    cols = np.arange(nx)
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    for r in range(max(0, int(lo.min())), min(ny, int(hi.max()) + 2)):
        e = (lo <= r) & (hi > r)
        if not e.any():
            continue
        xs = np.sort(x0[e] + (r - y0[e]) * (x1[e] - x0[e]) / (y1[e] - y0[e]))
        # cells whose centre lies between crossing pairs (2k, 2k+1)
        n_left = np.searchsorted(xs, cols, side="right")
        mask[r] = (n_left % 2) == 1
    return mask


class RibbonGeometry(Geometry):
    """Geometry of a whole virtual section (see module docstring); µm coordinates with the
    origin at the top-left corner of the section."""

    def __init__(
        self,
        seed: int,
        size_um: tuple[float, float],
        include_unseen: bool = False,
        variation: str = "realistic",
        realism_off: frozenset[str] = frozenset(),
    ):
        self.seed, self.size_um = int(seed), (float(size_um[0]), float(size_um[1]))
        w_um, h_um = self.size_um
        atlas = load_atlas()
        self.brain = Brain(self.seed, variation, realism_off)
        self.realistic = self.brain.realistic
        self.realism = self.brain.realism
        rng = np.random.default_rng(stable_seed("ribbon", seed, round(w_um), round(h_um)))
        self._poly: np.ndarray | None = None
        if not self.brain.uses("folding"):
            self._set_outline(_outline(rng, w_um, h_um))
        self.grid_um = max(30.0, max(w_um, h_um) / 3000.0)
        self.depth_grid: np.ndarray | None = None
        self.along_grid: np.ndarray | None = None
        self.kappa_grid: np.ndarray | None = None
        self.vessel_cache: dict = {}  # world tile -> its vessels (see section.tile_vessels)
        self._lock = threading.Lock()
        # territories
        ids = list(atlas.in_scope_ids) + (list(atlas.unseen_ids) if include_unseen else [])
        self.area_ids = area_order(atlas, ids)
        n = len(self.area_ids)
        share = rng.uniform(0.7, 1.3, n)
        if self.brain.uses("extent"):
            # extent along the ribbon: lognormal (area volumes differ several-fold between
            # brains; Amunts et al. 1999, Rademacher et al. 2001)
            srng = np.random.default_rng(stable_seed("extent", seed))
            share = np.exp(srng.normal(0.0, 0.35, n))
        self._bound_frac = np.concatenate([[0.0], np.cumsum(share)]) / share.sum()
        # transition width at border j (between areas j-1 and j, cyclic)
        bw = [
            BORDER_WIDTH_UM
            if not self.brain.uses("borders")
            else self.brain.border_width_um(self.area_ids[j - 1], self.area_ids[j % n])
            for j in range(n + 1)
        ]
        self.border_widths = np.array(bw)
        self.labels = np.array([atlas.label_of(a) for a in self.area_ids], np.int32)
        tabs = [self.brain.table(a) for a in self.area_ids]
        self.tables = np.stack([t for t, _ in tabs])
        self.thickness = np.array([th for _, th in tabs])

    def _set_outline(self, poly: np.ndarray) -> None:
        seg = np.hypot(*np.diff(np.vstack([poly, poly[:1]]), axis=0).T)
        self._arclen = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
        self._perimeter = float(seg.sum())
        self._poly = poly

    def _outline_ready(self) -> None:
        """The folded outline (realistic folding builds it on first use, ~1-3 s)."""
        if self._poly is None:
            with self._lock:
                if self._poly is None:
                    w_um, h_um = self.size_um
                    key = stable_seed("folding", self.seed, round(w_um), round(h_um))
                    self._set_outline(folded_outline(np.random.default_rng(key), w_um, h_um))

    @property
    def perimeter_um(self) -> float:
        """Length of the pial outline (µm)."""
        self._outline_ready()
        return self._perimeter

    @property
    def bounds(self) -> np.ndarray:
        """Territory borders (µm along the outline), ``len(area_ids) + 1`` values."""
        return self._bound_frac * self.perimeter_um

    def _build(self) -> None:
        """Distance fields on the coarse grid (lazy: the first query pays ~1-5 s)."""
        self._outline_ready()
        with self._lock:
            if self.depth_grid is None:
                self._build_grids()

    def _build_grids(self) -> None:
        w_um, h_um = self.size_um
        g, poly = self.grid_um, self._poly
        nx, ny = int(np.ceil(w_um / g)) + 1, int(np.ceil(h_um / g)) + 1
        inside = _inside(poly, (ny, nx), g)
        d_in, idx = distance_transform_edt(inside, return_indices=True)
        d_out = distance_transform_edt(~inside)
        depth = np.where(inside, d_in - 0.5, -(d_out - 0.5)) * g
        depth = gaussian_filter(depth, 0.7)
        if self.brain.uses("oblique"):
            # oblique cuts: the section plane meets the ribbon at a smoothly varying angle
            # (mostly < 20°, at most 50°), so depth grows by cos(angle) per µm across it
            # (a smooth field: evaluated every 8th cell and interpolated)
            yy, xx = (np.mgrid[0 : ny + 8 : 8, 0 : nx + 8 : 8] + 0.5) * g
            f = smooth_field(stable_seed("oblique", self.seed) % 2**31, xx, yy, 12000.0, n=5)
            f = zoom(f, 8, order=1)[:ny, :nx]
            depth = depth * np.cos(np.deg2rad(OBLIQUE_MAX_DEG) * np.clip(np.abs(f) / 2.5, 0.0, 1.0))
        self.depth_grid = depth.astype(np.float32)
        # along: position on the smoothed outline whose (interpolated) normal passes
        # through each cell, on the tissue and the outside cells next to it (bilinear
        # interpolation at the pia); the search starts at the vertex nearest to each cell's
        # nearest outside cell (outside cells: their own; few distinct, so the k-d tree is
        # cheap). ``classic`` brains keep the previous generator's along: the arclength of
        # the vertex nearest to the nearest outside cell (~45 µm steps; columns alias)
        band = maximum_filter(inside, size=3)
        cy, cx = np.nonzero(band)
        flat = np.where(inside[cy, cx], idx[0][cy, cx] * nx + idx[1][cy, cx], cy * nx + cx)
        uniq, inv = np.unique(flat, return_inverse=True)
        seeds = np.stack([(uniq % nx + 0.5) * g, (uniq // nx + 0.5) * g], 1)
        along = np.zeros(inside.shape)
        if self.realistic:
            sm, sm_arc, normals = along_outline(poly)
            _, v0 = cKDTree(sm).query(seeds)
            along[cy, cx] = nearest_arclength(
                sm, sm_arc, normals, self._perimeter, (cx + 0.5) * g, (cy + 0.5) * g,
                start=v0[inv.ravel()],
            )  # fmt: skip
        else:
            on = inside[cy, cx]
            _, vert = cKDTree(poly).query(seeds)
            along[cy[on], cx[on]] = self._arclen[vert[inv.ravel()][on]]
            along = np.where(inside, along, maximum_filter(along, size=3))
        self.along_grid = along.astype(np.float32)
        if self.brain.uses("bok"):
            # curvature of the outline vertex nearest to each inside cell's nearest outside
            # cell (smoothed over ~0.7 mm along the outline, so per vertex is fine enough)
            on = inside[cy, cx]
            _, vert = cKDTree(poly).query(seeds)
            kap = np.zeros(inside.shape)
            kap[cy[on], cx[on]] = outline_curvature(poly)[vert[inv.ravel()][on]]
            # outside cells next to the tissue take their inside neighbours' mean
            # (bilinear interpolation at the pia); further out it does not matter
            near = uniform_filter(inside.astype(float), 3)
            fill = uniform_filter(kap, 3) / np.maximum(near, 1e-9)
            self.kappa_grid = np.where(inside, kap, fill).astype(np.float32)
        del d_in, d_out, idx

    def _interp(self, grid: np.ndarray, x, y) -> np.ndarray:
        coords = np.stack([np.asarray(y) / self.grid_um - 0.5, np.asarray(x) / self.grid_um - 0.5])
        return map_coordinates(grid, coords.reshape(2, -1), order=1, mode="nearest").reshape(
            np.shape(x)
        )

    def _territory(self, along: np.ndarray):
        n = len(self.area_ids)
        k = np.clip(np.searchsorted(self.bounds, along, side="right") - 1, 0, n - 1)
        d_lo = along - self.bounds[k]
        d_hi = self.bounds[k + 1] - along
        up = d_hi < d_lo
        other = np.where(up, (k + 1) % n, (k - 1) % n)
        dist = np.minimum(d_lo, d_hi)
        width = self.border_widths[np.where(up, k + 1, k)]
        w = 0.5 * (1 - np.tanh(dist / (width / 2)))
        return k, other, w

    def sample(self, x, y):
        self._build()
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        depth = self._interp(self.depth_grid, x, y).astype(np.float64)
        along = self._interp(self.along_grid, x, y).astype(np.float64)
        k, other, w = self._territory(along)
        return depth, along, k, other, w

    def curvature(self, x, y) -> np.ndarray:
        """Pial curvature (1/µm; + crown, − fundus) of the outline point nearest to points."""
        self._build()
        if self.kappa_grid is None:
            return np.zeros(np.shape(x))
        return self._interp(self.kappa_grid, x, y).astype(np.float64)

    def query(self, x_um, y_um) -> dict[str, np.ndarray]:
        """Geometry at points (µm): ``depth`` (relative: 0 pia, 1 white-matter border,
        negative outside the tissue), ``depth_um``, ``along_um`` (position along the pia),
        ``label`` (area label, 0 outside the cortex) and ``area_index`` (into ``area_ids``)."""
        depth, along, k, other, w, th, _ = self.local(x_um, y_um)
        if not self.realistic:
            th = (1 - w) * self.thickness[k] + w * self.thickness[other]
        rel = depth / th
        label = np.where((rel >= 0) & (rel < 1), self.labels[k], 0).astype(np.int32)
        return {"depth": rel, "depth_um": depth, "along_um": along, "label": label, "area_index": k}


@lru_cache(maxsize=4)
def ribbon_geometry(
    seed: int,
    size_um: tuple[float, float],
    include_unseen: bool,
    variation: str = "realistic",
    realism_off: frozenset[str] = frozenset(),
) -> RibbonGeometry:
    """Cached :class:`RibbonGeometry` (building one takes ~1-3 s for 80 × 60 mm)."""
    return RibbonGeometry(seed, size_um, include_unseen, variation, realism_off)
