"""Stored pyramids of odd sizes (QuPath's and Bio-Formats' OME-TIFF, scanners): a level is
level 0 divided by a whole factor, rounded, and gets exactly that factor's pixel size."""

from __future__ import annotations

import numpy as np
import tifffile
import zarr

from cytowords.sections import open_section
from cytowords.sections.ngff import level_factor


def _halve(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    b = a[:h, :w].astype(np.float32)
    return ((b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2]) / 4).astype(a.dtype)


def test_level_factor_of_rounded_levels() -> None:
    assert level_factor(3750, 5000, 937, 1250) == 4.0  # floor(3750 / 4)
    assert level_factor(3751, 5001, 235, 313) == 16.0  # ceil, four times
    assert level_factor(3750, 5000, 1250, 1667) == 3.0
    assert level_factor(1000, 1000, 400, 400) == 2.5  # no whole factor: the ratio


def test_qupath_ome_tiff_pyramid_of_odd_size_has_exact_level_sizes(tmp_path) -> None:
    """QuPath's *Export as OME-TIFF*: tiles of 512, the pyramid in SubIFDs, each level half
    the one above rounded down (1875 × 2500 → 937 × 1250). The levels were 8, 16.004,
    32.03 and 64.1 µm/px: fields asked at 16 µm/px were then read from the 8 µm level and
    those at 32 µm/px resampled from 16.004 µm (another reading than of the same pixels
    without a stored pyramid)."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4096, size=(3750, 5000), dtype=np.uint16)
    levels = [a]
    while max(levels[-1].shape) > 512:
        levels.append(_halve(levels[-1]))
    path = tmp_path / "qupath.ome.tif"
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tif:
        for k, lev in enumerate(levels):
            kw = dict(tile=(512, 512), compression="zlib", photometric="minisblack")
            if k == 0:
                meta = {"axes": "YX", "PhysicalSizeX": 0.004, "PhysicalSizeXUnit": "mm",
                        "PhysicalSizeY": 0.004, "PhysicalSizeYUnit": "mm"}  # fmt: skip
                tif.write(lev, subifds=len(levels) - 1, metadata=meta, **kw)
            else:
                tif.write(lev, subfiletype=1, metadata=None, **kw)
    s = open_section(path)
    assert [lev.shape for lev in s.levels][2] == (937, 1250)
    assert s.pixel_size_um[:5] == [4.0, 8.0, 16.0, 32.0, 64.0]
    # a window at 16 µm/px reads the stored 16 µm level as it is (no resampling)
    win = s.read_window(0, 0, 1600, 1600, 16.0)
    np.testing.assert_array_equal(win, levels[2][:100, :100])


def test_plain_zarr_group_of_odd_size_has_exact_level_sizes(tmp_path) -> None:
    a = np.zeros((375, 501), np.uint8)
    g = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    g.attrs["pixel_size_um"] = 2.0
    for k, lev in enumerate([a, _halve(a), _halve(_halve(a))]):
        g.create_array(str(k), data=lev)
    assert open_section(tmp_path / "plain.zarr").pixel_size_um[:3] == [2.0, 4.0, 8.0]
