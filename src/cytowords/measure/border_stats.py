"""The statistics of observer-independent border detection on a sequence of laminar
profiles (Schleicher et al. 1999, 2005): profile features, the Mahalanobis distance D²
between neighbouring blocks of profiles with its serial and traverse-length corrections,
the tests over positions (Hotelling's T² with Bonferroni, or a max-statistic permutation
test) and how block sizes are combined into borders. Works on any ``(N, depth)`` profile
array; reading the profiles along a path on a section is :mod:`.borders`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy import stats

#: block-size maxima this close (positions) count as the same border
CONSISTENT_POSITIONS = 2
#: numbers of profiles compared on each side of a position (at 100 µm spacing: 1.6-3 mm)
BLOCK_SIZES = tuple(range(16, 31, 2))
#: level of the Bonferroni-corrected T² test (on D² of :data:`TESTED_FEATURES`, corrected for
#: the serial correlation of neighbouring profiles, :func:`serial_correlation`, and for the
#: traverse length within the blocks). Chosen on the development brains 205, 206, 209-212
#: (benchmarks/borders.py; the figures at each level are in docs/borders.md). The ribbon
#: still varies within an area beyond a lag-1 correlation, so the level stays far below
#: the conventional 0.05
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
#: Chosen on the development brains 205, 206, 209-212 (benchmarks/borders.py; figures in
#: docs/borders.md)
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
#: benchmarks/borders.py)
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


def within_segment_autocorrelation(
    features: np.ndarray, segments: np.ndarray, lags: Sequence[int]
) -> np.ndarray:
    """How far along the path the profiles' variation within one segment (an area between
    borders) persists: the autocorrelation ``(len(lags), p)`` of each feature of
    ``features`` ``(n, p)`` (ordered along the path) around the mean of its segment, at each
    lag in ``lags`` (positions), over the pairs of profiles that lie in the same segment.
    ``segments`` ``(n,)``: any label per profile; a new segment starts wherever the label
    changes. Correlation that persists over many positions is within-area variation that a
    block of that many profiles does not average out (an AR(1) sequence with lag-1
    correlation ρ gives about ``ρ ** lag``; the mean taken out of each finite segment biases
    long lags low). NaN for a lag with fewer than three pairs or a feature without variance."""
    f = np.asarray(features, dtype=np.float64)
    lab = np.asarray(segments)
    if f.ndim != 2 or len(lab) != len(f):
        raise ValueError(f"{len(lab)} segment labels for features of shape {f.shape}")
    seg = np.concatenate([[0], np.cumsum(lab[1:] != lab[:-1])]) if len(lab) else lab
    res = f.copy()
    for k in np.unique(seg):
        m = seg == k
        res[m] -= res[m].mean(0)
    out = np.full((len(lags), f.shape[1]), np.nan)
    for j, lag in enumerate(lags):
        lag = int(lag)
        if lag < 1 or lag >= len(f):
            continue
        same = seg[lag:] == seg[:-lag]
        if same.sum() < 3:
            continue
        a, b = res[lag:][same], res[:-lag][same]
        den = np.sqrt((a**2).sum(0) * (b**2).sum(0))
        out[j] = np.where(den > 0, (a * b).sum(0) / np.where(den > 0, den, 1.0), np.nan)
    return out


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
    """Border positions from significant maxima per block size: a candidate (any position
    within ±``tolerance`` of a maximum) supported, within ±``tolerance`` positions, by at
    least the share ``min_support`` of the block sizes that could be tested; candidates
    closer than ``2 * tolerance + 1`` keep the best supported (then the largest mean D²).
    A candidate need not be one of the maxima itself: where the sizes' maxima spread over
    up to ``2 * tolerance`` positions (the larger blocks' maximum a few positions beside
    the smaller ones'), the position between them that they all lie within ``tolerance``
    of is supported by all of them, while each maximum alone is not. Returns the positions
    and their support (share of block sizes)."""
    tested = [i for i in range(len(maxima)) if np.isfinite(d2[i]).any()]
    if not tested:
        return np.zeros(0, int), np.zeros(0)
    peaks = np.unique(np.concatenate([maxima[i] for i in tested] + [np.zeros(0, int)]))
    near = np.arange(-tolerance, tolerance + 1)
    cand = np.unique((peaks[:, None] + near[None, :]).ravel())
    cand = cand[(cand >= 0) & (cand < d2.shape[1])]
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
