"""Run the block tasks of an area map on dask: local threads or a dask.distributed cluster.

Each block is two dask tasks, ``cw-read-<run>-<i>-<j>`` (read one window, cut patches)
and ``cw-infer-<run>-<i>-<j>`` (model). The section enters the graph once (one key), so a
distributed worker receives it once, not per task. Finished blocks are handed to
``on_block`` in the calling thread as they complete (to be written at once); ``cancel``
stops between blocks.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from dask.callbacks import Callback

from ..jobs import Cancelled, is_cancelled
from .mapping_grid import MapGrid
from .mapping_tasks import BlockResult, ModelRef, infer_block, read_block

#: seconds to wait for a dask scheduler before failing
CONNECT_TIMEOUT_S = 5.0


class SectionHandle:
    """Opaque holder so that dask does not traverse (and compute) the section's arrays."""

    __slots__ = ("section",)

    def __init__(self, section: Any) -> None:
        self.section = section

    def __getstate__(self) -> Any:
        return self.section

    def __setstate__(self, state: Any) -> None:
        self.section = state


def _identity(x: Any) -> Any:
    return x


def build_tasks(
    section: Any,
    grid: MapGrid,
    blocks: Sequence[tuple[int, int]],
    tissue: np.ndarray,
    ref: ModelRef,
    *,
    batch_size: int,
    tissue_threshold: float | None = None,
    quality: Any = None,
) -> list[Any]:
    """One delayed ``infer`` per block (each depending on its ``read``); ``quality`` and
    ``tissue_threshold`` go to :func:`~.mapping_tasks.infer_block`."""
    from dask import delayed

    run = uuid.uuid4().hex[:10]  # keys unique per run: maps may share a cluster
    sec = delayed(_identity, pure=False)(SectionHandle(section), dask_key_name=f"cw-section-{run}")
    out = []
    for bi, bj in blocks:
        rows, cols = grid.block_slices(bi, bj)
        mask = np.ascontiguousarray(tissue[rows, cols])
        rd = delayed(read_block, pure=False)(
            sec,
            grid,
            (bi, bj),
            mask,
            os.getpid(),
            dask_key_name=f"cw-read-{run}-{bi}-{bj}",
        )
        out.append(
            delayed(infer_block, pure=False)(
                ref,
                grid,
                rd,
                batch_size,
                tissue_threshold,
                quality,
                dask_key_name=f"cw-infer-{run}-{bi}-{bj}",
            )
        )
    return out


class _LocalCallback(Callback):
    def __init__(self, on_block: Callable[[BlockResult], None], cancel: Any) -> None:
        super().__init__()
        self.on_block, self.cancel = on_block, cancel

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        if is_cancelled(self.cancel):
            raise Cancelled("area map cancelled")

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
        if str(key).startswith("cw-infer-"):
            self.on_block(result)


def run_local(
    tasks: list[Any],
    on_block: Callable[[BlockResult], None],
    cancel: Any,
    *,
    scheduler: str = "threads",
    num_workers: int | None = None,
) -> None:
    """Compute the tasks on dask's local scheduler (``"threads"`` or ``"sync"``)."""
    import dask

    if not tasks:
        return
    if is_cancelled(cancel):
        raise Cancelled("area map cancelled")
    kw: dict[str, Any] = {"scheduler": scheduler}
    if scheduler == "threads":
        kw["num_workers"] = num_workers or max(2, os.cpu_count() or 1)
    # the callback goes to this compute only: dask's global callbacks (``with cb:``) are
    # swapped out process-wide during every compute, so another thread computing with dask
    # at the same time (a describe job, a pixel size check) made this map lose blocks
    dask.compute(*tasks, callbacks=[_LocalCallback(on_block, cancel)._callback], **kw)


def check_address(address: str) -> str:
    """Validate a dask scheduler address (``tcp://HOST:PORT``; a bare ``HOST:PORT`` gets tcp)."""
    a = str(address).strip()
    if "://" not in a:
        a = "tcp://" + a
    if not re.fullmatch(r"(tcp|tls|ws|wss|ucx)://(\[[0-9a-fA-F:]+\]|[^:/\s\[\]]+):\d{1,5}/?", a):
        raise ValueError(
            f"scheduler address {address!r} is not valid; expected tcp://HOST:PORT "
            "(e.g. tcp://10.0.0.5:8786)"
        )
    return a


@contextmanager
def distributed_client(scheduler: Any = None, workers: int | None = None) -> Any:
    """A ``distributed.Client``: to ``scheduler`` (an address or a Client), or to a new
    LocalCluster of ``workers`` processes. Fails within :data:`CONNECT_TIMEOUT_S` seconds
    with a message naming the address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(
            "dask.distributed is not installed; install napari-cytowords[distributed] "
            "or map without --scheduler/--workers"
        ) from None
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # an existing Client
        return
    if scheduler is not None:
        address = check_address(scheduler)
        try:
            client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ValueError(
                f"could not connect to the dask scheduler at {address} within "
                f"{CONNECT_TIMEOUT_S:.0f} s ({type(exc).__name__}); check that "
                "`dask scheduler` runs there and the address/port are right"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = int(workers or 1)
    if n < 1:
        raise ValueError(f"workers={workers}; expected >= 1")
    k = str(max(1, (os.cpu_count() or 1) // n))  # torch threads per worker process
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=2,
        processes=True,
        dashboard_address=None,
        env={"OMP_NUM_THREADS": k, "MKL_NUM_THREADS": k},  # the nanny's default is 1
    )
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def run_distributed(
    client: Any, tasks: list[Any], on_block: Callable[[BlockResult], None], cancel: Any
) -> None:
    """Compute the tasks on a distributed cluster; hand out results as they complete."""
    from distributed import as_completed

    if not tasks:
        return
    futures = client.compute(tasks)
    try:
        for fut in as_completed(futures, loop=client.loop):
            if is_cancelled(cancel):
                raise Cancelled("area map cancelled")
            on_block(fut.result())
    except BaseException:
        client.cancel(futures)
        raise
