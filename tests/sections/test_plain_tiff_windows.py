"""A large ImageJ/Fiji TIFF (uncompressed, one strip for the whole image, no pyramid) is read
window by window, not whole for every window: its image is memory-mapped in 1024-px chunks.
Compressed or tiled TIFFs keep tifffile's own chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.sections import open_section


def _image(shape=(2500, 3000)) -> np.ndarray:
    return np.random.default_rng(0).integers(20, 250, shape, dtype=np.uint8)


def test_imagej_single_strip_tiff_is_read_in_windows(tmp_path: Path) -> None:
    img = _image()
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(path, img, imagej=True, resolution=(0.5, 0.5), metadata={"unit": "micron"})
    with tifffile.TiffFile(path) as tf:
        assert len(tf.pages[0].dataoffsets) == 1  # ImageJ's layout: one strip
    sec = open_section(path)
    assert sec.pixel_size_um[0] == pytest.approx(2.0)
    lev = sec.levels[0]
    # windows, not the whole plane per read
    assert max(lev.chunks[0]) <= 1024 and max(lev.chunks[1]) <= 1024
    np.testing.assert_array_equal(np.asarray(lev[1000:1300, 2000:2600]), img[1000:1300, 2000:2600])
    # the coarser levels are the same as from the whole image read at once
    coarse = np.asarray(sec.levels[1][:100, :100])
    want = img[:200, :200].reshape(100, 2, 100, 2).astype(np.float64).mean((1, 3))
    assert np.abs(coarse.astype(np.float64) - want).max() <= 1.0


def test_compressed_tiff_keeps_its_own_chunks(tmp_path: Path) -> None:
    img = _image((600, 700))
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, img, tile=(256, 256), compression="zlib")
    lev = open_section(path, pixel_size_um=1.0).levels[0]
    np.testing.assert_array_equal(np.asarray(lev), img)
