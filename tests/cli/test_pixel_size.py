"""The CLI's pixel size check before describe/map (:func:`cytowords.cli.pixel_size.check_scan`)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.cli import pixel_size as cli_pixel_size
from cytowords.sections import NoTissueError, Section, scale_check


@pytest.fixture
def section() -> Section:
    return Section(levels=[da.zeros((64, 64), dtype=np.uint8)], pixel_size_um=[16.0], name="s")


@pytest.fixture(autouse=True)
def no_model(monkeypatch) -> None:
    monkeypatch.setattr("cytowords.model.get_bundle", lambda *a, **k: object())


def test_a_check_that_cannot_run_is_said_not_taken_for_no_tissue(
    section, monkeypatch, capsys
) -> None:
    def broken(*a, **k):
        raise ValueError("no threshold for 1 view(s)")

    monkeypatch.setattr(scale_check, "check_pixel_size", broken)
    assert cli_pixel_size.check_scan(section, "m", "cpu") is None
    err = capsys.readouterr().err
    assert "the pixel size check did not run: no threshold for 1 view(s)" in err


def test_no_tissue_is_left_to_the_work_itself(section, monkeypatch, capsys) -> None:
    def empty(*a, **k):
        raise NoTissueError("section 's': no tissue pixels to check the scale on")

    monkeypatch.setattr(scale_check, "check_pixel_size", empty)
    assert cli_pixel_size.check_scan(section, "m", "cpu") is None
    assert capsys.readouterr().err == ""


def test_an_unreadable_file_stops_the_work_in_one_line(section, monkeypatch, capsys) -> None:
    from cytowords.sections import SectionError

    def corrupt(*a, **k):
        raise SectionError("s.ome.zarr/0: cannot read stored pixels")

    monkeypatch.setattr(scale_check, "check_pixel_size", corrupt)
    with pytest.raises(SectionError, match="cannot read stored pixels"):
        cli_pixel_size.check_scan(section, "m", "cpu")
    assert capsys.readouterr().err == ""
