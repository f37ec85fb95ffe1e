"""Planning an area map: resolve the model, build the tile grid, find the tissue tiles and
the blocks to run, and fingerprint the run (for resuming)."""

from __future__ import annotations

import colorsys
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atlas import load_atlas
from ..sections import Section
from .describer import Describer, resolve_model_path
from .mapping_grid import MapGrid, NoTissueError, make_grid, tissue_mask
from .mapping_tasks import ModelRef, get_model, register_model
from .quality import DEFAULT_THRESHOLDS, QualityThresholds
from .scale_check import warn_if_coarse

#: a tile is mapped when at least this share of its area is tissue
MIN_TISSUE = 0.25
#: more tiles than this is no plan but a mistake (a whole 150 × 200 mm BigBrain section
#: has 7500 tiles at the default stride; 2 million tiles take hours on a GPU)
MAX_TILES = 2_000_000
#: a level-0 pixel size at or above this is implausible for a histology scan (µm/px):
#: the section would be metres wide
MAX_PIXEL_SIZE_UM = 100.0


class PlanError(ValueError):
    """The map's plan is absurd (far too many tiles, an implausible pixel size)."""


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
    fingerprint: dict[str, Any]
    #: the section's tissue level in [0, 1] and the field-quality limits (None: no check)
    tissue_threshold: float | None = None
    quality: QualityThresholds | None = None


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
        cfg = bundle_config(ref.path)
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


def bundle_config(path: str | Path) -> dict[str, Any]:
    """A bundle folder's ``config.json`` (read without loading the weights)."""
    return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))


def check_plan_size(
    section: Section,
    model: Any = "default",
    *,
    region_um: Any = None,
    stride_um: float | None = None,
    max_tiles: int = MAX_TILES,
) -> int:
    """The number of tiles the map's grid would have; raises :class:`PlanError` (one line)
    when it exceeds ``max_tiles`` or the section's pixel size is implausibly large
    (>= :data:`MAX_PIXEL_SIZE_UM`). Cheap: reads the model's config, not its weights,
    and no pixels. ``model``: ``"default"`` or a bundle folder."""
    cfg = bundle_config(resolve_model_path(model))["encoder"]
    grid = make_grid(
        section,
        float(cfg["pixel_size_um"]),
        int(cfg["patch_px"]),
        region_um=region_um,
        stride_um=stride_um,
    )
    n = int(grid.shape[0] * grid.shape[1])
    px = float(section.pixel_size_um[0])
    h_mm, w_mm = (v / 1000.0 for v in section.shape_um)
    if px >= MAX_PIXEL_SIZE_UM:
        raise PlanError(
            f"section {section.name!r}: a pixel size of {px:g} µm makes it {h_mm:,.0f} × "
            f"{w_mm:,.0f} mm, implausible for a brain section ({n:,} tiles); check the "
            "pixel size (--pixel-size-um sets it)"
        )
    if n > max_tiles:
        raise PlanError(
            f"section {section.name!r}: the map would have {n:,} tiles ({grid.shape[0]:,} × "
            f"{grid.shape[1]:,} of {grid.stride_um:g} µm over {h_mm:,.0f} × {w_mm:,.0f} mm), "
            f"more than {max_tiles:,}; check the pixel size ({px:g} µm/px) and the stride"
        )
    return n


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
    quality: QualityThresholds | None = DEFAULT_THRESHOLDS,
) -> MapPlan:
    """Resolve the model, the tile grid, the tissue tiles and the blocks to run.
    ``quality``: tiles whose field is unfit to read are rejected
    (:mod:`cytowords.describe.quality`); None: no check."""
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
        "quality": None if quality is None else asdict(quality),
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
        json.loads(json.dumps(fp)),
        float(tm.threshold),
        quality,
    )
