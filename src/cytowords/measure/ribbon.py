"""The cortical ribbon in a window: stain normalisation, tissue, white matter, pia, depth.

Assumptions (cell-body stain: Nissl, Merker): somata are dark on a bright background; the
glass is the brightest large structure of the slide; white matter is paler than the grey
matter (few neurons) but darker than the glass. No fixed intensity is used:

- **Optical density.** ``OD = log(glass / I)``, where ``glass`` is the bright level of the
  whole slide (a high percentile of the coarsest pyramid level, computed once per
  section) or, when the slide shows no glass, of the window itself.
- **Tissue** is where the lightly smoothed OD exceeds a quarter of the slide's typical
  tissue OD (Otsu split of the coarsest level); pale holes smaller than
  :data:`HOLE_UM` (vessels, tears) are filled.
- **White matter** is the pale class of an Otsu split of the cell-density map (OD smoothed
  over :data:`DENSITY_SIGMA_UM`) within the tissue (split once more when its paler part
  differs from the rest by :data:`MIN_WM_CONTRAST` of the grey level: where little white
  matter is in view a pale cortical band joins the pale class), grown from cores: pale parts farther
  than :data:`LAYER_I_MAX_UM` from the glass (the pale layer I is not white matter) with an
  inscribed radius of at least :data:`WM_MIN_RADIUS_UM`, to the pale tissue within
  :data:`LAYER_I_MAX_UM` of them (white matter reaching the glass at a cut edge or a
  tear), kept where most of it lies beyond :data:`LAYER_I_MAX_UM` from the glass; only when the two classes differ clearly (:data:`MIN_WM_CONTRAST`).
  Glass in narrow gaps within :data:`LAYER_I_MAX_UM` of the white matter (cracks and
  tears along the grey/white border) is taken as white matter, not as glass: the grey
  matter along such a crack is no pia.
- **Depth.** Laplace's equation is solved on the grey matter with the potential 0 at the
  pia (next to the glass) and 1 at the white matter; traverses are its streamlines, traced
  from evenly spread pial points to the white matter (as in observer-independent mapping),
  or through given points (:func:`pia_through`). Profiles are sampled at equidistant or
  equivolumetric depths (:func:`column_bend`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse.linalg import splu
from skimage.filters import threshold_multiotsu, threshold_otsu

HOLE_UM = 300.0
DENSITY_SIGMA_UM = 60.0
LAYER_I_MAX_UM = 350.0
WM_MIN_RADIUS_UM = 150.0
MIN_WM_CONTRAST = 0.25
WM_SMOOTH_UM = 80.0
#: the depth potential is solved on a grid with at most this many grey pixels
LAPLACE_MAX_UNKNOWNS = 20000
#: streamlines curved beyond this (length / chord) are reported as curved
CURVED_RATIO = 1.15

_REF_CACHE: dict[str, tuple[float, float] | None] = {}


def slide_reference(levels: list, dtype_max: float | None = None) -> tuple[float, float] | None:
    """``(glass level, typical tissue OD)`` of a whole slide from its coarsest level.

    ``None`` when the coarsest level shows no clear bright background (a crop entirely
    inside the tissue). Cached per dask array name, so one slide pays it once.
    """
    lev = levels[-1]
    key = getattr(lev, "name", None)
    if key is not None and key in _REF_CACHE:
        return _REF_CACHE[key]
    img = np.asarray(lev[:4096, :4096], dtype=np.float64)
    out = _reference_from(img)
    if key is not None:
        _REF_CACHE[key] = out
    return out


def _reference_from(img: np.ndarray) -> tuple[float, float] | None:
    v = img[np.isfinite(img) & (img > 0)]
    if v.size < 100:
        return None
    glass = float(np.percentile(v, 99.0))
    od = np.log(glass / np.maximum(v, 1e-6))
    t = float(threshold_otsu(od))
    dark, bright = od[od > t], od[od <= t]
    # glass present: a bright class near zero OD and a tissue class clearly darker
    if dark.size < 0.05 * od.size or bright.size < 0.05 * od.size:
        return None
    if np.median(bright) > 0.3 * np.median(dark) or np.median(dark) < 0.05:
        return None
    return glass, float(np.median(dark))


def optical_density(img: np.ndarray, glass: float) -> np.ndarray:
    """``log(glass / I)`` clipped at 0 (0 = glass, larger = more stain)."""
    return np.clip(np.log(glass / np.maximum(img, glass * 1e-3)), 0, None).astype(np.float32)


@dataclass
class Ribbon:
    """The segmented window (all masks on the window's pixel grid, ``pixel_um`` µm/px).

    ``potential`` is the Laplace depth (0 pia .. 1 white matter) on the grey matter and NaN
    elsewhere; ``reasons`` lists why a part could not be found.
    """

    od: np.ndarray
    density: np.ndarray
    pixel_um: float
    tissue: np.ndarray
    wm: np.ndarray
    grey: np.ndarray
    pia: np.ndarray
    potential: np.ndarray
    wm_level: float = float("nan")
    grey_level: float = float("nan")
    reasons: list[str] = field(default_factory=list)


def segment(
    img: np.ndarray,
    pixel_um: float,
    reference: tuple[float, float] | None,
    outside: np.ndarray | None = None,
) -> Ribbon:
    """Segment a window (raw intensities, bright background) into glass, grey and white
    matter, and solve the depth potential on the grey matter. ``outside`` marks pixels
    beyond the section (not glass, not tissue: no pia there)."""
    outside = np.zeros(img.shape, bool) if outside is None else outside
    inside_px = img[~outside]
    if reference is not None:
        glass, tissue_od = reference
    else:
        glass = float(np.percentile(inside_px, 99.5)) if inside_px.size else 1.0
        tissue_od = float("nan")
    od = optical_density(img, glass)
    od[outside] = 0
    smooth = ndi.gaussian_filter(od, max(0.7, 15.0 / pixel_um))
    hole_px = (HOLE_UM / pixel_um) ** 2
    if np.isfinite(tissue_od):
        tissue = (smooth > 0.25 * tissue_od) & ~outside
        tissue = _fill_small_holes(tissue, hole_px)
        tissue = _remove_small(tissue, hole_px)
    else:
        tissue = ~outside
    density = ndi.gaussian_filter(od, DENSITY_SIGMA_UM / pixel_um)
    glass_mask = ~tissue & ~outside
    reasons: list[str] = []
    wm = np.zeros(img.shape, bool)
    wm_level = grey_level = float("nan")
    if tissue.sum() < 50:
        reasons.append("not cortex: no tissue in the ROI")
    else:
        wm, wm_level, grey_level = _white_matter(density, tissue, glass_mask, pixel_um)
    if wm.any() and glass_mask.any():
        crack = _cracks(tissue, glass_mask, wm, pixel_um)
        wm = wm | crack
        glass_mask = glass_mask & ~crack
    grey = tissue & ~wm
    pia = grey & ndi.binary_dilation(glass_mask, structure=ndi.generate_binary_structure(2, 1))
    potential = np.full(img.shape, np.nan, np.float32)
    if pia.any() and wm.any():
        potential = _laplace(grey, glass_mask, wm)
    return Ribbon(
        od, density, pixel_um, tissue, wm, grey, pia, potential, wm_level, grey_level, reasons
    )


def _cracks(
    tissue: np.ndarray, glass: np.ndarray, wm: np.ndarray, pixel_um: float
) -> np.ndarray:
    """Glass in cracks and tears along or in the white matter: gaps in the tissue narrower
    than 2 :data:`WM_MIN_RADIUS_UM` (closed by a disc of that radius) within
    :data:`LAYER_I_MAX_UM` of the white matter. No pial surface lies there (the pia is a
    cortical thickness from the white matter, the glass of a sulcus is no nearer); taken
    as glass, the grey matter along a crack at the grey/white border would be a second pia
    and the depth potential would turn its traverses aside to distant white matter."""
    r = WM_MIN_RADIUS_UM / pixel_um
    dilated = ndi.distance_transform_edt(~tissue) <= r
    closed = ndi.distance_transform_edt(dilated) > r
    near_wm = ndi.distance_transform_edt(~wm) * pixel_um <= LAYER_I_MAX_UM
    return glass & closed & near_wm


def _fill_small_holes(mask: np.ndarray, max_px: float) -> np.ndarray:
    lab, n = ndi.label(~mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    small = sizes < max_px
    small[0] = False
    small[edge] = False
    return mask | small[lab]


def _remove_small(mask: np.ndarray, min_px: float) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    keep = sizes >= min_px
    keep[0] = False
    return keep[lab]


def _white_matter(
    density: np.ndarray, tissue: np.ndarray, glass: np.ndarray, pixel_um: float
) -> tuple[np.ndarray, float, float]:
    """White-matter mask and the white/grey density levels (see module docstring)."""
    if glass.any():
        far = ndi.distance_transform_edt(~glass) * pixel_um > LAYER_I_MAX_UM
    else:
        far = np.ones(tissue.shape, bool)
    cand_px = tissue & far
    if cand_px.sum() < 50:
        return np.zeros(tissue.shape, bool), float("nan"), float("nan")
    vals = density[cand_px]
    # three classes (white matter, pale and dense grey matter): pale deep layers (V, VI
    # of agranular cortex) must not join the white matter
    t = float(threshold_multiotsu(vals, classes=3)[0]) if np.ptp(vals) > 0 else float(vals[0])
    lo, hi = vals[vals <= t], vals[vals > t]
    if lo.size == 0 or hi.size == 0:
        return np.zeros(tissue.shape, bool), float("nan"), float("nan")
    wm_level, grey_level = float(np.median(lo)), float(np.median(hi))
    if (grey_level - wm_level) < MIN_WM_CONTRAST * grey_level:
        return np.zeros(tissue.shape, bool), wm_level, grey_level
    # where little white matter is in view, the palest class can hold a pale band of the
    # cortex (a pale layer III or V) as well: split it again and keep its paler part when
    # the two parts differ as clearly as white and grey matter must (MIN_WM_CONTRAST of
    # the grey level)
    if np.ptp(lo) > 0:
        t2 = float(threshold_otsu(lo))
        lo2, mid2 = lo[lo <= t2], lo[lo > t2]
        if lo2.size and mid2.size and (
            float(np.median(mid2)) - float(np.median(lo2)) >= MIN_WM_CONTRAST * grey_level
        ):
            t, wm_level = t2, float(np.median(lo2))
    pale = tissue & (density <= t)
    # a smooth border: no spikes or pits of single pale or dense patches
    pale = ndi.gaussian_filter(pale.astype(np.float32), WM_SMOOTH_UM / pixel_um) > 0.5
    pale = ndi.binary_fill_holes(pale) & tissue
    # white matter lies under the cortex, beyond the reach of layer I: its cores are the
    # parts of pale components farther than LAYER_I_MAX_UM from the glass with an inscribed
    # radius of WM_MIN_RADIUS_UM (layer I, however wide, has none); white matter is the pale
    # tissue within LAYER_I_MAX_UM of a core, so that white matter reaching the glass at a
    # cut edge or a tear is kept but a pale band along the pia joined to it is not
    core = pale & far
    lab, n = ndi.label(core)
    if n == 0:
        return np.zeros(tissue.shape, bool), wm_level, grey_level
    dist = ndi.distance_transform_edt(core) * pixel_um
    radius = ndi.maximum(dist, lab, index=np.arange(1, n + 1))
    keep = np.zeros(n + 1, bool)
    keep[1:] = np.asarray(radius) >= WM_MIN_RADIUS_UM
    cores = keep[lab]
    if not cores.any():
        return cores, wm_level, grey_level
    near_core = ndi.distance_transform_edt(~cores) * pixel_um <= LAYER_I_MAX_UM
    wm = pale & near_core
    lab, n = ndi.label(wm)
    hit = np.zeros(n + 1, bool)
    hit[np.unique(lab[cores])] = True
    # and most of it lies beyond layer I's reach: a pale patch of deep cortex next to a
    # fundus has a core but lies mostly within LAYER_I_MAX_UM of the glass
    if n:
        beyond = ndi.mean(far, lab, index=np.arange(1, n + 1))
        hit[1:] &= np.asarray(beyond) > 0.5
    hit[0] = False
    return hit[lab], wm_level, grey_level


def _laplace(grey: np.ndarray, glass: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """The depth potential (see :func:`_laplace_grid`), solved on a grid coarsened so that
    at most :data:`LAPLACE_MAX_UNKNOWNS` grey pixels remain, interpolated back."""
    f = int(np.ceil(np.sqrt(grey.sum() / LAPLACE_MAX_UNKNOWNS)))
    if f <= 1:
        return _laplace_grid(grey, glass, wm)
    h, w = grey.shape
    ph, pw = -h % f, -w % f

    def coarse(m: np.ndarray) -> np.ndarray:
        m = np.pad(m.astype(np.float32), ((0, ph), (0, pw)), mode="edge")
        return m.reshape(m.shape[0] // f, f, m.shape[1] // f, f).mean(axis=(1, 3))

    g, gl, wmc = coarse(grey), coarse(glass), coarse(wm)
    grey_c = (g >= gl) & (g >= wmc) & (g > 0)
    wm_c = ~grey_c & (wmc >= gl) & (wmc > 0)
    glass_c = ~grey_c & ~wm_c & (gl > 0)
    pot = _laplace_grid(grey_c, glass_c, wm_c)
    full = np.where(grey_c, pot, np.where(wm_c, 1.0, 0.0))
    yy, xx = np.nonzero(grey)
    coords = np.stack([(yy + 0.5) / f - 0.5, (xx + 0.5) / f - 0.5])
    out = np.full(grey.shape, np.nan, np.float32)
    out[grey] = ndi.map_coordinates(full, coords, order=1, mode="nearest")
    return out


def _laplace_grid(grey: np.ndarray, glass: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Solve Laplace's equation on ``grey`` (4-neighbours; 0 at glass, 1 at white matter,
    no flux across other edges). Returns the potential, NaN outside the grey matter."""
    h, w = grey.shape
    idx = -np.ones(grey.shape, np.int64)
    n = int(grey.sum())
    idx[grey] = np.arange(n)
    diag = np.full(n, 1e-6)  # a weak pull to 0.5 keeps isolated pieces solvable
    rhs = np.full(n, 0.5e-6)
    rows, cols = [], []
    yy, xx = np.nonzero(grey)
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ny, nx = yy + dy, xx + dx
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        me = idx[yy[ok], xx[ok]]
        nyo, nxo = ny[ok], nx[ok]
        other = idx[nyo, nxo]
        g = other >= 0
        rows.append(me[g])
        cols.append(other[g])
        diag += np.bincount(me[g], minlength=n)
        dirichlet0 = glass[nyo, nxo] & ~g
        dirichlet1 = wm[nyo, nxo] & ~g
        diag += np.bincount(me[dirichlet0 | dirichlet1], minlength=n)
        rhs += np.bincount(me[dirichlet1], minlength=n)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    a = sparse.csr_matrix((-np.ones(len(r)), (r, c)), shape=(n, n)) + sparse.diags(diag)
    # the matrix is symmetric and diagonally dominant: a symmetric fill-reducing ordering
    # and no pivoting factor it faster than the general LU defaults (the same potential to
    # float32 precision)
    lu = splu(
        a.tocsc(),
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    sol = lu.solve(rhs)
    out = np.full(grey.shape, np.nan, np.float32)
    out[grey] = sol
    return out


@dataclass
class Traverse:
    """One traverse: points ``(y, x)`` in window pixels from the pia to the white matter."""

    points: np.ndarray
    length_um: float
    chord_um: float


def trace_traverses(
    ribbon: Ribbon, roi: np.ndarray, n: int = 20, max_n: int = 40
) -> list[Traverse]:
    """Streamlines of the depth potential from pial points inside ``roi`` to the white
    matter, ending inside ``roi`` (pixels, see :class:`Traverse`); seeds are spread evenly
    along the pia (farthest-point sampling), ``n`` to ``max_n`` of them."""
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
        if roi_near[int(round(end[0])), int(round(end[1]))]:
            out.append(t)
    return out


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
        v = _grad_at(gy, gx, pos[idx])
        v = _grad_at(gy, gx, pos[idx] + 0.5 * step * v)
        stuck = ~np.any(v != 0, axis=1)
        new = pos[idx] + step * v
        iy, ix = np.round(new[:, 0]).astype(int), np.round(new[:, 1]).astype(int)
        inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w) & ~stuck
        iy, ix = np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)
        moved = idx[inside]
        pos[moved] = new[inside]
        hit = inside & ribbon.wm[iy, ix]
        lost = inside & ~ribbon.wm[iy, ix] & ~ribbon.tissue[iy, ix]
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
    med = ndi.median_filter(coarse, size=(side, side), mode="nearest")
    if f == 1:
        return med
    yy, xx = np.mgrid[0:h, 0:w]
    coords = np.stack([(yy + 0.5) / f - 0.5, (xx + 0.5) / f - 0.5])
    return ndi.map_coordinates(med, coords, order=1, mode="nearest")


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
    v = np.stack([ndi.map_coordinates(g, pts.T, order=1, mode="nearest") for g in (gy, gx)], 1)
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
    :data:`MIN_WM_CONTRAST` of it (white against grey matter, see the module docstring)
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
