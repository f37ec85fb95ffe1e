"""``cytowords borders`` with a path drawn on another image."""

from __future__ import annotations

import json

import numpy as np

from cytowords.cli import main
from cytowords.sections import write_section


def test_a_path_beyond_the_section_is_one_line_saying_so(tmp_path, capsys) -> None:
    """A QuPath line drawn on another image (twice the pixels) reaches beyond the section:
    one line saying so (it read "the path is off the cortex: only 0 of N traverses ...");
    a path within 5 % of the extent past the edge is the finder's to judge."""
    img = np.random.default_rng(0).integers(50, 230, size=(512, 512), dtype=np.uint8)
    store = write_section(tmp_path / "s.ome.zarr", img, pixel_size_um=8.0)  # 4096 µm
    line = [[100.0, 100.0], [300.0, 200.0], [900.0, 450.0]]  # x, y px of a 2x image
    gj = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": line},
          "properties": {"objectType": "annotation"}}  # fmt: skip
    path = tmp_path / "line.geojson"
    path.write_text(json.dumps([gj]), encoding="utf-8")
    assert main(["borders", str(store), "--path", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "the path reaches (x 7200, y 3600) µm, beyond" in err[0]
    assert "(4096 × 4096 µm): drawn on an image of another size or pixel size?" in err[0]
    assert main(["borders", str(store), "--path-um", "100,100;100,9000"]) == 2
    assert "--path-um: the path reaches (x 9000, y 100) µm" in capsys.readouterr().err
    main(["borders", str(store), "--path-um", "100,100;100,4200"])  # 2.5 % beyond: not this
    assert "the path reaches" not in capsys.readouterr().err


def test_out_that_is_the_path_file_is_refused(tmp_path, capsys) -> None:
    """``--out`` naming the ``--path`` file would write the borders over the drawn line:
    refused before any work."""
    img = np.random.default_rng(0).integers(50, 230, size=(256, 256), dtype=np.uint8)
    store = write_section(tmp_path / "s.ome.zarr", img, pixel_size_um=8.0)
    gj = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[10, 10], [200, 20]]},
          "properties": {"objectType": "annotation"}}  # fmt: skip
    path = tmp_path / "line.geojson"
    path.write_text(json.dumps([gj]), encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    assert main(["borders", str(store), "--path", str(path), "--out", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "is the input" in err[0], err
    assert path.read_text(encoding="utf-8") == before
