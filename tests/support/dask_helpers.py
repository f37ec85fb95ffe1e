"""Test helper: other threads computing with dask while the code under test runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def dask_busy_threads(n: int = 2) -> Iterator[None]:
    """Run ``n`` threads that compute small dask graphs in a loop until the block ends
    (dask swaps its global callbacks out during every compute, process-wide)."""
    import dask.array as da

    stop = threading.Event()

    def busy() -> None:
        x = da.ones((256, 256), chunks=16)
        while not stop.is_set():
            x.sum().compute(scheduler="threads")

    threads = [threading.Thread(target=busy) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join()
