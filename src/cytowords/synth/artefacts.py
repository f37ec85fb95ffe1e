"""Preparation artefacts on a pixel grid: tears, folds, air bubbles, uneven staining, debris.

Each artefact is a function of world coordinates (µm) and a random generator, so it is
resolution independent. :func:`artefact_layers` returns multiplicative/additive layers the
stain step applies: ``tissue`` (1 = intact, 0 = torn away), ``absorb`` (extra absorbance),
``deficit`` (multiplier of the cell light deficit).
"""

from __future__ import annotations

import numpy as np

from .stain import smooth_field, smooth_field_grid

#: uneven section thickness: log-sd and length scale (µm) of the multiplicative change of
#: cell density and neuropil darkness over a section
THICKNESS_SD, THICKNESS_SCALE_UM = 0.08, 8000.0
#: low-frequency stain variation over a section: sd and length scale (µm)
STAIN_LOW_SD, STAIN_LOW_SCALE_UM = 0.08, 20000.0

KINDS = ("tear", "fold", "bubble", "uneven", "debris")


def _line_distance(x, y, rng, extent):
    """Signed distance (µm) to a random wavy line crossing the field."""
    cx, cy = rng.uniform(0.2, 0.8, 2) * extent
    th = rng.uniform(0, np.pi)
    nx, ny = -np.sin(th), np.cos(th)
    along = (x - cx) * np.cos(th) + (y - cy) * np.sin(th)
    wave = rng.uniform(5, 40) * np.sin(along / rng.uniform(80, 400) + rng.uniform(0, 6.3))
    return (x - cx) * nx + (y - cy) * ny + wave


def artefact_layers(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    extent_um: float,
    kinds: tuple[str, ...] | None = None,
    pixel_um: float = 1.0,
) -> dict[str, np.ndarray]:
    """Artefact layers at world points (``x``, ``y`` broadcastable grids, µm).

    ``kinds`` defaults to a random non-empty subset of :data:`KINDS`; ``extent_um`` is the
    field size used to place artefacts inside it.
    """
    if kinds is None:
        n = rng.integers(1, 3)
        kinds = tuple(rng.choice(KINDS, size=n, replace=False))
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown artefact kinds {sorted(unknown)}; expected some of {KINDS}")
    shape = np.broadcast(x, y).shape
    tissue = np.ones(shape)
    absorb = np.zeros(shape)
    deficit = np.ones(shape)
    soft = max(pixel_um, 2.0)
    for kind in kinds:
        if kind == "tear":
            d = np.abs(_line_distance(x, y, rng, extent_um))
            half = rng.uniform(10, 120) * (
                1 + 0.5 * smooth_field(int(rng.integers(2**31)), x, y, 300)
            )
            tissue *= np.clip((d - np.maximum(half, 2)) / soft + 0.5, 0, 1)
        elif kind == "fold":
            d = np.abs(_line_distance(x, y, rng, extent_um))
            half = rng.uniform(40, 250)
            inside = np.clip((half - d) / soft + 0.5, 0, 1)
            deficit *= 1 + 0.9 * inside
            absorb += 0.12 * inside
        elif kind == "bubble":
            cx, cy = rng.uniform(0.1, 0.9, 2) * extent_um
            rad = rng.uniform(0.05, 0.3) * extent_um
            d = np.hypot(x - cx, y - cy) - rad
            inside = np.clip(0.5 - d / soft, 0, 1)
            rim = np.exp(-((d / max(rad * 0.04, soft)) ** 2))
            tissue *= 1 - 0.55 * inside
            deficit *= 1 - 0.5 * inside
            absorb += 0.5 * rim
        elif kind == "uneven":
            f = smooth_field(int(rng.integers(2**31)), x, y, extent_um * rng.uniform(0.5, 2.0), n=3)
            deficit *= np.clip(1 + 0.3 * f, 0.4, 1.8)
            absorb += 0.05 * f
        elif kind == "debris":
            for _ in range(int(rng.integers(2, 8))):
                cx, cy = rng.uniform(0, 1, 2) * extent_um
                rad = rng.uniform(5, 40)
                absorb += 1.2 * np.clip(0.5 - (np.hypot(x - cx, y - cy) - rad) / soft, 0, 1)
    return {"tissue": tissue, "absorb": absorb, "deficit": deficit}


def section_variation(key: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Uneven section thickness times low-frequency stain variation on the grid
    ``ys × xs`` (1D world axes, µm): a smooth multiplier (around 1) of the light absorbed
    by tissue."""
    f = smooth_field_grid(key % 2**31, xs, ys, THICKNESS_SCALE_UM, n=4)
    g = smooth_field_grid((key + 1) % 2**31, xs, ys, STAIN_LOW_SCALE_UM, n=4)
    return np.exp(THICKNESS_SD * f) * np.clip(1 + STAIN_LOW_SD * g, 0.6, 1.4)


def border_crack(
    key: int, depth_um: np.ndarray, thickness_um: np.ndarray, along_um: np.ndarray, pixel_um: float
) -> np.ndarray:
    """Tissue fraction (0 = torn) of cracks along the grey/white-matter border: open over
    about a tenth of the ribbon, up to ~60 µm wide, where sections often tear."""
    out = np.ones(np.shape(depth_um))
    d = np.abs(depth_um - thickness_um)
    near = d < 60.0 + max(pixel_um, 2.0)  # cracks are at most ~60 µm wide
    if not near.any():
        return out
    a = np.broadcast_to(along_um, out.shape)[near]
    f = smooth_field(key % 2**31, a, np.zeros_like(a), 2500.0, n=4)
    half = 45.0 * np.maximum(f - 1.2, 0.0)
    soft = max(pixel_um, 2.0)
    out[near] = np.where(half > 0, np.clip((d[near] - half) / soft + 0.5, 0, 1), 1.0)
    return out
