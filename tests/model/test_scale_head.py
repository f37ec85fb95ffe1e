"""The scale head: the closed-form ridge fit, its file (round trip, hash-checked, optional,
embedding size checked) and the bundled one on a synthetic section read at two wrong
pixel sizes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cytowords.model import BundleError, load_bundle
from cytowords.model.bundle.files import write_hashes
from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead, fit_ridge


def test_ridge_recovers_a_linear_map_and_shrinks_with_its_strength():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)) * np.array([1.0, 2.0, 0.5, 3.0, 1.0, 0.1]) + 5.0
    w_true = np.array([0.3, -0.2, 0.0, 0.1, 0.05, 1.0])
    y = x @ w_true - 1.0 + rng.normal(scale=0.01, size=2000)
    w, b = fit_ridge(x, y, 1e-3)
    np.testing.assert_allclose(w, w_true, atol=0.02)
    assert b == pytest.approx(-1.0, abs=0.1)
    head = ScaleHead(w, b)
    assert np.abs(head.predict(x) - y).max() < 0.1
    # a huge penalty leaves only the intercept: every field predicted the mean
    w_big, b_big = fit_ridge(x, y, 1e9)
    assert np.abs(w_big).max() < 1e-3 and b_big + (x.mean(0) @ w_big) == pytest.approx(y.mean())


def test_file_round_trip_and_a_bundle_loads_it_checked(tiny_bundle, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle, folder)
    plain = load_bundle(folder, captioner=False)
    assert plain.scale_head is None  # bundles without the file: no scale head
    d = plain.embed_dim
    head = ScaleHead(torch.linspace(-1, 1, d), 0.25, (-0.1, 0.2), {"ridge": 10.0})
    head.save(folder / SCALE_HEAD_FILE)
    with pytest.raises(BundleError, match="not listed"):  # an added file must be hashed
        load_bundle(folder, captioner=False)
    write_hashes(folder)
    b = load_bundle(folder, captioner=False)
    got = b.scale_head
    assert got is not None and got.band == (-0.1, 0.2) and got.info == {"ridge": 10.0}
    emb = torch.randn(5, d)
    np.testing.assert_allclose(got.predict(emb), head.predict(emb), rtol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        got.predict(np.zeros((2, d + 1)))
    other = ScaleHead(np.ones(3), 0.0)
    other.save(folder / SCALE_HEAD_FILE)
    write_hashes(folder)
    with pytest.raises(BundleError, match="fitted on 3-d"):
        load_bundle(folder, captioner=False)
    assert json.loads((folder / "hashes.json").read_text())["files"][SCALE_HEAD_FILE]
