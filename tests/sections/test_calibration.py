"""TIFF calibration as ImageJ/Fiji, OME and plain TIFF writers store it, and the warning for
calibrations that cannot be a histology scan's (in the data, the CLI and the napari reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.cli import open_image
from cytowords.napari.io.reader import read_section_layers
from cytowords.sections import calibration_warning, open_section, write_section
from tests.support.napari_helpers import Notes


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(40, 230, (64, 80), dtype=np.uint8)


@pytest.mark.parametrize(
    "unit, per_unit, want_um",
    [
        ("um", 2.0, 0.5),
        ("micron", 0.5, 2.0),
        ("microns", 1.0, 1.0),
        ("mm", 1000.0, 1.0),
        ("nm", 0.002, 0.5),
        ("cm", 5000.0, 2.0),
    ],
)
def test_imagej_units(tmp_path: Path, unit: str, per_unit: float, want_um: float) -> None:
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(
        path, _image(), imagej=True, resolution=(per_unit, per_unit), metadata={"unit": unit}
    )
    s = open_section(path)
    assert s.pixel_size_um[0] == pytest.approx(want_um, rel=1e-6)


def test_imagej_escaped_micro_sign(tmp_path: Path) -> None:
    """Fiji writes µ as the six characters \\u00B5 in its ImageDescription."""
    path = tmp_path / "fiji_escaped.tif"
    desc = "ImageJ=1.54f\nunit=\\u00B5m\nspacing=1.0\nloop=false\n"
    assert "\\u00B5m" in desc and "µ" not in desc
    tifffile.imwrite(
        path, _image(), description=desc, metadata=None, resolution=(1 / 0.46, 1 / 0.46),
        resolutionunit=1,
    )  # fmt: skip
    with tifffile.TiffFile(path) as tf:
        assert tf.is_imagej and tf.imagej_metadata["unit"] == "\\u00B5m"
    s = open_section(path)
    assert s.pixel_size_um[0] == pytest.approx(0.46, rel=1e-6)
    assert calibration_warning(s) is None


def test_resolution_tags_in_centimetres(tmp_path: Path) -> None:
    path = tmp_path / "cm.tif"
    tifffile.imwrite(path, _image(), resolution=(10000.0, 10000.0), resolutionunit="CENTIMETER")
    assert open_section(path).pixel_size_um[0] == pytest.approx(1.0)


def test_ome_physical_size_with_units(tmp_path: Path) -> None:
    path = tmp_path / "scan.ome.tif"
    tifffile.imwrite(
        path,
        _image(),
        ome=True,
        metadata={"axes": "YX", "PhysicalSizeX": 0.0008, "PhysicalSizeXUnit": "mm",
                  "PhysicalSizeY": 0.0008, "PhysicalSizeYUnit": "mm"},
    )  # fmt: skip
    assert open_section(path).pixel_size_um[0] == pytest.approx(0.8)


@pytest.mark.parametrize("dpi, um", [(96.0, 264.58), (300.0, 84.67), (72.0, 352.78)])
def test_default_dpi_is_warned(tmp_path: Path, dpi: float, um: float) -> None:
    path = tmp_path / f"screenshot{int(dpi)}.tif"
    tifffile.imwrite(path, _image(), resolution=(dpi, dpi), resolutionunit="INCH")
    s = open_section(path)
    assert s.pixel_size_um[0] == pytest.approx(um, abs=0.01)
    w = calibration_warning(s)
    assert w is not None and str(path) in w and "\n" not in w
    if dpi == 300.0:
        assert "300 dpi" in w
    # an explicit pixel size is the user's word: no warning
    assert calibration_warning(open_section(path, pixel_size_um=2.0)) is None


@pytest.mark.parametrize("px, warned", [(1000.0, True), (0.01, True), (0.25, False), (40.0, False)])
def test_implausible_store_is_warned(tmp_path: Path, px: float, warned: bool) -> None:
    path = tmp_path / "s.ome.zarr"
    write_section(path, _image(), pixel_size_um=px)
    w = calibration_warning(open_section(path))
    assert (w is not None) == warned
    if warned:
        assert "s.ome.zarr" in w and "implausible" in w


def test_cli_says_it_in_one_line_before_work(tmp_path: Path, capsys) -> None:
    path = tmp_path / "screen.tif"
    tifffile.imwrite(path, _image(), resolution=(96.0, 96.0), resolutionunit="INCH")
    open_image(str(path), None)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "screen.tif" in err[0]
    open_image(str(path), 1.0)
    assert capsys.readouterr().err == ""


def test_napari_reader_notifies(tmp_path: Path) -> None:
    path = tmp_path / "screen.tif"
    tifffile.imwrite(path, _image(), resolution=(96.0, 96.0), resolutionunit="INCH")
    with Notes() as notes:
        layers = read_section_layers(str(path))
    assert layers[0][2] == "image"
    assert notes.any("screen.tif", "implausible", "96 dpi")
