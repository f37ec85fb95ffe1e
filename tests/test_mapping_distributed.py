"""Area maps on dask.distributed: a 2-worker LocalCluster of processes gives the same map
as the local threaded scheduler, and each worker loads the model once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cytowords.mapping import compute_area_map, infer
from map_fixtures import band_section
from tiny_bundle import make_tiny_bundle

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_tiny_bundle(tmp_path_factory.mktemp("mapdist") / "tiny")


def test_distributed_equals_local_and_loads_once_per_worker(bundle):
    section = band_section()
    local = compute_area_map(section, str(bundle), block_tiles=4, device="cpu")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        progress = []
        dist = compute_area_map(
            section,
            str(bundle),
            block_tiles=4,
            device="cpu",
            scheduler=cluster.scheduler_address,
            on_progress=lambda d, t: progress.append(d),
        )
        with distributed.Client(cluster) as client:
            loads = client.run(infer.model_load_count)
    assert np.array_equal(dist.labels, local.labels)
    np.testing.assert_allclose(dist.probability, local.probability, atol=1e-5)
    np.testing.assert_allclose(dist.ood_score, local.ood_score, rtol=1e-4, atol=1e-4)
    assert np.array_equal(dist.rejected, local.rejected)
    assert dist.stats["blocks_computed"] == local.stats["blocks"] == 8
    assert progress[-1] == local.stats["tiles"]
    # 8 blocks on 2 workers, but the model is loaded at most once per worker process
    assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def test_loaded_bundle_cannot_go_distributed(bundle):
    from cytowords.model import load_bundle

    with pytest.raises(ValueError, match="needs the model bundle's folder"):
        compute_area_map(band_section(), load_bundle(bundle), scheduler="tcp://127.0.0.1:1")
