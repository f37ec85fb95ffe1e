"""The domain model: Mahalanobis distance to class means under a shared covariance, its
file in a bundle (hash-checked, optional) and its distances in predictions."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cytowords.model import BundleError, load_bundle
from cytowords.model.bundle.files import write_hashes
from cytowords.model.domain import DOMAIN_FILE, SHRINKAGE, fit_domain


def _clusters(rng: np.random.Generator, n: int = 400, d: int = 8):
    """Two groups with different means and one anisotropic covariance."""
    scale = np.linspace(0.2, 3.0, d)
    means = np.stack([np.zeros(d), np.full(d, 4.0)])
    g = rng.integers(0, 2, n)
    x = means[g] + rng.normal(size=(n, d)) * scale
    return x, g, means, scale


def test_distance_is_mahalanobis_to_the_nearest_group_mean():
    rng = np.random.default_rng(0)
    x, g, means, scale = _clusters(rng, n=4000)
    m = fit_domain(x, g)
    assert m.means.shape == (2, 8) and m.info["groups"] == 2 and m.cutoff == np.inf
    # a field one standard deviation from group 1's mean along the widest axis: ~1
    probe = means[1].copy()
    probe[-1] += scale[-1]
    assert m.distance(probe[None])[0] == pytest.approx(1.0, abs=0.1)
    # the same Euclidean step along the narrowest axis: 15 standard deviations, fewer
    # after the shrinkage of the covariance towards its mean variance
    narrow = means[0].copy()
    narrow[0] += scale[-1]
    var = (1 - SHRINKAGE) * scale[0] ** 2 + SHRINKAGE * np.mean(scale**2)
    assert m.distance(narrow[None])[0] == pytest.approx(scale[-1] / np.sqrt(var), rel=0.1)
    # in-distribution fields lie near sqrt(d); a far field far beyond
    fresh, _, _, _ = _clusters(np.random.default_rng(1), n=500)
    d_in = m.distance(fresh)
    assert 2.0 < np.median(d_in) < 3.5 and m.distance(np.full((1, 8), 40.0))[0] > 10
    cut = m.with_cutoff(float(np.quantile(d_in, 0.99)), quantile=0.99)
    assert cut.within(fresh).mean() >= 0.98 and cut.info["quantile"] == 0.99
    with pytest.raises(ValueError, match="expected"):
        m.distance(np.zeros((3, 5)))


def test_a_bundle_with_a_domain_file_loads_it_checks_it_and_predicts_distances(
    tiny_bundle, tmp_path
):
    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle, folder)
    plain = load_bundle(folder, captioner=False)
    assert plain.domain is None
    emb = torch.randn(6, plain.embed_dim)
    assert plain.predict(emb).domain is None
    m = fit_domain(torch.randn(200, plain.embed_dim), np.zeros(200, int)).with_cutoff(3.0)
    m.save(folder / DOMAIN_FILE)
    with pytest.raises(BundleError, match="not listed"):  # an added file must be hashed
        load_bundle(folder, captioner=False)
    write_hashes(folder)
    b = load_bundle(folder, captioner=False)
    assert b.domain is not None and b.domain.cutoff == 3.0
    pred = b.predict(emb)
    np.testing.assert_allclose(pred.domain, m.distance(emb), rtol=1e-5)
    np.testing.assert_array_equal(pred.rejected, plain.predict(emb).rejected)
    # tampered: the hash no longer matches
    (folder / DOMAIN_FILE).write_bytes((folder / DOMAIN_FILE).read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(BundleError, match=DOMAIN_FILE):
        load_bundle(folder, captioner=False)
    # a domain model of another embedding size is refused with one line
    other = fit_domain(torch.randn(50, 3), np.zeros(50, int))
    other.save(folder / DOMAIN_FILE)
    write_hashes(folder)
    with pytest.raises(BundleError, match="fitted on 3-d"):
        load_bundle(folder, captioner=False)
    assert json.loads((folder / "hashes.json").read_text())["files"][DOMAIN_FILE]
