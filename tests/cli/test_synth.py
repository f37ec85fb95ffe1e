"""Tests of ``cytowords synth`` (section to OME-Zarr, patch to PNG)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cytowords.cli import main
from cytowords.sections import open_section


def test_synth_section_roundtrip(tmp_path, capsys):
    out = tmp_path / "s.ome.zarr"
    rc = main(
        ["synth", "section", str(out), "--seed", "3", "--size-mm", "6", "4", "--pixel-size-um", "8"]
    )
    assert rc == 0 and out.is_dir()
    sec = open_section(out)
    assert sec.levels[0].shape == (500, 750)
    assert abs(sec.pixel_size_um[0] - 8.0) < 1e-6
    from cytowords.synth import virtual_section

    ref = virtual_section(3, size_mm=(6, 4), pixel_size_um=8.0)
    np.testing.assert_array_equal(
        np.asarray(sec.levels[0][:200, :300]), ref.levels[0][:200, :300].compute()
    )
    assert "areas" in sec.labels
    lab = np.asarray(sec.labels["areas"].levels[0])
    np.testing.assert_array_equal(lab, ref.labels["areas"].levels[0].compute())
    assert main(["synth", "section", str(out), "--seed", "3"]) == 2  # exists, no overwrite
    assert "exists" in capsys.readouterr().err


def test_synth_patch_png(tmp_path, capsys):
    out = tmp_path / "p.png"
    assert (
        main(
            [
                "synth",
                "patch",
                str(out),
                "--area",
                "V1",
                "--brain",
                "2",
                "--size-um",
                "256",
                "--pixel-size-um",
                "2",
            ]
        )
        == 0
    )
    img = np.asarray(Image.open(out))
    assert img.shape == (128, 128) and img.dtype == np.uint8
    assert main(["synth", "patch", str(out), "--area", "hOc9"]) == 2
    assert "close matches" in capsys.readouterr().err
    assert main(["synth", "section", str(tmp_path / "x.zarr"), "--seed", "-1"]) == 2
