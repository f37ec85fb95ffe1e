"""Dense area maps: the encoder's trunk once over haloed block windows gives the per-field map
on the same grid, for any block size, with test-time views on whole windows; resumable."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from cytowords.jobs import Cancelled
from cytowords.mapping import compute_area_map
from cytowords.mapping.dense import (
    DenseLayout,
    axis_samples,
    dense_layout,
    sample_tiles,
)
from cytowords.mapping.store import JOURNAL, partial_path
from tests.support.dense_encoder import dense_bundle
from tests.support.map_fixtures import band_section


@pytest.fixture(scope="module")
def section():
    return band_section(2400.0, 2000.0)


@pytest.fixture(scope="module")
def bundle(tiny_bundle, section):
    return dense_bundle(tiny_bundle, section)


def _same(a, b, *, exact=False):
    ok = a.labels > 0
    assert np.array_equal(ok, b.labels > 0)
    if exact:
        assert np.array_equal(a.labels, b.labels)
    else:
        assert (a.labels[ok] == b.labels[ok]).mean() >= 0.98
    np.testing.assert_allclose(a.probability, b.probability, atol=1e-4)
    # the standardised Mahalanobis score of this refitted scorer amplifies float32 rounding
    # (embeddings agree to ~1e-7; the head sees them in batches of other shapes)
    np.testing.assert_allclose(a.ood_score, b.ood_score, atol=0.05)
    assert (a.rejected == b.rejected).mean() >= 0.99


@pytest.mark.parametrize(("stride_um", "views"), [(64.0, 1), (128.0, 8)])
def test_dense_equals_per_field_on_the_same_grid(section, bundle, stride_um, views):
    kw = {"stride_um": stride_um, "views": views, "device": "cpu"}
    dense = compute_area_map(section, bundle, **kw)
    fields = compute_area_map(section, bundle, dense=False, **kw)
    assert dense.stats["evaluation"] == "dense" and fields.stats["evaluation"] == "per field"
    assert dense.stats["tiles"] == fields.stats["tiles"] > 100
    assert len(np.unique(fields.labels[fields.labels > 0])) >= 2  # not a constant map
    assert 0 < fields.rejected.sum() < fields.stats["tiles"]
    _same(dense, fields, exact=True)


def test_chunkings_give_identical_maps(section, bundle):
    maps = [
        compute_area_map(section, bundle, stride_um=64.0, views=8, block_tiles=b, device="cpu")
        for b in (5, 16, 64)
    ]
    assert [m.stats["blocks"] for m in maps][0] > maps[1].stats["blocks"] > 1
    for m in maps[1:]:
        assert np.array_equal(m.labels, maps[0].labels)
        np.testing.assert_allclose(m.probability, maps[0].probability, atol=1e-6)
        # one float32 step of the raw Mahalanobis distance is ~0.003 after standardising
        np.testing.assert_allclose(m.ood_score, maps[0].ood_score, atol=0.01)
        assert np.array_equal(m.rejected, maps[0].rejected)


def test_dense_map_resumes_after_interrupt(tmp_path, section, bundle):
    kw = {"stride_um": 64.0, "block_tiles": 6, "device": "cpu"}
    reference = compute_area_map(section, bundle, **kw)
    out = tmp_path / "dense.ome.zarr"
    ev = threading.Event()

    def stop_after_2_blocks(done, total):
        journal = partial_path(out) / JOURNAL
        if journal.is_file() and len(journal.read_text().splitlines()) >= 2:
            ev.set()

    with pytest.raises(Cancelled):
        compute_area_map(section, bundle, out=out, on_progress=stop_after_2_blocks, cancel=ev, **kw)
    assert not out.exists()
    n_done = len((partial_path(out) / JOURNAL).read_text().splitlines())
    amap = compute_area_map(section, bundle, out=out, **kw)
    assert 2 <= amap.stats["blocks_resumed"] == n_done < reference.stats["blocks"]
    assert out.is_dir() and not partial_path(out).exists()
    _same(amap, reference, exact=True)


def test_finer_than_the_feature_stride_interpolates_embeddings():
    layout = DenseLayout(stride_px=4, context_px=4, window_px=24)
    fine = axis_samples(slice(3, 8), 2, layout)  # tiles every 2 px, positions every 4 px
    assert (fine.k0, fine.n) == (1, 4)
    assert fine.index.tolist() == [0, 1, 1, 2, 2] and fine.frac.tolist() == [0.5, 0, 0.5, 0, 0.5]
    coarse = axis_samples(slice(0, 4), 6, layout)  # every 6 px: the nearest position
    assert coarse.index.tolist() == [0, 2, 3, 5] and not coarse.frac.any()
    emb = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4)
    tiles = np.array([[0, 0], [1, 2]])  # at (0.5, 0.5) and (1, 1.5) in the block's lattice
    got = sample_tiles(emb, fine, fine, tiles)
    want0 = emb[:, 0:2, 0:2].mean((1, 2))
    torch.testing.assert_close(got[0], want0)
    torch.testing.assert_close(got[1], emb[:, 1, 1:3].mean(1))


def test_a_map_finer_than_the_feature_stride_is_exact_on_the_lattice(section, bundle):
    """At 32 µm (2 model px; feature stride 4 px) tiles of even row and column lie on the
    dense lattice (exact embeddings), the others are interpolated between positions."""
    dense = compute_area_map(section, bundle, stride_um=32.0, device="cpu")
    fields = compute_area_map(section, bundle, stride_um=32.0, device="cpu", dense=False)
    assert dense.stats["evaluation"] == "dense" and dense.labels.shape == (75, 63)
    on = np.zeros(dense.labels.shape, bool)
    on[::2, ::2] = True
    on &= fields.labels > 0
    assert on.sum() > 100
    assert np.array_equal(dense.labels[on], fields.labels[on])
    np.testing.assert_allclose(dense.probability[on], fields.probability[on], atol=1e-4)
    off = (fields.labels > 0) & ~on
    assert np.array_equal(dense.labels > 0, fields.labels > 0)
    assert (dense.labels[off] == fields.labels[off]).mean() > 0.5


def test_encoders_without_dense_embed_map_per_field(section, tiny_bundle):
    from cytowords.model import load_bundle

    b = load_bundle(tiny_bundle, captioner=False)
    assert dense_layout(b.encoder) is None
    with pytest.raises(ValueError, match="no dense evaluation"):
        compute_area_map(section, b, dense=True, device="cpu")
    amap = compute_area_map(section, b, stride_um=256.0, device="cpu")
    assert amap.stats["evaluation"] == "per field"


def test_blocks_at_points_map_only_those_blocks(section, bundle):
    """``blocks_at_um`` (the pixel size check's windows) maps the blocks holding the points,
    exactly as the whole map does there, and nothing else."""
    kw = {"stride_um": 64.0, "views": 1, "device": "cpu", "block_tiles": 4, "quality": None}
    whole = compute_area_map(section, bundle, **kw)
    h, w = section.shape_um
    pts = np.array([[h / 2, w / 4], [h / 2, 3 * w / 4], [h / 2 + 1.0, w / 4 + 1.0]])
    part = compute_area_map(section, bundle, blocks_at_um=pts, **kw)
    g = part.pixel_size_um * 4  # block side (µm)
    keep = np.zeros(whole.labels.shape, bool)
    for y, x in pts:  # the map's origin is the section's corner
        i, j = int(y // g) * 4, int(x // g) * 4
        keep[i : i + 4, j : j + 4] = True
    assert part.stats["blocks"] == 2 and part.stats["tiles"] == int((keep & (whole.labels > 0)).sum())
    assert np.array_equal(part.labels > 0, keep & (whole.labels > 0))
    assert np.array_equal(part.labels[keep], whole.labels[keep])
    with pytest.raises(ValueError, match="out=None"):
        compute_area_map(section, bundle, blocks_at_um=pts, out="x.ome.zarr", **kw)
