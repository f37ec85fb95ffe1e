"""``cytowords describe`` on a real OME-Zarr store with a tiny real model bundle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cytowords.cli import main
from cytowords.sections import write_section
from tiny_bundle import AREAS, make_tiny_bundle


@pytest.fixture(scope="module")
def store_and_bundle(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    img = np.random.default_rng(0).integers(50, 230, size=(512, 512), dtype=np.uint8)
    store = write_section(tmp / "s.ome.zarr", img, pixel_size_um=8.0, chunk_px=256)
    return store, make_tiny_bundle(tmp / "bundle")


def test_describe_json(store_and_bundle, capsys) -> None:
    store, bundle = store_and_bundle
    rc = main(
        [
            "describe",
            str(store),
            "--roi",
            "100,100,3000,3000",
            "--model",
            str(bundle),
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "area",
        "area_name",
        "probability",
        "rejected",
        "ood_score",
        "caption",
        "n_patches",
    ):
        assert key in out
    assert out["n_patches"] >= 4
    assert out["n_voting"] == out["n_patches"] and 0 <= out["n_accepted"] <= out["n_voting"]
    assert out["rejected"] or out["area"] in AREAS


def test_describe_text_and_errors(store_and_bundle, capsys, tmp_path: Path) -> None:
    store, bundle = store_and_bundle
    assert main(["describe", str(store), "--roi", "0,0,2000,2000", "--model", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "area:" in out
    # the tiny bundle has no non-cortex level: every field votes
    assert re.search(r"fields:\s+(\d+) read, \d+ of \1 voting accepted\n", out), out
    assert (
        main(["describe", str(store), "--roi", "9e6,9e6,9.1e6,9.1e6", "--model", str(bundle)]) == 2
    )
    assert "outside the section" in capsys.readouterr().err
    assert (
        main(
            ["describe", str(tmp_path / "missing.zarr"), "--roi", "0,0,1,1", "--model", str(bundle)]
        )
        == 2
    )
    assert "missing.zarr" in capsys.readouterr().err
    assert (
        main(["describe", str(store), "--roi", "0,0,1,1", "--model", str(tmp_path / "nobundle")])
        == 2
    )
    assert "nobundle" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["describe", str(store), "--roi", "1,2,3"])
