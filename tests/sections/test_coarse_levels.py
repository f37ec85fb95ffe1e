"""Coarse levels of a section stored without a pyramid (an ImageJ/Fiji TIFF, a plain zarr
array) are made from level 0 without re-reading it for every level: the small ones are
computed together in one pass and kept, the others read only their window of level 0; their
values are the pyramid's (2 × 2 means level by level, integers rounded half to even)."""

from __future__ import annotations

import threading
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from cytowords.sections import open_section, pyramid
from cytowords.sections import tiff as tiff_mod


def _reference(img: np.ndarray, k: int) -> np.ndarray:
    """Level ``k``: ``k`` halvings by float64 2 × 2 means, integers rounded (half to even)."""
    out = img
    for _ in range(k):
        h, w = out.shape[0] // 2, out.shape[1] // 2
        m = out[: 2 * h, : 2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3), dtype=np.float64)
        out = (np.rint(m) if img.dtype.kind in "iu" else m).astype(img.dtype)
    return out


def _imagej_tiff(path: Path, img: np.ndarray) -> Path:
    tifffile.imwrite(path, img, imagej=True, resolution=(0.5, 0.5), metadata={"unit": "um"})
    return path


@pytest.fixture
def count_reads(monkeypatch):
    """Pixels of level 0 read from the memory-mapped TIFF (every window it serves)."""
    read = {"px": 0, "n": 0}
    lock = threading.Lock()
    orig = tiff_mod._Contiguous.__getitem__

    def counting(self, index):
        out = orig(self, index)
        with lock:
            read["px"] += out.size
            read["n"] += 1
        return out

    monkeypatch.setattr(tiff_mod._Contiguous, "__getitem__", counting)
    return read


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_coarse_levels_read_level0_once_and_equal_the_pyramid(tmp_path, count_reads, dtype):
    rng = np.random.default_rng(39)
    info = np.iinfo(dtype)
    img = rng.integers(info.min, info.max, (3001, 2207), endpoint=True, dtype=dtype)
    sec = open_section(_imagej_tiff(tmp_path / "fiji.tif", img))
    assert [lev.shape for lev in sec.levels] == [(3001, 2207), (1500, 1103), (750, 551)]
    assert sec.pixel_size_um == pytest.approx([2.0, 4.0, 8.0])
    count_reads.update(px=0, n=0)
    # as napari, the tissue mask and the readout do: each level read on its own, repeatedly
    for _ in range(2):
        for k in range(len(sec.levels) - 1, 0, -1):
            got = np.asarray(sec.levels[k])
            assert got.dtype == img.dtype
            np.testing.assert_array_equal(got, _reference(img, k))
        np.testing.assert_array_equal(
            np.asarray(sec.levels[1][700:900, 1000:1103]), _reference(img, 1)[700:900, 1000:]
        )
    assert count_reads["px"] <= img.size  # every pixel of level 0 read once (not per level)


def test_coarse_levels_are_computed_once_for_reads_from_many_threads(tmp_path, count_reads):
    img = np.random.default_rng(1).integers(0, 255, (2600, 3100), dtype=np.uint8)
    sec = open_section(_imagej_tiff(tmp_path / "fiji.tif", img))
    count_reads.update(px=0, n=0)
    start, out, errors = threading.Barrier(8), {}, []

    def read(i: int) -> None:
        try:
            start.wait()
            k = 1 + i % (len(sec.levels) - 1)
            out[i] = (k, np.asarray(sec.levels[k][: 300 + i, 50:]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, (k, got) in out.items():
        np.testing.assert_array_equal(got, _reference(img, k)[: 300 + i, 50:])
    assert count_reads["px"] <= img.size


def test_levels_not_kept_read_only_their_window_of_level0(tmp_path, count_reads, monkeypatch):
    """Levels too large to keep (those of a 10^10 px scan) read a window's own pixels."""
    monkeypatch.setattr(pyramid, "COARSE_CACHE_BYTES", 0, raising=False)
    img = np.random.default_rng(2).integers(0, 65535, (4100, 4300), dtype=np.uint16)
    sec = open_section(_imagej_tiff(tmp_path / "big.tif", img))
    assert len(sec.levels) == 4
    for k in (1, 2, 3):
        count_reads.update(px=0, n=0)
        y, x = 1100 // 2**k, 2100 // 2**k  # a 64 × 64 window inside one 1024-px chunk
        got = np.asarray(sec.levels[k][y : y + 64, x : x + 64])
        np.testing.assert_array_equal(got, _reference(img, k)[y : y + 64, x : x + 64])
        # a window of 64 px at level k covers (64 * 2**k)^2 px of level 0, inside one
        # 1024-px chunk of it: that chunk is read, never the whole image
        assert count_reads["px"] <= 1024 * 1024, k


def test_plain_zarr_array_coarse_levels_equal_the_pyramid(tmp_path):
    img = (np.random.default_rng(3).random((2100, 1500)) * 1000).astype(np.float32)
    z = zarr.create_array(str(tmp_path / "plain.zarr"), data=img, chunks=(500, 500))
    z.attrs["pixel_size_um"] = 1.0
    sec = open_section(tmp_path / "plain.zarr")
    assert len(sec.levels) == 3
    for k in (2, 1):
        np.testing.assert_allclose(np.asarray(sec.levels[k]), _reference(img, k), rtol=1e-6)


def test_small_integer_means_equal_the_float64_mean():
    """8/16-bit 2 × 2 means (integer sums, half to even) equal the float64 mean, rounded."""
    rng = np.random.default_rng(4)
    for dtype in (np.uint8, np.int8, np.uint16, np.int16):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, (513, 771), endpoint=True, dtype=dtype)
        a[:2, :2] = [[1, 2], [2, 1]]  # 1.5: even -> 2
        a[2:4, :2] = [[2, 3], [3, 2]]  # 2.5: even -> 2
        got = pyramid.halve_n(a, 3)
        np.testing.assert_array_equal(got, _reference(a, 3))
        assert pyramid.halve_n(a, 1)[0, 0] == 2 and pyramid.halve_n(a, 1)[1, 0] == 2
        lazy = pyramid.downsample2(da.from_array(a, chunks=256))
        np.testing.assert_array_equal(np.asarray(lazy), _reference(a, 1))


def test_a_huge_scan_keeps_only_its_small_levels():
    """A 100,000² px uint16 scan: levels 1-4 (>= 78 MiB each) are never held whole."""
    base = da.zeros((100_000, 100_000), dtype=np.uint16, chunks=1024)
    levels, sizes = pyramid.extend_pyramid([base], [0.5])
    assert [lev.shape[0] for lev in levels] == [100_000 >> k for k in range(8)]
    assert sizes == [0.5 * 2**k for k in range(8)]
    kept = [lev.name.startswith("cytowords-kept") for lev in levels]
    assert kept == [False] * 5 + [True] * 3
    assert sum(lev.nbytes for lev, k in zip(levels, kept) if k) <= pyramid.COARSE_CACHE_BYTES
    # a level not kept reads level 0 once per chunk, in windows of at most 2048 px
    footprints = [max(lev.chunks[0]) * 2**k for k, lev in enumerate(levels[1:5], 1)]
    assert footprints == [1024, 1024, 1024, 2048]


def test_a_small_window_of_a_kept_level_before_the_pass_reads_only_its_window(
    tmp_path, count_reads
):
    """A napari view of a kept level before anything read the coarsest level: its window of
    level 0, not all of it; once the levels are computed, nothing more."""
    img = np.random.default_rng(5).integers(0, 255, (4100, 4300), dtype=np.uint8)
    sec = open_section(_imagej_tiff(tmp_path / "fiji.tif", img))
    assert len(sec.levels) == 4
    count_reads.update(px=0, n=0)
    win = np.asarray(sec.levels[2][30:130, 50:150])  # in one 1024-px chunk of level 0
    np.testing.assert_array_equal(win, _reference(img, 2)[30:130, 50:150])
    assert count_reads["px"] <= 1024 * 1024
    np.testing.assert_array_equal(np.asarray(sec.levels[-1]), _reference(img, 3))
    count_reads.update(px=0, n=0)
    for k in (3, 2):
        np.testing.assert_array_equal(np.asarray(sec.levels[k]), _reference(img, k))
        win = np.asarray(sec.levels[k][30:90, 50:110])
        np.testing.assert_array_equal(win, _reference(img, k)[30:90, 50:110])
    assert count_reads["px"] == 0
