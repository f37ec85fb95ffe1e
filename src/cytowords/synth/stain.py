"""From light deficit to pixels: neuropil, pia, staining field, blur, noise, uint8.

Pixel convention everywhere in ``cytowords.synth``: uint8, bright background (glass
~232-246, unstained tissue ~205-228 before neuropil), dark somata (cell-body stain as in
BigBrain). Noise is a hash of (key, global row, global column) so any window of a virtual
section gets identical pixels whatever the chunking.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

_M1, _M2, _M3 = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
)


def hash_uniform(key: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) numbers, a pure function of ``(key, row, col)`` (splitmix64)."""
    with np.errstate(over="ignore"):
        z = (
            np.asarray(rows, np.uint64)[:, None] * np.uint64(0x1F123BB5)
            ^ np.asarray(cols, np.uint64)[None, :] * np.uint64(0x5851F42D)
        ) + np.uint64(key % 2**63) * _M1
        z = (z ^ (z >> np.uint64(30))) * _M2
        z = (z ^ (z >> np.uint64(27))) * _M3
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def hash_normal(key: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Approximately standard-normal numbers from :func:`hash_uniform` (sum of 3 uniforms)."""
    s = (
        hash_uniform(key, rows, cols)
        + hash_uniform(key + 1, rows, cols)
        + hash_uniform(key + 2, rows, cols)
    )
    return (s - 1.5) * 2.0


def smooth_field(key: int, x: np.ndarray, y: np.ndarray, scale_um: float, n: int = 6) -> np.ndarray:
    """A smooth random field (zero mean, sd ~1) at world points: sum of random plane waves."""
    rng = np.random.default_rng(key)
    out = np.zeros(np.broadcast(x, y).shape)
    for _ in range(n):
        th = rng.uniform(0, np.pi)
        k = 2 * np.pi / (scale_um * rng.uniform(0.6, 1.6))
        out += np.cos(k * (np.cos(th) * x + np.sin(th) * y) + rng.uniform(0, 2 * np.pi))
    return out * np.sqrt(2.0 / n)


def smooth_field_grid(
    key: int, xs: np.ndarray, ys: np.ndarray, scale_um: float, n: int = 6
) -> np.ndarray:
    """:func:`smooth_field` on the grid ``ys × xs`` (1D world axes, µm) -> ``(len(ys),
    len(xs))``, computed separably (each plane wave is cos(a x + b y + φ))."""
    rng = np.random.default_rng(key)
    out = np.zeros((len(ys), len(xs)))
    for _ in range(n):
        th = rng.uniform(0, np.pi)
        k = 2 * np.pi / (scale_um * rng.uniform(0.6, 1.6))
        ph = rng.uniform(0, 2 * np.pi)
        ax, by = k * np.cos(th) * np.asarray(xs), k * np.sin(th) * np.asarray(ys) + ph
        out += np.outer(np.cos(by), np.cos(ax)) - np.outer(np.sin(by), np.sin(ax))
    return out * np.sqrt(2.0 / n)


def finish(
    deficit: np.ndarray,
    neuropil: np.ndarray,
    tissue: np.ndarray,
    *,
    white: float,
    glass: float,
    pixel_um: float,
    blur_um: float,
    noise: float,
    noise_key: int,
    row0: int,
    col0: int,
    extra_absorb: np.ndarray | None = None,
    halo: int = 0,
) -> np.ndarray:
    """Combine the light deficit of cells with neuropil and background into uint8 pixels.

    ``tissue`` is the fraction of each pixel covered by tissue (0..1). ``halo`` pixels are
    cropped from each side after blurring; ``row0/col0`` are the global indices of the first
    pixel kept (for the noise hash).
    """
    absorb = neuropil if extra_absorb is None else neuropil + extra_absorb
    trans = np.exp(-absorb) * np.clip(1.0 - deficit, 0.03, 1.0)
    img = glass * (1 - tissue) + white * trans * tissue
    sigma = max(blur_um / pixel_um, 0.45 if pixel_um > 4 else 0.0)
    if sigma > 0.25:
        img = gaussian_filter(img, sigma, mode="nearest", truncate=3.0)
    if halo:
        img = img[halo:-halo, halo:-halo]
    h, w = img.shape
    rows = np.arange(row0, row0 + h)
    cols = np.arange(col0, col0 + w)
    img = img + noise * hash_normal(noise_key, rows, cols)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
