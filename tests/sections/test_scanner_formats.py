"""Whole-slide scanner TIFFs (Aperio SVS, Hamamatsu NDPI, Leica SCN) through open_section:
the scan's pyramid (never the thumbnail, label or macro), the scanner's calibration, RGB
through the colour path; bad files in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.sections import PixelSizeMissingError, SectionError, open_section
from tests.support.scanner_files import nissl_rgb, write_ndpi, write_scn, write_svs

IMG = nissl_rgb(1024, 768)


def _stained_is_dark(section) -> None:
    """The grey level 0: violet stain dark, glass bright (the optical-density path)."""
    grey = np.asarray(section.levels[0][::4, ::4].compute(), float)
    rgb = IMG[::4, ::4]
    stained = rgb[..., 0] < 180
    assert grey[stained].mean() < grey[~stained].mean() - 60


def test_svs_as_aperio_writes_it(tmp_path: Path) -> None:
    path = write_svs(tmp_path / "CMU-1.svs", IMG)
    with tifffile.TiffFile(path) as tf:  # tifffile sees an Aperio file with its images
        assert tf.is_svs
        assert [s.name for s in tf.series] == ["Baseline", "Thumbnail", "Label", "Macro"]
    s = open_section(path)
    assert s.name == "CMU-1"
    assert s.pixel_size_um[:3] == pytest.approx([0.252, 1.008, 4.032])
    assert [lv.shape for lv in s.levels[:3]] == [(1024, 768), (256, 192), (64, 48)]
    assert s.metadata["format"] == "svs" and s.metadata["pixel_size_unit"] == "Aperio MPP"
    assert s.metadata["skipped_images"] == ["Thumbnail", "Label", "Macro"]
    assert s.metadata["n_stored_levels"] == 3
    assert s.metadata["colour"].startswith("RGB converted to grey by optical density")
    assert "calibration_warning" not in s.metadata
    _stained_is_dark(s)
    # an override keeps the stored level ratios
    assert open_section(path, pixel_size_um=0.5).pixel_size_um[:2] == pytest.approx([0.5, 2.0])


def test_svs_without_mpp_asks_for_the_pixel_size(tmp_path: Path) -> None:
    path = write_svs(tmp_path / "nompp.svs", IMG[:512, :512], mpp=None)
    with pytest.raises(PixelSizeMissingError) as err:
        open_section(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: no physical pixel size") and "--pixel-size-um" in msg
    assert "\n" not in msg
    assert open_section(path, pixel_size_um=0.5).pixel_size_um[0] == 0.5


def test_ndpi_levels_and_resolution_tags(tmp_path: Path) -> None:
    path = write_ndpi(tmp_path / "slide.ndpi", IMG, um_per_px=0.4545)
    with tifffile.TiffFile(path) as tf:
        assert tf.is_ndpi and [s.name for s in tf.series] == ["Baseline", "Macro"]
        page = tf.pages[0]
        assert page.photometric == tifffile.PHOTOMETRIC.YCBCR and page.subsampling == (2, 2)
    s = open_section(path)
    assert s.metadata["lossy_levels"] == [0, 1, 2]
    assert s.name == "slide" and s.metadata["format"] == "ndpi"
    assert s.pixel_size_um[:3] == pytest.approx([0.4545, 1.818, 7.272], rel=1e-6)
    assert [lv.shape for lv in s.levels[:3]] == [(1024, 768), (256, 192), (64, 48)]
    assert s.metadata["skipped_images"] == ["Macro"]
    _stained_is_dark(s)


def test_scn_picks_the_scan_not_the_overview(tmp_path: Path) -> None:
    path = write_scn(tmp_path / "leica.scn", IMG, um_per_px=0.5)
    with tifffile.TiffFile(path) as tf:
        assert tf.is_scn and len(tf.series) == 2
    s = open_section(path)
    assert s.metadata["format"] == "scn" and s.metadata["pixel_size_unit"] == "Leica SCN view size"
    assert s.pixel_size_um[:2] == pytest.approx([0.5, 2.0])
    assert [lv.shape for lv in s.levels[:2]] == [(1024, 768), (256, 192)]
    assert s.metadata["skipped_images"] == ["image 0"]
    _stained_is_dark(s)


@pytest.mark.parametrize("suffix", [".svs", ".ndpi", ".scn"])
def test_bad_scanner_files_are_one_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"II*\x00" + b"\x00" * 20)
    with pytest.raises(SectionError) as err:
        open_section(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and "Traceback" not in msg
    # a truncated SVS: the header reads, the tiles do not
    good = write_svs(tmp_path / "cut.svs", IMG)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 3])
    with pytest.raises(SectionError) as err:
        s = open_section(good)
        s.levels[0].compute()
    msg = str(err.value)
    assert msg.startswith(f"{good}") and "\n" not in msg
