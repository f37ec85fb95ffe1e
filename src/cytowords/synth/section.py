"""Whole virtual sections: a folded cortical ribbon rendered lazily, chunk by chunk, with dask.

Every pyramid level is rendered directly at its own resolution (never by coarsening level 0),
so a 100k × 100k px section opens instantly and browsing only renders what is viewed. Each
chunk is a pure function of (seed, level, global pixel window): cells come from fixed 1 mm
world tiles seeded by (seed, tile index), noise is a hash of global pixel indices and the
blur uses a halo, so any window is identical whatever the chunking. The ground-truth area
labels (``section.labels["areas"]``) come from the same geometry at every level.

Rendered chunks are kept per process (:data:`RENDER_CACHE_BYTES`, least recently used
dropped first): dask forgets them after each compute, and a ROI's fields, their re-reads at
other pixel sizes, its readout and browsing back over the same tissue read the same chunks.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

import dask.array as da
import numpy as np

from ..atlas import load_atlas
from ..sections.section import LabelImage, Section
from .brain import VARIATIONS, realism_off_set, stable_seed
from .render import CELL_MODE_MAX_UM, render_window
from .ribbon import RibbonGeometry, ribbon_geometry
from .vessels import Vessels, sample_vessels, vessel_rng

TILE_UM = 1024.0
MAX_COARSEST_PX = 1024
#: rendered chunks kept per process, in bytes (a 1024² chunk is 1 MiB)
RENDER_CACHE_BYTES = 256 * 2**20

# key: _render_block's arguments; values are never handed out (callers get copies)
_RENDERED: OrderedDict[tuple, np.ndarray] = OrderedDict()
_RENDERED_LOCK = threading.Lock()


def _check(seed, size_mm, pixel_size_um, chunk_px) -> tuple[int, tuple[float, float], float, int]:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    try:
        w, h = (float(s) for s in size_mm)
    except (TypeError, ValueError):
        raise ValueError(f"size_mm must be (width, height) in mm, got {size_mm!r}") from None
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise ValueError(f"size_mm must be positive (width, height) in mm, got {size_mm!r}")
    if not (isinstance(pixel_size_um, (int, float)) and pixel_size_um > 0):
        raise ValueError(f"pixel_size_um must be a positive number (µm), got {pixel_size_um!r}")
    if not isinstance(chunk_px, (int, np.integer)) or chunk_px < 16:
        raise ValueError(f"chunk_px must be an integer >= 16, got {chunk_px!r}")
    return int(seed), (w, h), float(pixel_size_um), int(chunk_px)


def section_geometry(
    seed: int,
    *,
    size_mm: tuple[float, float] = (80, 60),
    include_unseen: bool = False,
    variation: str = "realistic",
    realism_off: Iterable[str] | None = None,
) -> RibbonGeometry:
    """Geometry of ``virtual_section(seed, size_mm=..., include_unseen=..., variation=...,
    realism_off=...)``.

    ``geometry.query(x_um, y_um)`` gives, for points in µm (origin top-left, x right, y
    down), ``depth`` (relative cortical depth: 0 pia, 1 white-matter border, < 0 outside
    the tissue), ``depth_um``, ``along_um`` (position along the pial surface, µm),
    ``label`` (area label, 0 outside the cortex) and ``area_index`` into
    ``geometry.area_ids``; ``geometry.bounds`` are the territory borders (µm along).
    Patches close along the ribbon and at similar depth are positives for contrastive
    pretraining.
    """
    seed, (w, h), _, _ = _check(seed, size_mm, 1.0, 16)
    off = _check_variation(variation, realism_off)
    return ribbon_geometry(seed, (w * 1000.0, h * 1000.0), bool(include_unseen), variation, off)


def _check_variation(variation, realism_off) -> frozenset[str]:
    if variation not in VARIATIONS:
        raise ValueError(f"variation must be one of {VARIATIONS}, got {variation!r}")
    return realism_off_set(realism_off, variation)


def _tiles(geom: RibbonGeometry, seed: int) -> Callable[[tuple], Iterator]:
    def sources(bbox) -> Iterator[tuple[tuple, np.random.Generator]]:
        x0, y0, x1, y1 = bbox
        for ty in range(int(math.floor(y0 / TILE_UM)), int(math.floor(y1 / TILE_UM)) + 1):
            for tx in range(int(math.floor(x0 / TILE_UM)), int(math.floor(x1 / TILE_UM)) + 1):
                tb = (tx * TILE_UM, ty * TILE_UM, (tx + 1) * TILE_UM, (ty + 1) * TILE_UM)
                gx, gy = np.meshgrid(np.linspace(tb[0], tb[2], 6), np.linspace(tb[1], tb[3], 6))
                if geom.sample(gx.ravel(), gy.ravel())[0].max() < -300:
                    continue  # tile entirely outside the tissue
                yield tb, np.random.default_rng(stable_seed("cells", seed, tx, ty))

    return sources


def tile_vessels(geom: RibbonGeometry) -> Callable[[tuple], Vessels]:
    """``f(bbox)``: the vessels of the world tiles meeting ``bbox`` (µm), each tile sampled
    once per geometry and kept (every chunk, level and truth query sees the same)."""
    sources = _tiles(geom, geom.seed)
    cache = geom.vessel_cache

    def get(bbox) -> Vessels:
        x0, y0, x1, y1 = bbox
        parts = []
        for ty in range(int(math.floor(y0 / TILE_UM)), int(math.floor(y1 / TILE_UM)) + 1):
            for tx in range(int(math.floor(x0 / TILE_UM)), int(math.floor(x1 / TILE_UM)) + 1):
                v = cache.get((tx, ty))
                if v is None:
                    inner = (tx * TILE_UM + 1, ty * TILE_UM + 1)
                    inner += (inner[0] + TILE_UM - 2, inner[1] + TILE_UM - 2)
                    v = cache[tx, ty] = Vessels.concat(
                        [sample_vessels(geom, tb, vessel_rng(rng)) for tb, rng in sources(inner)]
                    )
                parts.append(v)
        return Vessels.concat(parts)

    return get


def _offsets(chunks: tuple[tuple[int, ...], ...], block_id: tuple[int, int]) -> tuple[int, int]:
    return tuple(int(sum(c[:i])) for c, i in zip(chunks, block_id))


def clear_render_cache() -> None:
    """Forget every rendered chunk of this process (benchmarks that time rendering)."""
    with _RENDERED_LOCK:
        _RENDERED.clear()


def _render_block(seed, size_um, unseen, variation, off, level, pixel_um, chunks, block_id=None):
    key = (seed, size_um, unseen, variation, off, level, pixel_um, chunks, tuple(block_id))
    with _RENDERED_LOCK:
        hit = _RENDERED.get(key)
        if hit is not None:
            _RENDERED.move_to_end(key)
            return hit.copy()
    out = _render_chunk(seed, size_um, unseen, variation, off, level, pixel_um, chunks, block_id)
    with _RENDERED_LOCK:
        if key not in _RENDERED and out.nbytes <= RENDER_CACHE_BYTES:
            _RENDERED[key] = out.copy()
            total = sum(a.nbytes for a in _RENDERED.values())
            while total > RENDER_CACHE_BYTES:
                total -= _RENDERED.popitem(last=False)[1].nbytes
    return out


def _render_chunk(seed, size_um, unseen, variation, off, level, pixel_um, chunks, block_id):
    geom = ribbon_geometry(seed, size_um, unseen, variation, off)
    r0, c0 = _offsets(chunks, block_id)
    shape = (chunks[0][block_id[0]], chunks[1][block_id[1]])
    return render_window(
        geom,
        geom.brain,
        origin_um=(c0 * pixel_um, r0 * pixel_um),
        shape=shape,
        pixel_um=pixel_um,
        cell_sources=_tiles(geom, seed),
        vessel_sources=tile_vessels(geom),
        noise_key=stable_seed("section", seed, level) % 2**62,
        row0=r0,
        col0=c0,
    )


def _label_block(seed, size_um, unseen, variation, off, pixel_um, chunks, block_id=None):
    geom = ribbon_geometry(seed, size_um, unseen, variation, off)
    r0, c0 = _offsets(chunks, block_id)
    h, w = chunks[0][block_id[0]], chunks[1][block_id[1]]
    xs = (c0 + np.arange(w) + 0.5) * pixel_um
    ys = (r0 + np.arange(h) + 0.5) * pixel_um
    gx, gy = np.meshgrid(xs, ys)
    return geom.query(gx, gy)["label"].astype(np.uint16)


def level_shapes(size_um: tuple[float, float], pixel_size_um: float) -> list[tuple[int, int]]:
    """Shapes ``(rows, cols)`` of every pyramid level (halving until <= 1024 px)."""
    h0 = max(1, math.ceil(size_um[1] / pixel_size_um))
    w0 = max(1, math.ceil(size_um[0] / pixel_size_um))
    shapes, k = [], 0
    while True:
        s = (max(1, math.ceil(h0 / 2**k)), max(1, math.ceil(w0 / 2**k)))
        shapes.append(s)
        if max(s) <= MAX_COARSEST_PX:
            return shapes
        k += 1


def virtual_section(
    seed: int,
    *,
    size_mm: tuple[float, float] = (80, 60),
    pixel_size_um: float = 2.0,
    chunk_px: int = 1024,
    include_unseen: bool = False,
    variation: str = "realistic",
    realism_off: Iterable[str] | None = None,
) -> Section:
    """A lazily rendered synthetic section (uint8, dark somata on a bright background).

    Args:
        seed: the section and brain seed (individual, folding and area layout).
        size_mm: ``(width, height)`` of the slide in mm.
        pixel_size_um: µm per pixel of level 0; level k has ``pixel_size_um * 2**k``.
        chunk_px: dask chunk edge in pixels (any chunking gives identical pixels).
        include_unseen: also place the atlas's unseen areas (open-set tests).
        variation: the brain's variation model, ``"realistic"`` (folding with Bok's
            equivolume variation, vessels, cracks...) or ``"classic"`` (see
            :class:`~cytowords.synth.brain.Brain`).
        realism_off: components of the realistic model to switch off, one or several of
            ``synth.brain.REALISM_COMPONENTS`` (ablation; default: none).

    Nothing is rendered until pixels are computed; the geometry is built on first access.
    """
    seed, (w, h), p0, chunk = _check(seed, size_mm, pixel_size_um, chunk_px)
    size_um = (w * 1000.0, h * 1000.0)
    unseen = bool(include_unseen)
    off = _check_variation(variation, realism_off)
    geom = ribbon_geometry(seed, size_um, unseen, variation, off)
    atlas = load_atlas()
    levels, label_levels, sizes = [], [], []
    for k, shape in enumerate(level_shapes(size_um, p0)):
        p = p0 * 2**k
        chunks = da.core.normalize_chunks((chunk, chunk), shape)
        tag = f"{seed}-{w}x{h}-{p0}-{unseen}-{variation}-{k}-{chunk}"
        if off:
            tag += "-off-" + "-".join(sorted(off))
        levels.append(
            da.map_blocks(
                _render_block,
                seed,
                size_um,
                unseen,
                variation,
                off,
                k,
                p,
                chunks,
                chunks=chunks,
                dtype=np.uint8,
                name=f"cytowords-synth-section-{tag}",
                meta=np.empty((0, 0), np.uint8),
            )
        )
        label_levels.append(
            da.map_blocks(
                _label_block,
                seed,
                size_um,
                unseen,
                variation,
                off,
                p,
                chunks,
                chunks=chunks,
                dtype=np.uint16,
                name=f"cytowords-synth-labels-{tag}",
                meta=np.empty((0, 0), np.uint16),
            )
        )
        sizes.append(p)
    names = {atlas.label_of(a): a for a in geom.area_ids}  # 0 (background) is implicit
    colors = {atlas.label_of(a): atlas.color(a) for a in geom.area_ids}
    labels = LabelImage(levels=label_levels, pixel_size_um=list(sizes), names=names, colors=colors)
    meta = {
        "generator": "cytowords.synth.virtual_section",
        "seed": seed,
        "size_mm": [w, h],
        "include_unseen": unseen,
        "variation": variation,
        **({"realism_off": sorted(off)} if off else {}),
        "atlas_version": atlas.version,
        "area_ids": list(geom.area_ids),
        "cell_mode_max_um": CELL_MODE_MAX_UM,
        "contrast_limits": [0, 255],
        "geometry": "cytowords.synth.section_geometry(seed, size_mm=..., include_unseen=..., "
        "variation=...)",
    }
    return Section(
        levels=levels,
        pixel_size_um=list(sizes),
        name=f"virtual-section-{seed}",
        metadata=meta,
        labels={"areas": labels},
    )
