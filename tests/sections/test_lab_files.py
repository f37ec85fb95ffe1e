"""Less obvious lab files, written the way the programs write them (tifffile, zarr, the
plugin's own writer) from the hand-made gyrus (tests/support/gyrus.py): pixels that are
not square, a zarr store that lost chunks of its finest level. Each is read right or said
in one line naming the file (the command line, the napari reader)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from cytowords.cli import main
from cytowords.napari.io.reader import section_layer_data
from cytowords.sections import NonSquarePixelsError, SectionError, open_section, write_section
from cytowords.sections.intensity import section_intensity
from cytowords.sections.ome_zarr import LOST_CHUNKS_KEY
from tests.support.gyrus import PX, gyrus_image

#: the cortex of the right bank, X0,Y0,X1,Y1 µm (as --roi takes it)
ROI_ARG = "6300,6000,9500,9000"


def _tags(path: Path, img: np.ndarray, sy: float, sx: float) -> Path:
    """A plain TIFF whose resolution tags (pixels per cm) give pixels ``sy`` × ``sx`` µm."""
    tifffile.imwrite(path, img, resolution=(1e4 / sx, 1e4 / sy), resolutionunit="CENTIMETER")
    return path


def _ome(path: Path, img: np.ndarray, sy: float, sx: float) -> Path:
    """An OME-TIFF whose PhysicalSizeY/X (µm) are ``sy`` and ``sx``."""
    meta = {"PhysicalSizeY": sy, "PhysicalSizeX": sx}
    tifffile.imwrite(path, img, metadata={**meta, "PhysicalSizeYUnit": "µm"})
    return path


def _ngff(path: Path, img: np.ndarray, sy: float, sx: float) -> Path:
    """An NGFF 0.4 store whose level 0 has the scale ``[sy, sx]`` µm."""
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.create_array("0", shape=img.shape, dtype=img.dtype, chunks=(256, 256))[...] = img
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in "yx"]
    ct = [{"type": "scale", "scale": [sy, sx]}]
    ds = [{"path": "0", "coordinateTransformations": ct}]
    root.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": ds}]
    return path


WRITERS = {
    "tiff tags": (_tags, "s.tif"),
    "ome-tiff": (_ome, "s.ome.tif"),
    "ngff": (_ngff, "s.zarr"),
}


@pytest.mark.parametrize("form", list(WRITERS))
def test_pixels_that_are_not_square_are_refused_in_one_line(tmp_path: Path, form: str) -> None:
    # a resampled export or a mistyped calibration (Fiji: Image › Properties… pixel height
    # 40, width 20): one µm per pixel (formerly their geometric mean, 28.3 µm, silently)
    # would measure the cortex 41 % too thick across
    write, name = WRITERS[form]
    path = write(tmp_path / name, gyrus_image(), 2 * PX, PX)
    with pytest.raises(NonSquarePixelsError) as err:
        open_section(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path))
    assert "not square (40 µm high, 20 µm wide)" in msg and "--pixel-size-um" in msg
    # the scan's µm per pixel, given, is taken
    assert open_section(path, pixel_size_um=PX).pixel_size_um[0] == pytest.approx(PX)


@pytest.mark.parametrize("form", list(WRITERS))
def test_a_scanners_nearly_square_pixels_open(tmp_path: Path, form: str) -> None:
    # Hamamatsu NDPI: x and y calibrated 0.2265 and 0.2267 µm (0.1 % apart)
    write, name = WRITERS[form]
    path = write(tmp_path / name, gyrus_image()[:256, :256], 0.2267, 0.2265)
    assert open_section(path).pixel_size_um[0] == pytest.approx(0.2266, abs=1e-4)


def test_napari_opens_pixels_that_are_not_square_in_pixels_and_says_why(tmp_path: Path) -> None:
    path = _tags(tmp_path / "s.tif", gyrus_image(), 2 * PX, PX)
    layers, notes = section_layer_data(str(path))
    assert layers[0][1]["units"] == ("pixel", "pixel")
    assert [kind for kind, _ in notes] == ["warning"]
    assert "not square" in notes[0][1] and "Pixel size" in notes[0][1]


def test_cli_refuses_pixels_that_are_not_square_in_one_line(
    tmp_path: Path, tiny_bundle: Path, capsys
) -> None:
    path = _ome(tmp_path / "s.ome.tif", gyrus_image(), 2 * PX, PX)
    capsys.readouterr()
    args = ["describe", str(path), "--roi", ROI_ARG, "--model", str(tiny_bundle)]
    assert main([*args, "--device", "cpu", "--no-pixel-size-check"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("cytowords describe: error: ")
    assert str(path) in err and "not square" in err


def _pyramid(path: Path, img: np.ndarray, version: str) -> Path:
    """The plugin's OME-Zarr of ``img`` in 64-px chunks, three levels."""
    return write_section(path, img, pixel_size_um=PX, chunk_px=64, n_levels=3, ngff_version=version)


def _chunk(store: Path, row: int, col: int) -> Path:
    """Level 0's chunk file at chunk ``(row, col)`` (NGFF 0.4: ``0/r/c``, 0.5: ``0/c/r/c``)."""
    for key in (store / "0" / str(row) / str(col), store / "0" / "c" / str(row) / str(col)):
        if key.is_file():
            return key
    raise AssertionError(f"no chunk ({row}, {col}) in {store}")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_chunk_lost_from_the_finest_level_is_said(tmp_path: Path, version: str) -> None:
    store = _pyramid(tmp_path / "s.ome.zarr", gyrus_image(), version)
    assert LOST_CHUNKS_KEY not in open_section(store).metadata
    # an interrupted copy: the chunk at y 384-448, x 320-384 px (cortex of the right bank)
    # is gone; it reads as the fill value, 0, a black square inside the tissue
    _chunk(store, 6, 5).unlink()
    section = open_section(store)
    assert float(np.asarray(section.levels[0][384:448, 320:384]).max()) == 0.0
    msg = section.metadata[LOST_CHUNKS_KEY]
    assert "\n" not in msg and msg.startswith(str(store / "0"))
    assert "1 chunk(s)" in msg and "y 384–448, x 320–384" in msg and "fill value 0" in msg
    # napari says it as a warning
    notes = section_layer_data(str(store))[1]
    assert ("warning", msg) in notes


def test_chunks_a_writer_leaves_out_are_no_loss(tmp_path: Path) -> None:
    # a masked black background padded around the slide: zarr leaves out every chunk of
    # only the fill value 0, at every level; nothing is said
    img = np.pad(np.where(gyrus_image() >= 225, 0, gyrus_image()), 256).astype(np.uint8)
    store = _pyramid(tmp_path / "s.ome.zarr", img, "0.5")
    level0 = zarr.open_group(str(store), mode="r")["0"]
    assert level0.nchunks_initialized < level0.nchunks
    assert LOST_CHUNKS_KEY not in open_section(store).metadata


def test_cli_warns_of_a_lost_chunk_before_the_work(
    tmp_path: Path, tiny_bundle: Path, capsys
) -> None:
    store = _pyramid(tmp_path / "s.ome.zarr", gyrus_image(), "0.5")
    _chunk(store, 6, 5).unlink()
    capsys.readouterr()
    args = ["describe", str(store), "--roi", ROI_ARG, "--model", str(tiny_bundle)]
    main([*args, "--device", "cpu", "--no-pixel-size-check", "--no-measure"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "missing from the store" in line]
    assert len(lines) == 1 and lines[0].startswith(f"warning: {store / '0'}: ")


def test_a_window_too_large_to_hold_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = _tags(tmp_path / "s.tif", gyrus_image(), PX, PX)
    section = open_section(path)
    # 48 m square at the level's 20 µm: 2.4 million px a side (21 TiB of float32)
    with pytest.raises(SectionError) as err:
        section.read_window(0.0, 0.0, 4.8e7, 4.8e7, 1000.0)
    msg = str(err.value)
    assert msg.startswith(f"{path}: a window of") and "too large to read" in msg
    assert section.read_window(0.0, 0.0, 14000.0, 10000.0, 20.0).shape == (700, 500)


def test_cli_describe_of_a_region_drawn_on_another_image_says_why_it_is_not_measured(
    tmp_path: Path, tiny_bundle: Path, capsys
) -> None:
    # a QuPath annotation of a 40x finer image (its full 2,000,000 px), read at 20 µm/px;
    # formerly a grid of 4e8 field centres ("Maximum allowed size exceeded", no file named),
    # with the grid on the section only a traceback from the readout's window (21 TiB)
    path = _tags(tmp_path / "s.tif", gyrus_image(), PX, PX)
    ring = [[0, 0], [2e6, 0], [2e6, 2e6], [0, 2e6], [0, 0]]
    geom = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "geometry": geom, "properties": {"objectType": "annotation"}}
    rois = tmp_path / "big.geojson"
    rois.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    capsys.readouterr()
    args = ["describe", str(path), "--rois", str(rois), "--model", str(tiny_bundle)]
    # the readout's window is refused for that region only: it says why, the run goes on
    # (other regions of the file are still described)
    assert main([*args, "--device", "cpu", "--no-pixel-size-check"]) == 0
    out, err = capsys.readouterr()
    assert "reach beyond" in err.strip().splitlines()[0]
    assert f"Not measured: {path}: a window of" in out and "too large to read" in out
    assert "Traceback" not in out + err


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_a_1_bit_image_is_no_section_in_one_line(tmp_path: Path, suffix: str) -> None:
    # a thresholded export or a tissue mask saved by mistake (tifffile writes a bool array
    # with BitsPerSample 1, PIL's mode "1" PNG); formerly opened and measured as "no pia"
    from PIL import Image

    path = tmp_path / f"mask{suffix}"
    mask = gyrus_image() > 150
    if suffix == ".tif":
        tifffile.imwrite(path, mask, resolution=(1e4 / PX, 1e4 / PX), resolutionunit="CENTIMETER")
    else:
        Image.fromarray(mask).save(path)
    with pytest.raises(SectionError) as err:
        open_section(path, pixel_size_um=PX)
    msg = str(err.value)
    assert msg.startswith(f"{path}: a 1-bit (black-and-white) image") and "\n" not in msg


def test_signed_data_with_an_offset_zero_keeps_its_darkest_cells(tmp_path: Path) -> None:
    # int16 holding 12-bit values with a shifted zero (value × 16 − 2048, as some camera
    # and converter exports store them): read from its own range, as floating-point data
    # is; formerly black was fixed at 0, so every negative value (the darkest cells) read
    # as one black
    img = gyrus_image()
    signed = (img.astype(np.int32) * 16 - 2048).astype(np.int16)
    plain = open_section(_tags(tmp_path / "u8.tif", img, PX, PX))
    section = open_section(_tags(tmp_path / "s16.tif", signed, PX, PX))
    a, b = (
        section_intensity(s).to_unit(s.read_window(0.0, 0.0, 14000.0, 10000.0, PX))
        for s in (plain, section)
    )
    dark = a < np.percentile(a, 5)
    assert (b[dark] <= 0.0).mean() < 0.05  # not all one black
    # the order of the grey levels is the 8-bit twin's
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
