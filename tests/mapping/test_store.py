"""Area maps on disk: OME-Zarr layout, resuming an interrupted run, atomic finalisation."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

from cytowords.jobs import Cancelled
from cytowords.mapping import compute_area_map, write_area_map
from cytowords.mapping.store import JOURNAL, partial_path
from cytowords.sections import open_section
from tests.support.map_fixtures import band_section


@pytest.fixture(scope="module")
def section():
    return band_section()


@pytest.fixture(scope="module")
def reference(section, tiny_bundle):
    return compute_area_map(section, str(tiny_bundle), block_tiles=2)


def _check_store(out: Path, amap) -> None:
    root = zarr.open_group(str(out), mode="r")
    assert np.array_equal(root["labels/areas/0"][...], amap.labels)
    assert np.array_equal(root["labels/rejected/0"][...].astype(bool), amap.rejected)
    np.testing.assert_allclose(root["probability/0"][...], amap.probability)
    np.testing.assert_allclose(root["ood_score/0"][...], amap.ood_score)
    meta = root.attrs["cytowords"]["area_map"]
    table = {int(k): tuple(v) for k, v in meta["area_table"].items()}
    assert table == amap.area_table and meta["pixel_size_um"] == amap.pixel_size_um
    il = root["labels/areas"].attrs["ome"]["image-label"]
    names = {p["label-value"]: p.get("name") for p in il["properties"]}
    for lab, (aid, _n, _c) in amap.area_table.items():
        assert names[lab] == aid
    # opens as a section with the map as label image; aligned with the section's space
    sec = open_section(out)
    assert sec.pixel_size_um[0] == amap.pixel_size_um and "areas" in sec.labels
    ms = root["labels/areas"].attrs["ome"]["multiscales"][0]
    t = ms["datasets"][0]["coordinateTransformations"][1]["translation"]
    assert t == [amap.origin_um[0] + amap.pixel_size_um / 2 - 8.0] * 2  # section px 16 µm


def test_write_area_map_layout(tmp_path, reference, section):
    out = write_area_map(tmp_path / "m.ome.zarr", reference, section=section)
    _check_store(out, reference)
    with pytest.raises(FileExistsError):
        write_area_map(out, reference)
    assert [p.name for p in tmp_path.iterdir()] == ["m.ome.zarr"]


def test_interrupted_run_resumes_without_recomputing(tmp_path, section, tiny_bundle, reference):
    out = tmp_path / "map.ome.zarr"
    ev = threading.Event()

    def stop_after_3_blocks(done, total):
        journal = partial_path(out) / JOURNAL
        if journal.is_file() and len(journal.read_text().splitlines()) >= 3:
            ev.set()

    with pytest.raises(Cancelled):
        compute_area_map(
            section,
            str(tiny_bundle),
            out=out,
            block_tiles=2,
            on_progress=stop_after_3_blocks,
            cancel=ev,
        )
    assert not out.exists(), "an unfinished map must not look complete"
    done = (partial_path(out) / JOURNAL).read_text().splitlines()
    n_blocks = reference.stats["blocks"]
    assert 3 <= len(done) < n_blocks
    amap = compute_area_map(section, str(tiny_bundle), out=out, block_tiles=2)
    assert amap.stats["blocks_resumed"] == len(done)
    assert amap.stats["blocks_computed"] == n_blocks - len(done)
    assert amap.stats["patches"] < reference.stats["patches"]
    assert np.array_equal(amap.labels, reference.labels)
    np.testing.assert_allclose(amap.probability, reference.probability, atol=1e-6)
    assert out.is_dir() and not partial_path(out).exists()
    _check_store(out, amap)


def test_partial_with_other_parameters_is_refused(tmp_path, section, tiny_bundle):
    out = tmp_path / "map.ome.zarr"
    ev = threading.Event()

    def stop(done, total):
        if done:
            ev.set()

    with pytest.raises(Cancelled):
        compute_area_map(
            section, str(tiny_bundle), out=out, block_tiles=2, on_progress=stop, cancel=ev
        )
    run = json.loads((partial_path(out) / "run.json").read_text())
    assert run["grid"][3] == 2
    with pytest.raises(ValueError, match="different parameters.*grid"):
        compute_area_map(section, str(tiny_bundle), out=out, block_tiles=4)
    amap = compute_area_map(section, str(tiny_bundle), out=out, block_tiles=4, restart=True)
    assert amap.stats["blocks_resumed"] == 0 and out.is_dir()


def test_unwritable_output(tmp_path, section, tiny_bundle):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        compute_area_map(section, str(tiny_bundle), out=blocker / "m.ome.zarr")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compute_area_map(section, str(tiny_bundle), out=tmp_path / "nope" / "m.ome.zarr")
