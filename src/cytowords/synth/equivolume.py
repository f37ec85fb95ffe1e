"""Bok's equivolume principle: cortical thickness and laminar proportions follow the folding.

Layers keep their *volume* fractions when the cortex bends (Bok 1929; modelled by Waehnert
et al. 2014, NeuroImage 93: 210-220): on a gyral crown (pia convex, curvature κ > 0) the
pial side of a column is wider than its white-matter side, so the superficial layers get
thinner and the deep layers relatively thicker; in a sulcal fundus (κ < 0) the opposite.
The cortex is also thicker on crowns than in fundi (Fischl & Dale 2000, PNAS 97:
11050-11055; about 20-30 %).

Surfaces here are parallel to the pia: a level at depth ``s`` has length ∝ ``1 - κ s``,
so the volume fraction above relative depth ``x = s / T`` is
``α(x) = (x - k x² / 2) / (1 - k / 2)`` with ``k = κ T`` (the closed form of Waehnert's
equivolume solution for this geometry). The depth tables of :mod:`profile_table` are on the
volume axis α; geometry maps relative depth to α before looking them up.
"""

from __future__ import annotations

import numpy as np

#: largest and smallest ``k = κ T`` used (a crown cannot bend tighter than its thickness)
K_MAX, K_MIN = 0.8, -1.5
#: thickness factor on crowns vs fundi: ``exp(THICK_GAIN * tanh(κ / KAPPA_REF))``; a
#: crown-to-fundus ratio of exp(2 * 0.12) ≈ 1.27 at full bend (Fischl & Dale 2000)
THICK_GAIN = 0.12
KAPPA_REF_PER_UM = 0.4e-3


def thickness_factor(kappa_per_um: np.ndarray | float) -> np.ndarray:
    """Multiplier of an area's mean thickness at pial curvature ``κ`` (1/µm, + crown)."""
    return np.exp(THICK_GAIN * np.tanh(np.asarray(kappa_per_um) / KAPPA_REF_PER_UM))


def bend(kappa_per_um: np.ndarray | float, thickness_um: np.ndarray | float) -> np.ndarray:
    """Dimensionless bend ``k = κ T`` (clipped to the range the model allows)."""
    return np.clip(np.asarray(kappa_per_um) * np.asarray(thickness_um), K_MIN, K_MAX)


def volume_depth(rel: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Volume fraction α above relative depth ``rel`` (0 pia, 1 white matter); outside
    the cortex (rel < 0 or > 1) depth continues linearly."""
    x = np.clip(rel, 0.0, 1.0)
    a = (x - 0.5 * k * x * x) / (1.0 - 0.5 * k)
    return a + (rel - x)


def relative_depth(alpha: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`volume_depth` on [0, 1]: relative depth of volume fraction α."""
    alpha = np.asarray(alpha, dtype=float)
    k = np.asarray(k, dtype=float)
    small = np.abs(k) < 1e-6
    ks = np.where(small, 1.0, k)
    disc = np.maximum(1.0 - 2.0 * ks * alpha * (1.0 - 0.5 * ks), 0.0)
    return np.where(small, alpha, (1.0 - np.sqrt(disc)) / ks)
