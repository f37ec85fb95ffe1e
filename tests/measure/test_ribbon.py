"""The cortical ribbon (:mod:`cytowords.measure.ribbon`, :mod:`cytowords.measure.traverses`): white matter, the pia through a
point, equivolumetric depths, on a hand-made gyrus (tests/support/gyrus.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure.ribbon import Ribbon, _laplace_grid, segment
from cytowords.measure.slide import slide_reference
from cytowords.measure.traverses import (
    Traverse,
    column_bend,
    core_median,
    equivolume_depth,
    pia_through,
    profiles_along,
    refine_white_end,
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


def test_depth_potential_of_a_flat_ribbon_rises_evenly_from_pia_to_white_matter():
    # rows 1..n grey between glass (row 0) and white matter (row n + 1), no flux at the
    # sides: the discrete Laplace solution is (row) / (n + 1), up to the weak pull to 0.5
    # (1e-6 per pixel: it moves the potential by less than 1e-6 (n + 1)² / 8)
    n, w = 38, 25
    grey = np.zeros((n + 2, w), bool)
    grey[1:-1] = True
    glass, wm = np.zeros_like(grey), np.zeros_like(grey)
    glass[0], wm[-1] = True, True
    pot = _laplace_grid(grey, glass, wm)
    want = np.arange(1, n + 1)[:, None] / (n + 1) * np.ones((1, w))
    assert pot.dtype == np.float32 and np.isnan(pot[[0, -1]]).all()
    np.testing.assert_allclose(pot[1:-1], want, atol=1e-6 * (n + 1) ** 2 / 8)


def test_profiles_sample_each_traverse_at_its_own_depths():
    # OD rising linearly with the row (bilinear sampling and smoothing keep it exact
    # away from the window's edge): each traverse's profile is the row at its depths
    h, w = 120, 80
    od = np.repeat(np.arange(h, dtype=np.float32)[:, None] * 0.01, w, axis=1)
    nan = np.full((h, w), np.nan, np.float32)
    none = np.zeros((h, w), bool)
    rib = Ribbon(od, od, 10.0, ~none, none, ~none, none, nan)
    trs = []
    for top, bottom, x in ((20.0, 60.0, 20.0), (30.0, 90.0, 50.0), (25.0, 45.0, 65.0)):
        pts = np.stack(
            [np.arange(top, bottom + 0.25, 0.5), np.full(int(2 * (bottom - top)) + 1, x)], 1
        )
        trs.append(Traverse(pts, (bottom - top) * 10.0, (bottom - top) * 10.0))
    got_trs, widths, prof = profiles_along(rib, trs, n=10)
    assert prof.shape == (3, 10) and np.isnan(widths).all()
    for t, row in zip(trs, prof):
        top, bottom = t.points[0, 0], t.points[-1, 0]
        depths = top + (np.arange(10) + 0.5) / 10 * (bottom - top)
        np.testing.assert_allclose(row, depths * 0.01, atol=1e-5)


def _column(px: float, scratch: bool = False, pale_deep: bool = False):
    """A density image (``px`` µm/px) of a flat cortex 2500 µm thick under glass, white
    matter from y = 3000 µm down, and a traverse straight down the middle to the mask's
    border; ``pale_deep``: the mask (and the traverse) ends 900 µm too high, at the top
    of a pale deep layer; ``scratch``: an unstained scratch 30 µm wide runs down the
    white matter along the traverse's line from 1.1 mm under the border."""
    h, w = int(5000 / px), int(2000 / px)
    yy, xx = (np.mgrid[0:h, 0:w] + 0.5) * px
    img = np.where(yy < 500, 0.0, np.where(yy < 3000, 0.7, 0.25))
    if pale_deep:
        img = np.where((yy >= 2100) & (yy < 3000), 0.42, img)
    if scratch:
        img = np.where((np.abs(xx - 1000) < 15) & (yy > 4100), 0.02, img)
    border = 2100 if pale_deep else 3000
    wm = yy >= border
    tissue = yy >= 500
    n = int((border - 500) / px)
    pts = np.stack([np.linspace(500 / px, border / px, n) - 0.5, np.full(n, 1000 / px - 0.5)], 1)
    tr = Traverse(pts, border - 500.0, border - 500.0)
    return img.astype(np.float32), tr, wm, tissue


@pytest.mark.parametrize("px", [8.0, 16.0])
def test_white_end_found_beyond_a_pale_deep_layer(px):
    # the mask ends at the top of the pale deep layer: along the line the stain falls a
    # second time, to the white matter, at the true border (y = 3000 µm)
    img, tr, wm, tissue = _column(px, pale_deep=True)
    got, _ = refine_white_end(img, tr, px, wm, tissue, core_median(img, px))
    assert abs((got.points[-1, 0] + 0.5) * px - 3000.0) <= 2 * px
    assert got.length_um == pytest.approx(2500.0, abs=2 * px)


@pytest.mark.parametrize("px", [8.0, 16.0])
def test_scratch_along_the_white_matter_is_no_second_fall(px):
    # a scratch paler than the white matter runs along the traverse's line: read on the
    # median over a white-matter core's width it is no paler level, and the border stays
    img, tr, wm, tissue = _column(px, scratch=True)
    got, _ = refine_white_end(img, tr, px, wm, tissue, core_median(img, px))
    assert abs((got.points[-1, 0] + 0.5) * px - 3000.0) <= 2 * px
    # read on the 20 µm density alone the scratch would pass for the white matter
    bad, _ = refine_white_end(img, tr, px, wm, tissue)
    assert (bad.points[-1, 0] + 0.5) * px > 3000.0 + 100.0


@pytest.mark.parametrize("shape,side", [((150, 150), 11), ((37, 5), 9), ((1, 1), 3), ((20, 30), 1)])
def test_square_median_is_scipys_median_filter(shape, side, monkeypatch):
    """:func:`square_median` (used by :func:`core_median`) gives scipy's values, also when
    it gathers the squares in several bands of rows."""
    from scipy import ndimage as ndi

    from cytowords.measure import traverses

    rng = np.random.default_rng(1)
    a = rng.random(shape).astype(np.float32)
    a[::3] = 0.5  # ties
    ref = ndi.median_filter(a, size=side, mode="nearest")
    assert np.array_equal(traverses.square_median(a, side), ref)
    monkeypatch.setattr(traverses, "MEDIAN_CHUNK_VALUES", 10)
    assert np.array_equal(traverses.square_median(a, side), ref)
    with pytest.raises(ValueError, match="odd side"):
        traverses.square_median(a, 2)
