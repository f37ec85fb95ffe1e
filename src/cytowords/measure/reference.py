"""Reference laminar profiles of atlas areas, on the readout's depth axis, for comparison.

The atlas stores per layer a neuronal density (somata/mm²) and a soma diameter (µm), not
a grey-level profile. The share of the section covered by cell bodies — what a
grey-level-index / optical-density profile follows — grows with density × diameter², so
the reference is that product at each relative depth. Measured and reference profiles are
compared by shape only: each is scaled to 0..1 between its 5th and 95th percentile over
5-95 % depth (:func:`shape_normalised`), since stain strength and scanner contrast are
unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..atlas import load_atlas


@dataclass
class ReferenceProfile:
    """An atlas area's expected profile: ``depth`` (relative, bin centres), ``profile``
    (shape-normalised, :func:`shape_normalised`) and the atlas's layer bounds (relative
    depth ``(top, bottom)`` per layer name)."""

    area: str
    depth: np.ndarray
    profile: np.ndarray
    layer_bounds: dict[str, tuple[float, float]]


def shape_range(profile: np.ndarray) -> tuple[float, float]:
    """``(low, high)``: the 5th and 95th percentile of ``profile`` (samples equally spaced
    from pia to white matter) over 5-95 % depth."""
    p = np.asarray(profile, dtype=np.float64)
    n = len(p)
    inner = p[int(0.05 * n) : max(int(0.95 * n), int(0.05 * n) + 1)]
    if not inner.size:
        return 0.0, 0.0
    lo, hi = np.percentile(inner, [5, 95])
    return float(lo), float(hi)


def shape_normalised(profile: np.ndarray) -> np.ndarray:
    """``profile`` scaled to 0..1 over :func:`shape_range`; zeros for a flat profile."""
    p = np.asarray(profile, dtype=np.float64)
    lo, hi = shape_range(p)
    if not np.isfinite(hi - lo) or hi - lo <= 0:
        return np.zeros(len(p))
    return (p - lo) / (hi - lo)


def atlas_reference(area_id: str, n: int = 100, atlas=None) -> ReferenceProfile | None:
    """The reference profile of ``area_id`` at ``n`` relative depths; None for an area
    the atlas does not know (or the rejection id)."""
    atlas = atlas if atlas is not None else load_atlas()
    try:
        area = atlas.get(area_id)
    except (KeyError, ValueError):
        return None
    table = area.profile.depth_table(n)
    expected = table["density"] * table["size_mean_um"] ** 2
    return ReferenceProfile(
        area.id, table["depth"], shape_normalised(expected), area.profile.layer_bounds()
    )
