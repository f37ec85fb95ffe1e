"""Traverses across the cortical ribbon and the profiles along them.

A traverse is a streamline of the ribbon's depth potential (:func:`.ribbon.segment`),
traced from evenly spread pial points to the white matter (as in observer-independent
mapping, :func:`trace_traverses`) or through given points (:func:`pia_through`); its deep
end is refined to the middle of the grey/white transition (:func:`refine_white_end`).
Profiles are sampled along the traverses at equidistant or equivolumetric relative depths
(:func:`profiles_along`, :func:`column_bend`, :func:`equivolume_depth`: where the cortex
bends, layers keep their share of a column's volume; Bok's principle, Waehnert et al.
2014).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .gaps import WM_MIN_RADIUS_UM
from .layers import L1_MIN_TRAVERSES
from .ribbon import MIN_WM_CONTRAST, Ribbon

#: streamlines curved beyond this (length / chord) are reported as curved
CURVED_RATIO = 1.15
#: a traverse whose chord turns more than this (degrees) from the way it leaves the pia is
#: no column of the cortex (:func:`turn_deg`) ...
MAX_TURN_DEG = 30.0
#: the share of a traverse's length over which the way it leaves the pia is read
TURN_START_SHARE = 0.15
#: ... when the streamlines converge on its end: its end lies, in the median, less than
#: this share as far from the others' ends as its start from their starts
#: (:func:`convergence`)
MAX_TURN_CONVERGENCE = 0.5


@dataclass
class Traverse:
    """One traverse: points ``(y, x)`` in window pixels from the pia to the white matter."""

    points: np.ndarray
    length_um: float
    chord_um: float


def trace_traverses(
    ribbon: Ribbon, roi: np.ndarray, n: int = 20, max_n: int = 40, end_anywhere: bool = False
) -> list[Traverse]:
    """Streamlines of the depth potential from pial points inside ``roi`` to the white
    matter, ending inside ``roi`` (pixels, see :class:`Traverse`); seeds are spread evenly
    along the pia (farthest-point sampling), ``n`` to ``max_n`` of them.
    ``end_anywhere``: also those that reach the white matter outside ``roi`` (anywhere in
    the window).

    A streamline that turns by more than :data:`MAX_TURN_DEG` after leaving the pia
    (:func:`turn_deg`) while the streamlines converge on its end (:func:`convergence`
    below :data:`MAX_TURN_CONVERGENCE`) is left out: it is led sideways to white matter
    that is not under its pia. This happens where the white matter of its column lies
    beyond the window and the window's edge (where the potential has no flux) turns the
    streamlines towards the white matter that shows, often one small piece of it at the
    region's edge: they converge on it, longer the farther they start. A column runs
    straight across the ribbon on a crown (converging) and in a fundus; around the tip of
    a sulcus the streamlines turn but spread (diverge) towards the white matter: both
    kept.

    A pale upper cortex (``ribbon.pale_upper``: pale tissue near the glass that only the
    white matter's greater paleness deeper down set apart from it) is read as cortex only
    where it shows a region: the streamlines through it are kept when at least
    :data:`.layers.L1_MIN_TRAVERSES` of them are (one or two columns, at a corner of the
    region, do not show whether that tissue is cortex; layer I is not read on fewer
    either)."""
    if not np.isfinite(ribbon.potential).any():
        return []
    seeds = np.argwhere(ribbon.pia & roi)
    if len(seeds) == 0:
        return []
    k = min(len(seeds), max(n, min(max_n, len(seeds) // 4)))
    roi_near = ndi.binary_dilation(roi, iterations=2)
    out = []
    for t in streamlines(ribbon, _spread(seeds, k)):
        if t is None:
            continue
        end = t.points[-1]
        if end_anywhere or roi_near[int(round(end[0])), int(round(end[1]))]:
            out.append(t)
    turned = np.array([turn_deg(t) > MAX_TURN_DEG for t in out], bool)
    if turned.any():
        aside = turned & (convergence(out) < MAX_TURN_CONVERGENCE)
        out = [t for t, a in zip(out, aside) if not a]
    if ribbon.pale_upper is not None:
        across = [_crosses(t, ribbon.pale_upper) for t in out]
        if 0 < sum(across) < L1_MIN_TRAVERSES:
            out = [t for t, a in zip(out, across) if not a]
    return out


def _crosses(tr: Traverse, mask: np.ndarray) -> bool:
    """Whether the traverse ``tr`` passes through a pixel of ``mask``."""
    pts = np.clip(np.round(tr.points).astype(int), 0, np.array(mask.shape) - 1)
    return bool(mask[pts[:, 0], pts[:, 1]].any())


def convergence(traverses: list[Traverse], min_px: float = 3.0) -> np.ndarray:
    """For each traverse, the median over the others whose start lies at least ``min_px``
    pixels from its own of (distance between the ends) / (distance between the starts):
    about 1 where the traverses run parallel, below 1 where they converge with depth
    (a crown: the column's width ratio), near 0 where they meet at one point; 1 where no
    other traverse starts that far."""
    m = len(traverses)
    out = np.ones(m)
    if m < 2:
        return out
    s = np.array([t.points[0] for t in traverses])
    e = np.array([t.points[-1] for t in traverses])
    ds = np.hypot(*(s[:, None] - s[None]).transpose(2, 0, 1))
    de = np.hypot(*(e[:, None] - e[None]).transpose(2, 0, 1))
    for i in range(m):
        ok = ds[i] >= min_px
        if ok.any():
            out[i] = float(np.median(de[i, ok] / ds[i, ok]))
    return out


def turn_deg(tr: Traverse, share: float = TURN_START_SHARE) -> float:
    """The angle (degrees) between the way a traverse leaves the pia (its first ``share``
    of its length, the normal to the pia: the depth potential's gradient) and its chord
    (pia to white matter): about 0 for a column across a ribbon, straight or bent (a
    crown, a fundus); large where the streamline turns aside."""
    p = tr.points
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    if len(p) < 2 or s[-1] <= 0:
        return 0.0
    at = share * s[-1]
    first = np.array([np.interp(at, s, p[:, 0]), np.interp(at, s, p[:, 1])]) - p[0]
    chord = p[-1] - p[0]
    norm = float(np.hypot(*first) * np.hypot(*chord))
    if norm <= 0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(np.dot(first, chord) / norm, -1.0, 1.0))))


def streamlines(ribbon: Ribbon, seeds: np.ndarray) -> list[Traverse | None]:
    """Streamlines of the depth potential from ``seeds`` (``(k, 2)`` (y, x) px, on the pia)
    to the white matter, one per seed; ``None`` where a streamline does not reach the white
    matter (it leaves the tissue or the window, or stalls)."""
    pot = ribbon.potential
    if not np.isfinite(pot).any() or len(seeds) == 0:
        return [None] * len(seeds)
    gy, gx = _depth_gradient(ribbon)
    h, w = pot.shape
    step = 1.0
    max_steps = int(4 * (h + w) / step)
    # all streamlines advance together (midpoint rule, half-pixel steps)
    pos = np.asarray(seeds, dtype=np.float64).copy()
    k = len(pos)
    active = np.ones(k, bool)
    reached = np.zeros(k, bool)
    track = [pos.copy()]
    for _ in range(max_steps):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        here = pos[idx]
        v = _grad_at(gy, gx, here)
        v = _grad_at(gy, gx, here + 0.5 * step * v)
        stuck = (v[:, 0] == 0) & (v[:, 1] == 0)
        new = here + step * v
        iy, ix = np.round(new[:, 0]).astype(int), np.round(new[:, 1]).astype(int)
        inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w) & ~stuck
        iy, ix = np.minimum(np.maximum(iy, 0), h - 1), np.minimum(np.maximum(ix, 0), w - 1)
        moved = idx[inside]
        pos[moved] = new[inside]
        in_wm = ribbon.wm[iy, ix]
        hit = inside & in_wm
        lost = inside & ~in_wm & ~ribbon.tissue[iy, ix]
        reached[idx[hit]] = True
        active[idx[~inside | hit | lost]] = False
        step_pos = np.full((k, 2), np.nan)
        step_pos[moved] = pos[moved]
        track.append(step_pos)
    paths = np.stack(track, 1)  # (k, steps, 2), NaN once stopped
    out: list[Traverse | None] = [None] * k
    for i in np.flatnonzero(reached):
        p = paths[i][np.isfinite(paths[i, :, 0])]
        if len(p) < 3:
            continue
        seg = np.hypot(*np.diff(p, axis=0).T)
        # the pia and the white-matter border lie half a pixel beyond the end pixels
        length = (float(seg.sum()) + 0.5) * ribbon.pixel_um
        chord = float(np.hypot(*(p[-1] - p[0])) + 0.5) * ribbon.pixel_um
        out[i] = Traverse(p, length, chord)
    return out


def _depth_gradient(ribbon: Ribbon) -> tuple[np.ndarray, np.ndarray]:
    """Gradient ``(d/dy, d/dx)`` of the depth potential (0 at the glass and elsewhere, 1 in
    the white matter) smoothed over 1 pixel: the direction of the traverses."""
    pot = ribbon.potential
    full = np.where(ribbon.grey, pot, np.where(ribbon.wm, 1.0, 0.0)).astype(np.float64)
    gy, gx = np.gradient(ndi.gaussian_filter(full, 1.0))
    return gy, gx


def pia_through(ribbon: Ribbon, points: np.ndarray, max_px: float) -> np.ndarray:
    """The pial end ``(k, 2)`` (y, x) px of the traverse through each of ``points``
    (``(k, 2)`` (y, x) px): a point in the grey matter follows the depth potential up to
    the pia; a point elsewhere (glass, white matter) first moves to the nearest
    grey-matter pixel, if one lies within ``max_px``. NaN rows where no pia is reached (no
    grey matter within reach, or the way up stalls or ends at no pia)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.full(pts.shape, np.nan)
    grey = ribbon.grey & np.isfinite(ribbon.potential)
    if len(pts) == 0 or not grey.any() or not ribbon.pia.any():
        return out
    h, w = grey.shape
    dist, (ny, nx) = ndi.distance_transform_edt(~grey, return_indices=True)
    iy = np.clip(np.round(pts[:, 0]).astype(int), 0, h - 1)
    ix = np.clip(np.round(pts[:, 1]).astype(int), 0, w - 1)
    inside = (pts[:, 0] > -0.5) & (pts[:, 0] < h - 0.5) & (pts[:, 1] > -0.5) & (pts[:, 1] < w - 0.5)
    reach = inside & (dist[iy, ix] <= max_px)
    pos = np.where(grey[iy, ix][:, None], pts, np.stack([ny[iy, ix], nx[iy, ix]], 1))
    gy, gx = _depth_gradient(ribbon)
    # within a pixel of the pia (a diagonal step may pass the 4-connected pial pixels)
    pia_near = ndi.binary_dilation(ribbon.pia, structure=np.ones((3, 3), bool)) & grey
    active = reach.copy()
    last = np.round(pos).astype(int)
    for _ in range(int(2 * (h + w))):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        cy, cx = np.clip(last[idx, 0], 0, h - 1), np.clip(last[idx, 1], 0, w - 1)
        at_pia = pia_near[cy, cx]
        out[idx[at_pia]] = last[idx[at_pia]]
        active[idx[at_pia]] = False
        idx = idx[~at_pia]
        if idx.size == 0:
            break
        v = _grad_at(gy, gx, pos[idx])
        v = _grad_at(gy, gx, pos[idx] - 0.5 * v)
        stuck = ~np.any(v != 0, axis=1)
        new = pos[idx] - v
        ry, rx = np.round(new[:, 0]).astype(int), np.round(new[:, 1]).astype(int)
        ok = ~stuck & (ry >= 0) & (ry < h) & (rx >= 0) & (rx < w)
        ok[ok] &= grey[ry[ok], rx[ok]]
        # leaving the grey matter other than at the pia (a stall, the window's edge)
        active[idx[~ok]] = False
        pos[idx[ok]] = new[ok]
        last[idx[ok]] = np.stack([ry[ok], rx[ok]], 1)
    return out


def profiles_along(
    ribbon: Ribbon,
    traverses: list[Traverse],
    n: int = 100,
    equivolume: bool = False,
    second_fall: bool = True,
) -> tuple[list[Traverse], np.ndarray, np.ndarray]:
    """Refine each traverse's deep end (:func:`refine_white_end` on the OD smoothed over
    20 µm and its :func:`core_median`) and sample the OD (smoothed over 8 µm, bilinear)
    at ``n`` relative depths along it (:func:`depth_points`).
    ``equivolume``: the traverses are neighbours in order along the cortex and the depths
    are equivolumetric (:func:`column_bend`, :func:`equivolume_depth`) instead of
    equidistant. ``second_fall``: look for the white matter beyond a pale deep layer
    (:func:`refine_white_end` given the tissue); the area-border finder keeps the first
    fall (not yet validated there). Returns the refined traverses, the grey/white transition widths (µm, NaN
    where not clear) and the profiles ``(len(traverses), n)``."""
    p = ribbon.pixel_um
    dens_img = ndi.gaussian_filter(ribbon.od, max(0.7, 20.0 / p))
    if second_fall:
        wide = core_median(dens_img, p) if traverses else None
        refined = [
            refine_white_end(dens_img, t, p, ribbon.wm, ribbon.tissue, wide) for t in traverses
        ]
    else:
        refined = [refine_white_end(dens_img, t, p, ribbon.wm, first_only=True) for t in traverses]
    trs = [t for t, _ in refined]
    widths = np.array([w for _, w in refined])
    prof_img = ndi.gaussian_filter(ribbon.od, max(0.5, 8.0 / p))
    bends = column_bend(trs) if equivolume else np.zeros(len(trs))
    if not trs:
        return trs, widths, np.zeros((0, n))
    # every traverse's depths in one interpolation (each point is interpolated alone)
    pts = np.concatenate([depth_points(t, n, k) for t, k in zip(trs, bends)], axis=1)
    profiles = ndi.map_coordinates(prof_img, pts, order=1, mode="nearest").reshape(len(trs), n)
    return trs, widths, profiles


def core_median(image: np.ndarray, pixel_um: float) -> np.ndarray:
    """``image`` (``pixel_um`` µm/px) as its median over squares as wide as the smallest
    white-matter core (2 :data:`WM_MIN_RADIUS_UM`): pale structures less than half as
    wide (a scratch, a vessel, a crack) vanish, a white-matter core keeps its level.
    Computed on a grid of about :data:`WM_MIN_RADIUS_UM` / 4 (block means) and
    interpolated back, so its cost does not grow with the resolution."""
    f = max(1, int(round(WM_MIN_RADIUS_UM / 4.0 / pixel_um)))
    h, w = image.shape
    ph, pw = -h % f, -w % f
    m = np.pad(image.astype(np.float32), ((0, ph), (0, pw)), mode="edge")
    coarse = m.reshape(m.shape[0] // f, f, m.shape[1] // f, f).mean(axis=(1, 3))
    side = 2 * int(round(WM_MIN_RADIUS_UM / (pixel_um * f))) + 1
    med = square_median(coarse, side)
    if f == 1:
        return med
    yy, xx = np.mgrid[0:h, 0:w]
    coords = np.stack([(yy + 0.5) / f - 0.5, (xx + 0.5) / f - 0.5])
    return ndi.map_coordinates(med, coords, order=1, mode="nearest")


#: at most this many values (float32) are gathered at once by :func:`square_median`
MEDIAN_CHUNK_VALUES = 4_000_000


def square_median(image: np.ndarray, side: int) -> np.ndarray:
    """The median over ``side`` × ``side`` squares (``side`` odd) centred on each pixel of
    a finite 2-D ``image``, the edge pixels repeated beyond it: the same values as
    ``scipy.ndimage.median_filter(image, size=side, mode="nearest")``, as the middle
    element of each square's values (:func:`numpy.partition`, a few times faster), in
    bands of rows of at most :data:`MEDIAN_CHUNK_VALUES` gathered values."""
    a = np.asarray(image)
    if side % 2 != 1 or a.ndim != 2:
        raise ValueError(f"square_median needs a 2-D image and an odd side, got {a.shape}, {side}")
    r, n = side // 2, side * side
    padded = np.pad(a, r, mode="edge")
    h, w = a.shape
    out = np.empty(a.shape, a.dtype)
    rows = max(1, MEDIAN_CHUNK_VALUES // max(1, w * n))
    for y in range(0, h, rows):
        band = padded[y : min(h, y + rows) + 2 * r]
        win = np.lib.stride_tricks.sliding_window_view(band, (side, side)).reshape(-1, n)
        if not win.flags.writeable:  # side 1: reshape kept the read-only view
            win = win.copy()
        win.partition(n // 2, axis=-1)
        out[y : y + rows] = win[:, n // 2].reshape(-1, w)
    return out


#: the column-width ratio (white-matter side / pial side) is taken within these limits;
#: beyond them the neighbouring traverses cross or start at one point (a column cannot close)
BEND_RANGE = (-2.0, 0.9)
#: column widths are measured between the traverses this many places before and after
BEND_NEIGHBOURS = 2


def column_bend(traverses: list[Traverse], h: int = BEND_NEIGHBOURS) -> np.ndarray:
    """The bend ``k = 1 - w_white / w_pia`` of each traverse's column, for traverses in
    order along the cortex: ``w_pia`` and ``w_white`` are the distances between the starts
    (pia) and between the ends (white matter) of the traverses ``h`` places before and after
    (fewer at the ends of the sequence); then the median over 2 ``h`` + 1 neighbours.
    ``k > 0`` on a crown (the column narrows with depth), ``< 0`` in a fundus; clipped to
    :data:`BEND_RANGE`; 0 where there is no neighbour."""
    m = len(traverses)
    k = np.zeros(m)
    if m < 2:
        return k
    start = np.array([t.points[0] for t in traverses])
    end = np.array([t.points[-1] for t in traverses])
    i = np.arange(m)
    lo, hi = np.clip(i - h, 0, m - 1), np.clip(i + h, 0, m - 1)
    w_pia = np.hypot(*(start[hi] - start[lo]).T)
    w_white = np.hypot(*(end[hi] - end[lo]).T)
    ok = w_pia > 0
    k[ok] = 1.0 - w_white[ok] / w_pia[ok]
    k = np.clip(k, *BEND_RANGE)
    return ndi.median_filter(k, size=2 * h + 1, mode="nearest")


def equivolume_depth(alpha: np.ndarray, k: float) -> np.ndarray:
    """Relative depth (0 pia .. 1 white matter) above which the share ``alpha`` of a
    column's volume lies, for a column whose width falls linearly with depth from 1 at the
    pia to ``1 - k`` at the white matter (Bok's equivolume principle in the closed form of
    Waehnert et al. 2014: layers keep their volume fraction where the cortex bends)."""
    a = np.asarray(alpha, dtype=np.float64)
    if abs(k) < 1e-6:
        return a
    disc = np.maximum(1.0 - 2.0 * k * a * (1.0 - 0.5 * k), 0.0)
    return (1.0 - np.sqrt(disc)) / k


def _grad_at(gy: np.ndarray, gx: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Unit gradient (bilinear) at points ``(n, 2)`` (y, x) px; zero where it vanishes."""
    c = pts.T
    v = np.empty((len(pts), 2))
    ndi.map_coordinates(gy, c, output=v[:, 0], order=1, mode="nearest")
    ndi.map_coordinates(gx, c, output=v[:, 1], order=1, mode="nearest")
    norm = np.hypot(v[:, 0], v[:, 1])[:, None]
    return np.where(norm > 1e-9, v / np.maximum(norm, 1e-9), 0.0)


def _spread(points: np.ndarray, k: int) -> np.ndarray:
    """``k`` of ``points`` spread evenly (farthest-point sampling from the first)."""
    p = points.astype(np.float64)
    chosen = [int(np.argmin(p[:, 0] * 1e6 + p[:, 1]))]
    d = np.hypot(*(p - p[chosen[0]]).T)
    for _ in range(k - 1):
        j = int(np.argmax(d))
        if d[j] <= 0:
            break
        chosen.append(j)
        d = np.minimum(d, np.hypot(*(p - p[j]).T))
    return points[np.sort(chosen)]


def depth_points(tr: Traverse, n: int = 100, bend: float = 0.0) -> np.ndarray:
    """``(2, n)`` ``(y, x)`` px at ``n`` relative depths along a traverse (bin centres, pia
    to white matter): equally spaced, or for a column of bend ``bend`` (see
    :func:`column_bend`) at equal shares of its volume (:func:`equivolume_depth`)."""
    p = tr.points
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    t = equivolume_depth((np.arange(n) + 0.5) / n, bend) * s[-1]
    return np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])])


def refine_white_end(
    image: np.ndarray,
    tr: Traverse,
    pixel_um: float,
    wm: np.ndarray | None = None,
    tissue: np.ndarray | None = None,
    wide: np.ndarray | None = None,
    first_only: bool = False,
) -> tuple[Traverse, float]:
    """Move a traverse's deep end to the middle of the grey/white transition and measure
    the transition's width (µm, 25-75 % of the way from the deep cortex level to the
    white-matter level; NaN when the profile shows no clear drop).

    The white-matter mask is a coarse threshold; along the traverse, extended straight
    into the white matter, the border is where ``image`` (a density map) falls half-way
    from the deep cortex (60-85 % of the depth) to the white matter beyond the mask and
    stays below that level (median over 2 :data:`WM_MIN_RADIUS_UM` further on), so that a
    pale vessel hole or streak in the deep layers is not taken for the border. ``wm``: the
    white-matter mask (window pixels); the white-matter level is then read only until the
    extended line leaves it (beyond a thin white matter lies the cortex of the opposite
    bank, whose level would put the border in the deep layers), the first half of that
    stretch skipped when it is shorter than 300 µm.

    A pale deep layer (V, VI) can fall into the white-matter mask where little white
    matter is in view; the line then reads that layer's level as the white matter's.
    So the line is read on, for one more traverse length, while it stays in the tissue:
    where it falls again, within the mask, to a level paler than the first by
    :data:`MIN_WM_CONTRAST` of it (white against grey matter, see :mod:`.ribbon`)
    and stays there (median over 2 :data:`WM_MIN_RADIUS_UM` along the line, on
    ``wide``), the border is the middle of that second fall (from the first level to the
    paler one). ``tissue``: the tissue mask (the reading stops where the line leaves it;
    without it, where it leaves ``wm``). ``wide``: ``image`` as :func:`core_median`
    (pale scratches, vessels or cracks narrower than a white-matter core are no paler
    level); without it, ``image`` itself. ``first_only``: no second fall (the first
    fall's border, as the area-border finder uses it).
    """
    p = tr.points
    seg = np.hypot(*np.diff(p, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    length = s[-1]
    tail = p[-1] - p[max(0, len(p) - 1 - int(round(4 / 0.5)))]
    nt = np.hypot(*tail)
    if length <= 0 or nt <= 0:
        return tr, float("nan")
    ext = max(0.4 * length, 600.0 / pixel_um)
    # the line is read on, within the white-matter mask, for a further cortical
    # thickness: a pale deep layer taken for white matter has the white matter beyond it
    far_ext = max(ext, length)
    direction = tail / nt
    t = np.arange(0, length + far_ext, 0.5)
    inside = t <= length
    pts = np.empty((len(t), 2))
    pts[inside, 0] = np.interp(t[inside], s, p[:, 0])
    pts[inside, 1] = np.interp(t[inside], s, p[:, 1])
    pts[~inside] = p[-1] + np.outer(t[~inside] - length, direction)
    h, w = image.shape
    valid = (pts[:, 0] >= 0) & (pts[:, 0] <= h - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= w - 1)
    vals = ndi.map_coordinates(image, pts.T, order=1, mode="nearest")
    deep = vals[(t >= 0.6 * length) & (t <= 0.85 * length)]
    wm_end = np.inf
    if wm is not None:
        iy = np.clip(np.round(pts[:, 0]).astype(int), 0, h - 1)
        ix = np.clip(np.round(pts[:, 1]).astype(int), 0, w - 1)
        left = np.flatnonzero(~inside & ~wm[iy, ix])
        if left.size:
            wm_end = float(t[left[0]])
    skip = min(150.0 / pixel_um, 0.5 * (wm_end - length))
    white = vals[(t >= length + skip) & (t < min(wm_end, length + ext)) & valid]
    if deep.size == 0 or white.size < 5:
        return tr, float("nan")
    hi, lo = float(np.median(deep)), float(np.median(white))
    if hi - lo <= 0.1 * hi:
        return tr, float("nan")
    start = int(np.searchsorted(t, 0.7 * length))
    # the white matter stays pale; a vessel hole or a pale streak in the deep cortex is
    # pale only briefly: a crossing counts where the values stay below the level, in the
    # median, over the next 2 WM_MIN_RADIUS_UM (the smallest white-matter core's width)
    run = max(1, int(round(2 * WM_MIN_RADIUS_UM / pixel_um / 0.5)))
    ahead = ndi.median_filter(vals, size=run, origin=-(run // 2), mode="nearest")

    reach = min(wm_end, length + ext)

    def crossing(level: float) -> float:
        below = np.flatnonzero(
            (vals[start:] < level) & (ahead[start:] < level) & (t[start:] < reach)
        )
        return float(t[start + below[0]]) if below.size else float("nan")

    mid = crossing((hi + lo) / 2)
    if not np.isfinite(mid):
        return tr, float("nan")
    # a pale deep layer (V, VI) read as white matter: further on, within the mask, the
    # line falls again, to a level paler than the first by as much as white matter must
    # be paler than grey (MIN_WM_CONTRAST, see _white_matter), and stays there (median
    # over 2 WM_MIN_RADIUS_UM). The border is then the second fall's middle, from the
    # pale layer's level to that paler one.
    if wm is not None and not first_only:
        in_wm = wm[iy, ix] & valid
        # read on until the line leaves the tissue (glass beyond a cut edge is no level)
        gone = np.flatnonzero((t > mid) & ~(tissue[iy, ix] if tissue is not None else in_wm))
        span = (t >= mid) & (t < (t[gone[0]] if gone.size else np.inf)) & in_wm
        # the whole median window (from each point on) in the mask and the tissue
        span = ndi.minimum_filter1d(
            span.astype(np.uint8), run, origin=-(run // 2), mode="constant", cval=0
        ).astype(bool)
        if wide is not None:
            # pale structures narrower than a white-matter core (a scratch the line runs
            # along, a vessel, a crack) are no level of the tissue
            far_vals = ndi.map_coordinates(wide, pts.T, order=1, mode="nearest")
            far_ahead = ndi.median_filter(far_vals, size=run, origin=-(run // 2), mode="nearest")
        else:
            far_ahead = ahead
        if span.any() and float(far_ahead[span].min()) <= (1.0 - MIN_WM_CONTRAST) * lo:
            j = int(np.flatnonzero(span)[np.argmin(far_ahead[span])])
            hi, lo = lo, float(far_ahead[j])
            start, reach = int(np.searchsorted(t, mid)), float(t[min(j + run, len(t) - 1)])
            second = crossing((hi + lo) / 2)
            if np.isfinite(second):
                mid = second
    width = (crossing(lo + 0.25 * (hi - lo)) - crossing(lo + 0.75 * (hi - lo))) * pixel_um
    keep = t <= mid
    new = pts[keep]
    chord = float(np.hypot(*(new[-1] - new[0])) + 0.5) * pixel_um
    return Traverse(new, (mid + 0.5) * pixel_um, chord), max(width, 0.0)
