"""A black background (everything outside the tissue masked to 0, as slices of a
reconstructed brain volume or padded exports have it) is read as the empty slide: the
readout finds the pia next to it and measures the cortex as on the bright-field slide.
Hand-made gyrus (tests/support/gyrus.py), written as Fiji writes a TIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.measure import measure_roi
from cytowords.sections import open_section
from cytowords.sections.intensity import section_background
from tests.support.gyrus import PX, XC, YS, R, T, gyrus_image

#: a 3 mm region across the right bank: white matter, cortex, glass
ROI = np.array(
    [
        [YS + 1000, XC + R - T - 700],
        [YS + 1000, XC + R + 500],
        [YS + 4000, XC + R + 500],
        [YS + 4000, XC + R - T - 700],
    ]
)


def _write(path: Path, img: np.ndarray) -> Path:
    per_um = 1.0 / PX
    tifffile.imwrite(path, img, imagej=True, resolution=(per_um, per_um), metadata={"unit": "um"})
    return path


def _black(img: np.ndarray) -> np.ndarray:
    glass = img >= 225  # the gyrus's glass is 240 ± 2
    return np.where(glass, 0, img).astype(np.uint8)


def test_black_background_reads_as_the_empty_slide(tmp_path: Path) -> None:
    img = gyrus_image()
    bright = open_section(_write(tmp_path / "bright.tif", img))
    black = open_section(_write(tmp_path / "black.tif", _black(img)))
    assert "background" not in bright.metadata
    assert "black background" in black.metadata["background"]
    assert section_background(black) == pytest.approx(255.0)
    a = measure_roi(bright, ROI, cells=False, profile_um=PX)
    b = measure_roi(black, ROI, cells=False, profile_um=PX)
    assert a.measured and b.measured, (a.reasons, b.reasons)
    assert b.thickness_mm == pytest.approx(T / 1000, rel=0.05)
    assert b.thickness_mm == pytest.approx(a.thickness_mm, rel=0.03)
    assert abs(b.layers.layer_i_width_um - a.layers.layer_i_width_um) <= 2 * PX


def test_dark_marks_inside_the_tissue_are_no_background(tmp_path: Path) -> None:
    # black ink in the white matter, not touching the border, and a slide whose darkest
    # tissue is near black (no gap to the background): both read as they are
    img = gyrus_image()
    ink = img.copy()
    ink[300:340, 230:270] = 0
    s = open_section(_write(tmp_path / "ink.tif", ink))
    assert "background" not in s.metadata
    dark = np.where(img < 225, np.clip(img.astype(float) - 75, 1, 255), 0).astype(np.uint8)
    s = open_section(_write(tmp_path / "dark.tif", dark))
    assert "background" not in s.metadata


def test_cli_says_the_black_background_is_read_as_glass(tmp_path: Path, capsys) -> None:
    from cytowords.cli import open_image

    path = _write(tmp_path / "black.tif", _black(gyrus_image()))
    open_image(str(path), None)
    err = capsys.readouterr().err
    assert "black background" in err and "black.tif" in err


def test_napari_reader_shows_the_slide_and_says_so(tmp_path: Path) -> None:
    from cytowords.napari.io.reader import read_section_layers
    from tests.support.napari_helpers import Notes

    img = gyrus_image()
    path = _write(tmp_path / "volume_slice.tif", _black(img))
    with Notes() as notes:
        layers = read_section_layers(str(path))
    data, meta, kind = layers[0]
    assert kind == "image"
    shown = np.asarray(data[0] if isinstance(data, list) else data)
    assert (shown[img >= 225] == 255).all()
    assert notes.any("volume_slice", "black background")


def test_a_single_level_file_is_judged_on_the_whole_slide(tmp_path: Path) -> None:
    """A one-level TIFF (as Fiji writes it) larger than the 2048 px the judgement reads,
    whose black background lies beyond its first 2048 × 2048 px: found (main judged that
    corner alone, all tissue, and left the black as it was)."""
    y, x = np.mgrid[:2600, :4200]
    # stained tissue: bands of 60-220 (layers, white matter), a few hundred µm wide
    img = (140 + 80 * np.sin(x / 90.0) * np.cos(y / 160.0)).astype(np.uint8)
    img[:, 3000:] = 0  # masked to black right of the tissue (29 % of the slide)
    img[2300:, :] = 0
    sec = open_section(_write(tmp_path / "one_level.tif", img))
    assert "black background" in sec.metadata.get("background", ""), sec.metadata
    coarse = np.asarray(sec.levels[-1])
    assert coarse[-1, -1] == 255 and coarse[0, 0] < 230
    full = np.asarray(sec.levels[0][2200:2400, 2900:3100])
    assert (full == 0).sum() == 0 and (full == 255).sum() > 0
