"""Whole-section area maps: tiles over tissue -> model -> label, probability, open-set score.

>>> amap = compute_area_map(section, "default")                       # doctest: +SKIP
>>> amap.labels.shape, amap.pixel_size_um, amap.origin_um             # doctest: +SKIP

The tile grid, foreground mask and blocks are described in :mod:`.mapping_grid`; the dask
tasks (one window read + one model call per block, the model loaded once per worker
process) in :mod:`.mapping_tasks` / :mod:`.mapping_run`; resumable writing in
:mod:`.mapping_store` and :func:`map_to_zarr`. See ``docs/mapping.md``.

Rejected tiles keep their best (most probable known) area in ``labels`` and are flagged
in ``rejected``; ``labels`` is 0 only where no tile was computed (no tissue, outside the
region).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..sections import Section
from .mapping_grid import NoTissueError
from .mapping_plan import MapPlan, plan_map
from .mapping_run import (
    build_tasks,
    distributed_client,
    run_distributed,
    run_local,
)
from .mapping_tasks import REJECTED_NO_CORTEX, REJECTED_UNFIT, BlockResult

__all__ = [
    "AreaMap",
    "NoTissueError",
    "compute_area_map",
    "map_to_zarr",
    "write_area_map",
]


@dataclass
class AreaMap:
    """A per-tile area map of a section (one map pixel = one tile = ``pixel_size_um`` µm).

    Attributes:
        labels: ``(H, W)`` int32 atlas label values (``atlas.label_of(id)``); 0 = no tissue
            or not computed. Rejected tiles keep their best label (see ``rejected``).
        probability: ``(H, W)`` float32 probability of the best area.
        ood_score: ``(H, W)`` float32 open-set score (higher = less like any known area).
        rejected: ``(H, W)`` bool, True where the open-set scorer rejects the tile or its
            field is unfit to read (``stats["unfit"]`` counts those).
        no_cortex: ``(H, W)`` bool, True where a rejected tile reads as no cortex at all
            (white matter, background, artefacts) rather than cortex of no known area;
            None for maps made without a cortex detector or non-cortex level.
        pixel_size_um: map pixel (tile) size in µm.
        origin_um: ``(y, x)`` µm of the map's top-left corner in the section.
        area_table: label -> ``(area id, area name, "#rrggbb")`` for every model area.
        stats: tiles, blocks, patches_per_s, seconds, read_s, compute_s, histogram...
    """

    labels: np.ndarray
    probability: np.ndarray
    ood_score: np.ndarray
    rejected: np.ndarray
    pixel_size_um: float
    origin_um: tuple[float, float]
    area_table: dict[int, tuple[str, str, str]]
    stats: dict[str, Any] = field(default_factory=dict)
    no_cortex: np.ndarray | None = None

    def rejection_codes(self) -> np.ndarray:
        """``(H, W)`` uint8: 0 accepted or no tile, 1 not a known area, 2 no cortex."""
        code = self.rejected.astype(np.uint8)
        if self.no_cortex is not None:
            code[self.rejected & self.no_cortex] = 2
        return code


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
    tasks = build_tasks(
        plan.section,
        g,
        todo,
        plan.tissue,
        ref,
        batch_size=batch_size,
        tissue_threshold=plan.tissue_threshold,
        quality=plan.quality,
    )
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
    }


def assemble(plan: MapPlan, arrays: dict[str, np.ndarray], stats: dict[str, Any]) -> AreaMap:
    """AreaMap from tile-grid arrays (``area`` = model index, -1 = not computed)."""
    area = arrays["area"].astype(np.int64)
    ok = area >= 0
    labels = np.zeros(area.shape, dtype=np.int32)
    labels[ok] = plan.lut[area[ok]]
    rejected = arrays["rejected"].astype(bool) & ok
    no_cortex = (arrays["rejected"] == REJECTED_NO_CORTEX) & ok
    hist = Counter(plan.area_ids[i] for i in area[ok].ravel().tolist())
    stats = {
        **stats,
        "histogram": dict(hist.most_common()),
        "rejected": int(rejected.sum()),
        "no_cortex": int(no_cortex.sum()),
        "unfit": int(((arrays["rejected"] == REJECTED_UNFIT) & ok).sum()),
        "stride_um": plan.grid.stride_um,
        "model": plan.ref.path,
    }
    return AreaMap(
        labels=labels,
        probability=np.where(ok, arrays["probability"], 0).astype(np.float32),
        ood_score=np.where(ok, arrays["ood_score"], 0).astype(np.float32),
        rejected=rejected,
        pixel_size_um=float(plan.grid.stride_um),
        origin_um=(float(plan.grid.origin_um[0]), float(plan.grid.origin_um[1])),
        area_table=dict(plan.area_table),
        stats=stats,
        no_cortex=no_cortex,
    )


def compute_area_map(
    section: Section,
    model: Any,
    *,
    region_um: tuple[float, float, float, float] | None = None,
    stride_um: float | None = None,
    batch_size: int = 64,
    device: str = "auto",
    scheduler: Any = None,
    workers: int | None = None,
    on_progress: Any = None,
    cancel: Any = None,
    precision: str = "auto",
    block_tiles: int = 16,
    views: int | None = None,
) -> AreaMap:
    """Map the areas of ``section`` tile by tile, over tissue only, in memory.

    Args:
        section: the section (any pyramid; read only where tiles need it).
        model: ``"default"``, a bundle folder, or a loaded ``ModelBundle``/``Describer``.
        region_um: ``(y0, x0, y1, x1)`` µm to map (default: the whole section).
        stride_um: tile side = map pixel size in µm (default: half the model patch side),
            rounded to whole model pixels.
        batch_size: patches per model call.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (resolved on each worker).
        scheduler: None (dask threads), ``"sync"``, a ``tcp://HOST:PORT`` dask scheduler
            address or a ``distributed.Client``.
        workers: with no scheduler, start a LocalCluster of this many worker processes.
        on_progress: ``on_progress(done_tiles, total_tiles)``.
        cancel: ``threading.Event`` (or callable); stops between blocks (Cancelled).
        precision: ``"auto"`` (bf16/fp16 autocast on CUDA, fp32 on CPU), ``"fp32"``,
            ``"bf16"``, ``"fp16"``.
        block_tiles: tiles per block side (one dask task per block).
        views: mirror/rotation views averaged per tile (1, 2, 4, 8; each costs one
            encoder pass; None: the bundle's default, :mod:`cytowords.model.tta`).

    Raises NoTissueError (a ValueError) when no tile is over tissue; ValueError for a bad
    region/stride/scheduler; Cancelled when cancelled.
    """
    distributed = is_distributed(scheduler, workers)
    plan = plan_map(
        section,
        model,
        region_um=region_um,
        stride_um=stride_um,
        device=device,
        precision=precision,
        block_tiles=block_tiles,
        distributed=distributed,
        views=views,
    )
    shape = plan.grid.shape
    arrays = {
        "area": np.full(shape, -1, dtype=np.int16),
        "probability": np.zeros(shape, dtype=np.float32),
        "ood_score": np.zeros(shape, dtype=np.float32),
        "rejected": np.zeros(shape, dtype=np.uint8),
    }

    def on_block(res: BlockResult) -> None:
        rows, cols = plan.grid.block_slices(*res.index)
        for k in arrays:
            arrays[k][rows, cols] = getattr(res, "area" if k == "area" else k)

    stats = execute(
        plan,
        on_block,
        batch_size=batch_size,
        scheduler=scheduler,
        workers=workers,
        on_progress=on_progress,
        cancel=cancel,
    )
    return assemble(plan, arrays, stats)


def write_area_map(
    path: Any, area_map: AreaMap, *, section: Section | None = None, overwrite: bool = False
) -> Any:
    """Write ``area_map`` as OME-Zarr (label images + area table); see
    :func:`cytowords.describe.mapping_write.write_area_map`."""
    from .mapping_write import write_area_map as _write

    return _write(path, area_map, section=section, overwrite=overwrite)


def map_to_zarr(section: Section, out: Any, model: Any = "default", **kwargs: Any) -> AreaMap:
    """Map ``section`` straight into the OME-Zarr ``out``, resumably; see
    :func:`cytowords.describe.mapping_write.map_to_zarr`."""
    from .mapping_write import map_to_zarr as _map

    return _map(section, out, model, **kwargs)
