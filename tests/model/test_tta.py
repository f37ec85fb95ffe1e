"""Test-time views: the 8 symmetries of a field, averaged embeddings, per-view thresholds
stored in and switched by the model bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cytowords.model import BundleError, CytoEncoder, EncoderConfig, load_bundle, save_bundle
from cytowords.model.tta import (
    VIEW_COUNTS,
    check_views,
    dihedral_views,
    embed_views,
    per_view_embeddings,
)
from tests.model.test_bundle import PX, _parts, _patches


def test_the_eight_views_are_the_distinct_symmetries_of_the_square():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    views = dihedral_views(x, 8)
    a = x[0, 0].numpy()
    expected = [
        a,
        a[:, ::-1],
        np.rot90(a, 1),
        np.rot90(a, 2),
        np.rot90(a, 3),
        a[::-1],
        a.T,
        a[::-1, ::-1].T,
    ]
    for v, e in zip(views, expected):
        assert v.shape == x.shape
        assert np.array_equal(v[0, 0].numpy(), e)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    # prefixes: 2 = identity + mirror, 4 adds two rotations
    assert [tuple(v.flatten().tolist()) for v in dihedral_views(x, 4)] == [
        tuple(v.flatten().tolist()) for v in views[:4]
    ]


def test_non_square_patches_get_flips_only_and_at_most_four_views():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    views = dihedral_views(x, 4)
    assert all(v.shape == x.shape for v in views)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 4
    with pytest.raises(ValueError, match="at most 4"):
        dihedral_views(x, 8)


@pytest.mark.parametrize("bad", [0, 3, 16, 2.5, True, "8"])
def test_view_counts_are_checked(bad):
    with pytest.raises(ValueError, match="views must be one of 1, 2, 4, 8"):
        check_views(bad)
    assert [check_views(n) for n in VIEW_COUNTS] == [1, 2, 4, 8]


def test_embed_views_averages_the_per_view_embeddings():
    torch.manual_seed(0)
    enc = CytoEncoder(EncoderConfig(pixel_size_um=8.0, patch_px=PX, width=8, embed_dim=16)).eval()
    x = torch.rand(3, 1, PX, PX)
    with torch.no_grad():
        assert torch.equal(embed_views(enc, x, 1), enc.embed(x))
        per = per_view_embeddings(enc, x, 8)
        assert per.shape == (8, 3, 16)
        # each view really is the encoder on the transformed field
        assert torch.allclose(per[1], enc.embed(x.flip(-1)), atol=1e-5)
        for k in (2, 4, 8):
            assert torch.allclose(embed_views(enc, x, k), per[:k].mean(0), atol=1e-5)
        # the 8-view embedding is invariant to rotating / mirroring the input
        e8 = embed_views(enc, x, 8)
        assert torch.allclose(embed_views(enc, x.rot90(1, (-2, -1)), 8), e8, atol=1e-4)
        assert torch.allclose(embed_views(enc, x.flip(-2), 8), e8, atol=1e-4)
        # a single view is not (so averaging changes something)
        assert not torch.allclose(enc.embed(x.rot90(1, (-2, -1))), enc.embed(x), atol=1e-3)


def test_bundle_stores_a_threshold_per_view_count_and_switches_them(tmp_path):
    parts = _parts()
    path = save_bundle(tmp_path / "b", fp16=False, views=2, thresholds={1: 0.5, 2: 0.25}, **parts)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["tta"] == {"views": 2, "thresholds": {"1": 0.5, "2": 0.25}}
    assert cfg["threshold"] == 0.25
    b = load_bundle(path)
    assert b.views == 2 and b.threshold == 0.25 and b.thresholds == {1: 0.5, 2: 0.25}
    x = _patches(4)
    e2 = b.embed(x)
    e1 = b.embed(x, views=1)
    t = torch.from_numpy(x).float()[:, None] / 255
    with torch.no_grad():
        ref = parts["encoder"].eval()
        assert torch.allclose(e1, ref.embed(t), atol=1e-5)
        assert torch.allclose(e2, (ref.embed(t) + ref.embed(t.flip(-1))) / 2, atol=1e-5)
    # rejection uses the threshold of the view count the embeddings were made with
    _, score, rej2 = b.classify(e2)
    _, score1, rej1 = b.classify(e1, views=1)
    none_wins = b.head(e1).argmax(1) == len(b.area_ids)
    assert torch.equal(rej1, (score1 > 0.5) | none_wins)
    assert torch.equal(rej2, (score > 0.25) | (b.head(e2).argmax(1) == len(b.area_ids)))
    b.set_views(1)
    assert b.views == 1 and b.threshold == 0.5 and torch.allclose(b.embed(x), e1)
    with pytest.raises(ValueError, match=r"calibrated for \[1, 2\] views per field, not for 8"):
        b.set_views(8)
    with pytest.raises(ValueError, match="views must be one of"):
        b.embed(x, views=3)
    with pytest.raises(ValueError, match="no threshold for the default 4 views"):
        save_bundle(tmp_path / "c", views=4, thresholds={1: 0.5}, **parts)


def test_bundle_stores_non_cortex_levels_per_view_count(tmp_path):
    parts = _parts()
    path = save_bundle(
        tmp_path / "b",
        fp16=False,
        views=2,
        thresholds={1: 0.5, 2: 0.25},
        noncortex={1: 4.0, 2: 3.5, 8: 9.0},  # 8 views are not calibrated: dropped
        **parts,
    )
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["tta"]["noncortex"] == {"1": 4.0, "2": 3.5}
    b = load_bundle(path)
    assert b.noncortex_level() == 3.5 and b.noncortex_level(1) == 4.0
    b.set_views(1)
    assert b.noncortex_level() == 4.0
    with pytest.raises(ValueError, match="not for 8"):
        b.noncortex_level(8)
    # bundles written without levels: every field votes
    assert load_bundle(save_bundle(tmp_path / "c", fp16=False, **parts)).noncortex_level() is None


def test_bundles_without_views_use_one_and_a_broken_table_is_refused(tmp_path):
    from cytowords.model.bundle.files import write_hashes

    path = save_bundle(tmp_path / "b", fp16=False, **_parts())
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["tta"]["views"] == 1
    del cfg["tta"]  # as written before test-time views existed
    (path / "config.json").write_text(json.dumps(cfg))
    write_hashes(path)
    b = load_bundle(path)
    assert b.views == 1 and b.thresholds == {1: cfg["threshold"]}
    cfg["tta"] = {"views": 8, "thresholds": {"1": 0.1}}
    (path / "config.json").write_text(json.dumps(cfg))
    write_hashes(path)
    with pytest.raises(BundleError, match="'tta' is invalid"):
        load_bundle(path)
