"""write_section: pyramids, chunks, labels, progress, cancellation and atomicity on disk."""

from __future__ import annotations

import threading

import dask.array as da
import numpy as np
import pytest
import zarr

from cytowords.jobs import Cancelled
from cytowords.sections import (
    LabelImage,
    Section,
    SectionError,
    open_section,
    write_section,
)


def _img(h: int = 1500, w: int = 1300) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, (h, w), dtype=np.uint8)


@pytest.mark.parametrize("version,zf", [("0.4", 2), ("0.5", 3)])
def test_roundtrip_pyramid_and_metadata(tmp_path, version, zf):
    img = _img()
    lab = np.zeros(img.shape, np.uint16)
    lab[:, 700:] = 12
    lab[1000:, :] = 3
    labels = {
        "areas": LabelImage([da.from_array(lab)], [0.8], {3: "44", 12: "hOc1"}, {12: "#ff8000"})
    }
    out = write_section(
        tmp_path / "s.ome.zarr",
        da.from_array(img, chunks=333),
        pixel_size_um=0.8,
        ngff_version=version,
        chunk_px=256,
        labels=labels,
    )
    assert out == tmp_path / "s.ome.zarr"
    root = zarr.open_group(str(out), mode="r", zarr_format=zf)
    assert [root[str(k)].shape for k in range(2)] == [(1500, 1300), (750, 650)]
    assert "2" not in root  # 750 px <= 1024: pyramid complete
    assert root["0"].chunks == (256, 256)
    if zf == 2:
        assert root.attrs["multiscales"][0]["version"] == "0.4"
        assert root["0"].metadata.dimension_separator == "/"
    else:
        assert root.attrs["ome"]["version"] == "0.5"
        assert root["0"].metadata.dimension_names == ("y", "x")
    s = open_section(out)
    assert s.pixel_size_um == pytest.approx([0.8, 1.6])
    np.testing.assert_array_equal(s.levels[0].compute(), img)
    np.testing.assert_allclose(
        s.levels[1].compute(), img.reshape(750, 2, 650, 2).mean((1, 3)), atol=0.51
    )
    areas = s.labels["areas"]
    assert areas.names == {3: "44", 12: "hOc1"}
    assert areas.colors[12] == "#ff8000" and 3 in areas.colors
    np.testing.assert_array_equal(areas.levels[0].compute(), lab)
    np.testing.assert_array_equal(areas.levels[1].compute(), lab[::2, ::2])


def test_section_levels_written_as_given_and_n_levels(tmp_path):
    img = _img(600, 600)
    coarse = np.full((300, 300), 7, np.uint8)  # deliberately not a mean of level 0
    sec = Section(
        [da.from_array(img), da.from_array(coarse)],
        [1.0, 2.0],
        name="virt",
        metadata={"seed": 5, "obj": object()},
    )
    write_section(tmp_path / "v.zarr", sec, n_levels=4, chunk_px=128)
    s = open_section(tmp_path / "v.zarr")
    assert [lev.shape for lev in s.levels] == [(600, 600), (300, 300), (150, 150), (75, 75)]
    assert s.pixel_size_um == pytest.approx([1, 2, 4, 8])
    assert int(s.levels[1][5, 5].compute()) == 7
    assert int(s.levels[3].max().compute()) == 7  # built from the written level 1
    assert s.metadata["seed"] == 5 and "obj" not in s.metadata


def test_progress_counts_every_chunk(tmp_path):
    calls = []
    write_section(
        tmp_path / "p.zarr",
        _img(1000, 700),
        pixel_size_um=1,
        chunk_px=256,
        n_levels=2,
        on_progress=lambda d, t: calls.append((d, t)),
    )
    total = 4 * 3 + 2 * 2
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == list(range(1, total + 1))


def test_progress_ends_at_the_total_when_a_level_is_one_chunk(tmp_path):
    """A level of one chunk (the coarsest of a pyramid) is stored by a task the progress
    callback does not see: the count stopped one short per such level ("13/14 chunks")."""
    calls = []
    write_section(
        tmp_path / "p.zarr",
        _img(1000, 700),
        pixel_size_um=1,
        chunk_px=512,
        n_levels=3,
        on_progress=lambda d, t: calls.append((d, t)),
    )
    total = 2 * 2 + 1 + 1
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


def test_progress_counts_every_chunk_while_other_threads_compute(tmp_path):
    """dask's global callbacks are swapped out process-wide during every compute; the
    write's progress must not depend on them (another thread computing at the same time)."""
    from tests.support.dask_helpers import dask_busy_threads

    with dask_busy_threads():
        for k in range(3):
            calls = []
            write_section(
                tmp_path / f"p{k}.zarr",
                _img(1000, 700),
                pixel_size_um=1,
                chunk_px=256,
                n_levels=2,
                on_progress=lambda d, t, calls=calls: calls.append((d, t)),
            )
            assert calls[-1] == (16, 16) and len(calls) == 16


def test_cancel_leaves_nothing(tmp_path):
    ev = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 3:
            ev.set()

    with pytest.raises(Cancelled):
        write_section(
            tmp_path / "c.zarr",
            _img(),
            pixel_size_um=1,
            chunk_px=128,
            on_progress=progress,
            cancel=ev,
        )
    assert seen and max(seen) < 100
    assert list(tmp_path.iterdir()) == []


def test_cancel_callable_and_failure_leave_nothing(tmp_path):
    with pytest.raises(Cancelled):
        write_section(tmp_path / "c.zarr", _img(), pixel_size_um=1, cancel=lambda: True)

    def boom(block):
        raise RuntimeError("render failed")

    bad = da.from_array(_img(), chunks=256).map_blocks(boom, dtype=np.uint8)
    with pytest.raises(RuntimeError, match="render failed"):
        write_section(tmp_path / "f.zarr", bad, pixel_size_um=1)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_explicit_and_atomic(tmp_path):
    target = tmp_path / "o.zarr"
    write_section(target, np.zeros((64, 64), np.uint8), pixel_size_um=1)
    with pytest.raises(SectionError, match="o.zarr: already exists"):
        write_section(target, np.ones((64, 64), np.uint8), pixel_size_um=1)
    with pytest.raises(Cancelled):
        write_section(
            target,
            np.ones((64, 64), np.uint8),
            pixel_size_um=1,
            overwrite=True,
            cancel=lambda: True,
        )
    assert int(open_section(target).levels[0].max().compute()) == 0  # old store intact
    write_section(target, np.ones((64, 64), np.uint8), pixel_size_um=1, overwrite=True)
    assert int(open_section(target).levels[0].min().compute()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zarr"]


def test_label_arrays_and_float_labels_rejected(tmp_path):
    img = _img(256, 256)
    write_section(
        tmp_path / "l.zarr", img, pixel_size_um=2, labels={"mask": (img > 128).astype(np.uint8)}
    )
    s = open_section(tmp_path / "l.zarr")
    assert s.labels["mask"].names == {} and s.labels["mask"].pixel_size_um[0] == 2
    with pytest.raises(SectionError, match="label image 'm'.*float"):
        write_section(tmp_path / "m.zarr", img, pixel_size_um=2, labels={"m": img * 0.5})


def test_rewrite_opened_section_derives_levels_from_disk(tmp_path):
    img = _img(2100, 900)
    zarr.create_array(str(tmp_path / "flat.zarr"), data=img, chunks=(512, 512))
    s = open_section(tmp_path / "flat.zarr", pixel_size_um=0.5)
    assert s.metadata["n_stored_levels"] == 1 and len(s.levels) == 3
    out = write_section(tmp_path / "pyr.ome.zarr", s, ngff_version="0.4")
    r = open_section(out)
    assert r.metadata["n_stored_levels"] == 3
    assert r.pixel_size_um == pytest.approx([0.5, 1.0, 2.0])
    assert "source" not in zarr.open_group(str(out), mode="r").attrs["cytowords"]["metadata"]
    for k in (1, 2):
        np.testing.assert_array_equal(r.levels[k].compute(), s.levels[k].compute())
