"""Planning an area map: resolve the model, build the tile grid, find the tissue tiles and
the blocks to run, and fingerprint the run (for resuming)."""

from __future__ import annotations

import colorsys
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atlas import load_atlas
from ..sections import Section
from .describer import Describer, resolve_model_path, section_background
from .mapping_grid import MapGrid, NoTissueError, make_grid, tissue_mask, unit_scale
from .mapping_tasks import ModelRef, get_model, register_model
from .scale_check import warn_if_coarse

#: a tile is mapped when at least this share of its area is tissue
MIN_TISSUE = 0.25


@dataclass
class MapPlan:
    """Everything fixed before the first block runs."""

    section: Section
    grid: MapGrid
    tissue: np.ndarray
    blocks: list[tuple[int, int]]
    ref: ModelRef
    lut: np.ndarray  # model area index -> atlas label
    area_table: dict[int, tuple[str, str, str]]
    area_ids: list[str]
    fill: float
    scale: float
    fingerprint: dict[str, Any]


def resolve_map_model(model: Any, device: str, *, distributed: bool) -> tuple[ModelRef, dict]:
    """``"default"`` / a bundle path / a loaded ModelBundle or Describer -> (ModelRef, info).

    info: ``pixel_size_um``, ``patch_px``, ``area_ids``, ``fingerprint``. A loaded model
    is used as is in this process; a distributed run needs a path (workers load it)."""
    bundle, path = None, None
    if isinstance(model, Describer):
        bundle, path = model.bundle, model.model_path
    elif hasattr(model, "encoder") and hasattr(model, "classify"):
        bundle, path = model, getattr(model, "path", None)
    else:
        path = resolve_model_path(model)
    if bundle is not None:
        dev = str(bundle.device)
        if path is None:
            if distributed:
                raise ValueError(
                    "a distributed area map needs the model bundle's folder (workers load it "
                    "themselves); pass the path instead of a loaded ModelBundle"
                )
            path = f"<in-memory {id(bundle)}>"
        register_model(str(path), dev, bundle)
        ref = ModelRef(str(path), dev)
    else:
        ref = ModelRef(str(Path(path).resolve()), str(device))
        if not distributed:
            bundle, _ = get_model(ref)  # fail fast here with a clear BundleError
    if bundle is not None:
        info = {
            "pixel_size_um": float(bundle.pixel_size_um),
            "patch_px": int(bundle.patch_px),
            "area_ids": list(bundle.area_ids),
            "config": bundle.config,
        }
    else:
        cfg = json.loads((Path(ref.path) / "config.json").read_text(encoding="utf-8"))
        info = {
            "pixel_size_um": float(cfg["encoder"]["pixel_size_um"]),
            "patch_px": int(cfg["encoder"]["patch_px"]),
            "area_ids": list(cfg["area_ids"]),
            "config": cfg,
        }
    from ..model.tta import view_table

    cfg = info.pop("config")
    info["view_table"] = view_table(cfg)  # (default views, threshold per view count)
    info["fingerprint"] = {
        "model": ref.path,
        "area_ids": info["area_ids"],
        "threshold": cfg.get("threshold"),
        "encoder": cfg.get("encoder"),
    }
    return ref, info


def _area_table(area_ids: list[str]) -> tuple[np.ndarray, dict[int, tuple[str, str, str]]]:
    """Atlas label per model area index, and label -> (id, name, colour)."""
    atlas = load_atlas()
    lut, table = [], {}
    extra = max([a.label for a in atlas.areas.values()] + [0])
    for aid in area_ids:
        try:
            area = atlas.get(aid)
            lab, name, color = area.label, area.name, area.color
        except KeyError:
            extra += 1
            r, g, b = colorsys.hsv_to_rgb((extra * 0.618034) % 1.0, 0.65, 0.95)
            lab, name, color = (
                extra,
                aid,
                f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}",
            )
        lut.append(lab)
        table[int(lab)] = (aid, name, color)
    return np.asarray(lut, dtype=np.int32), table


def plan_map(
    section: Section,
    model: Any,
    *,
    region_um: Any = None,
    stride_um: float | None = None,
    device: str = "auto",
    precision: str = "auto",
    block_tiles: int = 16,
    distributed: bool = False,
    torch_threads: int | None = None,
    views: int | None = None,
) -> MapPlan:
    """Resolve the model, the tile grid, the tissue tiles and the blocks to run."""
    ref, info = resolve_map_model(model, device, distributed=distributed)
    from ..model.tta import resolve_views

    default, table = info.pop("view_table")
    views = resolve_views(table, default, views)  # checked here, before any work
    ref = ModelRef(ref.path, ref.device, precision, torch_threads, views)
    warn_if_coarse(section, info["pixel_size_um"])
    grid = make_grid(
        section,
        info["pixel_size_um"],
        info["patch_px"],
        region_um=region_um,
        stride_um=stride_um,
        block_tiles=block_tiles,
    )
    tm = tissue_mask(section)
    tissue = grid.tissue_fraction(tm) >= MIN_TISSUE
    if not tissue.any():
        raise NoTissueError(
            f"section {section.name!r}: no tile of {grid.stride_um:g} µm in the mapped region "
            f"is over tissue (>= {MIN_TISSUE:.0%} dark); expected tissue in the region"
        )
    nby, nbx = grid.block_shape
    blocks = [
        (bi, bj)
        for bi in range(nby)
        for bj in range(nbx)
        if tissue[grid.block_slices(bi, bj)].any()
    ]
    lut, table = _area_table(info["area_ids"])
    fp = {
        "format": 1,
        "section": str(section.metadata.get("source", section.name)),
        "section_shape": [int(n) for n in section.levels[0].shape],
        "section_pixel_size_um": float(section.pixel_size_um[0]),
        "grid": [grid.origin_um, grid.stride_um, grid.shape, grid.block_tiles],
        "precision": precision,
        "views": views,
        **info["fingerprint"],
    }
    return MapPlan(
        section,
        grid,
        tissue,
        blocks,
        ref,
        lut,
        table,
        info["area_ids"],
        section_background(section),
        unit_scale(section.dtype),
        json.loads(json.dumps(fp)),
    )
