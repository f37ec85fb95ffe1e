"""A hand-made gyrus for the ribbon and border tests (independent of cytowords.synth).

A finger of tissue rises from the bottom edge of a 10 × 14 mm slide at 20 µm/px: straight
banks joined by a semicircular crown (pial radius :data:`R` µm around the end of a vertical
spine at ``(YS, XC)``), cortex :data:`T` µm thick over white matter, glass around. The
laminar profile is set on the volume fraction of each column (Bok's equivolume principle:
on the crown a column narrows with depth, so its deep layers take more of its depth), with
a pale layer I and one dense band; ``change_y`` moves the band deeper on the right bank
below that height (a second area). Pixel noise makes each profile differ.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.sections import Section

PX = 20.0
R, T, YS, H, W = 4000.0, 2000.0, 5000.0, 14000.0, 10000.0
XC = W / 2
#: paths end this far above the bottom edge
MARGIN = 500.0


def _od(alpha: np.ndarray, centre: np.ndarray) -> np.ndarray:
    layer_i = 0.35 / (1 + np.exp(-(alpha - 0.08) / 0.02))
    return 0.35 + layer_i + 0.4 * np.exp(-(((alpha - centre) / 0.07) ** 2))


def gyrus_image(
    change_y: float | None = None,
    seed: int = 0,
    thickness: float = T,
    tear: bool = False,
    crack: bool = False,
) -> np.ndarray:
    """The slide as uint8 (bright glass); ``tear``: the white matter is torn along the
    spine and the finger cut off by glass 1 mm above the bottom edge; ``crack``: a 60 µm
    cell-free gap along the grey/white border of the right bank, from 1 mm below the crown
    down to the bottom edge."""
    yy, xx = (np.mgrid[0 : int(H / PX), 0 : int(W / PX)] + 0.5) * PX
    ds = np.where(yy < YS, np.hypot(yy - YS, xx - XC), np.abs(xx - XC))
    x = (R - ds) / thickness  # relative depth: 0 pia, 1 white matter
    k = np.where(yy < YS, thickness / R, 0.0)
    xc = np.clip(x, 0, 1)
    alpha = (xc - 0.5 * k * xc**2) / (1 - 0.5 * k)
    centre = np.full(x.shape, 0.5)
    if change_y is not None:
        centre = np.where((xx > XC) & (yy > change_y), 0.65, 0.5)
    glass = x < 0
    if tear:
        glass |= (yy > H - 1000) | ((np.abs(xx - XC) < 60) & (yy > YS - 500))
    if crack:
        glass |= (xx > XC) & (yy > YS + 1000) & (x > 1) & (x < 1 + 60.0 / thickness)
    od = np.where(x > 1, 0.25, _od(alpha, centre))
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    img = 240.0 * np.exp(-od) + rng.normal(0, 2, od.shape)
    return np.clip(img, 1, 255).astype(np.uint8)


def gyrus_section(change_y: float | None = None, seed: int = 0) -> Section:
    """:func:`gyrus_image` as a one-level section."""
    return Section([da.from_array(gyrus_image(change_y, seed))], [PX], name="gyrus")


def gyrus_path(offset: float = 0.0) -> np.ndarray:
    """A path ``(N, 2)`` (y, x) µm ``offset`` µm beneath the pia (0: on it), up the left
    bank, over the crown and down the right bank."""
    r = R - offset
    left = np.stack([np.linspace(H - MARGIN, YS, 50), np.full(50, XC - r)], 1)
    th = np.linspace(np.pi, 0, 200)
    crown = np.stack([YS - r * np.sin(th), XC + r * np.cos(th)], 1)
    right = np.stack([np.linspace(YS, H - MARGIN, 50), np.full(50, XC + r)], 1)
    return np.concatenate([left, crown[1:-1], right])


def crown_along(offset: float = 0.0) -> tuple[float, float]:
    """Where the crown begins and ends along :func:`gyrus_path` (µm)."""
    bank = H - MARGIN - YS
    return bank, bank + np.pi * (R - offset)


def radius_of(points_um: np.ndarray) -> np.ndarray:
    """Distance (µm) of points ``(N, 2)`` (y, x) µm from the spine (R at the pia)."""
    y, x = points_um[:, 0], points_um[:, 1]
    return np.where(y < YS, np.hypot(y - YS, x - XC), np.abs(x - XC))
