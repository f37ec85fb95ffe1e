"""Fields of tissue without lamination: outlier exposure for the cortex detector.

A field of cortex shows layers: bands of cell density parallel to the pial surface. Much of
what a scan holds has none: non-laminated grey matter, clots, debris, dust and stain
precipitate, and the edge of any such tissue against the glass. A detector trained only on
cortex against white matter and background has never seen these and may call them cortex
(fields crossing the edge of a textured blob against the glass look, to it, like a pial
edge). :func:`structureless_fields` draws such fields at random: a texture of random grain
(white noise smoothed at 0–400 µm), brightness and contrast, with a slow drift, filling the
field or cut by a straight, blobby or elliptical edge against bright glass. No bands: the
only structure is isotropic, so none of it is cortex.

Scales are in µm, so the fields are the same tissue at any pixel size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """White noise smoothed with a Gaussian of ``sigma_px``, scaled to unit variance."""
    z = rng.standard_normal(shape)
    if sigma_px > 0.3:
        z = ndi.gaussian_filter(z, sigma_px, mode="wrap")
    return z / max(float(z.std()), 1e-9)


def _mask(rng: np.random.Generator, shape: tuple[int, int], pixel_um: float) -> np.ndarray:
    """Tissue share per pixel in [0, 1]: the whole field, or tissue cut by a straight,
    blobby or elliptical edge (softened by 0–100 µm)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    kind = rng.choice(["full", "edge", "blob", "ellipse"], p=[0.25, 0.35, 0.2, 0.2])
    if kind == "full":
        return np.ones(shape)
    if kind == "edge":
        th = rng.uniform(0, 2 * np.pi)
        d = (xx - w / 2) * np.cos(th) + (yy - h / 2) * np.sin(th) - rng.uniform(-0.4, 0.4) * w
    elif kind == "blob":
        d = (
            _smooth_noise(rng, shape, rng.uniform(0.08, 0.25) * w) * w / 6
            + rng.uniform(-0.3, 0.3) * w
        )
    else:
        cy, cx = rng.uniform(0.2, 0.8, 2) * np.array([h, w])
        ry, rx = rng.uniform(0.15, 0.6, 2) * np.array([h, w])
        d = (np.hypot((yy - cy) / ry, (xx - cx) / rx) - 1) * min(ry, rx)
    soft = max(rng.uniform(0, 100) / pixel_um, 0.5)
    return 1 / (1 + np.exp(np.clip(d / soft, -50, 50)))


def structureless_fields(n: int, size_px: int, pixel_um: float, seed: int = 0) -> np.ndarray:
    """``(n, size_px, size_px)`` uint8 fields of non-laminated tissue at ``pixel_um`` µm per
    pixel (dark = stained, as a Nissl scan), each from its own seed ``(seed, i)``."""
    out = np.empty((n, size_px, size_px), np.uint8)
    shape = (size_px, size_px)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        grain_px = np.exp(rng.uniform(np.log(0.3), np.log(400.0))) / pixel_um
        level = rng.uniform(30, 200)
        contrast = rng.uniform(3, 60)
        tex = level + contrast * _smooth_noise(rng, shape, grain_px)
        drift = rng.uniform(0, 30) * _smooth_noise(rng, shape, rng.uniform(500, 2000) / pixel_um)
        tissue = tex + drift
        glass = rng.uniform(190, 250) + rng.uniform(0.5, 4) * rng.standard_normal(shape)
        m = _mask(rng, shape, pixel_um)
        out[i] = np.clip(m * tissue + (1 - m) * glass, 0, 255).round().astype(np.uint8)
    return out
