"""Uneven illumination of a slide: the glass's own level across it, and the window divided by it.

A scan's empty slide (glass) should read the same everywhere; a microscope that was not
flat-field corrected, a tilted lamp or vignetting leaves it brighter on one side. Optical
density against one glass level then rises where the light is dimmer, and where the glass
is dimmed by as much as the tissue darkens the light (a pale section), glass reads as
tissue and no pia is found. The readout therefore takes the glass's level where it is
seen and spreads it smoothly under the tissue, on the slide's coarsest level (averaged to
pixels of at least :data:`FIELD_PX_UM`; once per slide, :func:`slide_field`):

1. *Glass seen*: light changes slowly across a slide while the tissue's edge is a step of
   about the tissue's OD, so the glass is the *flat* pixels (the log intensity changes by
   less than :data:`FLAT_STEP` of the typical tissue OD per pixel, after smoothing over a
   pixel; at most :data:`MAX_DIM` darker than the brightest glass) connected to a seed, a
   flat pixel whose OD against the brightest glass is below the readout's tissue threshold
   (:data:`.ribbon.TISSUE_SHARE` of the typical tissue OD); where such flat parts reach the
   scan's edge, only those (a pale white-matter core can be as flat and as light as dim
   glass, but it is ringed by cortex). Of those, the pixels enclosed by tissue are not
   glass (:func:`_enclosed`; tissue against the brightest level within
   :data:`FIELD_SIGMA_UM`, so that dimmed glass is not tissue): a silver (Merker) stain
   leaves the white matter nearly as light as the glass and flat, and where a weakly
   stained stretch of the section rises from the glass over several pixels (pale layer I,
   pale cortex) the flat pixels lead from the glass into it; the cortex still rings it.
   The empty slide around the section is not enclosed; where every flat part is, they are
   kept (a crop of tissue with glass only in its holes). The typical tissue OD here is
   :func:`typical_tissue_od` (a dense minority such as a fold or a silver stain's dark
   layers does not set it, so the flat test stays strict).
2. *Field*: a plane fitted to the glass's log intensity around each pixel, weighted by a
   Gaussian of :data:`FIELD_SIGMA_UM` (first-order normalised convolution): the light under
   the tissue follows the slope of the glass around it; where the glass around a pixel is
   too sparse or too one-dimensional to give a slope, its weighted mean; beyond the reach
   of any glass, the nearest estimate.
3. Glass pixels darker than the field by more than half the tissue threshold (tissue
   joined to the glass through a gap in its edge) are dropped and the field is fitted
   again (:data:`REFITS` times at most).

The field is used only when it varies by more than :data:`MIN_VARIATION` of the glass
over the slide (an evenly lit slide is read exactly as before); the readout then divides
each window by it (times the brightest glass level) and takes the slide's glass and
tissue levels (:func:`.slide.slide_reference`'s rule) from the corrected coarse level.
Only the profile window is corrected: the grain (4 µm/px) and the somata (2 µm/px) are
read against the brightest glass.

A stitched mosaic's *tile shading* (each camera tile vignetted, repeating on the tiles'
pitch) is too fine for that field; it is found from its repeat and divided out of every
level first (:func:`tile_corrected`, steps in the comment above it).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from scipy import ndimage as ndi

from ..sections.intensity import bit_depth_white
from .ribbon import TISSUE_SHARE
from .slide import _reference_from

#: flat: the log intensity changes by less than this share of the typical tissue OD per
#: coarse pixel (the tissue's edge is a step of about the whole tissue OD)
FLAT_STEP = 0.1
#: glass is at most this much darker (log) than the slide's glass level (light down to
#: 0.6 of the brightest glass)
MAX_DIM = float(np.log(1 / 0.6))
#: SD (µm) of the Gaussian over which the field is fitted around each pixel
FIELD_SIGMA_UM = 2000.0
#: the field is used when its range over the slide exceeds this share of the glass level
MIN_VARIATION = 0.03
#: times the glass darker than the field is dropped and the field fitted again
REFITS = 3
#: the field is found on pixels of at least this size (µm): the coarsest level, averaged in
#: blocks when it is finer
FIELD_PX_UM = 100.0
#: at most this many px per side of the coarsest level are used (as ``slide_reference``)
MAX_PX = 4096

_CACHE: dict[str, tuple | None] = {}


def _fit_field(logi: np.ndarray, glass: np.ndarray, sigma_px: float) -> np.ndarray:
    """Per pixel, the value at that pixel of a plane fitted to ``logi`` over ``glass``
    with Gaussian weights of ``sigma_px`` (NaN where no glass lies within reach). The fit
    is made on blocks of about a quarter of ``sigma_px`` (the field is that smooth) and
    interpolated back."""
    k = max(1, int(sigma_px // 4))
    if k == 1:
        return _fit_weighted(np.where(glass, logi, 0.0), glass.astype(np.float64), sigma_px)
    h, w = logi.shape
    ph, pw = -h % k, -w % k
    m = np.pad(glass.astype(np.float64), ((0, ph), (0, pw)))
    v = np.pad(np.where(glass, logi, 0.0), ((0, ph), (0, pw)))
    hb, wb = m.shape[0] // k, m.shape[1] // k
    mb = m.reshape(hb, k, wb, k).mean(axis=(1, 3))
    vb = v.reshape(hb, k, wb, k).mean(axis=(1, 3))
    fb = _fit_weighted(vb, mb, sigma_px / k)
    reach = np.isfinite(fb)
    if not reach.any():
        return np.full(logi.shape, np.nan)
    if not reach.all():
        idx = ndi.distance_transform_edt(~reach, return_distances=False, return_indices=True)
        fb = fb[tuple(idx)]
    coords = np.meshgrid((np.arange(h) + 0.5) / k - 0.5, (np.arange(w) + 0.5) / k - 0.5, indexing="ij")
    out = ndi.map_coordinates(fb, coords, order=1, mode="nearest")
    near = ndi.map_coordinates(reach.astype(np.float32), coords, order=0, mode="nearest") > 0
    return np.where(near, out, np.nan)


def _fit_weighted(v: np.ndarray, m: np.ndarray, sigma_px: float) -> np.ndarray:
    """:func:`_fit_field` on a grid of glass weights ``m`` (0..1) and weighted log
    intensities ``v`` (``m`` times their mean)."""
    h, w = m.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # centre the coordinates in units of sigma for conditioning
    yy = (yy - h / 2) / sigma_px
    xx = (xx - w / 2) / sigma_px

    def g(a: np.ndarray) -> np.ndarray:
        return ndi.gaussian_filter(a, sigma_px, mode="constant", truncate=4.0)

    s0, sy, sx = g(m), g(m * yy), g(m * xx)
    syy, sxy, sxx = g(m * yy * yy), g(m * yy * xx), g(m * xx * xx)
    f0, fy, fx = g(v), g(v * yy), g(v * xx)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = f0 / s0
        # moments about each pixel: u = y - yp, w = x - xp
        cy = sy - yy * s0
        cx = sx - xx * s0
        cyy = syy - 2 * yy * sy + yy * yy * s0
        cxx = sxx - 2 * xx * sx + xx * xx * s0
        cxy = sxy - yy * sx - xx * sy + yy * xx * s0
        gy = fy - yy * f0
        gx = fx - xx * f0
        a = np.stack(
            [np.stack([s0, cy, cx], -1), np.stack([cy, cyy, cxy], -1), np.stack([cx, cxy, cxx], -1)],
            -2,
        )
        b = np.stack([f0, gy, gx], -1)
        det = np.linalg.det(a)
        # conditioning: the glass around the pixel spreads in two directions (the
        # determinant of its weighted covariance, in units of sigma^4, times s0^4)
        spread = (cyy * s0 - cy**2) * (cxx * s0 - cx**2) - (cxy * s0 - cy * cx) ** 2
        ok = (s0 > 1e-3) & np.isfinite(det) & (np.abs(det) > 1e-12) & (spread > 0.02 * s0**4)
        out = np.where(s0 > 1e-6, mean, np.nan)
        if ok.any():
            sol = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
            out[ok] = sol[:, 0]
    return out


def _enclosed(smooth: np.ndarray, valid: np.ndarray, od_min: float, reach_px: float) -> np.ndarray:
    """The pixels enclosed by tissue (bool, the shape of ``smooth``): not tissue, and cut
    off from the scan's edge by it. Tissue is what lies more than ``od_min`` (natural-log
    OD) under the brightest level within ``reach_px`` px (``smooth``: smoothed log
    intensity; ``valid``: the pixels read): against the light around it, not one level for
    the slide, so glass dimmed slowly is not tissue (glass dimmed faster counts as tissue,
    but it reaches the scan's edge and encloses no more than the section does). Glass in a
    sulcus whose mouth the coarse level blurs shut is enclosed too."""
    r = max(1, int(round(reach_px)))
    local = ndi.maximum_filter(np.where(valid, smooth, -np.inf), size=2 * r + 1, mode="nearest")
    tissue = valid & (local - smooth > od_min)
    return ndi.binary_fill_holes(tissue) & ~tissue


def typical_tissue_od(od: np.ndarray) -> float:
    """The median OD of what a quarter of it calls tissue (``od``: natural-log OD of a
    slide's pixels against its glass): from Otsu's dark class, refined until it holds.
    Otsu's dark class alone can be a dense minority (a fold, a silver stain's near-black
    cell-rich layers): its quarter would put pale tissue with the glass."""
    from skimage.filters import threshold_otsu

    od = np.asarray(od, dtype=np.float64)
    if od.size < 2 or np.ptp(od) <= 0:
        return 0.0
    t = float(threshold_otsu(od))
    typical = float(np.median(od[od > t])) if np.any(od > t) else 0.0
    for _ in range(5):
        above = od > TISSUE_SHARE * typical
        if not above.any():
            break
        nxt = float(np.median(od[above]))
        if abs(nxt - typical) <= 0.01 * typical:
            break
        typical = nxt
    return typical


def field_from(
    img: np.ndarray, pixel_um: float, top: float | None = None
) -> tuple[np.ndarray, tuple[float, float]] | None:
    """``(field, (glass, tissue_od))`` of a coarse slide image ``img`` (raw intensities,
    ``pixel_um`` µm/px): the glass's level per pixel (raw units) and the slide's glass and
    typical tissue OD after dividing by it; None when the slide shows no glass, the light
    is even (within :data:`MIN_VARIATION`) or most of the glass seen reads at ``top``, the
    top of the data's range (clipped: its light is unknown, a plateau, not even or uneven
    light)."""
    img = np.asarray(img, dtype=np.float64)
    valid = np.isfinite(img) & (img > 0)
    if valid.sum() < 100:
        return None
    glass0 = float(np.percentile(img[valid], 99.0))
    logi = np.log(np.where(valid, np.maximum(img, glass0 * 1e-3), glass0))
    tissue_od = typical_tissue_od(np.log(glass0) - logi[valid])
    if not tissue_od > 0:
        return None
    smooth = ndi.gaussian_filter(logi, 1.0)
    step = np.hypot(*np.gradient(smooth))
    od = np.log(glass0) - smooth
    flat = valid & (step < FLAT_STEP * tissue_od) & (od < MAX_DIM)
    seeds = flat & (od < TISSUE_SHARE * tissue_od)
    lab, n = ndi.label(flat)
    if n == 0 or not seeds.any():
        return None
    hit = np.zeros(n + 1, bool)
    hit[np.unique(lab[seeds])] = True
    hit[0] = False
    # the empty slide reaches the scan's edge, while a pale white-matter core as flat and
    # as light as dim glass is ringed by cortex: where seeded flat parts reach the edge,
    # only those are glass
    edge = np.zeros(n + 1, bool)
    edge[np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))] = True
    if (hit & edge).any():
        hit &= edge
    glass = hit[lab]
    # a flat, pale white-matter core can join the glass through a pale stretch of the
    # tissue's edge (a silver stain's pale layer I: a step spread over pixels); it is
    # enclosed by tissue, the empty slide is not
    inside = _enclosed(smooth, valid, TISSUE_SHARE * tissue_od, FIELD_SIGMA_UM / pixel_um)
    if (glass & ~inside).any():
        glass &= ~inside
    # glass clipped at the top of the range carries no light level: the flat parts beside
    # it are pale tissue as bright as the clipped glass, not the light under it
    if top is not None and np.mean(img[glass] >= top) >= 0.5:
        return None
    # the glass seen is evenly lit: no field (and no fit)
    lo, hi = np.percentile(logi[glass], [1, 99])
    if hi - lo <= -np.log(1 - MIN_VARIATION):
        return None
    sigma_px = FIELD_SIGMA_UM / pixel_um
    field = _fit_field(logi, glass, sigma_px)
    # drop glass darker than the field (tissue joined through a gap in its edge), refit
    for _ in range(REFITS):
        dark = glass & np.isfinite(field) & (logi < field - 0.5 * TISSUE_SHARE * tissue_od)
        if not dark.any():
            break
        glass &= ~dark
        field = _fit_field(logi, glass, sigma_px)
    far = ~np.isfinite(field)
    if far.all():
        return None
    if far.any():  # no glass within reach: the nearest estimate
        idx = ndi.distance_transform_edt(far, return_distances=False, return_indices=True)
        field = field[tuple(idx)]
    # the light never exceeds the brightest glass seen, nor falls below MAX_DIM of it
    top = float(np.percentile(logi[glass], 99.0))
    field = np.clip(field, top - MAX_DIM, top)
    lf = np.exp(field)
    lo, hi = np.percentile(lf[valid], [1, 99])
    if hi - lo <= MIN_VARIATION * hi:
        return None
    corrected = np.where(valid, img / lf * np.exp(top), 0.0)
    ref2 = _reference_from(corrected)
    if ref2 is None:
        return None
    return lf, (float(np.exp(top)), ref2[1])


def slide_field(
    levels: list, pixel_size_um: list[float]
) -> tuple[np.ndarray, float, tuple[float, float]] | None:
    """``(field, coarse µm/px, (glass, tissue_od))`` of a slide from its coarsest level
    (:func:`field_from`), or None when the light is even. Cached per dask array name."""
    lev = levels[-1]
    key = getattr(lev, "name", None)
    if key is not None and key in _CACHE:
        return _CACHE[key]
    img = np.asarray(lev[:MAX_PX, :MAX_PX], dtype=np.float64)
    top = bit_depth_white(img)[1]
    px = float(pixel_size_um[-1])
    # flatness is judged per pixel: at about FIELD_PX_UM the tissue's edge is a step of a
    # pixel or two (a finer coarsest level is averaged in blocks first)
    k = max(1, int(np.ceil(FIELD_PX_UM / px - 1e-9)))
    if k > 1:
        ph, pw = -img.shape[0] % k, -img.shape[1] % k
        img = np.pad(img, ((0, ph), (0, pw)), mode="edge")
        img = img.reshape(img.shape[0] // k, k, img.shape[1] // k, k).mean(axis=(1, 3))
    found = field_from(img, px * k, top)
    out = None if found is None else (found[0], px * k, found[1])
    if key is not None:
        _CACHE[key] = out
    return out


def flatten_window(
    img: np.ndarray, y0_um: float, x0_um: float, pixel_um: float, field: tuple
) -> np.ndarray:
    """A window (``img`` raw, top-left ``(y0_um, x0_um)``, ``pixel_um`` µm/px) divided by
    the slide's field (:func:`slide_field`) and multiplied by its glass level."""
    lf, coarse_um, (glass, _) = field
    h, w = img.shape
    ys = (y0_um + (np.arange(h) + 0.5) * pixel_um) / coarse_um - 0.5
    xs = (x0_um + (np.arange(w) + 0.5) * pixel_um) / coarse_um - 0.5
    # the field is smooth: bilinear between the coarse pixels
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"))
    fy = ndi.map_coordinates(lf, grid, order=1, mode="nearest")
    return (img * (glass / fy)).astype(img.dtype, copy=False)


# --- tile shading: a stitched mosaic of vignetted camera tiles -------------------------
#
# A widefield scan stitched from camera tiles without flat-field correction repeats each
# tile's vignetting (dimmer towards its corners) on a grid of the tiles' pitch, with a
# seam where one tile meets the next. The smooth field above does not follow it (2 mm
# Gaussian on 100 µm pixels); the pattern is found and divided out before anything else
# is read (:func:`tile_corrected`):
#
# 1. *Period*: on a level of about :data:`TILE_LEVEL_UM` µm/px, each column's (row's)
#    :data:`TILE_PROFILE_PCT` th percentile of the log intensity (the brightest glass along
#    it, or the palest tissue where it holds none), less its trend over
#    :data:`TILE_TREND_UM`, folded at each candidate period (:data:`TILE_MIN_UM` to
#    :data:`TILE_MAX_UM`, at least :data:`TILE_MIN_REPEATS` repeats seen): the share of
#    the profile's variance its fold explains; the period that explains most (the
#    shortest within 10 % of it, not a multiple), refined. Kept on each axis only when
#    the fold explains at least :data:`TILE_MIN_R2` of the variance and its range exceeds
#    :data:`MIN_VARIATION` (an evenly lit slide, whose glass is flat, gives neither; the
#    cortex's own repeats, columns or folds, are not in the glass's brightest pixels).
# 2. *Flat field* (BaSiC-like): every pixel's position within its tile (its phase at both
#    periods) in bins of about a pixel; per bin, the :data:`TILE_FLAT_PCT` th percentile
#    of the log intensity over the slide. The tissue is not periodic at the tiles' pitch,
#    so every bin sees the same mix of glass and tissue and its percentile differs from
#    another's by the light alone. Relative to the brightest bins (their 95th percentile),
#    at most 1.
# 3. Every level is divided by that light (averaged over each pixel's footprint) lazily;
#    the readout's notes say so.

#: the tile pattern is found on the finest level at least this coarse (µm/px) ...
TILE_LEVEL_UM = 16.0
#: ... and at most this coarse (else on the coarsest finer level)
TILE_LEVEL_MAX_UM = 40.0
#: tiles' pitch sought (µm)
TILE_MIN_UM, TILE_MAX_UM = 200.0, 3000.0
#: at least this many repeats of the pitch along the axis
TILE_MIN_REPEATS = 4
#: each column's / row's percentile of the log intensity that profiles the light
TILE_PROFILE_PCT = 99.0
#: the profile's trend: a Gaussian of this SD (µm), subtracted
TILE_TREND_UM = 5000.0
#: the fold at the pitch explains at least this share of the profile's variance
TILE_MIN_R2 = 0.5
#: per within-tile position, this percentile of the log intensity over the slide
TILE_FLAT_PCT = 90.0
#: at most this many px per side of the level are read
TILE_MAX_PX = 8192

_TILE_CACHE: dict[str, tuple | None] = {}


def _fold(r: np.ndarray, phase: np.ndarray, nb: int) -> np.ndarray:
    """Per pixel of ``r``, the mean of ``r`` over the pixels of its phase bin (``phase`` in
    [0, 1), ``nb`` bins)."""
    b = np.minimum((phase * nb).astype(np.int64), nb - 1)
    s = np.bincount(b, r, nb)
    n = np.bincount(b, None, nb)
    m = np.where(n > 0, s / np.maximum(n, 1), 0.0)
    return m[b]


def _explained(r: np.ndarray, period_px: float) -> float:
    nb = int(max(4, min(64, round(period_px))))
    x = np.arange(r.size) + 0.5
    f = _fold(r, (x / period_px) % 1.0, nb)
    return 1.0 - float(np.mean((r - f) ** 2)) / max(float(np.mean(r**2)), 1e-12)


def tile_period(profile: np.ndarray, pixel_um: float) -> float | None:
    """The tiles' pitch (µm) in a light profile (log intensity along one axis,
    ``pixel_um`` µm/px; NaN where nothing was read), or None when it shows none
    (step 1 of the tile shading)."""
    p = np.asarray(profile, dtype=np.float64)
    ok = np.isfinite(p)
    if ok.sum() < 32:
        return None
    fill = np.where(ok, p, np.interp(np.arange(p.size), np.flatnonzero(ok), p[ok]))
    trend = ndi.gaussian_filter1d(fill, TILE_TREND_UM / pixel_um, mode="reflect")
    r = fill - trend
    r = r - np.median(r)
    lo = max(TILE_MIN_UM / pixel_um, 4.0)
    hi = min(TILE_MAX_UM / pixel_um, r.size / TILE_MIN_REPEATS)
    if hi <= lo:
        return None
    # candidates a tenth of a repeat over the profile apart (the phase must hold over it)
    cycles = np.arange(r.size / hi, r.size / lo, 0.1)
    r2 = np.array([_explained(r, r.size / c) for c in cycles])
    best = float(r2.max())
    if best < TILE_MIN_R2:
        return None
    # the shortest period explaining nearly as much (a multiple of the pitch explains as
    # much as the pitch): the most cycles
    i = int(np.flatnonzero(r2 >= 0.9 * best)[-1])
    j = max(0, i - 2) + int(np.argmax(r2[max(0, i - 2) : i + 3]))
    fine = cycles[j] + np.arange(-0.1, 0.1001, 0.01)
    rf = np.array([_explained(r, r.size / c) for c in fine])
    period = float(r.size / fine[int(np.argmax(rf))])
    nb = int(max(4, min(64, round(period))))
    fold = _fold(r, ((np.arange(r.size) + 0.5) / period) % 1.0, nb)
    if float(rf.max()) < TILE_MIN_R2 or np.ptp(fold) <= -np.log(1 - MIN_VARIATION):
        return None
    return period * pixel_um


def tile_field_from(img: np.ndarray, pixel_um: float) -> tuple | None:
    """``(period_y_um, period_x_um, light)`` of a slide level ``img`` (raw intensities,
    ``pixel_um`` µm/px): ``light`` ``(nb_y, nb_x)`` the share of the tile centre's light
    at each within-tile position (bins of the phase at each period), or None when the
    level shows no tile pattern."""
    img = np.asarray(img, dtype=np.float64)
    valid = np.isfinite(img) & (img > 0)
    if valid.sum() < 1000:
        return None
    top = float(np.percentile(img[valid], 99.0))
    logi = np.where(valid, np.log(np.maximum(img, top * 1e-3)), np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns beyond the section
        px_prof = np.nanpercentile(logi, TILE_PROFILE_PCT, axis=0)
        py_prof = np.nanpercentile(logi, TILE_PROFILE_PCT, axis=1)
    period_x = tile_period(px_prof, pixel_um)
    if period_x is None:
        return None
    period_y = tile_period(py_prof, pixel_um)
    if period_y is None:
        return None
    nby = int(max(4, min(64, round(period_y / pixel_um))))
    nbx = int(max(4, min(64, round(period_x / pixel_um))))
    h, w = img.shape
    by = np.minimum(((((np.arange(h) + 0.5) * pixel_um) / period_y % 1.0) * nby).astype(np.int64), nby - 1)
    bx = np.minimum(((((np.arange(w) + 0.5) * pixel_um) / period_x % 1.0) * nbx).astype(np.int64), nbx - 1)
    b = (by[:, None] * nbx + bx[None, :])[valid]
    v = logi[valid]
    order = np.argsort(b, kind="stable")
    b, v = b[order], v[order]
    edges = np.searchsorted(b, np.arange(nby * nbx + 1))
    flat = np.full(nby * nbx, np.nan)
    for k in range(nby * nbx):
        seg = v[edges[k] : edges[k + 1]]
        if seg.size >= 50:
            flat[k] = np.percentile(seg, TILE_FLAT_PCT)
    if not np.isfinite(flat).any():
        return None
    flat = np.where(np.isfinite(flat), flat, np.nanmedian(flat))
    ref = float(np.percentile(flat, 95.0))
    light = np.minimum(np.exp(flat - ref), 1.0).reshape(nby, nbx)
    if 1.0 - float(light.min()) <= MIN_VARIATION:
        return None
    return period_y, period_x, light


def tile_field(levels: list, pixel_size_um: list[float]) -> tuple | None:
    """The slide's tile shading (:func:`tile_field_from` on its level of about
    :data:`TILE_LEVEL_UM` µm/px), or None. Cached per dask array name."""
    key = getattr(levels[-1], "name", None)
    if key is not None and key in _TILE_CACHE:
        return _TILE_CACHE[key]
    sizes = [float(s) for s in pixel_size_um]
    # the finest level at least TILE_LEVEL_UM µm/px (at most TILE_LEVEL_MAX_UM), else the
    # coarsest finer one: a few thousand px a side, never a whole-slide level
    usable = [i for i, s in enumerate(sizes) if s <= TILE_LEVEL_MAX_UM * 1.0001]
    coarse = [i for i in usable if sizes[i] >= TILE_LEVEL_UM * 0.9999]
    i = coarse[0] if coarse else (usable[-1] if usable else None)
    out = None
    if i is not None:
        img = np.asarray(levels[i][:TILE_MAX_PX, :TILE_MAX_PX], dtype=np.float64)
        out = tile_field_from(img, sizes[i])
    if key is not None:
        _TILE_CACHE[key] = out
    return out


def tile_light(y0_px: int, x0_px: int, shape: tuple[int, int], pixel_um: float, tiles: tuple) -> np.ndarray:
    """The tile shading's light (float32, ``shape``) over the pixels from ``(y0_px,
    x0_px)`` of a level of ``pixel_um`` µm/px: each pixel's mean over its footprint."""
    period_y, period_x, light = tiles
    nby, nbx = light.shape
    out = np.zeros(shape, np.float64)
    ky = int(np.clip(np.ceil(pixel_um / (period_y / nby)), 1, 4))
    kx = int(np.clip(np.ceil(pixel_um / (period_x / nbx)), 1, 4))
    for a in range(ky):
        y = (y0_px + np.arange(shape[0]) + (a + 0.5) / ky) * pixel_um
        iy = np.minimum(((y / period_y % 1.0) * nby).astype(np.int64), nby - 1)
        for c in range(kx):
            x = (x0_px + np.arange(shape[1]) + (c + 0.5) / kx) * pixel_um
            ix = np.minimum(((x / period_x % 1.0) * nbx).astype(np.int64), nbx - 1)
            out += light[iy[:, None], ix[None, :]]
    return (out / (ky * kx)).astype(np.float32)


def _divide_block(block: np.ndarray, pixel_um: float, tiles: tuple, block_info=None) -> np.ndarray:
    (y0, _), (x0, _) = block_info[0]["array-location"]
    return block.astype(np.float32) / tile_light(y0, x0, block.shape, pixel_um, tiles)


def tile_corrected(section):
    """``section`` with its tile shading (:func:`tile_field`) divided out of every level
    (lazily; float32), and the shading; ``(section, None)`` as it is when it shows none."""
    tiles = tile_field(section.levels, section.pixel_size_um)
    if tiles is None:
        return section, None
    levels = [
        lev.map_blocks(_divide_block, float(p), tiles, dtype=np.float32)
        for lev, p in zip(section.levels, section.pixel_size_um)
    ]
    return dataclasses.replace(section, levels=levels), tiles
