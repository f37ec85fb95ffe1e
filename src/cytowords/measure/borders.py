"""Observer-independent border detection along a path on the cortex (Schleicher et al. 1999).

:func:`find_borders` takes a path drawn along the cortex (on the pial surface or along the
middle of the ribbon), places traverses at a regular spacing along it, reads one
grey-level-index profile per traverse (optical density at relative depths, pia 0 .. white
matter 1), describes each profile by ten shape features and looks for positions where the
features of the profiles before and after differ most:

1. the band around the path is read once at a profile resolution and segmented
   (:func:`.ribbon.segment`: tissue, white matter, pia, Laplace depth);
2. at each station (every ``spacing_um`` along the path) the traverse starts at the pial
   pixel nearest to the station (within :data:`MAX_PIA_DISTANCE_UM`) and follows the depth
   potential to the white matter (:func:`.ribbon.streamlines`); the profile is sampled at
   ``n_depth`` relative depths (:func:`.ribbon.profiles_along`);
3. features (:func:`profile_features`): mean, centre of gravity, SD, skewness and kurtosis
   of the profile and of the absolute value of its first derivative;
4. for each block size ``b`` and position ``i`` (between profile ``i - 1`` and ``i``),
   the Mahalanobis distance D² between the ``b`` profiles before and the ``b`` after
   (pooled covariance) and Hotelling's T² test (F approximation, Bonferroni-corrected over
   the positions of that block size);
5. a border is a significant local maximum of D² found, within ±:data:`CONSISTENT_POSITIONS`
   positions, for at least half of the block sizes.

Only relative features are used: stain intensity, contrast and the glass level do not enter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy import stats
from scipy.spatial import cKDTree

from .errors import MeasureError
from .readout import N_DEPTH
from .ribbon import profiles_along, segment, slide_reference, streamlines

#: a station's traverse starts at the pia at most this far from the path (µm)
MAX_PIA_DISTANCE_UM = 1500.0
#: the band read around the path (µm each side): room for the whole ribbon and some white matter
BAND_UM = 4500.0
#: block-size maxima this close (positions) count as the same border
CONSISTENT_POSITIONS = 2
#: at least this share of the stations must have a traverse, else the path is off the cortex
MIN_STATION_SHARE = 0.5
#: numbers of profiles compared on each side of a position (at 100 µm spacing: 1.6-3 mm)
BLOCK_SIZES = tuple(range(16, 31, 2))
#: level of the Bonferroni-corrected T² test. The F approximation assumes independent
#: profiles; neighbouring traverses are correlated and a real ribbon varies within an area
#: (curvature, obliqueness), so a strict level keeps false borders rare
#: (benchmarks/borders.py: 0.05 gave about 4 false borders per 20 mm, 1e-7 about 2)
ALPHA = 1e-7
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


def distance_function(features: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Mahalanobis D² between the ``block`` feature vectors before and after each position
    and the Bonferroni-corrected p-value of Hotelling's T² (F approximation).

    Position ``i`` lies between rows ``i - 1`` and ``i``; both arrays have ``len(features)
    + 1`` entries, NaN where a full block does not fit on either side."""
    f = np.asarray(features, dtype=np.float64)
    n, p = f.shape
    d2 = np.full(n + 1, np.nan)
    pv = np.full(n + 1, np.nan)
    df2 = 2 * block - p - 1
    if df2 < 1 or n < 2 * block:
        return d2, pv
    # features on a common scale so that the covariance is well conditioned
    scale = f.std(0)
    scale[scale <= 0] = 1.0
    f = (f - f.mean(0)) / scale
    positions = range(block, n - block + 1)
    for i in positions:
        a, b = f[i - block : i], f[i : i + block]
        diff = a.mean(0) - b.mean(0)
        pooled = (np.cov(a, rowvar=False) + np.cov(b, rowvar=False)) / 2
        pooled += np.eye(p) * 1e-6 * max(float(np.trace(pooled)) / p, 1e-12)
        d2[i] = float(diff @ np.linalg.solve(pooled, diff))
        t2 = block / 2.0 * d2[i]
        fstat = df2 / ((2 * block - 2) * p) * t2
        pv[i] = float(stats.f.sf(fstat, p, df2))
    pv = np.minimum(pv * len(positions), 1.0)
    return d2, pv


def _significant_maxima(d2: np.ndarray, pv: np.ndarray, half: int, alpha: float) -> np.ndarray:
    """Positions where ``d2`` is the largest within ±``half`` and ``pv`` < ``alpha``."""
    filled = np.where(np.isfinite(d2), d2, -np.inf)
    peak = ndi.maximum_filter1d(filled, 2 * half + 1, mode="constant", cval=-np.inf)
    ok = np.isfinite(d2) & (filled >= peak) & (np.nan_to_num(pv, nan=1.0) < alpha)
    return np.flatnonzero(ok)


def consistent_borders(
    maxima: Sequence[np.ndarray], d2: np.ndarray, tolerance: int = CONSISTENT_POSITIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Border positions from significant maxima per block size: a candidate (any maximum)
    supported, within ±``tolerance`` positions, by at least half of the block sizes that
    could be tested; candidates closer than ``2 * tolerance + 1`` keep the best supported
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
        if support[j] < 0.5:
            continue
        if all(abs(cand[j] - cand[k]) > 2 * tolerance for k in keep):
            keep.append(int(j))
    keep.sort(key=lambda j: cand[j])
    return cand[keep].astype(int), np.array([support[j] for j in keep])


def detect_borders(
    profiles: np.ndarray,
    block_sizes: Sequence[int] = BLOCK_SIZES,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """Borders in a sequence of profiles ``(n, depth)`` (ordered along the cortex).

    Returns ``positions`` (indices ``i``: between profile ``i - 1`` and ``i``), ``support``
    (share of block sizes), ``distance`` and ``pvalue`` (``(len(block_sizes), n + 1)``, NaN
    where not tested) and ``features`` ``(n, 10)``."""
    feats = profile_features(profiles)
    n = len(feats)
    d2 = np.full((len(block_sizes), n + 1), np.nan)
    pv = np.full_like(d2, np.nan)
    maxima = []
    for k, b in enumerate(block_sizes):
        d2[k], pv[k] = distance_function(feats, int(b))
        maxima.append(_significant_maxima(d2[k], pv[k], max(CONSISTENT_POSITIONS, b // 2), alpha))
    pos, sup = consistent_borders(maxima, d2)
    return {"positions": pos, "support": sup, "distance": d2, "pvalue": pv, "features": feats}


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
    alpha: float = ALPHA,
    profile_um: float | None = None,
) -> BorderResult:
    """Observer-independent borders along ``path_um`` (``(N, 2)`` (y, x) µm polyline drawn
    on the pial surface or along the ribbon) of a :class:`cytowords.sections.Section`.

    Traverses every ``spacing_um`` µm; ``block_sizes``: numbers of profiles compared on
    each side; ``alpha``: the Bonferroni-corrected level of the Hotelling T² test;
    ``profile_um``: the profile resolution (default: 20 µm/px or the nearest pyramid level
    within 25 %, coarser for very long paths). Raises :class:`MeasureError` for a path that
    is not a finite polyline, one shorter than two of the smallest blocks, or one off the
    cortex (fewer than half of its stations reach from the pia to the white matter)."""
    path = np.asarray(path_um, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2 or not np.isfinite(path).all():
        raise MeasureError("the path must be at least two finite (y, x) points in µm")
    if spacing_um <= 0 or not block_sizes:
        raise MeasureError("the spacing must be positive and at least one block size given")
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
    pia = np.argwhere(rib.pia)
    if len(pia) == 0 or not rib.wm.any():
        raise MeasureError("the path is off the cortex: no pia and white matter near it")
    st_px = (stations - [y0, x0]) / p - 0.5
    dist, idx = cKDTree(pia).query(st_px)
    close = dist * p <= MAX_PIA_DISTANCE_UM
    trs_all = streamlines(rib, pia[idx[close]])
    ok_idx = np.flatnonzero(close)
    keep = [(i, t) for i, t in zip(ok_idx, trs_all) if t is not None]
    if len(keep) < max(2 * bmin, MIN_STATION_SHARE * len(stations)):
        raise MeasureError(
            f"the path is off the cortex: only {len(keep)} of {len(stations)} traverses reach "
            "from the pia to the white matter (draw it on the pial surface or along the ribbon)"
        )
    st_keep = np.array([i for i, _ in keep])
    trs, _, profiles = profiles_along(rib, [t for _, t in keep], n_depth)
    det = detect_borders(profiles, block_sizes, alpha)
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
    "BorderResult",
    "consistent_borders",
    "detect_borders",
    "distance_function",
    "find_borders",
    "point_at",
    "profile_features",
]
