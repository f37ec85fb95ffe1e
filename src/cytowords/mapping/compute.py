"""Whole-section area maps: tiles over tissue -> model -> area, probability, open-set score.

>>> amap = compute_area_map(section, "default")                       # doctest: +SKIP
>>> amap.labels.shape, amap.pixel_size_um, amap.origin_um             # doctest: +SKIP
>>> compute_area_map(section, "default", out="map.ome.zarr")          # doctest: +SKIP

:func:`compute_area_map` is the one way in: the plan (tile grid, tissue tiles, blocks, model,
dense or per-field evaluation) is in :mod:`.plan`, the blocks run on dask in :mod:`.run`
(tasks: :mod:`.dense`, :mod:`.infer`), a map written to disk goes block by block into a
resumable store (:mod:`.store`) and is published as OME-Zarr (:mod:`.write`). See
``docs/mapping.md``.

Rejected tiles keep their best (most probable known) area in ``labels`` and are flagged
in ``rejected``; ``labels`` is 0 only where no tile was computed (no tissue, outside the
region).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..sections import Section
from ..sections.quality import DEFAULT_THRESHOLDS, QualityThresholds
from ..slide_reading import section_slide
from .infer import REJECTED_NO_CORTEX, REJECTED_UNFIT, BlockResult
from .plan import MapPlan, plan_map
from .run import execute, is_distributed
from .store import ARRAYS, PartialStore, partial_path
from .write import check_target, publish, section_image, write_final


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
        domain: ``(H, W)`` float32 domain distance of each tile's field
            (:mod:`cytowords.model.domain`), NaN where not computed; None for maps written
            to disk (``out``) or made with a bundle without a domain model.
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
    domain: np.ndarray | None = None

    def rejection_codes(self) -> np.ndarray:
        """``(H, W)`` uint8: 0 accepted or no tile, 1 not a known area, 2 no cortex."""
        code = self.rejected.astype(np.uint8)
        if self.no_cortex is not None:
            code[self.rejected & self.no_cortex] = 2
        return code


def assemble(plan: MapPlan, arrays: dict[str, np.ndarray], stats: dict[str, Any]) -> AreaMap:
    """AreaMap from tile-grid arrays (``area`` = model index, -1 = not computed)."""
    area = arrays["area"].astype(np.int64)
    ok = area >= 0
    labels = np.zeros(area.shape, dtype=np.int32)
    labels[ok] = plan.lut[area[ok]]
    rejected = arrays["rejected"].astype(bool) & ok
    no_cortex = (arrays["rejected"] == REJECTED_NO_CORTEX) & ok
    # tiles per area, most frequent first (ties: the first met in row order)
    idx, first, counts = np.unique(area[ok], return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    stats = {
        **stats,
        "histogram": {plan.area_ids[int(idx[i])]: int(counts[i]) for i in order},
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
        domain=_domain(arrays.get("domain"), ok),
    )


def _domain(dist: np.ndarray | None, ok: np.ndarray) -> np.ndarray | None:
    """The domain distances where computed (NaN elsewhere); None when there are none."""
    if dist is None or not np.isfinite(dist[ok]).any():
        return None
    return np.where(ok, dist, np.nan).astype(np.float32)


def compute_area_map(
    section: Section,
    model: Any = "default",
    *,
    out: str | os.PathLike[str] | None = None,
    region_um: tuple[float, float, float, float] | None = None,
    stride_um: float | None = None,
    batch_size: int = 64,
    device: str = "auto",
    scheduler: Any = None,
    workers: int | None = None,
    on_progress: Any = None,
    cancel: Any = None,
    precision: str = "auto",
    block_tiles: int | None = None,
    views: int | None = None,
    dense: bool | None = None,
    overwrite: bool = False,
    restart: bool = False,
    quality: QualityThresholds | None = DEFAULT_THRESHOLDS,
    blocks_at_um: Any = None,
) -> AreaMap:
    """Map the areas of ``section`` tile by tile, over tissue only.

    Args:
        section: the section (any pyramid; read only where blocks need it).
        model: ``"default"``, a bundle folder, or a loaded ``ModelBundle``/``Describer``.
        out: None: the map stays in memory. A path: the map goes into the OME-Zarr ``out``
            resumably: finished blocks go straight into ``OUT.partial/`` (beside ``out``)
            with a journal; a run interrupted in any way (cancel, crash, kill) continues
            where it stopped when called again with the same parameters
            (``stats["blocks_resumed"]`` counts the blocks not recomputed). Only when every
            block is done is the final store written and renamed to ``out``.
        region_um: ``(y0, x0, y1, x1)`` µm to map (default: the whole section).
        stride_um: tile side = map pixel size in µm (default: half the model patch side),
            rounded to whole model pixels.
        batch_size: fields per model call (per-field evaluation).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (resolved on each worker).
        scheduler: None (dask threads), ``"sync"``, a ``tcp://HOST:PORT`` dask scheduler
            address or a ``distributed.Client``.
        workers: with no scheduler, start a LocalCluster of this many worker processes.
        on_progress: ``on_progress(done_tiles, total_tiles)``.
        cancel: ``threading.Event`` (or callable); stops between blocks (Cancelled).
        precision: ``"auto"`` (bf16/fp16 autocast on CUDA, fp32 on CPU), ``"fp32"``,
            ``"bf16"``, ``"fp16"``.
        block_tiles: tiles per block side (one dask task and one resumable unit per block;
            None: 16 per field, a window about 8 fields wide when dense).
        views: mirror/rotation views averaged per tile (1, 2, 4, 8; None: the bundle's
            default, :mod:`cytowords.model.tta`).
        dense: None: dense evaluation when the encoder has one (:mod:`.dense`), else per
            field; False: per field; True: dense or ValueError.
        overwrite: with ``out``, replace an existing store.
        restart: with ``out``, discard an unfinished map of other parameters.
        quality: field-quality limits: tiles whose field is out of focus, blocky or
            clipped are rejected (:mod:`cytowords.sections.quality`); None: no check.
        blocks_at_um: ``(N, 2)`` points ``(y, x)`` µm: map only the blocks holding one of
            them (a sample of the section: the pixel size check's windows); the other
            tiles stay 0 (not computed). In memory only (``out=None``).

    Raises NoTissueError (a ValueError) when no tile is over tissue; ValueError for a bad
    region/stride/scheduler; FileExistsError when ``out`` exists (without ``overwrite``, or
    is no area map: never replaced);
    Cancelled when cancelled.
    """
    target = None
    if out is not None and blocks_at_um is not None:
        raise ValueError("blocks_at_um maps a sample of the section in memory; expected out=None")
    if out is not None:
        target = Path(os.fspath(out)).expanduser()
        check_target(target, overwrite)
    plan = plan_map(
        section,
        model,
        region_um=region_um,
        stride_um=stride_um,
        device=device,
        precision=precision,
        block_tiles=block_tiles,
        distributed=is_distributed(scheduler, workers),
        views=views,
        dense=dense,
        quality=quality,
        blocks_at_um=blocks_at_um,
    )
    run = {
        "batch_size": batch_size,
        "scheduler": scheduler,
        "workers": workers,
        "on_progress": on_progress,
        "cancel": cancel,
    }
    if target is None:
        kinds = {**ARRAYS, "domain": (np.float32, np.nan)}  # in memory only
        arrays = {k: np.full(plan.grid.shape, fv, dtype=dt) for k, (dt, fv) in kinds.items()}

        def on_block(res: BlockResult) -> None:
            rows, cols = plan.grid.block_slices(*res.index)
            for k in arrays:
                arrays[k][rows, cols] = getattr(res, k)

        return assemble(plan, arrays, execute(plan, on_block, **run))
    return _map_into_store(section, plan, target, overwrite, restart, run)


def _map_into_store(
    section: Section,
    plan: MapPlan,
    target: Path,
    overwrite: bool,
    restart: bool,
    run: dict[str, Any],
) -> AreaMap:
    """Run ``plan`` into ``target``'s partial store, then publish the final OME-Zarr."""
    ppath = partial_path(target)
    store = PartialStore(ppath, plan.grid.shape, plan.grid.block_tiles, plan.fingerprint)
    try:
        done = store.open(restart=restart)
    except PermissionError as exc:
        raise PermissionError(f"{target}: cannot write the partial map {ppath} ({exc})") from None

    def on_block(res: BlockResult) -> None:
        store.write_block(res, *plan.grid.block_slices(*res.index))

    try:
        stats = execute(plan, on_block, skip=done, **run)
        arrays = store.read_all()
    except BaseException:
        store.close()
        if not done and store.n_written == 0:  # nothing to resume: leave no trace
            shutil.rmtree(ppath, ignore_errors=True)
        raise
    store.close()
    amap = assemble(plan, arrays, stats)
    final = ppath / "final.ome.zarr"
    if final.exists():  # an earlier run died while finalising
        shutil.rmtree(final)
    image, sec_px = section_image(section, amap)
    write_final(final, amap, image, sec_px, slide=section_slide(section))
    publish(final, target, overwrite)
    shutil.rmtree(ppath, ignore_errors=True)
    return amap
