"""Section.read_window / LabelImage.read_window: geometry in µm, level choice, resampling."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.sections import LabelImage, Section
from cytowords.sections.pyramid import extend_pyramid


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (3000, 2600)).astype(np.uint8)


def _pyramid(a: np.ndarray, p0: float = 2.0) -> Section:
    levels, sizes = extend_pyramid([da.from_array(a, chunks=512)], [p0])
    return Section(levels, sizes)


def test_exact_pixels_at_level_resolution(noise):
    s = _pyramid(noise)
    w = s.read_window(100, 200, 400, 600, 2.0)
    assert w.dtype == np.float32 and w.shape == (200, 300)
    np.testing.assert_array_equal(w, noise[50:250, 100:400])
    w1 = s.read_window(100, 200, 400, 600, 4.0)  # level 1 exactly
    np.testing.assert_array_equal(w1, s.levels[1][25:125, 50:200].compute())


def test_area_average_between_levels(noise):
    s = Section([da.from_array(noise, chunks=512)], [2.0])  # level 0 only: exact reference
    w = s.read_window(102, 204, 402, 600, 6.0)
    assert w.shape == (67, 100)
    ref = noise[51:252, 102:402].reshape(67, 3, 100, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(w, ref, atol=1e-3)
    # half-pixel offset: each output pixel straddles level pixels with weights 1/2, 1/2
    w = s.read_window(1, 0, 4, 4, 2.0)
    ref = 0.5 * noise[0:2, 0:2].astype(float) + 0.5 * noise[1:3, 0:2]
    np.testing.assert_allclose(w, ref, atol=1e-3)


def test_uses_coarse_level_for_coarse_requests(noise):
    s = _pyramid(noise)
    assert [lev.shape for lev in s.levels][-1] == (750, 650)
    w = s.read_window(0, 0, 6000, 5200, 8.0)
    np.testing.assert_array_equal(w, s.levels[2].compute())


def test_outside_reads_fill_and_upsampling(noise):
    s = _pyramid(noise)
    w = s.read_window(-10, -10, 40, 40, 2.0, fill=-1)
    assert (w[:5] == -1).all() and (w[:, :5] == -1).all()
    np.testing.assert_array_equal(w[5:, 5:], noise[:15, :15])
    up = s.read_window(0, 0, 100, 100, 1.0)
    assert up.shape == (100, 100)
    np.testing.assert_array_equal(up[::2, ::2], noise[:50, :50])
    np.testing.assert_array_equal(up[1::2, 1::2], noise[:50, :50])


def test_bad_window_arguments(noise):
    s = _pyramid(noise)
    with pytest.raises(ValueError, match="pixel_size_um=0"):
        s.read_window(0, 0, 10, 10, 0)
    with pytest.raises(ValueError, match="y0_um=nan"):
        s.read_window(float("nan"), 0, 10, 10, 1)


def test_label_window_nearest():
    lab = np.zeros((400, 400), np.uint16)
    lab[:, 200:] = 9
    levels, sizes = extend_pyramid([da.from_array(lab)], [1.0], labels=True, n_levels=3)
    li = LabelImage(levels, sizes, {9: "hOc1"})
    w = li.read_window(0, 190, 40, 20, 2.0)
    assert w.dtype == np.uint16 and w.shape == (20, 10)
    assert (w[:, :5] == 0).all() and (w[:, 5:] == 9).all()
    assert (li.read_window(-100, -100, 10, 10, 4.0) == 0).all()


def _counting_reads(monkeypatch) -> list:
    """Record ``(level, rows, cols, fill)`` of every read of level pixels."""
    from cytowords.sections import window

    calls: list = []
    real = window._read_region

    def counted(level, y, x, fill):
        calls.append((level, y, x, fill))
        return real(level, y, x, fill)

    monkeypatch.setattr(window, "_read_region", counted)
    return calls


def test_kept_regions_give_the_same_pixels_from_one_read(noise, monkeypatch):
    """Windows at several pixel sizes around one place (the fields of a ROI and their
    re-reads at other scales) read their level once and get exactly the pixels of
    separate reads; another fill, or a window outside the kept block, is read again."""
    from cytowords.sections.window import keep_regions

    s = _pyramid(noise)
    windows = [  # (y0, x0, h, w, µm/px): exact level pixels, area weights, partly outside
        (1000, 1200, 1600, 1600, 8.0),
        (900, 1100, 1800, 1800, 10.0),
        (1100, 1300, 1400, 1400, 6.4),
        (-200, 1500, 1600, 1600, 10.0),
    ]
    separate = [s.read_window(*w[:4], w[4], fill=7.0) for w in windows]
    calls = _counting_reads(monkeypatch)
    with keep_regions(grow=0.25):
        kept = [s.read_window(*w[:4], w[4], fill=7.0) for w in windows]
        # the 8 µm level once for 8 and 10 µm/px, the 4 µm level for 6.4, then the overhang
        assert len(calls) == 3
        kept[0][:] = -1  # a window is the caller's own copy
        assert np.array_equal(s.read_window(*windows[0][:4], 8.0, fill=7.0), separate[0])
        s.read_window(*windows[1][:4], 10.0, fill=np.nan)  # another fill: read again
        assert len(calls) == 4
    for a, b in zip(kept[1:], separate[1:]):
        assert np.array_equal(a, b)
    s.read_window(*windows[1][:4], 10.0, fill=7.0)  # outside the context nothing is kept
    assert len(calls) == 5
