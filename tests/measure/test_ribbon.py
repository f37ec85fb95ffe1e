"""The cortical ribbon (:mod:`cytowords.measure.ribbon`): white matter, the pia through a
point, equivolumetric depths, on a hand-made gyrus (tests/support/gyrus.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure.ribbon import (
    Traverse,
    column_bend,
    equivolume_depth,
    pia_through,
    segment,
    slide_reference,
    streamlines,
)
from tests.support.gyrus import PX, XC, YS, R, T, gyrus_image, radius_of


def _grid_radius(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = (np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5) * PX
    return radius_of(np.stack([yy.ravel(), xx.ravel()], 1)).reshape(shape)


def test_white_matter_cut_and_torn_is_kept_and_layer_i_is_not():
    # the white matter reaches the glass along a tear and a cut edge (a quarter of it lies
    # within 350 µm of the glass); a wide pale layer I lies along the pia
    img = gyrus_image(tear=True, thickness=2500.0)
    rib = segment(img.astype(np.float64), PX, slide_reference([img]))
    rad = _grid_radius(img.shape)
    true_wm = rad < R - 2500.0
    tissue = img < 200
    assert rib.wm[true_wm & tissue].mean() > 0.9
    # no white matter in the cortex (beyond the blur of the density map at its border)
    assert not rib.wm[(rad > R - 2500.0 + 200) & rib.tissue].any()
    assert rib.pia.sum() > 0 and np.isfinite(rib.potential).any()


def test_crack_along_the_white_matter_is_no_pia():
    # a 60 µm gap between the grey and the white matter of the right bank: the grey matter
    # along it is not a second pia, and the traverses of the bank run across the cortex to it
    img = gyrus_image(crack=True)
    rib = segment(img.astype(np.float64), PX, slide_reference([img]))
    rad = _grid_radius(img.shape)
    assert rib.pia.any() and not rib.pia[rad < R - T / 2].any()
    ys = np.arange(YS + 2000, YS + 7000, 500.0)
    pts_um = np.stack([ys, np.full(len(ys), XC + R - T / 2)], 1)
    seeds = pia_through(rib, pts_um / PX - 0.5, 1500 / PX)
    assert np.isfinite(seeds).all()
    assert np.abs(radius_of((seeds + 0.5) * PX) - R).max() <= 2 * PX
    trs = streamlines(rib, seeds)
    assert all(t is not None for t in trs)
    ends = radius_of(np.array([(t.points[-1] + 0.5) * PX for t in trs]))
    assert np.abs(ends - (R - T)).max() <= 3 * PX
    assert all(abs(t.length_um - T) <= 3 * PX for t in trs)


def test_pia_through_a_point_follows_the_depth_up():
    img = gyrus_image()
    rib = segment(img.astype(np.float64), PX, slide_reference([img]))
    # points in the glass, on the crown's grey matter, in the white matter and too deep
    pts_um = np.array(
        [
            [YS, XC - R - 300],
            [YS - 0.7 * R * np.sin(1.0), XC + 0.7 * R * np.cos(1.0)],
            [YS + 3000, XC + R - T - 800],
            [YS + 3000, XC],
        ]
    )
    got = pia_through(rib, pts_um / PX - 0.5, 1500 / PX)
    assert np.isfinite(got[:3]).all() and np.isnan(got[3]).all()
    got_um = (got[:3] + 0.5) * PX
    assert np.abs(radius_of(got_um) - R).max() <= 2 * PX
    # the way up is the column's: the same direction from the spine's end (or height)
    assert got_um[0, 0] == pytest.approx(YS, abs=3 * PX)
    ang = np.arctan2(YS - got_um[1, 0], got_um[1, 1] - XC)
    assert ang == pytest.approx(1.0, abs=0.05)
    assert got_um[2, 0] == pytest.approx(YS + 3000, abs=3 * PX)


def test_column_bend_and_equivolume_depths():
    # traverses of a crown of pial radius 4 mm and thickness 2 mm: columns narrow by half
    th = np.linspace(0.5, 1.5, 21)
    trs = [
        Traverse(
            np.stack(
                [np.linspace(4000, 2000, 50) * np.sin(a), np.linspace(4000, 2000, 50) * np.cos(a)],
                1,
            ),
            2000.0,
            2000.0,
        )
        for a in th
    ]
    k = column_bend(trs)
    assert k == pytest.approx(np.full(21, 0.5), abs=1e-9)
    # straight banks: no bend, equidistant depths
    alpha = (np.arange(10) + 0.5) / 10
    assert equivolume_depth(alpha, 0.0) == pytest.approx(alpha)
    # on the crown the first half of the volume lies in the upper 42 % of the depth
    x = equivolume_depth(np.array([0.5]), 0.5)[0]
    assert x - 0.5 * x * x / 2 == pytest.approx(0.5 * (1 - 0.5 / 2))
    assert x < 0.5
