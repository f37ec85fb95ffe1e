"""Tests of whole virtual sections (cytowords.synth.virtual_section / section_geometry)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.atlas import load_atlas
from cytowords.sections import Section
from cytowords.synth.section import section_geometry, virtual_section

SMALL = dict(size_mm=(12, 9), pixel_size_um=8.0)


@pytest.fixture(scope="module")
def small():
    return virtual_section(7, chunk_px=256, **SMALL)


def test_structure(small):
    assert isinstance(small, Section)
    shapes = [lev.shape for lev in small.levels]
    assert shapes[0] == (1125, 1500)
    assert max(shapes[-1]) <= 1024 and len(shapes) == 2
    assert small.pixel_size_um == [8.0, 16.0]
    lab = small.labels["areas"]
    assert [lv.shape for lv in lab.levels] == shapes and lab.pixel_size_um == [8.0, 16.0]
    assert all(lev.dtype == np.uint8 for lev in small.levels)
    atlas = load_atlas()
    assert set(lab.names.values()) == set(atlas.in_scope_ids) and 0 not in lab.names
    assert lab.colors[atlas.label_of("hOc1")] == atlas.color("hOc1")


def test_any_chunking_gives_identical_pixels(small):
    other = virtual_section(7, chunk_px=300, **SMALL)
    win = (slice(400, 700), slice(200, 650))
    for level in (0, 1):
        a = small.levels[level][win].compute()
        b = other.levels[level][win].compute()
        np.testing.assert_array_equal(a, b)
    la = small.labels["areas"].levels[0][win].compute()
    lb = other.labels["areas"].levels[0][win].compute()
    np.testing.assert_array_equal(la, lb)
    # and a different seed gives a different section
    c = virtual_section(8, chunk_px=256, **SMALL).levels[1][:200, :300].compute()
    assert np.abs(c.astype(int) - small.levels[1][:200, :300].compute()).mean() > 1


def test_labels_consistent_with_rendering(small):
    img = small.levels[1].compute().astype(float)
    lab = small.labels["areas"].levels[1].compute()
    geom = section_geometry(7, size_mm=(12, 9))
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    q = geom.query((xs + 0.5) * 16.0, (ys + 0.5) * 16.0)
    np.testing.assert_array_equal(q["label"], lab)
    outside = q["depth"] < -0.2
    cortex = lab > 0
    wm = q["depth"] > 1.2
    assert cortex.mean() > 0.1 and outside.mean() > 0.05 and wm.mean() > 0.01
    assert img[outside].mean() > img[wm].mean() > img[cortex].mean() + 5
    # the ribbon position increases along the cortex and depth is in [0, 1) on labels
    assert np.all((q["depth"][cortex] >= 0) & (q["depth"][cortex] < 1))
    present = set(np.unique(lab)) - {0}
    assert len(present) >= 0.9 * len(load_atlas().in_scope_ids)


def test_include_unseen_places_unseen_areas():
    sec = virtual_section(7, include_unseen=True, chunk_px=512, **SMALL)
    atlas = load_atlas()
    names = set(sec.labels["areas"].names.values())
    assert set(atlas.unseen_ids) <= names
    lab = sec.labels["areas"].levels[-1].compute()
    assert {atlas.label_of(u) for u in atlas.unseen_ids} & set(np.unique(lab))


def test_default_section_opens_instantly():
    import time

    t = time.perf_counter()
    sec = virtual_section(1)  # 80 x 60 mm at 2 µm/px
    assert time.perf_counter() - t < 3.0
    assert sec.levels[0].shape == (30000, 40000)
    assert isinstance(sec.levels[0], da.Array)
    assert max(sec.levels[-1].shape) <= 1024


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size_mm=(0, 5)), "size_mm"),
        (dict(size_mm=(5,)), "size_mm"),
        (dict(pixel_size_um=-1), "pixel_size_um"),
        (dict(chunk_px=3), "chunk_px"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        virtual_section(1, **kwargs)
    with pytest.raises(ValueError, match="seed"):
        virtual_section(-3)


def test_fine_level_chunking_invariance():
    kw = dict(size_mm=(3, 2), pixel_size_um=2.0)
    a = virtual_section(5, chunk_px=128, **kw).levels[0][300:700, 0:500].compute()
    b = virtual_section(5, chunk_px=333, **kw).levels[0][300:700, 0:500].compute()
    np.testing.assert_array_equal(a, b)
    assert a.min() < 100 < a.max()  # drawn somata and bright background/neuropil


def test_rendered_chunks_are_kept_and_handed_out_as_copies(monkeypatch):
    """A chunk read again is not rendered again (dask forgets it after each compute); the
    reader gets its own copy; the cache keeps at most RENDER_CACHE_BYTES."""
    import cytowords.synth.section as vs

    rendered = []
    render = vs._render_chunk
    monkeypatch.setattr(vs, "_render_chunk", lambda *a: rendered.append(a[-1]) or render(*a))
    vs.clear_render_cache()
    sec = virtual_section(7, chunk_px=128, size_mm=(2, 1), pixel_size_um=8.0)
    first = sec.levels[0][:100, :200].compute()
    assert sorted(rendered) == [(0, 0), (0, 1)]
    first[:] = 0  # the reader's copy: the cache is untouched
    again = sec.levels[0][:100, :200].compute()
    assert len(rendered) == 2 and again.max() > 0
    vs.clear_render_cache()
    np.testing.assert_array_equal(sec.levels[0][:100, :200].compute(), again)
    assert len(rendered) == 4
    # over the byte bound, the least recently used chunks are dropped
    monkeypatch.setattr(vs, "RENDER_CACHE_BYTES", 128 * 128)
    vs.clear_render_cache()
    sec.levels[0][:100, :].compute(scheduler="sync")
    assert (
        len(rendered) == 6
        and len(vs._RENDERED) == 1
        and sum(a.nbytes for a in vs._RENDERED.values()) <= 128 * 128
    )
    vs.clear_render_cache()


def test_squares_across_ribbon_hold_pia_and_white_matter_of_one_area():
    from cytowords.synth import section_geometry, squares_across_ribbon, truth_at

    geom = section_geometry(205)
    got = squares_across_ribbon(geom, 4, 3000.0, np.random.default_rng(0), trace=False)
    assert len(got) == 4
    assert len({t["area"] for _, t in got}) == 4, "one square per area"
    for v, t in got:
        side = v.max(axis=0) - v.min(axis=0)
        assert np.allclose(side, 3000.0)
        assert t["area_share"] >= 0.8
        # a grid over the square (edges included) reaches beyond the pia and beyond the white-matter border
        yy, xx = np.meshgrid(np.linspace(v[0, 0], v[2, 0], 31), np.linspace(v[0, 1], v[2, 1], 31))
        depth = truth_at(geom, np.stack([yy.ravel(), xx.ravel()], 1))["rel_depth"]
        assert depth.min() < 0 and depth.max() > 1
    again = squares_across_ribbon(geom, 4, 3000.0, np.random.default_rng(0), trace=False)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(got, again))
