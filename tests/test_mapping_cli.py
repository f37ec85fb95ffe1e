"""``cytowords map``: output, summary, progress and clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from cytowords.cli import main
from cytowords.sections import write_section
from map_fixtures import band_section, blank_section
from tiny_bundle import make_tiny_bundle


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mapcli")
    return {
        "bundle": make_tiny_bundle(d / "tiny"),
        "section": write_section(d / "sec.ome.zarr", band_section(), chunk_px=64),
        "blank": write_section(d / "blank.ome.zarr", blank_section(), chunk_px=64),
    }


def _map(files, out, *extra):
    args = ["map", str(files["section"]), "--out", str(out), "--model", str(files["bundle"])]
    return main([*args, "--block-tiles", "4", "--device", "cpu", *extra])


def test_cli_map_writes_and_summarises(files, tmp_path, capsys):
    out = tmp_path / "map.ome.zarr"
    assert _map(files, out) == 0
    cap = capsys.readouterr()
    assert "mapping" in cap.err and "tile" in cap.err  # tqdm bar on stderr
    assert "tiles:" in cap.out and "patches/s" in cap.out and "areas (top 10)" in cap.out
    root = zarr.open_group(str(out), mode="r")
    labels = root["labels/areas/0"][...]
    assert labels.shape == (16, 12) and (labels > 0).sum() == 79
    assert _map(files, out) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert _map(files, out, "--overwrite", "--region", "1000,0,3000,3000", "--no-progress") == 0
    assert zarr.open_group(str(out), mode="r")["labels/areas/0"].shape == (8, 12)


def test_cli_map_also_writes_qupath_geojson(files, tmp_path, capsys):
    import json

    out, gj_path = tmp_path / "map.ome.zarr", tmp_path / "areas.geojson"
    assert _map(files, out, "--no-progress", "--geojson", str(gj_path)) == 0
    assert f"wrote {gj_path}" in capsys.readouterr().out
    gj = json.loads(gj_path.read_text())
    root = zarr.open_group(str(out), mode="r")
    mapped = int((root["labels/areas/0"][...] > 0).sum())
    tiles = sum(f["properties"]["measurements"]["tiles"] for f in gj["features"])
    assert tiles == mapped  # every mapped tile is in exactly one annotation
    xy = np.concatenate([np.asarray(f["geometry"]["coordinates"][0]) for f in gj["features"]])
    assert xy.min() >= 0 and xy[:, 0].max() <= 188 and xy[:, 1].max() <= 250  # image px


def test_cli_bad_scheduler_fails_fast(files, tmp_path, capsys):
    t0 = time.perf_counter()
    rc = _map(files, tmp_path / "m.ome.zarr", "--scheduler", "tcp://127.0.0.1:1")
    assert rc == 2 and time.perf_counter() - t0 < 30
    err = capsys.readouterr().err
    assert "tcp://127.0.0.1:1" in err and "could not connect" in err
    assert _map(files, tmp_path / "m.ome.zarr", "--scheduler", "not an address") == 2
    assert "not valid" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "a failed start leaves nothing behind"


def test_cli_unwritable_output(files, tmp_path, capsys):
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    assert _map(files, blocker / "m.ome.zarr") == 2
    err = capsys.readouterr().err
    assert "plain-file" in err and "not a folder" in err


def test_cli_section_without_tissue(files, tmp_path, capsys):
    args = ["map", str(files["blank"]), "--out", str(tmp_path / "m.ome.zarr")]
    assert main([*args, "--model", str(files["bundle"])]) == 2
    err = capsys.readouterr().err
    assert "no tissue" in err and "blank" in err
    assert not any(tmp_path.iterdir())


def test_cli_resumes_after_interrupt(files, tmp_path, capsys):
    """A killed run leaves OUT.partial (never OUT); the same command finishes it."""
    import subprocess
    import sys

    out = tmp_path / "m.ome.zarr"
    args = [sys.executable, "-m", "cytowords", "map", str(files["section"]), "--out", str(out)]
    args += ["--model", str(files["bundle"]), "--block-tiles", "2", "--device", "cpu"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "m.ome.zarr.partial" / "blocks.done"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if journal.is_file() and len(journal.read_text().splitlines()) >= 2:
            proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be interrupted")
    assert not out.exists() and journal.is_file()
    n_done = len(journal.read_text().splitlines())
    assert _map(files, out, "--block-tiles", "2") == 0
    summary = capsys.readouterr().out
    assert f"{n_done} resumed" in summary
    assert out.is_dir() and not journal.parent.exists()


@pytest.mark.slow
def test_cli_local_cluster_workers(files, tmp_path, capsys):
    out_threads, out_workers = tmp_path / "a.ome.zarr", tmp_path / "b.ome.zarr"
    assert _map(files, out_threads, "--no-progress") == 0
    assert _map(files, out_workers, "--workers", "2", "--no-progress") == 0
    a = zarr.open_group(str(out_threads), mode="r")["labels/areas/0"][...]
    b = zarr.open_group(str(out_workers), mode="r")["labels/areas/0"][...]
    assert (a == b).all() and (a > 0).sum() == 79
