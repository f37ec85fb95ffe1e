"""Area maps on dask.distributed: a 2-worker LocalCluster of processes gives the same map
as the local threaded scheduler, and each worker loads the model once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cytowords.mapping import compute_area_map
from cytowords.model.bundle import handle
from tests.support.map_fixtures import band_section

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """One 2-worker LocalCluster of processes for the module (starting one costs more than
    the maps); each test counts the bundle loads its own map caused."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_distributed_equals_local_and_loads_once_per_worker(tiny_bundle, cluster):
    section = band_section()
    local = compute_area_map(section, str(tiny_bundle), block_tiles=4, device="cpu")
    with distributed.Client(cluster) as client:
        client.run(handle.clear_cache)  # no worker holds the bundle yet
        before = client.run(handle.load_count)
        progress = []
        dist = compute_area_map(
            section,
            str(tiny_bundle),
            block_tiles=4,
            device="cpu",
            scheduler=cluster.scheduler_address,
            on_progress=lambda d, t: progress.append(d),
        )
        after = client.run(handle.load_count)
    loads = {w: after[w] - before[w] for w in after}
    assert np.array_equal(dist.labels, local.labels)
    np.testing.assert_allclose(dist.probability, local.probability, atol=1e-5)
    np.testing.assert_allclose(dist.ood_score, local.ood_score, rtol=1e-4, atol=1e-4)
    assert np.array_equal(dist.rejected, local.rejected)
    assert dist.stats["blocks_computed"] == local.stats["blocks"] == 8
    assert progress[-1] == local.stats["tiles"]
    # 8 blocks on 2 workers, but the model is loaded at most once per worker process
    assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def test_loaded_bundle_cannot_go_distributed(tiny_bundle):
    from cytowords.model import load_bundle

    with pytest.raises(ValueError, match="needs the model bundle's folder"):
        compute_area_map(band_section(), load_bundle(tiny_bundle), scheduler="tcp://127.0.0.1:1")


def test_dense_distributed_equals_local(tiny_bundle, cluster):
    """The dense path on 2 worker processes gives the local dense map: the workers hold the
    dense test model under the bundle's path (as a loaded dense bundle would be)."""

    from tests.support.dense_encoder import dense_bundle

    section = band_section()
    dense = dense_bundle(tiny_bundle, section)
    key = str(Path(tiny_bundle).resolve())
    handle.register_bundle(key, "cpu", dense)  # this process reads the encoder's layout from it
    try:
        kw = {"stride_um": 64.0, "block_tiles": 12, "device": "cpu", "views": 2}
        local = compute_area_map(section, str(tiny_bundle), **kw)
        assert local.stats["evaluation"] == "dense"
        with distributed.Client(cluster) as client:
            client.run(handle.register_bundle, key, "cpu", dense)
            try:
                before = client.run(handle.load_count)
                dist = compute_area_map(section, str(tiny_bundle), scheduler=client, **kw)
                after = client.run(handle.load_count)
            finally:
                client.run(handle.forget_bundle, key, "cpu")
    finally:
        handle.forget_bundle(key, "cpu")
    loads = {w: after[w] - before[w] for w in after}
    assert dist.stats["evaluation"] == "dense" and sum(loads.values()) == 0
    assert dist.stats["blocks_computed"] == local.stats["blocks"] > 2
    assert np.array_equal(dist.labels, local.labels)
    np.testing.assert_allclose(dist.probability, local.probability, atol=1e-5)
    np.testing.assert_allclose(dist.ood_score, local.ood_score, atol=0.01)
    assert np.array_equal(dist.rejected, local.rejected)
