"""Observer-independent border detection along a path on the cortex (Schleicher et al. 1999).

:func:`find_borders` takes a path drawn along the cortex (on the pial surface, along the
middle of the ribbon or along the white-matter border), places traverses at a regular spacing along it, reads one
grey-level-index profile per traverse (optical density at equivolumetric relative depths,
pia 0 .. white matter 1), describes each profile by ten shape features and looks for positions where the
features of the profiles before and after differ most:

1. the band around the path is read once at a profile resolution and segmented
   (:func:`.ribbon.segment`: tissue, white matter, pia, Laplace depth);
2. at each station (every ``spacing_um`` along the path) the traverse is the streamline of
   the depth potential through the station: from a station in the grey matter it is
   followed up to the pia, a station in the glass or the white matter first moves to the
   nearest grey matter (within :data:`MAX_PIA_DISTANCE_UM`); from that pial point it is
   followed to the white matter (:func:`.ribbon.pia_through`, :func:`.ribbon.streamlines`);
   the profile is sampled at ``n_depth`` equivolumetric depths (:func:`.ribbon.profiles_along`:
   where the cortex bends, layers keep their share of the column's volume, not of its
   depth; Bok's principle, Waehnert et al. 2014);
3. features (:func:`profile_features`): mean, centre of gravity, SD, skewness and kurtosis
   of the profile and of the absolute value of its first derivative; all but the mean
   (:data:`TESTED_FEATURES`) are compared;
4. for each block size ``b`` and position ``i`` (between profile ``i - 1`` and ``i``),
   the Mahalanobis distance D² between the ``b`` profiles before and the ``b`` after
   (pooled covariance; each mean difference scaled down for the serial correlation of
   neighbouring profiles, :func:`serial_correlation`; by default less the part that the
   difference in log traverse length predicts through the pooled within-block regression:
   an oblique or curved ribbon changes the profiles within an area) and a test corrected
   over the positions of that block size:
   Hotelling's T² (F approximation, Bonferroni) or a max-statistic permutation test
   (:func:`distance_function`);
5. a border is a significant local maximum of D² (not at the first or last tested position)
   found, within ±:data:`CONSISTENT_POSITIONS` positions, for at least the share :data:`MIN_SUPPORT` of the block sizes
   (or, with ``combine="min_p"``, where the smallest p over the block sizes, corrected for
   their number, is significant and smallest nearby: :func:`min_p_borders`).

The profile's mean optical density, which follows the stain and the section thickness, is
not compared; the derivative's mean (the laminar contrast in OD per relative depth) is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy import stats

from .errors import MeasureError
from .readout import N_DEPTH
from .ribbon import pia_through, profiles_along, segment, slide_reference, streamlines

#: a station in the glass or the white matter is at most this far from the grey matter (µm)
MAX_PIA_DISTANCE_UM = 1500.0
#: the band read around the path (µm each side): room for the whole ribbon and white-matter
#: cores under it where the cortex is thickest (4.5 mm) and cut at 50° (1.5× as wide); at
#: 4.5 mm the white matter under thick agranular cortex lay outside the band
#: (benchmarks/borders.py, development brains 209 and 211: traverses 2-3× the thickness)
BAND_UM = 7500.0
#: block-size maxima this close (positions) count as the same border
CONSISTENT_POSITIONS = 2
#: at least this share of the stations must have a traverse, else the path is off the cortex
MIN_STATION_SHARE = 0.5
#: numbers of profiles compared on each side of a position (at 100 µm spacing: 1.6-3 mm)
BLOCK_SIZES = tuple(range(16, 31, 2))
#: level of the Bonferroni-corrected T² test (on D² of :data:`TESTED_FEATURES`, corrected for
#: the serial correlation of neighbouring profiles, :func:`serial_correlation`, and for the
#: traverse length within the blocks). Chosen on the development brains 205, 206, 209-212
#: (benchmarks/borders.py, 12 paths of 20 mm, station truth, support 0.5; session 20): 1e-3
#: found 59 % within 1 mm with 1.42 false borders per 20 mm, 1e-4 56 % with 0.75, 1e-5
#: 47 % with 0.50, 1e-6 31 % with 0.50. The ribbon still varies within an area beyond a
#: lag-1 correlation, so the level stays far below the conventional 0.05
ALPHA = 1e-4
#: the tests offered for the difference of neighbouring blocks (:func:`distance_function`)
TESTS = ("bonferroni", "permutation")
#: shuffles of the profile order for the permutation test, and their seed
N_PERMUTATIONS = 1000
PERMUTATION_SEED = 0
#: level of the permutation test (benchmarks/borders.py on the development brains: 0.01 gave
#: about 3 false borders per 20 mm; the shuffles, like the F approximation, take neighbouring
#: traverses as independent)
PERMUTATION_ALPHA = 0.002
#: how the block sizes are combined into borders (:func:`detect_borders`): ``"support"``,
#: significant maxima found by a share of the block sizes (:func:`consistent_borders`), or
#: ``"min_p"``, the smallest p-value over the block sizes, Bonferroni-corrected for their
#: number (:func:`min_p_borders`)
COMBINES = ("support", "min_p")
#: level of the Bonferroni test with ``combine="min_p"`` (over positions and block sizes).
#: Chosen on the development brains 205, 206, 209-212 (benchmarks/borders.py, 12 paths of
#: 20 mm, station truth; session 21): 1e-4 found 75 % within 1 mm with 1.84 false borders
#: per 20 mm, 1e-5 62 % with 1.00, 1e-6 53 % with 0.67 (support at 1e-4: 56 % with 0.75)
MIN_P_ALPHA = 1e-5
#: serial correlations are clipped here (a variance inflation of at most 19)
MAX_SERIAL_CORRELATION = 0.9
#: a border must be found by at least this share of the block sizes
MIN_SUPPORT = 0.5
FEATURE_NAMES = (
    "mean",
    "centre_of_gravity",
    "sd",
    "skewness",
    "kurtosis",
    "d_mean",
    "d_centre_of_gravity",
    "d_sd",
    "d_skewness",
    "d_kurtosis",
)
#: the features compared between blocks: all but the profile's mean optical density, which
#: follows the stain, the section thickness and the scanner as much as the area (on the
#: development brains 205, 206, 209-212 the false borders' blocks differed by a median of
#: 3.3 within-block SD in it, the true borders' by 2.4 when found and 0.6 when missed;
#: benchmarks/borders.py, session 20)
TESTED_FEATURES = FEATURE_NAMES[1:]


def _moments(f: np.ndarray, x: np.ndarray) -> list[float]:
    """Mean, centre of gravity, SD, skewness and kurtosis of ``f`` (>= 0) over ``x``."""
    w = np.clip(f, 0, None)
    tot = float(w.sum())
    if tot <= 0:
        return [float(np.mean(f)), 0.5, 0.0, 0.0, 0.0]
    cg = float((x * w).sum() / tot)
    sd = math.sqrt(float(((x - cg) ** 2 * w).sum() / tot))
    if sd <= 0:
        return [float(np.mean(f)), cg, 0.0, 0.0, 0.0]
    z = (x - cg) / sd
    return [
        float(np.mean(f)),
        cg,
        sd,
        float((z**3 * w).sum() / tot),
        float((z**4 * w).sum() / tot) - 3.0,
    ]


def profile_features(profiles: np.ndarray) -> np.ndarray:
    """The ten classical profile features (Schleicher et al. 1999) of each row of
    ``profiles`` ``(n, depth)`` (relative depth 0..1): mean, centre of gravity, SD,
    skewness, kurtosis of the profile (taken as a distribution over depth) and the same
    of the absolute first derivative (its magnitude per unit relative depth).
    Returns ``(n, 10)`` in the order of :data:`FEATURE_NAMES`."""
    profiles = np.atleast_2d(np.asarray(profiles, dtype=np.float64))
    m = profiles.shape[1]
    x = (np.arange(m) + 0.5) / m
    deriv = np.abs(np.gradient(profiles, x, axis=1))
    return np.array([_moments(p, x) + _moments(d, x) for p, d in zip(profiles, deriv)])


def _standardised(features: np.ndarray) -> np.ndarray:
    """Features on a common scale (z over the path) so that covariances are well conditioned."""
    f = np.asarray(features, dtype=np.float64)
    scale = f.std(0)
    scale[scale <= 0] = 1.0
    return (f - f.mean(0)) / scale


def serial_correlation(features: np.ndarray, block: int) -> np.ndarray:
    """Lag-1 autocorrelation ``(p,)`` of each feature of ``features`` ``(n, p)`` (ordered along
    the path) around its running mean over ``block`` profiles, clipped to
    ``[0,`` :data:`MAX_SERIAL_CORRELATION` ``]``: neighbouring traverses 100 µm apart see
    overlapping tissue and the same slow changes (stain, obliqueness, curvature), so their
    features are not independent. The running mean takes out changes slower than a block
    (and steps at borders); 0 for a sequence shorter than three profiles."""
    f = np.asarray(features, dtype=np.float64)
    if len(f) < 3:
        return np.zeros(f.shape[1])
    r = f - ndi.uniform_filter1d(f, size=int(block), axis=0, mode="nearest")
    den = (r**2).sum(0)
    rho = np.where(den > 0, (r[1:] * r[:-1]).sum(0) / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(rho, 0.0, MAX_SERIAL_CORRELATION)


def _block_d2(f: np.ndarray, block: int, inflation: np.ndarray | None = None) -> np.ndarray:
    """Mahalanobis D² between the ``block`` rows before and after each position of one or
    more sequences ``f`` ``(..., n, p)``: returns ``(..., n - 2 * block + 1)`` for positions
    ``block .. n - block`` (window sums from cumulative sums, one batched solve).
    ``inflation`` ``(p,)``: the variance of each feature's block mean relative to that of
    independent rows (:func:`serial_correlation`); the difference of the means is divided by
    its square root (the covariance of the difference of two block means is
    ``2 / block * V^½ S V^½`` for a lag-1 autocorrelated sequence, ``V`` its diagonal)."""
    p = f.shape[-1]
    lead = f.shape[:-2]
    zero = np.zeros(lead + (1, p))
    c1 = np.concatenate([zero, np.cumsum(f, axis=-2)], axis=-2)
    outer = f[..., :, None] * f[..., None, :]
    c2 = np.concatenate([zero[..., None] * np.zeros(p), np.cumsum(outer, axis=-3)], axis=-3)
    n = f.shape[-2]
    i = np.arange(block, n - block + 1)
    s_a, s_b = c1[..., i, :] - c1[..., i - block, :], c1[..., i + block, :] - c1[..., i, :]
    q_a, q_b = (
        c2[..., i, :, :] - c2[..., i - block, :, :],
        c2[..., i + block, :, :] - c2[..., i, :, :],
    )
    m_a, m_b = s_a / block, s_b / block
    # pooled within-block covariance (each block's sample covariance, averaged)
    cov_a = (q_a - block * m_a[..., :, None] * m_a[..., None, :]) / (block - 1)
    cov_b = (q_b - block * m_b[..., :, None] * m_b[..., None, :]) / (block - 1)
    pooled = (cov_a + cov_b) / 2
    tr = np.trace(pooled, axis1=-2, axis2=-1) / p
    pooled = pooled + np.eye(p) * (1e-6 * np.maximum(tr, 1e-12))[..., None, None]
    diff = m_a - m_b
    if inflation is not None:
        diff = diff / np.sqrt(inflation)
    return np.einsum("...j,...j->...", diff, np.linalg.solve(pooled, diff[..., None])[..., 0])


def _adjusted_d2(
    f: np.ndarray, block: int, inflation: np.ndarray | None, q: int
) -> tuple[np.ndarray, np.ndarray]:
    """D² between neighbouring blocks of ``f`` ``(..., n, p + q)`` whose last ``q`` (0 or
    1) columns are a covariate, and Hotelling's T² of that difference. With a covariate, D²
    is that of the features' mean difference less the part predicted by the covariate's
    mean difference through the pooled within-block regression (analysis of covariance:
    D² of features and covariate together less D² of the covariate alone), and T² is
    ``b/2 · D² / (1 + b/2 · D²_x / ν)`` (the T² of Rao's test of additional information;
    ``ν = 2b - 2 - q``)."""
    d2 = _block_d2(f, block, inflation)
    if not q:
        return d2, block / 2.0 * d2
    x_infl = None if inflation is None else inflation[-q:]
    d2_x = _block_d2(f[..., -q:], block, x_infl)
    adj = np.maximum(d2 - d2_x, 0.0)
    nu = 2 * block - 2 - q
    return adj, block / 2.0 * adj / (1.0 + block / 2.0 * d2_x / nu)


def distance_function(
    features: np.ndarray,
    block: int,
    test: str = "bonferroni",
    n_permutations: int = N_PERMUTATIONS,
    seed: int = PERMUTATION_SEED,
    serial: bool = True,
    covariate: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mahalanobis D² between the ``block`` feature vectors before and after each position
    and the p-value of the difference, corrected for the number of positions tested:

    * ``test="bonferroni"``: Hotelling's T² with its F approximation, times the number of
      positions;
    * ``test="permutation"``: the max-statistic permutation test: the profile order along
      the path is shuffled ``n_permutations`` times (seeded by ``seed``) and the p-value of
      a position is the share of shuffles whose largest T² over all positions reaches its
      T² (``(1 + count) / (1 + n_permutations)``; T² is ``b/2 · D²`` without a covariate). It controls the family-wise error over
      the path without a distributional assumption, but like the F approximation it takes
      the profiles as exchangeable under no border.

    ``serial`` (default): D² is corrected for the serial correlation of neighbouring
    profiles (:func:`serial_correlation`): each feature's mean difference is divided by the
    square root of its AR(1) variance inflation ``(1 + ρ) / (1 - ρ)`` (Bartlett 1935; the
    effective number of profiles in a block is ``block (1 - ρ) / (1 + ρ)``), so that D² and
    its test refer to independent profiles, as Hotelling's T² and the shuffles (which
    destroy the order, and with it the correlation) assume. ``serial=False``: D² of the
    profiles taken as independent.

    ``covariate`` ``(n,)`` (the log traverse length in :func:`detect_borders`): D² and the
    test are those of the features' mean difference less the part that the covariate's mean
    difference predicts through the pooled within-block regression (analysis of
    covariance, :func:`_adjusted_d2`; one residual degree of freedom fewer); a step in the
    traverse length within an area (an oblique cut, a bend) then moves the features only
    as far as they follow the length within the blocks.

    Position ``i`` lies between rows ``i - 1`` and ``i``; both arrays have ``len(features)
    + 1`` entries, NaN where a full block does not fit on either side."""
    if test not in TESTS:
        raise ValueError(f"test {test!r}: expected one of {', '.join(TESTS)}")
    f = np.asarray(features, dtype=np.float64)
    n, p = f.shape
    d2 = np.full(n + 1, np.nan)
    pv = np.full(n + 1, np.nan)
    q = 0 if covariate is None else 1
    # residual degrees of freedom of the pooled covariance, less one per covariate
    nu = 2 * block - 2 - q
    df2 = nu - p + 1
    if df2 < 1 or n < 2 * block:
        return d2, pv
    f = _standardised(f)
    if covariate is not None:
        x = np.asarray(covariate, dtype=np.float64).reshape(-1, 1)
        if len(x) != n:
            raise ValueError(f"{len(x)} covariate values for {n} profiles")
        f = np.concatenate([f, _standardised(x)], axis=1)
    positions = np.arange(block, n - block + 1)
    inflation = None
    if serial:
        rho = serial_correlation(f, block)
        inflation = (1 + rho) / (1 - rho)
    d2[positions], t2 = _adjusted_d2(f, block, inflation, q)
    if test == "bonferroni":
        fstat = df2 / (nu * p) * t2
        pv[positions] = np.minimum(stats.f.sf(fstat, p, df2) * len(positions), 1.0)
        return d2, pv
    if n_permutations < 1:
        raise ValueError(f"n_permutations {n_permutations}: must be at least 1")
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_permutations, n)), axis=1)
    null_max = np.empty(n_permutations)
    # chunks keep the cumulative outer products (chunk, n, p, p) to a few MB
    chunk = max(1, 4_000_000 // (n * p * p))
    for c in range(0, n_permutations, chunk):
        null_max[c : c + chunk] = _adjusted_d2(f[order[c : c + chunk]], block, None, q)[1].max(-1)
    null_max.sort()
    reached = n_permutations - np.searchsorted(null_max, t2, side="left")
    pv[positions] = (1.0 + reached) / (1.0 + n_permutations)
    return d2, pv


def _significant_maxima(d2: np.ndarray, pv: np.ndarray, half: int, alpha: float) -> np.ndarray:
    """Positions where ``d2`` is the largest within ±``half`` and ``pv`` < ``alpha``, other
    than the first and last tested positions: a largest D² there still rises towards the
    untested end (the change lies within a block of the path's end, where it cannot be
    located)."""
    filled = np.where(np.isfinite(d2), d2, -np.inf)
    peak = ndi.maximum_filter1d(filled, 2 * half + 1, mode="constant", cval=-np.inf)
    ok = np.isfinite(d2) & (filled >= peak) & (np.nan_to_num(pv, nan=1.0) < alpha)
    tested = np.flatnonzero(np.isfinite(d2))
    if tested.size:
        ok[[tested[0], tested[-1]]] = False
    return np.flatnonzero(ok)


def consistent_borders(
    maxima: Sequence[np.ndarray],
    d2: np.ndarray,
    tolerance: int = CONSISTENT_POSITIONS,
    min_support: float = MIN_SUPPORT,
) -> tuple[np.ndarray, np.ndarray]:
    """Border positions from significant maxima per block size: a candidate (any maximum)
    supported, within ±``tolerance`` positions, by at least the share ``min_support`` of the
    block sizes that could be tested; candidates closer than ``2 * tolerance + 1`` keep the best supported
    (then the largest mean D²). Returns the positions and their support (share of block
    sizes)."""
    tested = [i for i in range(len(maxima)) if np.isfinite(d2[i]).any()]
    if not tested:
        return np.zeros(0, int), np.zeros(0)
    cand = np.unique(np.concatenate([maxima[i] for i in tested] + [np.zeros(0, int)]))
    support, strength = [], []
    for c in cand:
        hits = sum(bool(np.any(np.abs(maxima[i] - c) <= tolerance)) for i in tested)
        support.append(hits / len(tested))
        strength.append(float(np.nanmean(d2[:, c])) if np.isfinite(d2[:, c]).any() else 0.0)
    order = np.lexsort((-np.array(strength), -np.array(support))) if len(cand) else []
    keep: list[int] = []
    for j in order:
        if support[j] < min_support - 1e-9:
            continue
        if all(abs(cand[j] - cand[k]) > 2 * tolerance for k in keep):
            keep.append(int(j))
    keep.sort(key=lambda j: cand[j])
    return cand[keep].astype(int), np.array([support[j] for j in keep])


def min_p_borders(
    d2: np.ndarray, pv: np.ndarray, block_sizes: Sequence[int], alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Borders from the smallest p-value over the block sizes (a multi-scale test): at each
    position the smallest p of ``pv`` ``(len(block_sizes), n + 1)`` (each already corrected
    over its positions) times the number of block sizes (Bonferroni), other than at the
    first and last tested positions of each size (as in :func:`_significant_maxima`); a
    border is a position where it is below ``alpha`` and smallest (ties: the larger mean D²
    of ``d2``) within ± half the smallest block. Unlike :func:`consistent_borders` a border
    need not be a local maximum at many block sizes: one size that locates it suffices.
    Returns the positions and their support (the share of block sizes with p below
    ``alpha`` within ±:data:`CONSISTENT_POSITIONS`)."""
    p = np.where(np.isfinite(pv), pv, 1.0)
    for k in range(len(p)):
        tested = np.flatnonzero(np.isfinite(d2[k]))
        if tested.size:
            p[k, [tested[0], tested[-1]]] = 1.0
    p_min = np.minimum(p.min(0) * len(block_sizes), 1.0)
    fin = np.isfinite(d2)
    mean_d2 = np.where(fin, d2, 0.0).sum(0) / np.maximum(fin.sum(0), 1)
    # rank by the smallest p, then by the mean D² (p-values tie at their floor)
    order = np.lexsort((mean_d2, -p_min))
    rank = np.empty(len(order))
    rank[order] = np.arange(len(order))
    half = max(CONSISTENT_POSITIONS, int(min(block_sizes)) // 2)
    peak = ndi.maximum_filter1d(rank, 2 * half + 1, mode="constant", cval=-np.inf)
    pos = np.flatnonzero((rank >= peak) & (p_min < alpha))
    near = ndi.maximum_filter1d(p < alpha, 2 * CONSISTENT_POSITIONS + 1, axis=1, mode="constant")
    return pos.astype(int), near[:, pos].mean(0) if len(pos) else np.zeros(0)


def detect_borders(
    profiles: np.ndarray,
    block_sizes: Sequence[int] = BLOCK_SIZES,
    alpha: float | None = None,
    *,
    test: str = "bonferroni",
    n_permutations: int = N_PERMUTATIONS,
    seed: int = PERMUTATION_SEED,
    lengths_um: np.ndarray | None = None,
    min_support: float = MIN_SUPPORT,
    serial: bool = True,
    combine: str = "support",
) -> dict[str, Any]:
    """Borders in a sequence of profiles ``(n, depth)`` (ordered along the cortex).

    ``lengths_um``: the traverse lengths (µm); when given, their log is the covariate of
    each block comparison (:func:`distance_function`). ``combine``: ``"support"`` (a border
    is a significant maximum at the share ``min_support`` of the block sizes,
    :func:`consistent_borders`) or ``"min_p"`` (the smallest p over the block sizes,
    Bonferroni-corrected for their number, :func:`min_p_borders`; ``min_support`` unused).
    ``test``/``n_permutations``/``seed``/``serial``: see :func:`distance_function`; ``alpha``: the
    level of the corrected test (default :func:`default_alpha`: :data:`ALPHA` for
    ``"bonferroni"``, :data:`MIN_P_ALPHA` with ``combine="min_p"``,
    :data:`PERMUTATION_ALPHA` for ``"permutation"``, which cannot reach below
    ``1 / (1 + n_permutations)``). Returns ``positions`` (indices ``i``: between profile
    ``i - 1`` and ``i``), ``support`` (share of block sizes), ``distance`` and ``pvalue``
    (``(len(block_sizes), n + 1)``, NaN where not tested) and ``features`` ``(n, 10)``."""
    if combine not in COMBINES:
        raise ValueError(f"combine {combine!r}: expected one of {', '.join(COMBINES)}")
    alpha = default_alpha(test, combine) if alpha is None else float(alpha)
    if test == "permutation" and alpha * (1 + n_permutations) <= 1:
        raise ValueError(
            f"level {alpha:g} is below the smallest p-value of {n_permutations} permutations "
            f"({1 / (1 + n_permutations):.2g}): raise n_permutations or the level"
        )
    feats = profile_features(profiles)
    tested = feats[:, [FEATURE_NAMES.index(name) for name in TESTED_FEATURES]]
    cov = None
    if lengths_um is not None:
        cov = np.log(np.clip(np.asarray(lengths_um, dtype=np.float64), 1e-6, None))
        if len(cov) != len(feats):
            raise ValueError(f"{len(cov)} traverse lengths for {len(feats)} profiles")
    n = len(feats)
    d2 = np.full((len(block_sizes), n + 1), np.nan)
    pv = np.full_like(d2, np.nan)
    maxima = []
    for k, b in enumerate(block_sizes):
        d2[k], pv[k] = distance_function(
            tested, int(b), test, n_permutations, seed, serial, covariate=cov
        )
        maxima.append(_significant_maxima(d2[k], pv[k], max(CONSISTENT_POSITIONS, b // 2), alpha))
    if combine == "min_p":
        pos, sup = min_p_borders(d2, pv, block_sizes, alpha)
    else:
        pos, sup = consistent_borders(maxima, d2, min_support=min_support)
    return {"positions": pos, "support": sup, "distance": d2, "pvalue": pv, "features": feats}


def default_alpha(test: str, combine: str = "support") -> float:
    """The default level of ``test`` (:data:`ALPHA`, :data:`MIN_P_ALPHA` for the Bonferroni
    test with ``combine="min_p"``, or :data:`PERMUTATION_ALPHA`)."""
    if test not in TESTS:
        raise ValueError(f"test {test!r}: expected one of {', '.join(TESTS)}")
    if combine not in COMBINES:
        raise ValueError(f"combine {combine!r}: expected one of {', '.join(COMBINES)}")
    if test == "permutation":
        return PERMUTATION_ALPHA
    return MIN_P_ALPHA if combine == "min_p" else ALPHA


@dataclass
class BorderResult:
    """Borders along a path (µm; ``(y, x)`` points from the section's top-left corner).

    ``path_um``: the path ``(N, 2)``; ``station_along_um`` / ``station_um``: where each traverse starts along the path;
    ``positions_along_um``: the tested positions (mid-way between neighbouring stations,
    ``distance`` and ``pvalue`` columns); ``border_along_um`` / ``border_um``: the borders,
    ``border_support`` the share of block sizes that found each; ``segment_profiles``: the
    mean profile of each segment between borders (``segments_along_um`` gives their ends).
    """

    spacing_um: float
    path_length_um: float
    path_um: np.ndarray
    profile_pixel_um: float
    block_sizes: list[int]
    station_along_um: np.ndarray
    station_um: np.ndarray
    traverses_um: list[np.ndarray]
    profiles: np.ndarray
    features: np.ndarray
    positions_along_um: np.ndarray
    distance: np.ndarray
    pvalue: np.ndarray
    border_along_um: np.ndarray
    border_um: np.ndarray
    border_support: np.ndarray
    segments_along_um: np.ndarray
    segment_profiles: np.ndarray
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (rounded; NaN -> None)."""

        def arr(a, nd=3):
            return [None if not np.isfinite(v) else round(float(v), nd) for v in np.ravel(a)]

        return {
            "spacing_um": self.spacing_um,
            "path_length_um": round(self.path_length_um, 1),
            "profile_pixel_size_um": self.profile_pixel_um,
            "n_traverses": len(self.traverses_um),
            "block_sizes": list(self.block_sizes),
            "borders": [
                {
                    "along_um": round(float(a), 1),
                    "y_um": round(float(p[0]), 1),
                    "x_um": round(float(p[1]), 1),
                    "support": round(float(s), 3),
                }
                for a, p, s in zip(self.border_along_um, self.border_um, self.border_support)
            ],
            "segments_along_um": [arr(s, 1) for s in self.segments_along_um],
            "segment_profiles": [arr(p, 4) for p in self.segment_profiles],
            "positions_along_um": arr(self.positions_along_um, 1),
            "distance": {str(b): arr(d) for b, d in zip(self.block_sizes, self.distance)},
            "pvalue": {str(b): arr(p, 6) for b, p in zip(self.block_sizes, self.pvalue)},
            "notes": list(self.notes),
        }


def _arclength(path: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])


def point_at(path: np.ndarray, along_um: np.ndarray) -> np.ndarray:
    """Points ``(k, 2)`` (y, x) µm at arc lengths ``along_um`` of a polyline."""
    s = _arclength(path)
    a = np.asarray(along_um, dtype=np.float64)
    return np.stack([np.interp(a, s, path[:, 0]), np.interp(a, s, path[:, 1])], -1)


def find_borders(
    section,
    path_um,
    *,
    spacing_um: float = 100.0,
    block_sizes: Sequence[int] = BLOCK_SIZES,
    n_depth: int = N_DEPTH,
    alpha: float | None = None,
    profile_um: float | None = None,
    test: str = "bonferroni",
    n_permutations: int = N_PERMUTATIONS,
    min_support: float = MIN_SUPPORT,
    adjust_length: bool = True,
    equivolume: bool = True,
    serial: bool = True,
    combine: str = "support",
) -> BorderResult:
    """Observer-independent borders along ``path_um`` (``(N, 2)`` (y, x) µm polyline drawn
    on the pial surface, along the ribbon or along the white-matter border) of a :class:`cytowords.sections.Section`.

    Traverses every ``spacing_um`` µm; ``block_sizes``: numbers of profiles compared on
    each side; ``test``: ``"bonferroni"`` (Hotelling's T², F approximation) or
    ``"permutation"`` (max-statistic test over ``n_permutations`` seeded shuffles, see
    :func:`distance_function`); ``alpha``: its corrected level (default per test:
    :func:`default_alpha`); ``min_support``: the share of block sizes that must find a
    border; ``adjust_length``: compare the blocks with the log traverse length as a
    covariate (:func:`distance_function`); ``equivolume``: sample the profiles at equivolumetric
    depths (:func:`.ribbon.column_bend`; else at equidistant relative depths); ``serial``:
    correct D² for the serial correlation of neighbouring profiles (:func:`distance_function`);
    ``combine``: how the block sizes make a border (``"support"`` or ``"min_p"``,
    :func:`detect_borders`);
    ``profile_um``: the profile resolution (default: 20 µm/px or the nearest pyramid level
    within 25 %, coarser for very long paths). Raises :class:`MeasureError` for a path that
    is not a finite polyline, one shorter than two of the smallest blocks, or one off the
    cortex (fewer than half of its stations reach from the pia to the white matter)."""
    path = np.asarray(path_um, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2 or not np.isfinite(path).all():
        raise MeasureError("the path must be at least two finite (y, x) points in µm")
    if spacing_um <= 0 or not block_sizes:
        raise MeasureError("the spacing must be positive and at least one block size given")
    if test not in TESTS:
        raise MeasureError(f"test {test!r}: expected one of {', '.join(TESTS)}")
    if combine not in COMBINES:
        raise MeasureError(f"combine {combine!r}: expected one of {', '.join(COMBINES)}")
    level = default_alpha(test, combine) if alpha is None else float(alpha)
    if not 0 < level < 1:
        raise MeasureError(f"the test level {level:g} must lie between 0 and 1")
    if test == "permutation" and level * (1 + n_permutations) <= 1:
        raise MeasureError(
            f"level {level:g} is below the smallest p-value of {n_permutations} permutations "
            f"({1 / (1 + n_permutations):.2g}): raise the number of permutations or the level"
        )
    s = _arclength(path)
    length = float(s[-1])
    bmin = int(min(block_sizes))
    need = 2 * bmin * spacing_um
    if length < need:
        raise MeasureError(
            f"the path is {length / 1000:.2f} mm long; at least {need / 1000:.2f} mm (two "
            f"blocks of {bmin} traverses {spacing_um:g} µm apart) are needed"
        )
    along = np.arange(0.5 * spacing_um, length, spacing_um)
    stations = point_at(path, along)
    # station normals are not needed: the depth potential gives each traverse its direction
    sizes = [float(v) for v in section.pixel_size_um]
    (ya, xa), (yb, xb) = path.min(0) - BAND_UM, path.max(0) + BAND_UM
    sh, sw = section.shape_um
    if yb <= 0 or xb <= 0 or ya >= sh or xa >= sw:
        raise MeasureError("the path is outside the section")
    ya, xa, yb, xb = max(ya, 0.0), max(xa, 0.0), min(yb, sh), min(xb, sw)
    if profile_um:
        p = float(profile_um)
    else:
        p = max(20.0, math.sqrt((yb - ya) * (xb - xa) / 6_000_000))
        near = [v for v in sizes if abs(v - p) <= 0.25 * p]
        p = float(min(near, key=lambda v: abs(v - p))) if near else p
    y0, x0 = math.floor(ya / p) * p, math.floor(xa / p) * p
    hh, ww = math.ceil((yb - y0) / p) * p, math.ceil((xb - x0) / p) * p
    img = section.read_window(y0, x0, hh, ww, p, fill=np.nan)
    outside = ~np.isfinite(img)
    # only the band around the path is segmented (the rest of the window is "outside")
    near_path = np.zeros(img.shape, bool)
    dense = point_at(path, np.arange(0.0, length + p, p))
    iy = np.clip(((dense[:, 0] - y0) / p).astype(int), 0, img.shape[0] - 1)
    ix = np.clip(((dense[:, 1] - x0) / p).astype(int), 0, img.shape[1] - 1)
    near_path[iy, ix] = True
    band = ndi.distance_transform_edt(~near_path) * p <= BAND_UM
    outside |= ~band
    img = np.where(outside, 0, img)
    rib = segment(img, p, slide_reference(section.levels), outside)
    if not rib.pia.any() or not rib.wm.any():
        missing = " and ".join(
            name for name, m in (("no pia", rib.pia), ("no white matter", rib.wm)) if not m.any()
        )
        raise MeasureError(
            f"the path is off the cortex: {missing} within {BAND_UM / 1000:g} mm of it"
        )
    st_px = (stations - [y0, x0]) / p - 0.5
    seeds = pia_through(rib, st_px, MAX_PIA_DISTANCE_UM / p)
    close = np.isfinite(seeds[:, 0])
    trs_all = streamlines(rib, seeds[close])
    ok_idx = np.flatnonzero(close)
    keep = [(i, t) for i, t in zip(ok_idx, trs_all) if t is not None]
    if len(keep) < max(2 * bmin, MIN_STATION_SHARE * len(stations)):
        raise MeasureError(
            f"the path is off the cortex: only {len(keep)} of {len(stations)} traverses reach "
            f"from the pia to the white matter ({int(close.sum())} stations lie in the grey "
            f"matter or within {MAX_PIA_DISTANCE_UM / 1000:g} mm of it; draw the path on the "
            "pial surface, along the ribbon or along the white-matter border)"
        )
    st_keep = np.array([i for i, _ in keep])
    trs, _, profiles = profiles_along(
        rib, [t for _, t in keep], n_depth, equivolume, second_fall=False
    )
    lengths = np.array([float(np.hypot(*np.diff(t.points, axis=0).T).sum()) * p for t in trs])
    det = detect_borders(
        profiles,
        block_sizes,
        level,
        test=test,
        n_permutations=n_permutations,
        lengths_um=lengths if adjust_length else None,
        min_support=min_support,
        serial=serial,
        combine=combine,
    )
    a_keep = along[st_keep]
    mid = np.concatenate([[a_keep[0]], (a_keep[:-1] + a_keep[1:]) / 2, [a_keep[-1]]])
    b_along = mid[det["positions"]]
    cuts = np.concatenate([[0], det["positions"], [len(profiles)]])
    seg_profiles = np.stack([profiles[a:b].mean(0) for a, b in zip(cuts[:-1], cuts[1:])])
    seg_ends = np.concatenate([[0.0], b_along, [length]])
    notes = []
    if len(keep) < len(stations):
        notes.append(
            f"{len(stations) - len(keep)} of {len(stations)} stations had no traverse "
            "(no pia near the path or no white matter under it)"
        )
    origin = np.array([y0, x0])
    return BorderResult(
        spacing_um=float(spacing_um),
        path_length_um=length,
        path_um=path,
        profile_pixel_um=p,
        block_sizes=[int(b) for b in block_sizes],
        station_along_um=a_keep,
        station_um=stations[st_keep],
        traverses_um=[(t.points + 0.5) * p + origin for t in trs],
        profiles=profiles,
        features=det["features"],
        positions_along_um=mid,
        distance=det["distance"],
        pvalue=det["pvalue"],
        border_along_um=b_along,
        border_um=point_at(path, b_along) if len(b_along) else np.zeros((0, 2)),
        border_support=det["support"],
        segments_along_um=np.stack([seg_ends[:-1], seg_ends[1:]], 1),
        segment_profiles=seg_profiles,
        notes=notes,
    )


__all__ = [
    "FEATURE_NAMES",
    "COMBINES",
    "BorderResult",
    "consistent_borders",
    "default_alpha",
    "detect_borders",
    "distance_function",
    "find_borders",
    "min_p_borders",
    "point_at",
    "profile_features",
    "serial_correlation",
]
