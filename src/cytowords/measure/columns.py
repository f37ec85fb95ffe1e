"""Columnar organisation: somata in radial rows, read at cell resolution (<= 2 µm/px).

What columns are: in a cell-body stain, radial (pia -> white matter) cell columns show as
somata lined up in vertical rows, so the density of somata varies *across* the ribbon
(tangentially) with a period of a few tens of µm (human minicolumns are about 20-60 µm
apart; here :data:`PERIOD_MIN_UM`-:data:`PERIOD_MAX_UM` µm) and that variation stays in
register *along* the depth axis. A random arrangement varies tangentially too (Poisson
noise, clusters), but independently at different depths.

The measure (:func:`columns_along`): windows of :data:`WINDOW_UM` µm (tangential) by
:data:`WINDOW_DEPTH_UM` µm (radial) at mid-depth of the ribbon, one per traverse (at most
:data:`N_WINDOWS`), each in the traverse's frame (its chord over the window: radial). In
each window somata are found as dark blobs (optical density smoothed over 1 µm minus its
25 µm mean, above 3 robust SDs, as the first step of :func:`~.cells.detect_somata`; one
point per blob, so a pyramid and its apical dendrite count once). The window is cut into
radial strips of :data:`STRIP_UM` µm and tangential bins of :data:`BIN_UM` µm; each bin's
density of somata, relative to its strip's mean, is band-passed to the column periods (a
difference of Gaussians normalised over the valid bins). What strips at least
:data:`MIN_SEP_UM` µm apart share (a strip between them: no soma or dendrite in both) is
their cross product, summed per narrow frequency band (:data:`BAND_BINS` bins: columns
repeat at a period that varies little within a window, the noise spreads over all
periods) and for a lean of the columns in the traverse's frame (shear up to
:data:`MAX_SHEAR`: a traverse's chord is off by a few degrees). The band and the lean are
chosen on one tangential half of the window and the cross products read on the other half
(and the other way round): the halves hold different somata, so without columns the
choice biases nothing. Poisson noise and clusters do not line up between strips: their
cross products average to zero; ``z`` is the pooled cross product over its standard
deviation were the strips independent (Bartlett's formula from their own spectra).

Reported (:class:`ColumnStats`): ``cv``, the square root of the shared covariance (the
rows' density contrast, independent of the number of somata); ``correlation``, that
covariance over the strips' own variance; ``index``, the columnar share
(:func:`columnar_share`, 0..1): the correlation raised to the window's depth of strips by
the Spearman-Brown formula, the share of the tangential variation seen over the window's
depth that is columnar, Poisson noise included (how clearly the rows show); ``z``; and
the term (:func:`column_term`): ``none`` below :data:`MIN_Z`, else ``strong`` from a share
of :data:`STRONG_SHARE`, else ``weak``; undecided (None) with fewer than
:data:`MIN_SOMATA` somata. Only ratios of the tissue's own counts: stain strength and cell
density scale out. The cut-offs were set from what they mean (chance at 3 SDs; the rows
dominating), not fitted to the generator.

Vessels: perforating vessels cut along their length are pale radial streaks (glass in the
lumen and perivascular space), the same tangential position at every depth: counted as
tissue without somata they would read as columns. Pixels paler than half the window's
neuropil level (dilated by :data:`VESSEL_PAD_UM` µm) are left out, and so is each bin with
less than half its area left: a streak is a gap in the profile, not a dip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

#: the coarsest pixels (µm) at which somata are resolved for the columns
COLUMN_MAX_PX_UM = 2.0
#: width (µm, tangential) and depth (µm, radial) of a window in the traverse's frame
WINDOW_UM = 480.0
WINDOW_DEPTH_UM = 640.0
#: windows per region (at most; one per traverse picked)
N_WINDOWS = 3
#: the window's centre: this relative depth along the traverse (mid-depth: layers III-V)
CENTRE_DEPTH = 0.5
#: radial strip height (µm)
STRIP_UM = 40.0
#: least distance (µm) between the centres of two strips compared (a gap of at least one
#: strip: two soma diameters of a large pyramid, more than a small pyramid and its dendrite)
MIN_SEP_UM = 80.0
#: the columns may lean in the traverse's frame (a traverse's chord, a frame error of a
#: few degrees) by up to this shear (tangential µm per radial µm: +-10°), sought in steps
#: of SHEAR_STEP
MAX_SHEAR = 0.18
SHEAR_STEP = 0.01
#: frequency bins (of 1 / WINDOW_UM) per narrow band: columns repeat at a period that
#: varies little within a window, so their shared variation stands in a narrow band
#: (e.g. periods of about 42-50 µm around 45 µm), the noise spreads over all of them
BAND_BINS = 3
#: tangential bin (µm)
BIN_UM = 4.0
#: band of column periods (µm): human minicolumns are about 20-60 µm apart, cell columns up
#: to ~100 µm; slower variation is lamination and the ribbon's curvature, faster the somata
PERIOD_MIN_UM = 20.0
PERIOD_MAX_UM = 100.0
#: pale pixels (vessels, perivascular space, tears) are dilated by this (µm) before masking
VESSEL_PAD_UM = 2.0
#: least somata over all windows for a term
MIN_SOMATA = 300
#: columns are present when the shared covariance exceeds zero by this many of its SDs
#: were the strips independent (:func:`window_covariance`)
MIN_Z = 3.0
#: strong columns: at least this share of the tangential variation at column periods,
#: seen over a window's depth, is columnar (:func:`columnar_share`: the rows dominate)
STRONG_SHARE = 0.5
#: Gaussian SD per period at half power: exp(-2 pi^2 s^2 / P^2) = 1/2
_SD_PER_PERIOD = float(np.sqrt(np.log(2) / 2) / np.pi)


@dataclass
class ColumnStats:
    """Columnar organisation of a region (see the module docstring): ``index`` (the
    columnar share, 0..1, :func:`columnar_share`), ``cv``, ``correlation``, ``z``,
    ``term`` (none / weak / strong, or None: undecided), the pixel size (µm) and what was
    read: windows, somata, the share of their area left out as pale, each window's
    ``cv``."""

    #: the columnar share (0..1): how much of the tangential variation of the soma density
    #: over a window's depth is shared between depths
    index: float
    #: the coefficient of variation of the soma density across the ribbon (at column
    #: periods) shared between depths: the rows' density contrast, independent of how
    #: many somata there are
    cv: float
    correlation: float
    #: the shared covariance over its SD were the strips independent (no columns)
    z: float
    term: str | None
    pixel_um: float
    n_windows: int
    n_somata: int
    #: share of the windows' area left out as pale (vessels, tears)
    pale_share: float
    per_window: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        def num(v, nd=3):
            return None if v is None or not np.isfinite(v) else round(float(v), nd)

        return {
            "index": num(self.index),
            "cv": num(self.cv),
            "correlation": num(self.correlation),
            "z": num(self.z, 2),
            "term": self.term,
            "pixel_size_um": self.pixel_um,
            "n_windows": self.n_windows,
            "n_somata": self.n_somata,
            "pale_share": num(self.pale_share),
            "per_window": [num(v) for v in self.per_window],
        }


def column_term(z: float, share: float) -> str:
    """``none`` when the density shared between depths is not above chance (z-score below
    :data:`MIN_Z`), ``strong`` when it is and the columnar share (:func:`columnar_share`)
    is at least :data:`STRONG_SHARE` (the rows dominate what the tangential texture shows
    over half a millimetre of depth), else ``weak``."""
    if not np.isfinite(z) or z < MIN_Z:
        return "none"
    return "strong" if share >= STRONG_SHARE else "weak"


def soma_points(od: np.ndarray, pixel_um: float, valid: np.ndarray) -> np.ndarray:
    """Somata as points ``(K, 2)`` (pixel ``(y, x)``, centroids) in an optical-density
    image: blobs of the OD smoothed over 1 µm minus its 25 µm mean above 3 robust SDs
    (median absolute deviation over ``valid`` pixels), at least 3 µm across."""
    fine = ndi.gaussian_filter(od, max(0.5, 1.0 / pixel_um))
    diff = fine - ndi.gaussian_filter(od, 25.0 / pixel_um)
    v = diff[valid] if valid.any() else diff.ravel()
    mad = float(np.median(np.abs(v - np.median(v)))) * 1.4826
    fg = (diff > 3 * max(mad, 1e-6)) & valid
    lab, n = ndi.label(fg)
    if n == 0:
        return np.zeros((0, 2))
    idx = lab.ravel()
    on = np.flatnonzero(idx)
    cnt = np.bincount(idx[on], minlength=n + 1)[1:]
    w = lab.shape[1]
    yy = np.bincount(idx[on], weights=on // w, minlength=n + 1)[1:]
    xx = np.bincount(idx[on], weights=on % w, minlength=n + 1)[1:]
    keep = cnt * pixel_um**2 >= np.pi * 1.5**2
    c = np.maximum(cnt[keep], 1)
    return np.stack([yy[keep] / c, xx[keep] / c], 1)


def pale_mask(od: np.ndarray, pixel_um: float) -> np.ndarray:
    """Pixels paler than half the neuropil's level (the median optical density, smoothed
    over 1 µm, of the non-pale pixels, iterated twice), dilated by :data:`VESSEL_PAD_UM`
    µm: vessels' lumina and perivascular spaces, tears, glass."""
    fine = ndi.gaussian_filter(od, max(0.5, 1.0 / pixel_um))
    level = float(np.median(fine))
    pale = fine < 0.5 * level
    for _ in range(2):
        if pale.all():
            break
        level = float(np.median(fine[~pale]))
        pale = fine < 0.5 * level
    r = VESSEL_PAD_UM / pixel_um
    if r >= 0.5 and pale.any():
        k = int(np.ceil(r))
        yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
        pale = ndi.binary_dilation(pale, yy**2 + xx**2 <= r * r)
    return pale


def _band(x: np.ndarray, w: np.ndarray, bin_um: float) -> np.ndarray:
    """Rows of ``x`` (weights ``w``, 0 where missing) band-passed along axis 1 to periods
    :data:`PERIOD_MIN_UM`-:data:`PERIOD_MAX_UM` µm: a difference of two Gaussians,
    each normalised over the weights (missing bins neither count nor pull to zero)."""

    def low(period_um: float) -> np.ndarray:
        s = _SD_PER_PERIOD * period_um / bin_um
        num = ndi.gaussian_filter1d(x * w, s, axis=1, mode="constant")
        den = ndi.gaussian_filter1d(w, s, axis=1, mode="constant")
        return num / np.maximum(den, 1e-9)

    return low(PERIOD_MIN_UM) - low(PERIOD_MAX_UM)


def window_covariance(
    points_uv: np.ndarray,
    valid_uv: np.ndarray,
    valid_w: np.ndarray,
    width_um: float = WINDOW_UM,
    depth_um: float = WINDOW_DEPTH_UM,
) -> tuple[float, float, float, float, int, int]:
    """Cross products of the band-passed relative tangential density profiles between
    radial strips at least :data:`MIN_SEP_UM` µm apart in one window (``width_um``
    tangential x ``depth_um`` radial, centred on the origin).

    ``points_uv``: somata ``(K, 2)`` ``(u tangential, v radial)`` µm from the window's
    centre; ``valid_uv`` the centres (µm, same frame) of the pixels kept (not pale) and
    ``valid_w`` their areas (µm²). The columns may lean in the window's frame (shear up to
    :data:`MAX_SHEAR`): the lean is chosen on the window's left half (u < 0; every pair
    of strips, band-passed on that half alone) and the cross products read on its right
    half, and the other way round: the halves hold different somata, so without columns
    the choice biases nothing. Returns (summed cross products, their summed weights, the
    variance of the summed cross products were the strips independent (no columns), the
    strips' summed own variance, the number of strips summed, somata counted). Poisson
    noise and clusters do not line up between strips: their cross products average to
    zero."""
    n_bins = int(round(width_um / BIN_UM))
    n_strips = int(round(depth_um / STRIP_UM))

    def bins(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bu = np.floor((uv[:, 0] + width_um / 2) / BIN_UM).astype(np.int64)
        bv = np.floor((uv[:, 1] + depth_um / 2) / STRIP_UM).astype(np.int64)
        ok = (bu >= 0) & (bu < n_bins) & (bv >= 0) & (bv < n_strips)
        return bu[ok], bv[ok], ok

    bu, bv, ok = bins(valid_uv)
    area = np.bincount(bv * n_bins + bu, weights=valid_w[ok], minlength=n_strips * n_bins)
    area = area.reshape(n_strips, n_bins)
    pu, pv, _ = bins(points_uv)
    count = np.bincount(pv * n_bins + pu, minlength=n_strips * n_bins).reshape(n_strips, n_bins)
    w = (area >= 0.5 * BIN_UM * STRIP_UM).astype(np.float64)
    tot_c = (count * w).sum(1)
    tot_a = (area * w).sum(1)
    rate = tot_c / np.maximum(tot_a, 1e-9)
    good = (tot_c >= 5) & (w.sum(1) >= 0.5 * n_bins)
    w[~good] = 0.0
    rel = np.where(w > 0, count / np.maximum(area, 1e-9) / np.maximum(rate, 1e-12)[:, None] - 1, 0)
    shears = np.arange(-MAX_SHEAR, MAX_SHEAR + 1e-9, SHEAR_STEP)
    pairs = [
        (i, j)
        for i in np.flatnonzero(good)
        for j in np.flatnonzero(good)
        if (j - i) * STRIP_UM >= MIN_SEP_UM - 1e-9
    ]
    freq = np.fft.rfftfreq(n_bins, BIN_UM)
    # narrow bands of BAND_BINS frequency bins (of the whole window: 1 / WINDOW_UM) centred
    # on each column period in range
    half_w = BAND_BINS // 2
    centres = [
        k for k in range(half_w + 1, len(freq) - half_w - 1)
        if PERIOD_MIN_UM <= 1 / freq[k] <= PERIOD_MAX_UM
    ]
    own = 0.0
    per_half = []
    left = np.arange(n_bins) < n_bins // 2
    for side in (left, ~left):
        wh = w * side[None, :]
        y = _band(rel, wh, BIN_UM) * wh
        own += float(sum((y[i] ** 2).sum() for i in np.flatnonzero(good)))
        # the other half is zero: a circular shift by the lean (<< half the window) moves
        # no data around the ends
        fy = np.fft.rfft(y, axis=1)
        power = np.abs(fy) ** 2
        cross = np.zeros((len(shears), len(freq)))
        var_f = np.zeros(len(freq))
        for i, j in pairs:
            lag_bins = shears * (j - i) * STRIP_UM / BIN_UM
            # sum_u y_i(u) y_j(u + L), per frequency: conj(Y_i) Y_j exp(2 pi i f L)
            ph = np.exp(2j * np.pi * np.outer(lag_bins, np.arange(len(freq))) / n_bins)
            cross += (np.conj(fy[i]) * fy[j] * ph).real
            var_f += power[i] * power[j]
        # per band: the cross products (both signs of the frequency: x 2 / n) and their
        # variance were the strips independent (each bin's product: P_i P_j / 2; adjacent
        # bins of a half-filled window correlate, their products by (2/pi)^2)
        nums = np.stack([cross[:, k - half_w : k + half_w + 1].sum(1) for k in centres], 1)
        nums *= 2.0 / n_bins
        vs = np.array([var_f[k - half_w : k + half_w + 1].sum() for k in centres])
        vs *= (2.0 / n_bins) ** 2 / 2 * _ADJ
        per_half.append((nums, vs))
    n_own = int(good.sum())
    own /= max(float(w.sum()) / max(n_own, 1), 1e-9)
    num = var = 0.0
    den = float(len(pairs)) * float(w.sum()) / max(n_own, 1)
    for k in (0, 1):
        pick_n, pick_v = per_half[k]
        nums, vs = per_half[1 - k]
        if not len(centres) or not np.any(pick_v > 0) or not np.any(vs > 0):
            continue
        # the lean and the band where the other half's columns stand out most
        zz = pick_n / np.sqrt(np.maximum(pick_v, 1e-30))[None, :]
        a, b = np.unravel_index(int(np.argmax(zz)), zz.shape)
        num += float(nums[a, b])
        var += float(vs[b])
    return num, den, var, own, n_own, int(tot_c[good].sum())


#: the variance of a band's summed cross products over that of independent bins: adjacent
#: bins of a half-filled window correlate by 2/pi, their products by (2/pi)^2
_ADJ = 1 + 2 * (BAND_BINS - 1) / BAND_BINS * (2 / np.pi) ** 2


def _frame(path_um: np.ndarray, side_um: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Centre (µm) at :data:`CENTRE_DEPTH` along a traverse and its radial unit vector
    (the chord over ``side_um`` µm around it, pia to white matter); None when the
    traverse is shorter than ``side_um``."""
    seg = np.hypot(*np.diff(path_um, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < side_um:
        return None
    mid = CENTRE_DEPTH * s[-1]

    def at(t: float) -> np.ndarray:
        return np.array([np.interp(t, s, path_um[:, k]) for k in (0, 1)])

    a, b = at(max(0.0, mid - side_um / 2)), at(min(s[-1], mid + side_um / 2))
    d = b - a
    n = float(np.hypot(*d))
    if n <= 0:
        return None
    return at(mid), d / n


def columns_along(
    read, paths_um: list[np.ndarray], glass: float, pixel_um: float, cancel=None
) -> ColumnStats:
    """Columnar organisation from windows at mid-depth of traverses (``(M, 2)`` µm
    polylines, pia first; one window of :data:`WINDOW_UM` µm per path, at most
    :data:`N_WINDOWS`). ``read(y0, x0, h, w, px)`` reads a window (µm, raw intensities;
    NaN outside the section), ``glass`` the slide's glass intensity; ``cancel()`` is
    checked between windows. See the module docstring."""
    width, depth = WINDOW_UM, WINDOW_DEPTH_UM
    num = den = var = own = 0.0
    n_own = 0
    per: list[float] = []
    n_som = 0
    pale_px = all_px = 0
    for path in paths_um[:N_WINDOWS]:
        fr = _frame(np.asarray(path, dtype=np.float64), depth)
        if fr is None:
            continue
        centre, radial = fr
        tang = np.array([-radial[1], radial[0]])
        # the axis-aligned box around the rotated square, plus the 25 µm background's reach
        ext = depth / 2 * abs(radial) + width / 2 * abs(tang) + 30.0
        lo = centre - ext
        if cancel is not None:
            cancel()
        img = np.asarray(read(lo[0], lo[1], 2 * ext[0], 2 * ext[1], pixel_um), dtype=np.float64)
        outside = ~np.isfinite(img)
        img = np.where(outside, glass, img)
        od = np.clip(np.log(glass / np.maximum(img, glass * 1e-3)), 0, None)
        pale = pale_mask(od, pixel_um) | outside
        pts = soma_points(od, pixel_um, ~pale)
        yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
        rel_y = (yy + 0.5) * pixel_um + lo[0] - centre[0]
        rel_x = (xx + 0.5) * pixel_um + lo[1] - centre[1]
        u = rel_y * tang[0] + rel_x * tang[1]
        v = rel_y * radial[0] + rel_x * radial[1]
        inside = (np.abs(u) < width / 2) & (np.abs(v) < depth / 2)
        keep = inside & ~pale
        pale_px += int((inside & pale).sum())
        all_px += int(inside.sum())
        uv_valid = np.stack([u[keep], v[keep]], 1)
        py = (pts[:, 0] + 0.5) * pixel_um + lo[0] - centre[0]
        px = (pts[:, 1] + 0.5) * pixel_um + lo[1] - centre[1]
        uv_pts = np.stack([py * tang[0] + px * tang[1], py * radial[0] + px * radial[1]], 1)
        a, b, vv, o, no, k = window_covariance(
            uv_pts, uv_valid, np.full(len(uv_valid), pixel_um**2), width, depth
        )
        if b <= 0:
            continue
        num += a
        den += b
        var += vv
        own += o
        n_own += no
        per.append(float(np.sqrt(max(a / b, 0.0))))
        n_som += k
    pale_share = pale_px / all_px if all_px else float("nan")
    if den <= 0 or n_own == 0:
        return ColumnStats(
            float("nan"), float("nan"), float("nan"), float("nan"), None, pixel_um, 0,
            n_som, pale_share,
        )
    cov = num / den
    cv = float(np.sqrt(max(cov, 0.0)))
    z = num / np.sqrt(var) if var > 0 else float("nan")
    corr = cov / (own / n_own) if own > 0 else float("nan")
    index = columnar_share(corr)
    term = column_term(z, index) if n_som >= MIN_SOMATA else None
    return ColumnStats(
        index, cv, float(corr), float(z), term, pixel_um, len(per), n_som, pale_share, per
    )


def columnar_share(correlation: float, depth_um: float = WINDOW_DEPTH_UM) -> float:
    """The share (0..1) of the tangential density variation at column periods, seen over
    ``depth_um`` µm of depth, that is shared between depths: the strips' correlation
    ``correlation`` (one strip of :data:`STRIP_UM` µm against another) raised to a depth
    of ``depth_um / STRIP_UM`` strips by the Spearman-Brown formula (n r / (1 + (n - 1)
    r)): how clearly the rows show over half a millimetre of depth, the eye's view of a
    window, the Poisson noise of the somata included. 0 for a correlation <= 0."""
    if not np.isfinite(correlation):
        return float("nan")
    r = max(float(correlation), 0.0)
    n = depth_um / STRIP_UM
    return n * r / (1 + (n - 1) * r)
