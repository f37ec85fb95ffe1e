"""Plain 8-bit images (PNG, JPEG) as users export them: no calibration, so the pixel size is
required and its absence is one line naming the file; grey as stored, RGB through the colour
path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cytowords.sections import PixelSizeMissingError, SectionError, open_section
from tests.support.scanner_files import nissl_rgb


def _grey(h: int = 300, w: int = 400) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (30 + (yy // 3 + xx // 5) % 200).astype(np.uint8)


@pytest.mark.parametrize("name", ["export.png", "figure.jpg", "figure.JPEG"])
def test_pixel_size_is_required_in_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    Image.fromarray(_grey()).save(path, format="PNG" if name.endswith(".png") else "JPEG")
    with pytest.raises(PixelSizeMissingError) as err:
        open_section(path)
    msg = str(err.value)
    kind = "PNG" if name.endswith(".png") else "JPEG"
    assert msg == (
        f"{path}: a {kind} image stores no pixel size; give the scan's µm per pixel "
        "(CLI: --pixel-size-um; Python: pixel_size_um=)"
    )


def test_grey_png_is_read_as_stored(tmp_path: Path) -> None:
    img = _grey(1500, 1300)
    path = tmp_path / "crop.png"
    Image.fromarray(img).save(path)
    s = open_section(path, pixel_size_um=4.0)
    assert s.name == "crop" and s.metadata["format"] == "png"
    assert s.pixel_size_um[:2] == pytest.approx([4.0, 8.0])
    assert s.levels[0].dtype == np.uint8 and "colour" not in s.metadata
    np.testing.assert_array_equal(s.levels[0].compute(), img)
    assert "calibration_warning" not in s.metadata


def test_16bit_and_palette_png(tmp_path: Path) -> None:
    deep = (_grey().astype(np.uint16) * 250).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    s = open_section(tmp_path / "deep.png", pixel_size_um=1.0)
    np.testing.assert_array_equal(s.levels[0].compute(), deep)
    rgb = nissl_rgb(200, 300)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "pal.png")
    s = open_section(tmp_path / "pal.png", pixel_size_um=1.0)
    assert s.levels[0].shape == (200, 300) and "colour" in s.metadata


def test_rgb_jpeg_goes_through_the_colour_path(tmp_path: Path) -> None:
    rgb = nissl_rgb(600, 800)
    path = tmp_path / "nissl.jpg"
    Image.fromarray(rgb).save(path, quality=90)
    s = open_section(path, pixel_size_um=2.0)
    assert s.metadata["format"] == "jpeg" and s.levels[0].shape == (600, 800)
    assert s.metadata["colour"].startswith("RGB converted to grey by optical density")
    grey = np.asarray(s.levels[0].compute(), float)
    stained = rgb[..., 0] < 180
    assert grey[stained].mean() < grey[~stained].mean() - 60


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A phone/camera JPEG rotated by its EXIF tag opens as viewers show it."""
    img = np.zeros((100, 200), np.uint8)
    img[:, :20] = 255  # a bright left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "phone.jpg"
    Image.fromarray(img).save(path, exif=exif, quality=95)
    s = open_section(path, pixel_size_um=1.0)
    shown = s.levels[0].compute()
    assert shown.shape == (200, 100)
    assert shown[:20].mean() > 200 and shown[-20:].mean() < 50  # the left edge is now on top


def test_bad_image_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    with pytest.raises(SectionError) as err:
        open_section(path, pixel_size_um=1.0)
    msg = str(err.value)
    assert msg.startswith(f"{path}: cannot read image") and "\n" not in msg
