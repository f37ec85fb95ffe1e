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
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

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
    img: np.ndarray, pixel_um: float
) -> tuple[np.ndarray, tuple[float, float]] | None:
    """``(field, (glass, tissue_od))`` of a coarse slide image ``img`` (raw intensities,
    ``pixel_um`` µm/px): the glass's level per pixel (raw units) and the slide's glass and
    typical tissue OD after dividing by it; None when the slide shows no glass or the
    light is even (within :data:`MIN_VARIATION`)."""
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
    px = float(pixel_size_um[-1])
    # flatness is judged per pixel: at about FIELD_PX_UM the tissue's edge is a step of a
    # pixel or two (a finer coarsest level is averaged in blocks first)
    k = max(1, int(np.ceil(FIELD_PX_UM / px - 1e-9)))
    if k > 1:
        ph, pw = -img.shape[0] % k, -img.shape[1] % k
        img = np.pad(img, ((0, ph), (0, pw)), mode="edge")
        img = img.reshape(img.shape[0] // k, k, img.shape[1] // k, k).mean(axis=(1, 3))
    found = field_from(img, px * k)
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
