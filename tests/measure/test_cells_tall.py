"""Tall pyramids (taller than wide, apex towards the pia, as real large pyramids and Betz
cells are) along the radial direction: kept whole and called large; pairs of small somata
one above the other or side by side stay small (hand-made windows,
``tests/support/tall_pyramids.py``, independent of the generator's pyramid shape)."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure.cells import cells_along, detect_somata, is_large
from tests.support.tall_pyramids import GLASS, RADIAL, draw_window


def _pieces(som, centre, radius):
    """Detections of at least 8 µm within ``radius`` µm of ``centre``."""
    d = np.hypot(*(som.yx_um - centre).T)
    return np.flatnonzero((d < radius) & (som.diam_um >= 8))


def test_tall_pyramid_kept_whole_along_its_column():
    # a pyramid 50 µm tall with a base 30 µm wide (b/h 0.6), pale nucleus, dendrite stub;
    # read along the column it is one soma about its height long; read without the radial
    # direction, or with the column taken across it, its corners are split off as somata
    # and it is read ~30 µm long
    img = draw_window([dict(kind="pyramid", y=80, x=80, height=50, ratio=0.6, f=0.55)])
    centre = np.array([80 + 50 / 6, 80.0])
    som = detect_somata(img, 2.0, GLASS, RADIAL)
    parts = _pieces(som, centre, 25)
    assert len(parts) == 1
    i = parts[0]
    assert som.length_um[i] >= 0.8 * 50
    assert som.upright[i]
    assert is_large(
        som.diam_um[i : i + 1], som.length_um[i : i + 1], upright=som.upright[i : i + 1]
    )
    for radial in (None, 0.0):
        other = detect_somata(img, 2.0, GLASS, radial)
        parts = _pieces(other, centre, 25)
        assert len(parts) >= 2
        assert other.length_um[parts].max() < 0.7 * 50
        assert not is_large(other.diam_um, other.length_um, upright=other.upright)[parts].all()
    assert not detect_somata(img, 2.0, GLASS).upright.any()


def test_slender_tall_pyramid_large_only_along_its_column():
    # b/h 0.5, 40 µm tall, at 1 µm/px: whole and large along its column; split and not
    # large without the radial direction
    img = draw_window(
        [dict(kind="pyramid", y=80, x=80, height=40, ratio=0.5, f=0.55)], pixel_um=1.0
    )
    centre = np.array([80 + 40 / 6, 80.0])
    som = detect_somata(img, 1.0, GLASS, RADIAL)
    parts = _pieces(som, centre, 20)
    assert len(parts) == 1
    assert is_large(som.diam_um, som.length_um, upright=som.upright)[parts].all()
    flat = detect_somata(img, 1.0, GLASS)
    parts = _pieces(flat, centre, 20)
    assert len(parts) >= 2
    assert not is_large(flat.diam_um, flat.length_um, upright=flat.upright)[parts].any()


def _read(img, px):
    h, w = img.shape

    def read(y0, x0, hh, ww, p):
        out = np.full((int(round(hh / p)), int(round(ww / p))), 200.0, np.float32)
        ys, xs = int(round(y0 / px)), int(round(x0 / px))
        sy = slice(max(ys, 0), min(ys + out.shape[0], h))
        sx = slice(max(xs, 0), min(xs + out.shape[1], w))
        out[sy.start - ys : sy.stop - ys, sx.start - xs : sx.stop - xs] = img[sy, sx]
        return out

    return read


def test_cells_along_calls_the_tall_pyramid_large_not_pairs_of_small_somata():
    # a vertical traverse (pia at the top): a tall pyramid (55 µm, b/h 0.6) at 20 % depth,
    # two touching 16 µm somata one above the other at 50 %, two side by side at 80 %
    objs = [dict(kind="pyramid", y=120, x=80, height=55, ratio=0.6, f=0.6)]
    objs += [dict(kind="disc", y=y, x=80, diam=16, f=0.8) for y in (292.0, 308.0)]
    objs += [dict(kind="disc", y=480, x=x, diam=16, f=0.8) for x in (72.0, 88.0)]
    img = draw_window(objs, shape_um=(600.0, 160.0), n_small=80, seed=5)
    st = cells_along(_read(img, 2.0), [np.array([[0.0, 80.0], [600.0, 80.0]])], GLASS, 2.0)
    assert len(st.large_depth) == 1
    assert abs(st.large_depth[0] - (120 + 55 / 6) / 600) < 0.04
    assert st.large_diam_um[0] >= 0.8 * 55


# a slender pyramid (base 0.6 of its height) kept whole reads 0.83-0.88 of its height long
# (its thin apex falls below half its contrast); split, its largest piece reads ~0.7
WHOLE_SHARE = 0.8


@pytest.mark.parametrize(("height", "stain"), [(40.0, 0.55), (50.0, 0.55), (50.0, 0.8)])
def test_slender_pyramid_whole_on_a_radial_traverse_pairs_not_large(height, stain):
    # a vertical traverse (pia at the top) at 2 µm/px: a pyramid of base/height 0.6, apex
    # towards the pia, at 25 % depth; two touching 14 µm somata one above the other at 55 %,
    # two side by side at 80 %: the pyramid is the one large soma, about its height long;
    # the pairs are not large
    y = 150.0
    objs = [dict(kind="pyramid", y=y, x=80, height=height, ratio=0.6, f=stain)]
    objs += [dict(kind="disc", y=yy, x=80, diam=14, f=0.8) for yy in (323.0, 337.0)]
    objs += [dict(kind="disc", y=480, x=xx, diam=14, f=0.8) for xx in (73.0, 87.0)]
    img = draw_window(objs, shape_um=(600.0, 160.0), n_small=80, seed=7)
    st = cells_along(_read(img, 2.0), [np.array([[0.0, 80.0], [600.0, 80.0]])], GLASS, 2.0)
    assert len(st.large_depth) == 1
    assert abs(st.large_depth[0] * 600 - (y + height / 6)) < height / 2
    assert WHOLE_SHARE * height <= st.large_diam_um[0] <= 1.1 * height
    # one soma: no other piece of 8 µm or more centred inside its outline (the neuropil's
    # somata, 10 µm clear of it, may lie within half its height of its centre)
    som = detect_somata(img, 2.0, GLASS, RADIAL)
    top = y - height / 2
    half = 0.3 * np.clip(som.yx_um[:, 0] - top, 0, height) + 2.0
    inside = (np.abs(som.yx_um[:, 1] - 80) <= half) & (np.abs(som.yx_um[:, 0] - y) <= height / 2)
    parts = np.flatnonzero(inside & (som.diam_um >= 8))
    assert len(parts) == 1
    assert WHOLE_SHARE * height <= som.length_um[parts[0]] <= 1.1 * height
