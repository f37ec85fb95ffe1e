"""Fields of tissue without lamination (outlier exposure for the cortex detector)."""

from __future__ import annotations

import numpy as np

from cytowords.synth.structureless import structureless_fields


def _band_contrast(f: np.ndarray) -> float:
    """Largest variance of row or column means over the field's own variance: near 0 for
    isotropic texture, near 1 for bands (layers) along one axis."""
    f = f.astype(float)
    v = f.var() + 1e-9
    return max(f.mean(0).var(), f.mean(1).var()) / v


def test_fields_are_deterministic_dark_on_glass_and_differ():
    a = structureless_fields(40, 104, 64.0, seed=3)
    assert a.shape == (40, 104, 104) and a.dtype == np.uint8
    assert np.array_equal(a, structureless_fields(40, 104, 64.0, seed=3))
    assert not np.array_equal(a, structureless_fields(40, 104, 64.0, seed=4))
    means = a.reshape(40, -1).mean(1)
    assert np.unique(means.round()).size > 30  # brightness varies from field to field
    # glass is bright: a field cut by an edge holds pixels brighter than 185
    assert (a.reshape(40, -1).max(1) > 185).mean() > 0.5


def test_fully_tissue_fields_show_no_bands():
    f = structureless_fields(400, 104, 64.0, seed=0)
    full = [x for x in f if x.max() < 185 and x.std() > 2]  # no glass in the field
    assert len(full) > 25
    bands = np.array([_band_contrast(x) for x in full])
    # a laminated field (rows of different density) for comparison
    lam = np.repeat(np.linspace(60, 180, 104)[:, None], 104, 1)
    lam = lam + np.random.default_rng(0).normal(0, 10, lam.shape)
    assert _band_contrast(lam) > 0.8
    assert np.median(bands) < 0.35
