"""Fluorescent Nissl (somata bright on a dark slide, 12-bit data in uint16) is read inverted
so that the readout measures it as the bright-field stain it mirrors; bright-field slides,
black masks and crops without slide are not inverted. Hand-made gyrus
(tests/support/gyrus.py) and its fluorescence twin, written as Fiji writes a TIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.measure import measure_roi
from cytowords.sections import SectionError, open_section
from tests.sections.test_black_background import ROI, _black, _write
from tests.support.gyrus import PX, T, gyrus_image

INVERTED = "bright cells on a dark slide (fluorescence"


def fluorescence_twin(img: np.ndarray, seed: int = 0, offset: float = 100.0) -> np.ndarray:
    """The bright-field ``img`` (uint8, glass 240) as a fluorescent Nissl scan: the dye's
    signal ~ OD^1.3 (the white matter, with few cell bodies, darker than the grey matter),
    tissue autofluorescence, light falling to 0.75 at the left edge, a camera ``offset``
    with shot and read noise (SD 5), 12-bit data in uint16."""
    rng = np.random.default_rng(seed)
    od = np.maximum(-np.log(np.maximum(img.astype(np.float64) / 240.0, 1e-3)), 0.0)
    tissue = od > 0.1
    sig = (od / np.median(od[tissue])) ** 1.3 + 0.04 * tissue
    sig *= np.linspace(0.75, 1.0, img.shape[1])[None, :]
    e = sig * 3000.0 / np.percentile(sig[tissue], 99.9)
    dn = rng.poisson(e) + offset + rng.normal(0, 5, img.shape)
    return np.clip(np.rint(dn), 0, 4095).astype(np.uint16)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("dark_field")
    img = gyrus_image()
    fl = fluorescence_twin(img)
    return {
        "bright": _write(tmp / "bright.tif", img),
        "black": _write(tmp / "black.tif", _black(img)),
        "fluor": _write(tmp / "fluor.tif", fl),
        # 6 × 6 mm inside the tissue: white matter and cortex, no slide in view
        "fluor_crop": _write(tmp / "fluor_crop.tif", fl[300:600, 100:400]),
        "bright_crop": _write(tmp / "bright_crop.tif", img[300:600, 100:400]),
    }


def test_fluorescent_nissl_is_read_inverted_and_measured_as_bright_field(files) -> None:
    bright = open_section(files["bright"])
    fluor = open_section(files["fluor"])
    assert fluor.metadata["slide"].startswith(INVERTED)
    assert "4095 - value" in fluor.metadata["slide"]
    assert fluor.dtype == np.uint16 and "background" not in fluor.metadata
    raw = tifffile.imread(files["fluor"])
    assert np.array_equal(np.asarray(fluor.levels[0]), 4095 - raw)
    a = measure_roi(bright, ROI, cells=False, profile_um=PX)
    b = measure_roi(fluor, ROI, cells=False, profile_um=PX)
    assert a.measured and b.measured, (a.reasons, b.reasons)
    assert b.thickness_mm == pytest.approx(T / 1000, rel=0.05)
    assert b.thickness_mm == pytest.approx(a.thickness_mm, rel=0.03)
    assert abs(b.layers.layer_i_width_um - a.layers.layer_i_width_um) <= 2 * PX


def test_the_section_records_whether_it_was_read_inverted(files) -> None:
    """The exports' words (``slide_reading``) come from this flag, not from the note's
    wording: set by the inverted reading only (judged or given), absent otherwise."""
    from cytowords.slide_reading import INVERTED_KEY

    def flag(name: str, **kw) -> bool:
        return bool(open_section(files[name], **kw).metadata.get(INVERTED_KEY))

    assert flag("fluor") and flag("bright", dark_field=True)
    assert not flag("bright") and not flag("black") and not flag("fluor_crop")
    assert not flag("fluor", dark_field=False)


def test_read_as_it_is_the_fluorescent_scan_is_not_measured(files) -> None:
    # what --slide bright (and every reader before the judgement) gives: no cortex found
    fluor = open_section(files["fluor"], dark_field=False)
    assert "slide" not in fluor.metadata
    assert not measure_roi(fluor, ROI, cells=False, profile_um=PX).measured


def test_bright_field_slides_are_not_inverted(files) -> None:
    bright = open_section(files["bright"])
    assert "slide" not in bright.metadata and "background" not in bright.metadata
    black = open_section(files["black"])
    assert "slide" not in black.metadata
    assert "black background" in black.metadata["background"]


def test_a_black_slide_whose_tissue_is_near_black_is_left_with_a_note(tmp_path: Path) -> None:
    # a bright-field export masked to black whose darkest tissue is near black (the black
    # background is not filled): it might be fluorescence with its slide subtracted
    img = gyrus_image()
    dark = np.where(img < 225, np.clip(img.astype(float) - 75, 1, 255), 0).astype(np.uint8)
    s = open_section(_write(tmp_path / "dark.tif", dark))
    assert "background" not in s.metadata
    assert s.metadata["slide"].startswith("a black slide: read as a bright-field stain")
    assert "--slide dark" in s.metadata["slide"]
    assert np.array_equal(np.asarray(s.levels[0]), dark)


@pytest.mark.parametrize("noise", [3, 8])
@pytest.mark.parametrize("jpeg", [False, True])
def test_a_bright_field_slide_masked_to_noisy_black_is_never_inverted(
    tmp_path: Path, noise: int, jpeg: bool
) -> None:
    # a reconstructed volume's slice or a padded export: the glass set to black with a
    # little noise in it (0-3 or 0-8 of 255), as a TIFF or a JPEG of quality 75; its pale
    # layer I along the black says bright field (read as it is, or the black filled)
    from PIL import Image

    img = gyrus_image()
    rng = np.random.default_rng(noise)
    masked = np.where(img >= 225, rng.integers(0, noise + 1, img.shape), img).astype(np.uint8)
    if jpeg:
        path = tmp_path / "masked.jpg"
        Image.fromarray(masked).save(path, quality=75)
        s = open_section(path, pixel_size_um=PX)
    else:
        s = open_section(_write(tmp_path / "masked.tif", masked))
    assert not s.metadata.get("slide", "").startswith("bright cells on a dark slide")
    lev = np.asarray(s.levels[0])
    tissue = img < 225
    assert np.median(lev[tissue]) == pytest.approx(np.median(img[tissue]), abs=3)


@pytest.mark.parametrize("name", ["fluor_crop", "bright_crop"])
def test_a_crop_inside_the_tissue_is_left_as_it_is_with_a_note(files, name) -> None:
    s = open_section(files[name])
    assert s.metadata["slide"].startswith("no empty slide along the image's border")
    assert "--slide dark" in s.metadata["slide"]
    assert np.array_equal(np.asarray(s.levels[0]), tifffile.imread(files[name]))


def test_the_slide_can_be_given_either_way(files) -> None:
    crop = open_section(files["fluor_crop"], dark_field=True)
    assert crop.metadata["slide"].startswith(INVERTED + ", as given)")
    assert np.array_equal(np.asarray(crop.levels[0]), 4095 - tifffile.imread(files["fluor_crop"]))
    crop = open_section(files["fluor_crop"], dark_field=False)
    assert "slide" not in crop.metadata
    bright = open_section(files["bright"], dark_field=True)  # said so: inverted
    assert np.array_equal(np.asarray(bright.levels[0]), 255 - gyrus_image())


def test_a_slide_subtracted_to_zero_is_inverted_when_given(tmp_path: Path) -> None:
    # the slide subtracted (offset + 3 SD of its noise) to 0: a black mask, so said;
    # given as dark, the black slide reads as glass
    fl = np.clip(fluorescence_twin(gyrus_image()).astype(np.int32) - 115, 0, None)
    path = _write(tmp_path / "subtracted.tif", fl.astype(np.uint16))
    s = open_section(path)
    assert s.metadata["slide"].startswith("a black slide")
    s = open_section(path, dark_field=True)
    b = measure_roi(s, ROI, cells=False, profile_um=PX)
    assert b.measured, b.reasons
    assert b.thickness_mm == pytest.approx(T / 1000, rel=0.05)


def test_the_cli_says_it_and_takes_the_slide(files, capsys) -> None:
    from cytowords.cli import build_parser, open_image

    open_image(str(files["fluor"]), None)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"note: {files['fluor']}: {INVERTED}): read inverted (4095 - value)"]
    open_image(str(files["fluor"]), None, "bright")
    assert capsys.readouterr().err == ""
    open_image(str(files["bright"]), None)
    assert capsys.readouterr().err == ""
    for argv in (["describe", "x.tif", "--roi", "0,0,1,1"], ["map", "x.tif", "--out", "m.zarr"]):
        assert build_parser().parse_args([*argv, "--slide", "dark"]).slide == "dark"


def test_cli_measure_reads_the_fluorescent_scan(files, capsys) -> None:
    import json

    from cytowords.cli import main

    box = f"{ROI[:, 1].min():g},{ROI[:, 0].min():g},{ROI[:, 1].max():g},{ROI[:, 0].max():g}"
    for slide, measured in (("auto", True), ("dark", True), ("bright", False)):
        rc = main(["measure", str(files["fluor"]), "--roi", box, "--json", "--slide", slide])
        out, err = capsys.readouterr()
        assert rc == 0, err
        assert (INVERTED in err) == (slide != "bright"), err
        r = json.loads(out)
        r = r[0] if isinstance(r, list) else r
        th = r["thickness_mm"]["median"]
        assert (th is not None) == measured, r["not_measured"]
        if measured:
            assert th == pytest.approx(T / 1000, rel=0.05)


def test_napari_reader_shows_the_inverted_scan_and_says_so(files) -> None:
    from cytowords.napari.io.reader import read_section_layers
    from tests.support.napari_helpers import Notes

    with Notes() as notes:
        layers = read_section_layers(str(files["fluor"]))
    data, meta, kind = layers[0]
    assert kind == "image"
    shown = np.asarray(data[0] if isinstance(data, list) else data)
    assert np.array_equal(shown, 4095 - tifffile.imread(files["fluor"]))
    assert notes.any("fluor", "bright cells on a dark slide", "read inverted")


@pytest.mark.parametrize("layout", ["CYX imagej", "YXS"])
def test_two_fluorescence_channels_are_refused_in_one_line(tmp_path: Path, layout) -> None:
    # NeuroTrace with DAPI: one channel must be chosen; the line names the file and how
    fl = fluorescence_twin(gyrus_image())
    two = np.stack([fl, fl // 2])
    path = tmp_path / "nissl_dapi.tif"
    if layout == "YXS":
        tifffile.imwrite(
            path, np.moveaxis(two, 0, -1), photometric="minisblack", planarconfig="contig"
        )
    else:
        tifffile.imwrite(path, two, imagej=True, metadata={"axes": "CYX"})
    with pytest.raises(SectionError) as err:
        open_section(path, pixel_size_um=PX)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path))
    assert "2 channels" in msg or "2-sample" in msg
    assert "Duplicate… one" in msg and "channel" in msg
