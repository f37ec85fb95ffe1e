"""A pale large pyramid under a darker small soma (a satellite overlapping it in the
section's depth) is measured whole, not at the satellite's size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from cytowords.measure.cells import detect_somata, is_large
from cytowords.synth.cells import draw_cells

from .test_cells import GLASS, _cells


def _pyramid_with_satellite(big_um, big_f, sat_um, off_um, seed):
    """A pale pyramid (``big_um``, stain fraction ``big_f``, apex up) at (150, 150) µm with
    a dark pyramid (``sat_um``, stain 0.9, turned by ``seed`` radians) ``off_um`` below
    its centre, drawn as the generator draws them (stains add up, clipped at 0.95)."""
    yx = np.array([[150.0, 150.0], [150.0 + off_um, 150.0]])
    cells = _cells(np.array([big_um, sat_um]), yx, True, np.array([big_f, 0.9]))
    cells.angle[1] = 1.05 * seed
    deficit = np.zeros((150, 150))
    draw_cells(deficit, cells, (0.0, 0.0), 2.0)
    rng = np.random.default_rng(seed)
    img = 200.0 * (1 - np.clip(deficit, 0, 0.95)) + rng.normal(0, 3, deficit.shape)
    return img.astype(np.float32), yx


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "big_um, big_f, sat_um, off_um",
    [(28.0, 0.6, 14.0, 4.0), (30.0, 0.5, 14.0, 4.0), (30.0, 0.6, 16.0, 5.0)],
)
def test_pale_large_pyramid_under_a_dark_satellite_is_large(big_um, big_f, sat_um, off_um, seed):
    # the satellite sets the region's body level (its 0.8 quantile) and the pale pyramid
    # falls below half of it: read at the satellite's size it was 18-20 µm across, not
    # large; measured at its median level it is one large soma about its drawn length
    img, yx = _pyramid_with_satellite(big_um, big_f, sat_um, off_um, seed)
    som = detect_somata(img, 2.0, GLASS)
    d, j = cKDTree(som.yx_um).query(yx[0])
    assert d < 4
    large = is_large(som.diam_um, som.length_um)
    assert large[j] and large.sum() == 1
    assert 0.95 <= som.length_um[j] / big_um <= 1.2


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("big_um", [18.0, 20.0])
def test_small_pale_soma_under_a_dark_satellite_is_not_large(big_um, seed):
    # a pale 18-20 µm pyramid under a dark 12 µm one (measured at its median level as
    # well): one soma, smaller than the area of a 25 µm pyramid, not large
    img, yx = _pyramid_with_satellite(big_um, 0.5, 12.0, 4.0, seed)
    som = detect_somata(img, 2.0, GLASS)
    d, j = cKDTree(som.yx_um).query(yx[0])
    assert d < 4
    assert not is_large(som.diam_um, som.length_um).any()
    assert som.diam_um[j] < 0.8 * 25.0
