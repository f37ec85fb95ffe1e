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
   followed to the white matter (:func:`.traverses.pia_through`, :func:`.traverses.streamlines`);
   the profile is sampled at ``n_depth`` equivolumetric depths (:func:`.traverses.profiles_along`:
   where the cortex bends, layers keep their share of the column's volume, not of its
   depth; Bok's principle, Waehnert et al. 2014);
3. features (:func:`.border_stats.profile_features`): mean, centre of gravity, SD, skewness and kurtosis
   of the profile and of the absolute value of its first derivative; all but the mean
   (:data:`.border_stats.TESTED_FEATURES`) are compared;
4. for each block size ``b`` and position ``i`` (between profile ``i - 1`` and ``i``),
   the Mahalanobis distance D² between the ``b`` profiles before and the ``b`` after
   (pooled covariance; each mean difference scaled down for the serial correlation of
   neighbouring profiles, :func:`.border_stats.serial_correlation`; by default less the part that the
   difference in log traverse length predicts through the pooled within-block regression:
   an oblique or curved ribbon changes the profiles within an area) and a test corrected
   over the positions of that block size:
   Hotelling's T² (F approximation, Bonferroni) or a max-statistic permutation test
   (:func:`.border_stats.distance_function`);
5. a border is a position within ±:data:`.border_stats.CONSISTENT_POSITIONS` positions of a
   significant local maximum of D² (not at the first or last tested position) for at
   least the share :data:`.border_stats.MIN_SUPPORT` of the block sizes (it may lie between
   their maxima: :func:`.border_stats.consistent_borders`)
   (or, with ``combine="min_p"``, where the smallest p over the block sizes, corrected for
   their number, is significant and smallest nearby: :func:`.border_stats.min_p_borders`).

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

from .border_stats import (
    BLOCK_SIZES,
    COMBINES,
    MIN_SUPPORT,
    N_PERMUTATIONS,
    TESTS,
    default_alpha,
    detect_borders,
)
from .errors import MeasureError
from .readout import N_DEPTH
from .ribbon import segment
from .slide import clipped_glass, slide_matter, slide_reference
from .traverses import pia_through, profiles_along, streamlines

#: a station in the glass or the white matter is at most this far from the grey matter (µm)
MAX_PIA_DISTANCE_UM = 1500.0
#: the band read around the path (µm each side): room for the whole ribbon and white-matter
#: cores under it where the cortex is thickest (4.5 mm) and cut at 50° (1.5× as wide); at
#: 4.5 mm the white matter under thick agranular cortex lay outside the band
#: (benchmarks/borders.py, development brains 209 and 211: traverses 2-3× the thickness)
BAND_UM = 7500.0
#: at least this share of the stations must have a traverse, else the path is off the cortex
MIN_STATION_SHARE = 0.5


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


def borders_geojson(
    result: BorderResult, pixel_size_um: float, names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Borders as Point features (``border k``, ``along_um``, ``support``) and the segments
    between them as LineString features along the path (``names``, else ``segment k``;
    ``from_um``, ``to_um``), in full-resolution pixels ``[x, y]`` of ``pixel_size_um`` µm:
    QuPath GeoJSON, as ``cytowords borders --out`` and the Borders dock write it."""

    def xy(pts):
        return [
            [round(float(x) / pixel_size_um, 2), round(float(y) / pixel_size_um, 2)] for y, x in pts
        ]

    feats = []
    for i, (a, pt, s) in enumerate(
        zip(result.border_along_um, result.border_um, result.border_support), 1
    ):
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": xy([pt])[0]},
                "properties": {
                    "objectType": "annotation",
                    "name": f"border {i}",
                    "along_um": round(float(a), 1),
                    "support": round(float(s), 3),
                },
            }
        )
    for i, (a, b) in enumerate(result.segments_along_um, 1):
        along = np.linspace(a, b, max(2, int((b - a) / result.spacing_um) + 1))
        name = str(names[i - 1]).strip() if names is not None and i <= len(names) else ""
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": xy(point_at(result.path_um, along)),
                },
                "properties": {
                    "objectType": "annotation",
                    "name": name or f"segment {i}",
                    "from_um": round(float(a), 1),
                    "to_um": round(float(b), 1),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": feats,
        "properties": {"pixel_size_um": pixel_size_um},
    }


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
    :func:`.border_stats.distance_function`); ``alpha``: its corrected level (default per test:
    :func:`default_alpha`); ``min_support``: the share of block sizes that must find a
    border; ``adjust_length``: compare the blocks with the log traverse length as a
    covariate (:func:`.border_stats.distance_function`); ``equivolume``: sample the profiles at equivolumetric
    depths (:func:`.traverses.column_bend`; else at equidistant relative depths); ``serial``:
    correct D² for the serial correlation of neighbouring profiles (:func:`.border_stats.distance_function`);
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
    ref = slide_reference(section.levels)
    matter = slide_matter(section.levels, section.pixel_size_um, ref) if ref is not None else None
    clipped = ref is not None and clipped_glass(section.levels, ref[0])
    rib = segment(img, p, ref, outside, matter, clipped)
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


__all__ = ["BorderResult", "find_borders", "point_at"]
