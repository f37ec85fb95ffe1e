"""Damaged files fail in one line naming the file: a corrupt OME-Zarr chunk, a truncated TIFF
(from the reader, from ``read_fields`` and from ``cytowords describe``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.cli import main
from cytowords.sections import SectionError, open_section, read_fields, write_section
from tests.support.tiny_bundle import PIXEL_UM


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(40, 230, (1024, 2048), dtype=np.uint8)


@pytest.fixture
def corrupt_store(tmp_path: Path) -> Path:
    store = write_section(tmp_path / "s.ome.zarr", _image(), pixel_size_um=PIXEL_UM, chunk_px=1024)
    chunk = store / "0" / "c" / "0" / "1"  # level 0, chunk row 0, column 1 (x >= 1024 px)
    assert chunk.is_file()
    chunk.write_bytes(b"\x00garbage" * 16)
    return store


@pytest.fixture
def truncated_tiff(tmp_path: Path) -> Path:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, _image(), resolution=(1e4 / PIXEL_UM,) * 2, resolutionunit="CENTIMETER")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the second half of the pixels is gone
    return path


def _one_line(msg: str, *words: str) -> None:
    assert "\n" not in msg.strip(), msg
    for w in words:
        assert w in msg, (w, msg)


def test_corrupt_chunk_from_read_fields(corrupt_store: Path) -> None:
    s = open_section(corrupt_store)  # metadata is fine: opens lazily
    fine = read_fields(s, np.array([[1000.0, 1000.0]]), PIXEL_UM, 16)  # chunk (0, 0) is intact
    assert fine.shape == (1, 16, 16)
    with pytest.raises(SectionError) as e:
        read_fields(s, np.array([[1000.0, 25000.0]]), PIXEL_UM, 16)
    _one_line(str(e.value), str(corrupt_store / "0"), "corrupt")


def test_truncated_tiff_names_the_file(truncated_tiff: Path) -> None:
    with pytest.raises(SectionError) as e:
        s = open_section(truncated_tiff)
        s.levels[0].compute()
    _one_line(str(e.value), str(truncated_tiff))


@pytest.mark.parametrize("damaged", ["corrupt_store", "truncated_tiff"])
def test_cli_describe_says_it_in_one_line(request, damaged: str, tiny_bundle: Path, capsys) -> None:
    path = request.getfixturevalue(damaged)
    capsys.readouterr()
    args = ["describe", str(path), "--roi", "0,0,20000,30000", "--model", str(tiny_bundle)]
    rc = main([*args, "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    _one_line(err, path.name)
    assert err.startswith("cytowords describe: error: ")
