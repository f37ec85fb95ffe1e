"""Run an area map's blocks on dask: local threads or a dask.distributed cluster.

Each block is two dask tasks, ``cw-read-<run>-<i>-<j>`` (read one window: the fields of
the per-field path, or the haloed window of the dense path) and ``cw-infer-<run>-<i>-<j>``
(model). The section enters the graph once (one key), so a
distributed worker receives it once, not per task. Finished blocks are handed to
``on_block`` in the calling thread as they complete (to be written at once); ``cancel``
stops between blocks.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
from dask.callbacks import Callback

from ..jobs import Cancelled, is_cancelled
from .dense import infer_dense_block, read_dense_block
from .infer import BlockResult, ModelRef, infer_block, read_block
from .plan import MapPlan

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
    plan: MapPlan,
    blocks: list[tuple[int, int]],
    ref: ModelRef,
    *,
    batch_size: int,
) -> list[Any]:
    """One delayed ``infer`` per block (each depending on its ``read``): dense when the
    plan has a dense layout, else per field."""
    from dask import delayed

    grid = plan.grid
    run = uuid.uuid4().hex[:10]  # keys unique per run: maps may share a cluster
    sec = delayed(_identity, pure=False)(
        SectionHandle(plan.section), dask_key_name=f"cw-section-{run}"
    )
    geometry = (grid,) if plan.dense is None else (grid, plan.dense)
    read = read_block if plan.dense is None else read_dense_block
    infer = infer_block if plan.dense is None else infer_dense_block
    out = []
    for bi, bj in blocks:
        rows, cols = grid.block_slices(bi, bj)
        mask = np.ascontiguousarray(plan.tissue[rows, cols])
        rd = delayed(read, pure=False)(
            sec, *geometry, (bi, bj), mask, os.getpid(), dask_key_name=f"cw-read-{run}-{bi}-{bj}"
        )
        out.append(
            delayed(infer, pure=False)(
                ref,
                *geometry,
                rd,
                batch_size,
                plan.tissue_threshold,
                plan.quality,
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


def is_distributed(scheduler: Any, workers: int | None) -> bool:
    """True when the run goes to dask.distributed (an address, a Client, or workers=N)."""
    return bool(scheduler not in (None, "threads", "sync", "synchronous") or workers)


def execute(
    plan: MapPlan,
    on_block: Any,
    *,
    skip: set[tuple[int, int]] = frozenset(),  # type: ignore[assignment]
    batch_size: int = 64,
    scheduler: Any = None,
    workers: int | None = None,
    on_progress: Any = None,
    cancel: Any = None,
) -> dict[str, Any]:
    """Run the plan's blocks (minus ``skip``); ``on_block(result)`` gets each finished
    block in the calling thread. Returns timing stats."""
    g, todo = plan.grid, [b for b in plan.blocks if b not in skip]
    total = int(plan.tissue.sum())
    done = total - sum(int(plan.tissue[g.block_slices(*b)].sum()) for b in todo)
    st = {"patches": 0, "read_s": 0.0, "compute_s": 0.0, "done": done}
    if on_progress:
        on_progress(done, total)

    def handle(res: BlockResult) -> None:
        on_block(res)
        st["patches"] += res.n_patches
        st["read_s"] += res.read_s
        st["compute_s"] += res.compute_s
        st["done"] += res.n_patches
        if on_progress:
            on_progress(st["done"], total)

    distributed = is_distributed(scheduler, workers)
    ref = plan.ref
    if distributed and scheduler is None and workers:
        ref = replace(ref, torch_threads=max(1, (os.cpu_count() or 1) // int(workers)))
    t0 = time.perf_counter()
    tasks = build_tasks(plan, todo, ref, batch_size=batch_size)
    if distributed:
        with distributed_client(scheduler, workers) as client:
            run_distributed(client, tasks, handle, cancel)
    else:
        run_local(
            tasks,
            handle,
            cancel,
            scheduler="sync" if scheduler in ("sync", "synchronous") else "threads",
        )
    secs = time.perf_counter() - t0
    return {
        "tiles": total,
        "tiles_grid": int(g.shape[0] * g.shape[1]),
        "blocks": len(plan.blocks),
        "blocks_computed": len(todo),
        "blocks_resumed": len(plan.blocks) - len(todo),
        "patches": st["patches"],
        "seconds": round(secs, 3),
        "patches_per_s": round(st["patches"] / secs, 2) if secs > 0 else 0.0,
        "read_s": round(st["read_s"], 3),
        "compute_s": round(st["compute_s"], 3),
        "evaluation": "per field" if plan.dense is None else "dense",
    }
