"""The grain of the stain (cytowords.measure.granularity) and layer IV from it."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure import analyse_profile
from cytowords.measure.granularity import GRAIN_UM, fine_grain_share, grain_profiles
from cytowords.measure.layers import (
    IV_GRAIN,
    IV_GRAIN_RECOVERY,
    grain_band,
    iv_from_cells,
    with_cell_iv,
    with_grain_iv,
)
from cytowords.measure.ribbon import optical_density

from .test_layers import GRANULAR, somata

DEPTH = (np.arange(100) + 0.5) / 100


def blobs(diam_um: float, per_mm2: float, side_um: float = 800.0, seed: int = 0) -> np.ndarray:
    """An optical-density image at GRAIN_UM µm/px: round somata of ``diam_um`` (±15 %) at
    ``per_mm2``, each of optical density 0.5 (summed where they overlap)."""
    rng = np.random.default_rng(seed)
    n_px = int(side_um / GRAIN_UM)
    n = rng.poisson(per_mm2 * (side_um / 1000) ** 2)
    yx = rng.uniform(0, side_um, (n, 2))
    r = rng.normal(diam_um, 0.15 * diam_um, n).clip(3) / 2
    yy, xx = (np.mgrid[0:n_px, 0:n_px] + 0.5) * GRAIN_UM
    od = np.zeros((n_px, n_px))
    for (y, x), rr in zip(yx, r):
        k = int(np.ceil(rr / GRAIN_UM)) + 2
        iy, ix = int(y / GRAIN_UM), int(x / GRAIN_UM)
        sl = (slice(max(iy - k, 0), iy + k + 1), slice(max(ix - k, 0), ix + k + 1))
        d = np.hypot(yy[sl] - y, xx[sl] - x)
        od[sl] += 0.5 * np.clip(rr - d + 0.5 * GRAIN_UM, 0, GRAIN_UM) / GRAIN_UM
    return od


def test_small_somata_make_a_finer_grain_than_large_ones_whatever_the_stain():
    centre = (slice(20, -20), slice(20, -20))
    small = np.median(fine_grain_share(blobs(7.0, 2500), GRAIN_UM)[centre])
    large = np.median(fine_grain_share(blobs(16.0, 1200), GRAIN_UM)[centre])
    assert small > large + 0.1, (small, large)
    # a stronger stain or scanner contrast scales the optical density: the share is a ratio
    od = blobs(7.0, 2500)
    assert np.allclose(fine_grain_share(3.0 * od, GRAIN_UM), fine_grain_share(od, GRAIN_UM), atol=1e-4)


def _grain(dip: float, at: float = 0.5, coarse_below: float = 0.0) -> np.ndarray:
    """A hand-made grain profile: fine under the pia and in VI, a dip of ``dip`` at ``at``
    (the large pyramids of lower III); ``coarse_below``: the share kept that much lower
    from the dip down to 0.78 depth (agranular: the large pyramids of V follow at once)."""
    g = 0.6 - 0.1 * DEPTH - dip * np.exp(-(((DEPTH - at) / 0.06) ** 2))
    v = 1 / (1 + np.exp(-(DEPTH - at) / 0.01)) / (1 + np.exp((DEPTH - 0.78) / 0.02))
    return g - coarse_below * v


def test_grain_band_finds_the_dip_between_layers_iii_and_v():
    prom, at, rec = grain_band(_grain(0.2))
    assert prom > 0.7 and at == pytest.approx(0.5, abs=0.02)
    # finer grain right beneath the dip (layer IV): the share comes back most of the way
    assert rec > 0.7
    # no dip, or one outside 30-72 % depth: no band
    assert grain_band(_grain(0.0))[0] == 0.0
    assert grain_band(_grain(0.2, at=0.85))[0] < 0.2
    # scale and offset of the share do not matter
    assert grain_band(2.0 * _grain(0.2) + 1.0)[:3] == pytest.approx((prom, at, rec))
    with pytest.raises(ValueError):
        grain_band(np.full(10, 0.5))


def _od(band: bool) -> np.ndarray:
    p = 0.1 + 0.3 * (DEPTH > 0.1)
    return p + (0.15 * np.exp(-(((DEPTH - 0.5) / 0.04) ** 2)) if band else 0.0)


def test_layer_iv_from_the_grain_decides_over_the_profile_band():
    # a dense band with no grain dip (the pyramids of lower III and V): undecided
    est = with_grain_iv(analyse_profile(_od(True), 2500.0), _grain(0.0))
    assert est.profile_cortex_type == "granular" and est.iv_present is None
    assert est.cortex_type is None and "III/IV" not in est.borders
    assert "agranular cortex too" in est.iv_undecided
    # a grain dip and no band (granule cells no darker than the pyramids): granular,
    # without borders; with the band too: the profile's borders
    est = with_grain_iv(analyse_profile(_od(False), 2500.0), _grain(0.2))
    assert est.iv_present is True and est.cortex_type == "granular"
    assert est.iv_evidence == "profile and grain" and not np.isfinite(est.iv_top)
    assert est.grain_prominence >= IV_GRAIN
    both = with_grain_iv(analyse_profile(_od(True), 2500.0), _grain(0.2))
    assert both.iv_present is True and 0.4 < both.iv_top < 0.5 < both.iv_bottom < 0.6
    assert "III/IV" in both.borders
    # neither: undecided, never agranular
    none = with_grain_iv(analyse_profile(_od(False), 2500.0), _grain(0.0))
    assert none.iv_present is None and none.cortex_type is None


def test_a_dip_without_finer_grain_beneath_it_leaves_layer_iv_undecided():
    # agranular cortex: the large pyramids of lower III and V lie close together, the
    # grain dips as deeply but stays coarse below the dip (no band of small cells)
    g = _grain(0.2, coarse_below=0.15)
    prom, at, rec = grain_band(g)
    assert prom >= IV_GRAIN and rec < IV_GRAIN_RECOVERY
    for band in (True, False):
        est = with_grain_iv(analyse_profile(_od(band), 2500.0), g)
        assert est.iv_present is None and est.cortex_type is None
        assert est.grain_recovery == pytest.approx(rec)
        assert "no band of finer ones beneath it" in est.iv_undecided
        assert est.iv_undecided.count("agranular cortex") == 1  # said once, with the grain
        assert "III/IV" not in est.borders
    # the same dip with the grain finer again right beneath it: layer IV shown
    est = with_grain_iv(analyse_profile(_od(False), 2500.0), _grain(0.2, coarse_below=0.0))
    assert est.iv_present is True and est.grain_recovery >= IV_GRAIN_RECOVERY


def test_somata_give_the_borders_but_do_not_overrule_the_grain():
    est = with_grain_iv(analyse_profile(_od(False), 2500.0), _grain(0.2))
    est = with_cell_iv(est, iv_from_cells(*somata(GRANULAR)))
    assert est.iv_present is True and est.iv_evidence == "profile and grain and cells"
    assert 0.40 <= est.iv_top <= 0.47 and 0.53 <= est.iv_bottom <= 0.60
    assert set(est.borders) >= {"III/IV", "IV/V"}


def test_grain_profiles_along_a_traverse_follow_the_layers():
    # a column of small somata (0-400 µm and 560-800 µm) over large ones (400-560 µm)
    small = blobs(7.0, 2500, side_um=800.0, seed=1)
    large = blobs(18.0, 1000, side_um=800.0, seed=2)
    rows = (np.arange(small.shape[0]) + 0.5) * GRAIN_UM
    od = np.where(((rows >= 400) & (rows < 560))[:, None], large, small)
    glass = 200.0
    img = glass * np.exp(-od)

    def read(y0, x0, h, w, p):
        assert p == GRAIN_UM
        out = np.full((int(round(h / p)), int(round(w / p))), np.nan)
        iy, ix = int(round(y0 / p)), int(round(x0 / p))
        ys, xs = slice(max(iy, 0), iy + out.shape[0]), slice(max(ix, 0), ix + out.shape[1])
        part = img[ys, xs]
        out[max(-iy, 0) : max(-iy, 0) + part.shape[0], max(-ix, 0) : max(-ix, 0) + part.shape[1]] = part
        return out

    path = np.stack([np.linspace(80, 720, 50), np.full(50, 400.0)], 1)
    g = grain_profiles(read, [path, path + [0, 60]], glass)
    assert g.shape == (2, 100) and np.all(np.isfinite(g))
    prom, at, rec = grain_band(g.mean(0))
    # the large somata lie at (400-80)/640 .. (560-80)/640 = 0.5-0.75 relative depth,
    # small ones beneath them
    assert prom >= IV_GRAIN and 0.5 <= at <= 0.72 and rec >= IV_GRAIN_RECOVERY
    assert np.allclose(optical_density(img, glass), od, atol=1e-6)


@pytest.mark.parametrize("shape", [(966, 1024), (301, 250), (40, 41)])
def test_grain_blur_and_block_means_give_the_reference_values(shape):
    """The faster blur and block means (:func:`_gaussian`, :func:`_block_mean`) give bit for
    bit what ``gaussian_filter`` and the reshaped block sums give."""
    from scipy import ndimage as ndi

    from cytowords.measure.granularity import _block_mean, _gaussian

    rng = np.random.default_rng(0)
    od = (rng.random(shape) ** 4 * 10.0 ** rng.integers(-2, 2, shape)).astype(np.float32)
    for sigma in (1.0, np.sqrt(48.0) / 4.0, 2.5):
        assert np.array_equal(_gaussian(od, sigma), ndi.gaussian_filter(od, sigma))
    for k in (1, 2, 3, 6):
        h, w = shape
        hp, wp = -(-h // k) * k, -(-w // k) * k
        pad = np.zeros((hp, wp), np.float32)
        pad[:h, :w] = od
        rows = np.minimum(k, h - np.arange(0, hp, k))
        count = np.outer(rows, np.minimum(k, w - np.arange(0, wp, k)))
        ref = pad.reshape(hp // k, k, wp // k, k).sum((1, 3)) / count
        assert np.array_equal(_block_mean(od, k), ref)
    # a block mean is a mean: a constant image stays that constant
    assert np.allclose(_block_mean(np.full(shape, 0.5, np.float32), 3), 0.5)


def test_optical_density_is_log_glass_over_intensity_clipped_at_zero():
    img = np.array([[250.0, 25.0], [0.0, 300.0]])
    od = optical_density(img, 250.0)
    assert od.dtype == np.float32
    np.testing.assert_allclose(od, [[0.0, np.log(10.0)], [np.log(1e3), 0.0]], rtol=1e-6)
