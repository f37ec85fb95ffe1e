"""``cytowords map``: output, summary, progress and clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

from cytowords.cli import main
from cytowords.mapping import PlanError, check_plan_size
from cytowords.sections import Section, write_section
from tests.support.map_fixtures import band_section, blank_section


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_bundle) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mapcli")
    return {
        "bundle": tiny_bundle,
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


def test_cli_refuses_absurd_plans_and_unwritable_outputs_before_work(
    files, tmp_path, capsys, monkeypatch
):
    import cytowords.mapping as mapping

    def never(*_a, **_k):
        raise AssertionError("the map must not start")

    monkeypatch.setattr(mapping, "compute_area_map", never)
    # a store claiming 1000 µm/px: a section of metres
    assert _map(files, tmp_path / "m.ome.zarr", "--pixel-size-um", "1000") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pixel size of 1000 µm" in err
    assert "implausible" in err and "--force" in err
    # a dense stride over a whole BigBrain-sized section: millions of tiles
    big = Section([da.zeros((150_000, 200_000), dtype=np.uint8)], [1.0], name="bigbrain")
    with pytest.raises(PlanError, match=r"would have 7,\d{3},\d{3} tiles .* more than 2,000,000"):
        check_plan_size(big, "default", stride_um=64.0)
    assert check_plan_size(big, "default") == 74 * 98  # the default stride: 2048 µm
    # outputs in folders that do not exist: named before any work
    missing = tmp_path / "missing"
    assert _map(files, tmp_path / "m.ome.zarr", "--geojson", str(missing / "a.geojson")) == 2
    err = capsys.readouterr().err
    assert "--geojson" in err and str(missing) in err and "does not exist" in err
    assert _map(files, missing / "m.ome.zarr") == 2
    assert "--out" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_cli_out_in_a_folder_that_refuses_files_fails_before_work(files, capsys, monkeypatch):
    """--out where the permission bits say yes but no file can be made (root on a
    read-only or network mount; /proc here): one line naming --out before the map starts."""
    import cytowords.mapping as mapping

    def never(*_a, **_k):
        raise AssertionError("the map must not start")

    monkeypatch.setattr(mapping, "compute_area_map", never)
    monkeypatch.setattr("os.access", lambda *a, **k: True)
    assert _map(files, "/proc/m.ome.zarr") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out /proc/m.ome.zarr" in err[0], err


def test_summary_lists_the_areas_of_accepted_tiles_only():
    from cytowords.cli.map import _summary
    from cytowords.mapping import AreaMap

    labels = np.array([[1, 1, 1, 2], [1, 1, 2, 0]], np.int32)
    rejected = labels == 1  # five rejected tiles of area A, two accepted of B
    z = np.zeros(labels.shape, np.float32)
    stats = {
        "tiles": 7,
        "tiles_grid": 8,
        "blocks_computed": 1,
        "blocks_resumed": 0,
        "seconds": 1.0,
        "patches_per_s": 7.0,
        "read_s": 0.1,
        "compute_s": 0.5,
        "rejected": 5,
        "histogram": {"A": 5, "B": 2},
    }
    table = {1: ("A", "area A", "#ff0000"), 2: ("B", "area B", "#00ff00")}
    amap = AreaMap(labels, z, z, rejected, 256.0, (0.0, 0.0), table, stats)
    text = _summary(amap, "m.ome.zarr")
    assert "areas (top 10) of the 2 accepted tiles:" in text
    assert "  B " in text and "100.0%" in text and "  A " not in text
    amap.rejected[:] = labels > 0
    assert "areas (top 10) of the 0 accepted tiles: none" in _summary(amap, "m.ome.zarr")


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


def test_cli_never_replaces_its_input_or_what_is_no_map(files, tmp_path, capsys):
    """``--out`` naming the section (or the model folder) would replace the scan with its
    map even with ``--overwrite``: refused in one line. ``--overwrite`` replaces an earlier
    map, never a folder or file that is no area map."""
    import shutil

    sec = tmp_path / "sec.ome.zarr"
    shutil.copytree(files["section"], sec)
    args = ["map", str(sec), "--model", str(files["bundle"]), "--block-tiles", "4"]
    assert main([*args, "--device", "cpu", "--overwrite", "--out", str(sec)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "is the input" in err[0], err
    assert main([*args, "--overwrite", "--out", str(files["bundle"])]) == 2
    assert "is the input" in capsys.readouterr().err
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "a.tif").write_bytes(b"scan")
    assert main([*args, "--overwrite", "--out", str(scans), "--no-pixel-size-check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an area map" in err[-1] and "--overwrite" not in err[-1], err
    assert (scans / "a.tif").read_bytes() == b"scan" and (sec / "zarr.json").exists()
    out = tmp_path / "m.ome.zarr"
    assert main([*args, "--out", str(out), "--no-pixel-size-check", "--no-progress"]) == 0
    assert main([*args, "--out", str(out), "--no-pixel-size-check", "--overwrite"]) == 0


def test_cli_bundle_with_a_broken_config_is_one_line_naming_it(files, tmp_path, capsys):
    """A model folder whose config.json is cut short: the error names the folder and the
    file (it read "Expecting value: line 2 column 1 (char 12)")."""
    import shutil

    bad = tmp_path / "taught"
    shutil.copytree(files["bundle"], bad)
    (bad / "config.json").write_text('{"format": ', encoding="utf-8")
    args = ["map", str(files["section"]), "--model", str(bad), "--out", str(tmp_path / "m")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "config.json is not valid JSON" in err[0]
