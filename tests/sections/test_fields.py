"""The one field reader (`read_fields`) and the intensity rule, on real dask/zarr sections."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from scipy.ndimage import binary_dilation
from skimage.morphology import disk

from cytowords.sections import Section, open_section, write_section
from cytowords.sections.fields import read_fields
from cytowords.sections.intensity import intensity_of, section_intensity

PS, N = 8.0, 32  # field resolution (µm/px) and side (px)


def _grey(seed: int = 1, shape: tuple[int, int] = (1200, 1600)) -> np.ndarray:
    """A cell-body-stain-like 8-bit image: bright slide, darker tissue, dark blobs."""
    rng = np.random.default_rng(seed)
    img = np.full(shape, 236.0)
    img[200:1000, 300:1400] = 150.0
    cells = np.zeros(shape, bool)
    ys, xs = rng.integers((200, 300), (1000, 1400), (400, 2)).T
    cells[ys, xs] = True
    img[binary_dilation(cells, disk(5))] = 60.0
    img += rng.normal(0, 6, shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture
def section() -> Section:
    img = _grey()
    lv0 = da.from_array(img, chunks=256)
    return Section([lv0, lv0[::2, ::2], lv0[::4, ::4]], [3.0, 6.0, 12.0], name="grey")


# --- the code paths read_fields replaced, kept verbatim as the reference for 8-bit data ---


def _old_background(sec: Section) -> float:
    small = np.asarray(sec.levels[-1][:2048, :2048].compute(), dtype=np.float32)
    return float(np.percentile(small, 99.5))


def _old_describer(sec: Section, centers: np.ndarray, ps: float, n: int) -> np.ndarray:
    half = n * ps / 2.0
    fill, scale = _old_background(sec), 1.0 / 255.0
    lo = centers.min(axis=0) - half
    hi = centers.max(axis=0) + half
    out = np.empty((len(centers), n, n), dtype=np.float32)
    lo = np.floor(lo / ps) * ps
    hi = lo + np.ceil((hi - lo) / ps) * ps
    win = sec.read_window(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], ps, fill=fill)
    for i, c in enumerate(centers):
        r, q = np.round((c - half - lo) / ps).astype(int)
        out[i] = win[r : r + n, q : q + n]
    return np.clip(out * scale, 0.0, 1.0)


def _old_training(sec: Section, centres: np.ndarray, ps: float, n: int, t: int) -> np.ndarray:
    fill, k = _old_background(sec), 255.0 * (1.0 / 255.0)
    tile_um = t * ps
    r0 = np.round(centres / ps - n / 2.0).astype(np.int64)
    tiles: dict = {}

    def tile(ti: int, tj: int) -> np.ndarray:
        if (ti, tj) not in tiles:
            win = sec.read_window(ti * tile_um, tj * tile_um, tile_um, tile_um, ps, fill=fill)
            tiles[ti, tj] = np.clip(np.rint(win * k), 0, 255).astype(np.uint8)
        return tiles[ti, tj]

    out = np.empty((len(centres), n, n), np.uint8)
    for m, (r, c) in enumerate(r0):
        for ti in range(r // t, (r + n - 1) // t + 1):
            for tj in range(c // t, (c + n - 1) // t + 1):
                a = tile(ti, tj)
                ya, yb = max(r, ti * t), min(r + n, (ti + 1) * t)
                xa, xb = max(c, tj * t), min(c + n, (tj + 1) * t)
                out[m, ya - r : yb - r, xa - c : xb - c] = a[
                    ya - ti * t : yb - ti * t, xa - tj * t : xb - tj * t
                ]
    return out


@pytest.mark.parametrize("ps", [PS, 5.0, 13.7])  # level-exact, resampled, odd
def test_fields_equal_the_describer_reads_for_8_bit(section: Section, ps: float) -> None:
    rng = np.random.default_rng(3)
    centres = rng.uniform((-100, -100), (3700, 4900), (40, 2))  # some beyond the edges
    got = read_fields(section, centres, ps, N)
    want = _old_describer(section, centres, ps, N)
    assert got.dtype == np.float32 and got.shape == (40, N, N)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ps", [PS, 5.0])
def test_uint8_fields_equal_the_training_reads(section: Section, ps: float) -> None:
    rng = np.random.default_rng(4)
    centres = np.round(rng.uniform(0, 3600, (30, 2)) / ps) * ps
    want = _old_training(section, centres, ps, N, t=100)
    got = read_fields(section, centres, ps, N, as_uint8=True, tile_px=100, max_window_px=0)
    np.testing.assert_array_equal(got, want)
    # the one-window path cuts the same fields (these resolutions need no resampling noise)
    if ps == PS:
        np.testing.assert_array_equal(read_fields(section, centres, ps, N, as_uint8=True), want)


def test_fields_match_direct_reads(section: Section) -> None:
    centers = np.array([[610.0, 703.0], [1010.0, 2003.0]])
    batch = read_fields(section, centers, PS, N)
    half = N * PS / 2
    for c, p in zip(centers, batch):
        # fields snap to the requested pixel grid (at most half a pixel from the centre)
        y, x = np.round((c - half) / PS) * PS
        direct = section.read_window(y, x, 2 * half, 2 * half, PS) / 255.0
        np.testing.assert_allclose(p, direct, atol=1e-5)


def test_field_beyond_edge_is_filled_with_background() -> None:
    img = np.full((400, 400), 220, dtype=np.uint8)
    img[:, :200] = 40
    s = Section([da.from_array(img, chunks=200)], [16.0])
    p = read_fields(s, np.array([[10.0, 10.0]]), 16.0, 16)[0]
    assert p[0, 0] == pytest.approx(220 / 255.0, abs=0.01), "outside reads as slide background"
    assert p[-1, -1] == pytest.approx(40 / 255.0, abs=1e-6)


def test_no_centres_no_read(section: Section) -> None:
    assert read_fields(section, np.zeros((0, 2)), PS, N).shape == (0, N, N)


def test_intensity_is_estimated_once_per_section(section: Section) -> None:
    first = section_intensity(section)
    assert section.metadata["intensity"]["white"] == 255.0
    section.levels[-1] = section.levels[-1] * 0  # a changed image is not re-read
    assert section_intensity(section) == first


def test_12_bit_in_uint16_reads_like_its_8_bit_twin(tmp_path: Path) -> None:
    img8 = _grey(seed=2)
    # a 12-bit scanner: the same scene on 0..4095, slide near (not at) the top of the range
    img12 = np.clip(np.rint(img8.astype(np.float64) * 4095 / 255), 0, 4095).astype(np.uint16)
    write_section(tmp_path / "s12.ome.zarr", img12, pixel_size_um=3.0)
    write_section(tmp_path / "s8.ome.zarr", img8, pixel_size_um=3.0)
    s12, s8 = open_section(tmp_path / "s12.ome.zarr"), open_section(tmp_path / "s8.ome.zarr")
    inten = section_intensity(s12)
    assert inten.white == 4095.0 and "12-bit" in inten.rule
    centres = np.random.default_rng(5).uniform(0, 3600, (20, 2))
    f8, f12 = read_fields(s8, centres, PS, N), read_fields(s12, centres, PS, N)
    assert np.abs(f12 - f8).max() < 1.5 / 255  # rounding of the 12-bit copy only
    assert f12.mean() > 0.5, "not nearly black"


@pytest.mark.parametrize(
    "dtype, top, white",
    [(np.uint16, 1000.0, 1023.0), (np.uint16, 16000.0, 16383.0), (np.uint16, 60000.0, 65535.0)],
)
def test_integer_white_level_is_the_smallest_standard_bit_depth(dtype, top, white) -> None:
    v = np.linspace(0, top, 10000).astype(dtype)
    assert intensity_of(v, dtype).white == white


def test_float_images_map_their_robust_range() -> None:
    unit = np.linspace(0.1, 0.95, 1000, dtype=np.float32)
    assert intensity_of(unit, unit.dtype).white == 1.0  # already [0, 1]: kept
    wide = np.linspace(0, 3000.0, 100001, dtype=np.float32)
    inten = intensity_of(wide, wide.dtype)
    assert inten.black == 0.0 and inten.white == pytest.approx(2997.0, rel=1e-3)
    assert inten.to_unit(np.float32([1500.0, 5000.0])) == pytest.approx([0.5, 1.0], abs=1e-3)


def _peak(xs: list[float], ys: list[float]) -> float:
    """Where a parabola through the largest of ``ys`` and its two neighbours peaks."""
    i = int(np.argmax(ys))
    assert 0 < i < len(ys) - 1, f"no interior peak: {dict(zip(xs, ys))}"
    a, b, c = ys[i - 1], ys[i], ys[i + 1]
    return xs[i] + 0.5 * (a - c) / (a - 2 * b + c) * (xs[i + 1] - xs[i])


def test_fields_read_from_a_finer_scan_agree_in_scale_with_a_direct_rendering() -> None:
    """A field read the way ``describe`` and the pixel size check read it (area means of a
    finer level) shows the tissue at the scale and place of the same field rendered
    directly at the model's pixel size (as the training fields are; compared as rendered,
    not through the reader): the correlation between the two peaks within 0.5 % of scale
    ×1 and 0.1 px of no shift."""
    from cytowords.sections.scale_check import rescaled
    from cytowords.synth import virtual_section

    ps, size = 64.0, (12, 9)  # the bundled model's µm/px; a small slide (mm)
    direct = virtual_section(3, size_mm=size, pixel_size_um=ps)
    fine = virtual_section(3, size_mm=size, pixel_size_um=ps / 2)
    rows, cols = direct.levels[0].shape
    n = min(rows, cols) - 8
    # the field's corner on a whole model pixel (no rounding between the two reads), and
    # the rendered pixels there themselves (not resampled) as the reference
    r0, q0 = (rows - n) // 2, (cols - n) // 2
    c = (np.array([[r0, q0]]) + n / 2.0) * ps
    ref = np.asarray(direct.levels[0][r0 : r0 + n, q0 : q0 + n], dtype=np.float64)
    assert (ref < 200).mean() > 0.5  # mostly tissue (0.74 here), not the empty slide

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    # the finer scan read as if its pixel size were f × the true one, same tissue point
    scales = [0.98, 0.99, 1.0, 1.01, 1.02]
    cs = [
        corr(ref[4:-4, 4:-4], read_fields(rescaled(fine, f), c * f, ps, n)[0][4:-4, 4:-4])
        for f in scales
    ]
    assert cs[2] > 0.9
    assert abs(_peak(scales, cs) - 1.0) < 0.005
    # and at its own scale, shifted by d model pixels along each axis
    got = read_fields(fine, c, ps, n)[0][4:-4, 4:-4]
    m = n - 8
    for shifted in (
        lambda d: ref[4 + d : 4 + d + m, 4:-4],
        lambda d: ref[4:-4, 4 + d : 4 + d + m],
    ):
        sh = [corr(shifted(d), got) for d in (-1, 0, 1)]
        assert abs(_peak([-1.0, 0.0, 1.0], sh)) < 0.1
