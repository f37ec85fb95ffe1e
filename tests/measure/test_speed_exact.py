"""The readout's faster steps give the values of the steps they replace, to the last bit:
the bulky components (:func:`~cytowords.measure.gaps._reaching`
against ``ndi.maximum``), the cleft's layer-I test on a bounding box
(:func:`~cytowords.measure.gaps._paler_than_around_at`), the remembered distance to the
glass, and the streamlines' gradient reads."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cytowords.measure.gaps import (
    _glass_distance,
    _paler_than_around,
    _paler_than_around_at,
    _reaching,
)
from cytowords.measure.polygon import polygon_mask
from cytowords.measure.traverses import _grad_at


def test_polygon_mask_of_a_square_roi():
    # a 100 µm square at 10 µm/px from (0, 0): the centres 5..95 µm inside, 10 x 10 px
    v = np.array([[0.0, 0.0], [0.0, 100.0], [100.0, 100.0], [100.0, 0.0]])
    m = polygon_mask(v, (-20.0, -20.0), (16, 16), 10.0)
    assert m.sum() == 100 and m[2:12, 2:12].all()


def test_reaching_is_the_label_maximum_test():
    rng = np.random.default_rng(4)
    for _ in range(40):
        mask = ndi.gaussian_filter(rng.uniform(size=(60, 70)), 2.0) > rng.uniform(0.45, 0.55)
        lab, n = ndi.label(mask)
        dist = ndi.distance_transform_edt(mask) * 7.3
        for min_dist in (7.3, 14.6, 20.0, 1e9):
            want = np.zeros(n + 1, bool)
            if n:
                want[1:] = np.asarray(ndi.maximum(dist, lab, index=np.arange(1, n + 1))) >= min_dist
            assert np.array_equal(_reaching(dist, lab, n, min_dist), want)


@pytest.mark.parametrize("pixel_um", [8.0, 16.0, 20.0])
def test_paler_than_around_on_a_box_gives_the_same_values(pixel_um):
    rng = np.random.default_rng(5)
    h, w = 220, 180
    glass = np.zeros((h, w), bool)
    glass[:, :25] = True
    glass[100:104, 60:150] = True  # a narrow cleft
    tissue = ~glass
    dg = ndi.distance_transform_edt(~glass)
    near = ndi.gaussian_filter(rng.uniform(0.2, 1.0, (h, w)), 2.0).astype(np.float32)
    full = _paler_than_around(near, dg, tissue, pixel_um)
    for at in (
        np.zeros((h, w), bool),
        np.pad(np.ones((4, 30), bool), ((98, h - 102), (70, w - 100))),
        rng.uniform(size=(h, w)) < 0.01,
        np.pad(np.ones((3, 30), bool), ((0, h - 3), (w - 30, 0))),  # at a corner
    ):
        got = _paler_than_around_at(near, dg, tissue, pixel_um, at)
        assert np.array_equal(got, full & at)


def test_glass_distance_is_the_distance_and_follows_the_mask():
    rng = np.random.default_rng(6)
    a = rng.uniform(size=(50, 40)) < 0.05
    b = rng.uniform(size=(50, 40)) < 0.05
    for mask in (a, b, a, b, a.copy()):
        got = _glass_distance(mask)
        assert np.array_equal(got, ndi.distance_transform_edt(~mask))
        assert not got.flags.writeable
    c = np.zeros((30, 30), bool)
    c[5, 5] = True
    assert _glass_distance(c).shape == (30, 30)
    c[5, 5], c[20, 20] = False, True  # the same mask object, new content
    assert _glass_distance(c)[20, 20] == 0.0


def test_grad_at_reads_the_gradient_as_map_coordinates():
    rng = np.random.default_rng(7)
    gy, gx = rng.normal(size=(2, 40, 50))
    gy[10:20, 10:20] = gx[10:20, 10:20] = 0.0  # a flat patch: zero direction
    pts = np.stack([rng.uniform(-3, 43, 300), rng.uniform(-3, 53, 300)], 1)
    pts[:5] = [14.0, 15.0]
    v = np.stack([ndi.map_coordinates(g, pts.T, order=1, mode="nearest") for g in (gy, gx)], 1)
    norm = np.hypot(v[:, 0], v[:, 1])[:, None]
    want = np.where(norm > 1e-9, v / np.maximum(norm, 1e-9), 0.0)
    got = _grad_at(gy, gx, pts)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    assert (got[:5] == 0).all()
