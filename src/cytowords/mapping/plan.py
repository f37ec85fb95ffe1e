"""Planning an area map: the tile grid, the tissue tiles, the blocks to run, the model
and the evaluation path (dense or per field), and the run's fingerprint (for resuming).

One map pixel is one *tile* of ``stride_um`` µm; the model field of a tile (``patch_px`` px
at the model's pixel size, plus the encoder's context on each side) is centred on the tile
(to within half a model pixel). The stride is snapped to a whole number of model pixels and
the grid origin to the model pixel grid, so every field is a pixel-exact slice of its
block's window. Tiles are grouped in square *blocks* of ``block_tiles`` × ``block_tiles``
tiles: the unit of work (one dask task reads one window for a block and runs the model on
its tissue tiles) and of resuming. A tile is over tissue when at least :data:`MIN_TISSUE`
of its area is dark in the section's tissue mask (:func:`cytowords.sections.tissue_mask`).
"""

from __future__ import annotations

import colorsys
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atlas import load_atlas
from ..model import resolve_model_path
from ..model.bundle.handle import register_bundle
from ..sections import NoTissueError, Section, TissueMask, tissue_mask
from ..sections.quality import DEFAULT_THRESHOLDS, QualityThresholds, warn_if_coarse
from .dense import DenseLayout, default_block_tiles, dense_layout
from .infer import ModelRef, get_model


def _integral(mask: np.ndarray) -> np.ndarray:
    ii = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.float64)
    ii[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)
    return ii


@dataclass(frozen=True)
class MapGrid:
    """Tile grid over a section (µm, corner convention of :mod:`cytowords.sections`).

    Attributes:
        origin_um: ``(y, x)`` of the top-left corner of tile (0, 0).
        stride_um: tile side (= map pixel size), a whole number of model pixels.
        shape: ``(rows, cols)`` of tiles.
        model_px_um: model pixel size (µm/px); patch_px: patch side (px).
        block_tiles: tiles per block side.
        context_px: the encoder's context (px) on each side of the patch: a tile's field
            is ``field_px = patch_px + 2 * context_px`` px square, centred like the patch.
    """

    origin_um: tuple[float, float]
    stride_um: float
    shape: tuple[int, int]
    model_px_um: float
    patch_px: int
    block_tiles: int
    context_px: int = 0

    @property
    def field_px(self) -> int:
        """Side (px) of the window the encoder reads per tile: patch plus context."""
        return self.patch_px + 2 * self.context_px

    @property
    def stride_px(self) -> int:
        return int(round(self.stride_um / self.model_px_um))

    @property
    def patch_offset_um(self) -> float:
        """Offset from a tile's corner to its patch's corner (whole model pixels)."""
        return ((self.stride_px - self.patch_px) // 2) * self.model_px_um

    @property
    def block_shape(self) -> tuple[int, int]:
        """Number of blocks ``(rows, cols)``."""
        b = self.block_tiles
        return (-(-self.shape[0] // b), -(-self.shape[1] // b))

    def block_slices(self, bi: int, bj: int) -> tuple[slice, slice]:
        """Tile rows/cols of block ``(bi, bj)``."""
        b = self.block_tiles
        return (
            slice(bi * b, min(self.shape[0], (bi + 1) * b)),
            slice(bj * b, min(self.shape[1], (bj + 1) * b)),
        )

    def window_um(self, rows: slice, cols: slice) -> tuple[float, float, float, float]:
        """``(y0, x0, h, w)`` µm of the window holding the patches of these tiles."""
        s, off, p = self.stride_um, self.patch_offset_um, self.model_px_um
        y0 = self.origin_um[0] + rows.start * s + off
        x0 = self.origin_um[1] + cols.start * s + off
        h = ((rows.stop - rows.start - 1) * self.stride_px + self.patch_px) * p
        w = ((cols.stop - cols.start - 1) * self.stride_px + self.patch_px) * p
        return y0, x0, h, w

    def tissue_fraction(self, tm: TissueMask) -> np.ndarray:
        """``(rows, cols)`` share of each tile's area covered by tissue (coarse-pixel exact)."""
        mh, mw = tm.mask.shape

        def edges(o: float, n: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
            e = (o + np.arange(n + 1) * self.stride_um) / tm.pixel_size_um
            a = np.clip(np.floor(e[:-1]).astype(int), 0, limit)
            b = np.clip(np.maximum(np.ceil(e[1:]).astype(int), a + 1), 0, limit)
            return a, b

        ya, yb = edges(self.origin_um[0], self.shape[0], mh)
        xa, xb = edges(self.origin_um[1], self.shape[1], mw)
        # the summed-area table of the grid's part of the mask only (a live map's view is
        # a small part of the section); counts are whole numbers, so exact either way
        y0, x0 = int(ya.min()), int(xa.min())
        ii = _integral(tm.mask[y0 : int(yb.max()), x0 : int(xb.max())].astype(np.float64))
        ya, yb, xa, xb = ya - y0, yb - y0, xa - x0, xb - x0
        tot = ii[yb][:, xb] - ii[ya][:, xb] - ii[yb][:, xa] + ii[ya][:, xa]
        area = np.outer(yb - ya, xb - xa).astype(np.float64)
        return np.where(area > 0, tot / np.maximum(area, 1), 0.0)


def make_grid(
    section: Section,
    model_px_um: float,
    patch_px: int,
    *,
    region_um: tuple[float, float, float, float] | None = None,
    stride_um: float | None = None,
    block_tiles: int = 16,
    context_px: int = 0,
) -> MapGrid:
    """Tile grid over ``region_um = (y0, x0, y1, x1)`` (default: the whole section).

    ``stride_um`` defaults to half the patch side; it is rounded to whole model pixels.
    ``context_px``: the encoder's context on each side of a patch (px).
    """
    hu, wu = section.shape_um
    if region_um is None:
        region_um = (0.0, 0.0, hu, wu)
    try:
        y0, x0, y1, x1 = (float(v) for v in region_um)
    except (TypeError, ValueError):
        raise ValueError(f"region_um={region_um!r}: expected (y0, x0, y1, x1) in µm") from None
    y0, x0, y1, x1 = max(0.0, y0), max(0.0, x0), min(hu, y1), min(wu, x1)
    if not all(math.isfinite(v) for v in (y0, x0, y1, x1)) or y1 <= y0 or x1 <= x0:
        raise ValueError(
            f"region_um={region_um!r}: empty inside the section of {hu:.0f} × {wu:.0f} µm; "
            "expected (y0, x0, y1, x1) with y0 < y1, x0 < x1 in µm"
        )
    if int(block_tiles) < 1:
        raise ValueError(f"block_tiles={block_tiles}; expected >= 1")
    if stride_um is None:
        stride_um = patch_px * model_px_um / 2.0
    if not (math.isfinite(float(stride_um)) and float(stride_um) > 0):
        raise ValueError(f"stride_um={stride_um!r}; expected a positive number of µm")
    sp = max(1, int(round(float(stride_um) / model_px_um)))
    s = sp * model_px_um
    oy, ox = math.floor(y0 / model_px_um) * model_px_um, math.floor(x0 / model_px_um) * model_px_um
    shape = (max(1, math.ceil((y1 - oy) / s - 1e-9)), max(1, math.ceil((x1 - ox) / s - 1e-9)))
    return MapGrid(
        (oy, ox), s, shape, float(model_px_um), int(patch_px), int(block_tiles), int(context_px)
    )


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
    #: the dense evaluation's layout (:mod:`.dense`); None: per-field evaluation
    dense: DenseLayout | None = None


def resolve_map_model(model: Any, device: str, *, distributed: bool) -> tuple[ModelRef, dict]:
    """``"default"`` / a bundle path / a loaded ModelBundle or Describer -> (ModelRef, info).

    info: ``pixel_size_um``, ``patch_px``, ``context_px``, ``area_ids``, ``layout`` (the encoder's
    :class:`~.dense.DenseLayout`, None when it cannot run densely), ``view_table`` and
    ``fingerprint``. A loaded model is used as is in this process; a distributed run needs
    a path (workers load it; this process loads it once on the CPU to read the encoder)."""
    if hasattr(model, "bundle") and hasattr(model, "model_path"):  # a Describer
        # its bundle is the model handle's: the tasks get the same one from the path
        model, device = model.model_path, str(model.bundle.device)
    if hasattr(model, "encoder") and hasattr(model, "classify"):  # a loaded ModelBundle
        if distributed:
            raise ValueError(
                "a distributed area map needs the model bundle's folder (workers load it "
                "themselves); pass the path instead of a loaded ModelBundle"
            )
        bundle = model
        ref = ModelRef(f"<in-memory {id(bundle)}>", str(bundle.device))
        register_bundle(ref.path, ref.device, bundle)
    else:
        ref = ModelRef(str(resolve_model_path(model).resolve()), str(device))
        # fail fast here with a clear BundleError; a distributed run only reads the
        # encoder's geometry here (on the CPU: the cluster may have devices this one lacks)
        bundle, _ = get_model(ModelRef(ref.path, "cpu") if distributed else ref)
    from ..model.tta import view_table

    cfg = bundle.config
    info = {
        "pixel_size_um": float(bundle.pixel_size_um),
        "patch_px": int(bundle.patch_px),
        "area_ids": list(bundle.area_ids),
        "layout": dense_layout(bundle.encoder),
        "context_px": int(getattr(bundle.encoder, "context_px", 0)),
        "view_table": view_table(cfg),  # (default views, threshold per view count)
        "fingerprint": {
            "model": ref.path,
            "area_ids": list(bundle.area_ids),
            "threshold": cfg.get("threshold"),
            "encoder": cfg.get("encoder"),
        },
    }
    return ref, info


def bundle_config(path: str | Path) -> dict[str, Any]:
    """A bundle folder's ``config.json`` (read without loading the weights; a missing,
    malformed or foreign one is :class:`~cytowords.model.BundleError`, one line naming the
    folder)."""
    from ..model.bundle.folder import _read_config

    return _read_config(Path(path))


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


def _blocks_holding(grid: MapGrid, points_um: Any) -> np.ndarray:
    """``(rows, cols)`` bool tile mask of the blocks holding one of ``points_um``
    (``(N, 2)`` µm ``(y, x)``; points outside the grid hold none)."""
    pts = np.asarray(points_um, dtype=float).reshape(-1, 2)
    tile = np.floor((pts - np.asarray(grid.origin_um)) / grid.stride_um).astype(np.int64)
    inside = np.all((tile >= 0) & (tile < np.asarray(grid.shape)), axis=1)
    keep = np.zeros(grid.shape, dtype=bool)
    for bi, bj in {tuple(t) for t in (tile[inside] // grid.block_tiles).tolist()}:
        keep[grid.block_slices(bi, bj)] = True
    return keep


def plan_map(
    section: Section,
    model: Any,
    *,
    region_um: Any = None,
    stride_um: float | None = None,
    device: str = "auto",
    precision: str = "auto",
    block_tiles: int | None = None,
    distributed: bool = False,
    torch_threads: int | None = None,
    views: int | None = None,
    quality: QualityThresholds | None = DEFAULT_THRESHOLDS,
    dense: bool | None = None,
    blocks_at_um: Any = None,
) -> MapPlan:
    """Resolve the model, the evaluation path, the tile grid, the tissue tiles and the
    blocks to run.

    ``dense``: None chooses the dense path when the encoder has one (``dense_features``),
    else per field; False forces per-field evaluation; True requires the dense path
    (ValueError for an encoder without it). ``block_tiles``: tiles per block side (None:
    :func:`~.dense.default_block_tiles`). ``quality``: tiles whose field is unfit to
    read are rejected (:mod:`cytowords.sections.quality`); None: no check.
    ``blocks_at_um``: ``(N, 2)`` points ``(y, x)`` µm; only the blocks holding one of them
    are run, and only their tiles count as tissue (a sample of the section)."""
    ref, info = resolve_map_model(model, device, distributed=distributed)
    from ..model.tta import resolve_views

    default, table = info["view_table"]
    views = resolve_views(table, default, views)  # checked here, before any work
    ref = ModelRef(ref.path, ref.device, precision, torch_threads, views)
    layout = info["layout"]
    if dense and layout is None:
        raise ValueError(
            f"model {ref.path}: its encoder has no dense evaluation (dense_features); "
            "map it per field (dense=False or leave dense unset)"
        )
    if dense is False:
        layout = None
    warn_if_coarse(section, info["pixel_size_um"])
    if block_tiles is None:
        block_tiles = default_block_tiles(
            layout, info["patch_px"], info["pixel_size_um"], stride_um
        )
    grid = make_grid(
        section,
        info["pixel_size_um"],
        info["patch_px"],
        region_um=region_um,
        stride_um=stride_um,
        block_tiles=block_tiles,
        context_px=info["context_px"],
    )
    tm = tissue_mask(section)
    tissue = grid.tissue_fraction(tm) >= MIN_TISSUE
    if not tissue.any():
        raise NoTissueError(
            f"section {section.name!r}: no tile of {grid.stride_um:g} µm in the mapped region "
            f"is over tissue (>= {MIN_TISSUE:.0%} dark); expected tissue in the region"
        )
    if blocks_at_um is not None:
        tissue = tissue & _blocks_holding(grid, blocks_at_um)
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
        "evaluation": "per field" if layout is None else asdict(layout),
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
        layout,
    )
