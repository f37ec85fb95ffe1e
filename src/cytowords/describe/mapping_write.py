"""Write area maps as OME-Zarr: ``write_area_map`` (a computed map) and the resumable
``map_to_zarr`` used by ``cytowords map`` (layout in :mod:`.mapping_store`)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ..sections import Section, section_background
from .mapping import AreaMap, assemble, execute, is_distributed
from .mapping_plan import plan_map
from .mapping_store import PartialStore, partial_path, publish, write_final
from .mapping_tasks import BlockResult

__all__ = ["map_to_zarr", "write_area_map"]


def _check_target(out: Path, overwrite: bool) -> None:
    parent = out.parent
    if not parent.exists():
        raise FileNotFoundError(f"{out}: the parent folder {parent} does not exist")
    if not parent.is_dir():
        raise ValueError(f"{out}: cannot write there, {parent} is not a folder")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{out}: cannot write there, {parent} is not writable")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; choose another path or overwrite it")


def _section_image(section: Section | None, amap: AreaMap) -> tuple[np.ndarray, float]:
    """The section at map resolution (same grid as the map) and the section's µm/px."""
    if section is None:
        return (np.clip(amap.probability, 0, 1) * 255).astype(np.uint8), amap.pixel_size_um
    h, w = amap.labels.shape
    p = amap.pixel_size_um
    img = section.read_window(
        amap.origin_um[0], amap.origin_um[1], h * p, w * p, p, fill=section_background(section)
    )
    dt = np.dtype(section.dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        img = np.clip(np.round(img), info.min, info.max).astype(dt)
    return img, float(section.pixel_size_um[0])


def write_area_map(
    path: str | os.PathLike[str],
    area_map: AreaMap,
    *,
    section: Section | None = None,
    overwrite: bool = False,
    translation_um: tuple[float, float] | None = None,
) -> Path:
    """Write ``area_map`` as OME-Zarr at ``path`` atomically (see :mod:`.mapping_store`).

    With ``section`` the image is the section at map resolution and the map's NGFF
    translation aligns it with the section; without it the image is the probability
    (uint8) and the translation assumes a section pixel of the map's size, unless
    ``translation_um`` gives it (µm: where the centre of map pixel (0, 0) lies, e.g. a
    napari layer's ``translate``, so that the map opens again where it was).
    """
    out = Path(os.fspath(path)).expanduser()
    _check_target(out, overwrite)
    image, sec_px = _section_image(section, area_map)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        write_final(tmp, area_map, image, sec_px, translation_um)
        publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def map_to_zarr(
    section: Section,
    out: str | os.PathLike[str],
    model: Any = "default",
    *,
    region_um: tuple[float, float, float, float] | None = None,
    stride_um: float | None = None,
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "auto",
    scheduler: Any = None,
    workers: int | None = None,
    block_tiles: int = 16,
    on_progress: Any = None,
    cancel: Any = None,
    overwrite: bool = False,
    restart: bool = False,
    views: int | None = None,
) -> AreaMap:
    """Map ``section`` into the OME-Zarr ``out``, resumably.

    Finished blocks go straight into ``OUT.partial/`` (beside ``out``) with a journal; a
    run interrupted in any way (cancel, crash, kill) continues where it stopped when
    called again with the same parameters (finished blocks are not recomputed;
    ``stats["blocks_resumed"]`` counts them). Only when every block is done is the
    final store written inside the partial folder and renamed to ``out``; the partial
    folder is then removed. ``restart`` discards an existing partial map.
    Arguments as :func:`~cytowords.describe.mapping.compute_area_map`.
    """
    target = Path(os.fspath(out)).expanduser()
    _check_target(target, overwrite)
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
    )
    ppath = partial_path(target)
    store = PartialStore(ppath, plan.grid.shape, plan.grid.block_tiles, plan.fingerprint)
    try:
        done = store.open(restart=restart)
    except PermissionError as exc:
        raise PermissionError(f"{target}: cannot write the partial map {ppath} ({exc})") from None

    def on_block(res: BlockResult) -> None:
        store.write_block(res, *plan.grid.block_slices(*res.index))

    try:
        stats = execute(
            plan,
            on_block,
            skip=done,
            batch_size=batch_size,
            scheduler=scheduler,
            workers=workers,
            on_progress=on_progress,
            cancel=cancel,
        )
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
    image, sec_px = _section_image(section, amap)
    write_final(final, amap, image, sec_px)
    publish(final, target, overwrite)
    shutil.rmtree(ppath, ignore_errors=True)
    return amap
