"""Scans as labs export them: fluorescence saved as RGB (8 or 16 bits per channel), TIFFs
stored MinIsWhite (an inverting LUT), floating-point TIFFs (Fiji's 32-bit), singleton and
stacked axes. Each is written the way the program writes it (tifffile) from the hand-made
gyrus (tests/support/gyrus.py) or its fluorescence twin, and is either measured like the
grey original or refused in one line naming the file and the way forward."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.measure import measure_roi
from cytowords.sections import open_section
from tests.sections.test_black_background import ROI, _write
from tests.sections.test_dark_field import INVERTED, fluorescence_twin
from tests.support.gyrus import PX, T, gyrus_image

#: TIFF resolution tags of the gyrus (pixels per cm) for files written without ImageJ's
RES = {"resolution": (1e4 / PX, 1e4 / PX), "resolutionunit": "CENTIMETER"}


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, object]:
    """The grey bright-field gyrus, its 12-bit fluorescence twin and their readouts."""
    img = gyrus_image()
    fl = fluorescence_twin(img)
    out: dict[str, object] = {"bright": img, "fluor": fl}
    tmp = tmp_path_factory.mktemp("originals")
    for name, arr in (("bright", img), ("fluor", fl)):
        out[name + "_readout"] = measure_roi(
            open_section(_write(tmp / f"{name}.tif", arr)), ROI, cells=False, profile_um=PX
        )
    return out


def _measured_like(section, reference) -> None:
    """The readout of ``section`` over the gyrus's right bank matches the grey original's."""
    r = measure_roi(section, ROI, cells=False, profile_um=PX)
    assert r.measured, r.reasons
    assert r.thickness_mm == pytest.approx(T / 1000, rel=0.05)
    assert r.thickness_mm == pytest.approx(reference.thickness_mm, rel=0.03)
    assert abs(r.layers.layer_i_width_um - reference.layers.layer_i_width_um) <= 2 * PX


def _rgb(signal: np.ndarray, channel: int, rest: np.ndarray) -> np.ndarray:
    out = np.repeat(rest[..., None], 3, axis=2).astype(signal.dtype)
    out[..., channel] = signal
    return out


@pytest.mark.parametrize(("channel", "name"), [(0, "red"), (1, "green"), (2, "blue")])
@pytest.mark.parametrize("bits", [8, 16])
def test_fluorescence_saved_as_rgb_reads_its_signal_channel(
    tmp_path: Path, originals, channel: int, name: str, bits: int
) -> None:
    # NeuroTrace 640 (red) / 500 (green) or DAPI (blue) exported as RGB: the signal in one
    # channel, the camera's offset and noise in the others; 8-bit (Fiji's RGB Color) or the
    # 12-bit data kept in 16 bits per channel (48-bit TIFF)
    fl = originals["fluor"]
    rng = np.random.default_rng(channel)
    if bits == 8:
        signal, rest = (fl / 16).astype(np.uint8), rng.integers(0, 3, fl.shape)
    else:
        signal, rest = fl, np.clip(rng.normal(100, 5, fl.shape), 0, None)
    rgb = _rgb(signal, channel, rest)
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", **RES)
    s = open_section(path)
    assert s.metadata["channel"] == name
    assert f"its {name} channel" in s.metadata["colour"]
    assert s.metadata["slide"].startswith(INVERTED + f", the {name} channel of its RGB)")
    white = 255 if bits == 8 else 4095
    assert np.array_equal(np.asarray(s.levels[0]), white - signal)
    _measured_like(s, originals["fluor_readout"])


def test_a_dapi_png_with_autofluorescence_reads_the_blue_channel(tmp_path: Path, originals):
    # DAPI in blue; green tissue autofluorescence and red bleed-through of a fifth of it
    from PIL import Image

    fl8 = (originals["fluor"] / 16).astype(np.uint8)
    tissue = originals["bright"] < 225
    rgb = np.stack([(fl8 * 0.2).astype(np.uint8), (8 + 40 * tissue).astype(np.uint8), fl8], axis=-1)
    path = tmp_path / "dapi.png"
    Image.fromarray(rgb).save(path)
    s = open_section(path, pixel_size_um=PX)
    assert s.metadata["channel"] == "blue"
    assert np.array_equal(np.asarray(s.levels[0]), 255 - fl8)
    _measured_like(s, originals["fluor_readout"])


def test_rgb_fluorescence_given_as_bright_keeps_the_stain_reading(tmp_path: Path, originals):
    fl8 = (originals["fluor"] / 16).astype(np.uint8)
    path = tmp_path / "green.tif"
    tifffile.imwrite(path, _rgb(fl8, 1, np.zeros_like(fl8)), photometric="rgb", **RES)
    s = open_section(path, dark_field=False)
    assert "channel" not in s.metadata and "slide" not in s.metadata
    assert s.metadata["colour"].startswith("RGB converted to grey by optical density")
    given = open_section(path, dark_field=True)
    assert given.metadata["channel"] == "green"
    assert given.metadata["slide"].startswith(INVERTED + ", as given, the green channel")


def test_cli_measure_reads_rgb_fluorescence_and_says_which_channel(
    tmp_path: Path, originals, capsys
) -> None:
    from cytowords.cli import main

    fl = originals["fluor"]
    path = tmp_path / "neurotrace.tif"
    tifffile.imwrite(path, _rgb(fl, 0, np.full_like(fl, 100)), photometric="rgb", **RES)
    box = f"{ROI[:, 1].min():g},{ROI[:, 0].min():g},{ROI[:, 1].max():g},{ROI[:, 0].max():g}"
    rc = main(["measure", str(path), "--roi", box, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"note: {path}: {INVERTED}, the red channel of its RGB): read inverted" in err
    r = json.loads(out)
    r = r[0] if isinstance(r, list) else r
    assert r["thickness_mm"]["median"] == pytest.approx(T / 1000, rel=0.05)


@pytest.mark.parametrize("imagej", [True, False])
@pytest.mark.parametrize("kind", ["bright", "fluor"])
def test_a_tiff_stored_min_is_white_is_read_as_shown(
    tmp_path: Path, originals, imagej: bool, kind: str
) -> None:
    # an image with an inverting LUT, as ImageJ saves it: PhotometricInterpretation 0, the
    # viewer shows white - value: the bright-field gyrus stored as its negative, or the
    # fluorescence twin's counts shown as their Nissl-like negative
    white = 255 if kind == "bright" else 4095
    if kind == "bright":
        shown = originals["bright"]
        stored = (white - shown.astype(np.int32)).astype(np.uint8)
    else:
        stored = originals["fluor"]
        shown = (white - stored.astype(np.int32)).astype(np.uint16)
    path = tmp_path / f"{kind}_inverting_lut.tif"
    kw = (
        {"imagej": True, "resolution": (1 / PX, 1 / PX), "metadata": {"unit": "um"}}
        if imagej
        else RES
    )
    tifffile.imwrite(path, stored, photometric="miniswhite", **kw)
    with tifffile.TiffFile(path) as tf:
        assert tf.pages.first.photometric == tifffile.PHOTOMETRIC.MINISWHITE
    s = open_section(path)
    assert s.metadata["slide"] == (
        f"stored MinIsWhite (an inverting LUT): read as shown ({white} - value)"
    )
    assert np.array_equal(np.asarray(s.levels[0]), shown)
    _measured_like(s, originals[kind + "_readout"])


def _imagej(path: Path, img: np.ndarray) -> Path:
    """``img`` written as Fiji writes a 32-bit image (ImageJ TIFF, µm calibration)."""
    tifffile.imwrite(path, img, imagej=True, resolution=(1 / PX, 1 / PX), metadata={"unit": "um"})
    return path


@pytest.mark.parametrize("subtracted", [False, True])
def test_float_fluorescence_counts_are_inverted_like_their_integer_twin(
    tmp_path: Path, originals, subtracted: bool
) -> None:
    # Fiji's 32-bit image of the 12-bit counts, or of the counts after a background
    # subtraction that leaves the slide around 0 (negative values, not whole numbers)
    fl = originals["fluor"].astype(np.float32) - (115.3 if subtracted else 0.0)
    s = open_section(_imagej(tmp_path / "fluor32.tif", fl))
    top = 4095.0 + (min(0.0, float(np.percentile(fl, 0.1))) if subtracted else 0.0)
    assert s.metadata["slide"].startswith(INVERTED)
    got = float(s.metadata["slide"].split("(")[-1].split(" - value")[0])
    assert got == pytest.approx(top, abs=3)
    black = min(0.0, float(np.percentile(fl, 0.1)))
    want = np.clip(top - fl, black, 4095.0)
    assert np.asarray(s.levels[0]) == pytest.approx(want, abs=0.5 if subtracted else 0)
    _measured_like(s, originals["fluor_readout"])


def test_nan_outside_the_tissue_reads_as_the_empty_slide(tmp_path: Path, originals) -> None:
    # Fiji's 32-bit bright-field image in [0, 1] with the glass set to NaN
    img = originals["bright"]
    f = (img / 255.0).astype(np.float32)
    f[img >= 225] = np.nan
    s = open_section(_imagej(tmp_path / "nan.tif", f))
    assert s.metadata["background"].startswith("NaN (31% of the image) read as black (0); ")
    assert "read as the empty slide (value 1)" in s.metadata["background"]
    lev = np.asarray(s.levels[0])
    assert np.isfinite(lev).all() and (lev[img >= 225] == 1.0).all()
    _measured_like(s, originals["bright_readout"])


def test_nan_outside_fluorescence_is_a_black_slide_to_give_as_dark(
    tmp_path: Path, originals
) -> None:
    # the fluorescence counts with NaN outside the tissue: the black left by the NaN is no
    # slide to judge (a note says how to give it), and given as dark it reads as glass
    fl = originals["fluor"].astype(np.float32)
    fl[originals["bright"] >= 225] = np.nan
    path = _imagej(tmp_path / "nan_fluor.tif", fl)
    s = open_section(path)
    assert s.metadata["background"].startswith("NaN (31% of the image) read as black (0)")
    assert s.metadata["slide"].startswith("a black slide: read as a bright-field stain")
    assert "--slide dark" in s.metadata["slide"]
    s = open_section(path, dark_field=True)
    assert s.metadata["slide"] == INVERTED + ", as given): read inverted (4095 - value)"
    _measured_like(s, originals["fluor_readout"])


def test_fluorescence_masked_to_zero_is_not_filled_as_glass(tmp_path: Path, originals) -> None:
    # the 12-bit fluorescence with everything outside the tissue set to 0: its tissue is
    # mostly dim, so the black is no bright-field slide's glass; the note says how to give it
    fl = np.where(originals["bright"] >= 225, 0, originals["fluor"]).astype(np.uint16)
    path = _write(tmp_path / "masked_fluor.tif", fl)
    s = open_section(path)
    assert "background" not in s.metadata
    assert s.metadata["slide"].startswith("a black slide: read as a bright-field stain")
    assert np.array_equal(np.asarray(s.levels[0]), fl)
    s = open_section(path, dark_field=True)
    _measured_like(s, originals["fluor_readout"])


def _violet(img: np.ndarray) -> np.ndarray:
    """The bright-field gyrus as a violet (cresyl) RGB scan, float RGB on glass 240."""
    od = -np.log(np.maximum(img / 240.0, 1e-3))
    return np.stack([240.0 * np.exp(-od * k) for k in (0.9, 1.3, 0.6)], axis=-1)


@pytest.mark.parametrize("variant", ["48-bit", "12-bit in 48-bit", "RGBA transparent black"])
def test_colour_bright_field_variants_read_like_the_8_bit_rgb(
    tmp_path: Path, originals, variant: str
) -> None:
    # a Zeiss/Hamamatsu export with 16 bits per channel (full range or 12-bit data), and an
    # RGBA export whose alpha is 0 (and colour black) outside the tissue
    rgb = _violet(originals["bright"])
    if variant == "48-bit":
        arr, kw = np.clip(rgb * 257, 0, 65535).astype(np.uint16), {}
    elif variant == "12-bit in 48-bit":
        arr, kw = np.clip(rgb * 16, 0, 4095).astype(np.uint16), {}
    else:
        glass = originals["bright"][..., None] >= 225
        arr = np.concatenate([np.clip(rgb, 0, 255), np.full(glass.shape, 255.0)], -1)
        arr = np.where(glass, 0, arr).astype(np.uint8)
        kw = {"extrasamples": ["unassalpha"]}
    path = tmp_path / "colour.tif"
    tifffile.imwrite(path, arr, photometric="rgb", **RES, **kw)
    s = open_section(path)
    assert s.metadata["colour"].startswith("RGB converted to grey by optical density")
    assert "channel" not in s.metadata and "slide" not in s.metadata
    assert ("background" in s.metadata) == variant.startswith("RGBA")
    _measured_like(s, originals["bright_readout"])


@pytest.mark.parametrize("layout", ["1YX imagej", "YX1"])
def test_a_single_plane_stack_is_read_as_its_plane(tmp_path: Path, originals, layout) -> None:
    img = originals["bright"]
    path = tmp_path / "plane.tif"
    if layout == "YX1":
        tifffile.imwrite(path, img[..., None], photometric="minisblack", **RES)
    else:
        tifffile.imwrite(path, img[None], imagej=True, resolution=(1 / PX, 1 / PX),
                         metadata={"unit": "um", "axes": "ZYX"})  # fmt: skip
    s = open_section(path)
    assert s.pixel_size_um[0] == pytest.approx(PX)
    assert np.array_equal(np.asarray(s.levels[0]), img)


def test_cli_refuses_a_z_stack_in_one_line(tmp_path: Path, originals, capsys) -> None:
    from cytowords.cli import main

    img = originals["bright"]
    path = tmp_path / "zstack.tif"
    tifffile.imwrite(path, np.stack([img] * 3), imagej=True, resolution=(1 / PX, 1 / PX),
                     metadata={"unit": "um", "axes": "ZYX"})  # fmt: skip
    rc = main(["measure", str(path), "--roi", "0,0,1000,1000", "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1, err
    assert str(path) in err[0] and "3 z-slices" in err[0] and "Z Project" in err[0]
