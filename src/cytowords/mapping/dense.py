"""Dense evaluation: the encoder's trunk runs once over each block's window, not once per field.

An encoder that can run densely has ``dense_inputs(x (N, 1, H, W)) -> z`` (what its trunk
reads, equivariant under mirrors and rotations), ``dense_features(x, z) -> (N, F, H',
W')`` (valid positions only) and a pointwise projection in two parts, ``project_hidden`` (``(...,
F) -> (..., H)``, per test-time view) and ``project_out`` (``(..., H) -> (..., D)``, affine,
once on the views' average), a feature stride ``feature_stride_px`` (s) and a context
``context_px`` (c) on each side of its ``patch_px`` (P) patch: output ``(i, j)`` is the
field whose whole input window (``P + 2c`` px square) starts at input pixel ``(offset +
i*s, offset + j*s)``; ``dense_embed`` is the three at every position. :func:`dense_layout`
is the one place that reads this contract from an encoder; an encoder without
``dense_features`` (older bundles, TorchScript externals) is mapped per field
(:mod:`.infer`).

Geometry. The output positions of a map form one lattice over the section: step s model
pixels, origin at the field window of tile (0, 0). A block reads the window covering the
lattice positions its tiles need plus the halo (the whole field window around each
position: context plus half a field on each side), so every position is valid and is
computed from exactly the pixels a per-field read would give it: maps computed with
different block sizes are identical. Tiles take the nearest lattice position when the map
stride is at least s (exact when the stride is a multiple of s); a map finer than s
interpolates the embeddings bilinearly between the four surrounding positions before the
head.

Test-time views apply to the whole window: mirror/rotate it, ``dense_features``, read
each tile's positions back in the original orientation; the projection runs only at the
positions the tiles read, its hidden layer averaged over the views
(:func:`cytowords.model.tta.dense_embed_views`).
Window sides are ``P + 2c + (n - 1) s`` px, so the dihedral symmetries map the lattice onto itself and each view's
output at a position is the embedding of that view of the field, as per field.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model.tta import dense_embed_views
from ..sections import section_intensity
from ..sections.quality import assess_block
from .infer import (
    BlockResult,
    ModelRef,
    autocast,
    autocast_dtype,
    block_result,
    concat_scores,
    get_model,
    score_embeddings,
    use_sync_reads,
)

if TYPE_CHECKING:
    from .plan import MapGrid

#: a dense block's window is about this many fields wide (the halo is then a small share)
BLOCK_FIELDS = 8
#: block sides (tiles) of the per-field path and the bounds of the dense path's
PER_FIELD_BLOCK_TILES = 16
MAX_DENSE_BLOCK_TILES = 512
#: tiles per head/scorer call (keeps memory flat in the block size)
HEAD_BATCH = 16384


@dataclass(frozen=True)
class DenseLayout:
    """How an encoder's dense output lies over its input (model pixels).

    Attributes:
        stride_px: feature stride s (px between neighbouring output positions).
        context_px: context c on each side of the patch (px).
        window_px: side of the input window of one output position, ``patch_px + 2c``.
        offset_px: where output (0, 0)'s window starts in the input (px).
    """

    stride_px: int
    context_px: int
    window_px: int
    offset_px: int = 0


def dense_layout(encoder: Any) -> DenseLayout | None:
    """The encoder's :class:`DenseLayout`, or None when it cannot run densely (no
    ``dense_features``, or ``supports_dense`` false). The one place that interprets the
    dense contract (module doc)."""
    if not getattr(encoder, "supports_dense", callable(getattr(encoder, "dense_features", None))):
        return None
    s = int(encoder.feature_stride_px)
    c = int(getattr(encoder, "context_px", 0))
    if s < 1 or c < 0:
        raise ValueError(
            f"encoder {type(encoder).__name__}: feature_stride_px={s}, context_px={c}; "
            "expected a stride >= 1 px and a context >= 0 px"
        )
    return DenseLayout(stride_px=s, context_px=c, window_px=int(encoder.patch_px) + 2 * c)


def default_block_tiles(
    layout: DenseLayout | None, patch_px: int, model_px_um: float, stride_um: float | None
) -> int:
    """Tiles per block side: 16 per field; dense, enough for a window about
    :data:`BLOCK_FIELDS` fields wide (between 16 and :data:`MAX_DENSE_BLOCK_TILES`)."""
    if layout is None:
        return PER_FIELD_BLOCK_TILES
    s_um = stride_um if stride_um else patch_px * model_px_um / 2.0
    sp = max(1, round(float(s_um) / model_px_um))
    n = math.ceil(BLOCK_FIELDS * layout.window_px / sp)
    return int(min(MAX_DENSE_BLOCK_TILES, max(PER_FIELD_BLOCK_TILES, n)))


# --- block geometry --------------------------------------------------------------------
@dataclass(frozen=True)
class AxisSamples:
    """Lattice positions of a block's tiles along one axis: the block needs positions
    ``k0 .. k0 + n - 1``; tile ``t`` lies at position ``k0 + index[t] + frac[t]``
    (``frac`` in [0, 1): the weight of the next position; 0 for nearest sampling)."""

    k0: int
    n: int
    index: np.ndarray
    frac: np.ndarray


def axis_samples(tiles: slice, stride_px: int, layout: DenseLayout) -> AxisSamples:
    """Where the tiles ``tiles`` of a grid with ``stride_px`` model px between tiles lie on
    the output lattice (step ``layout.stride_px``): nearest position when the map stride is
    at least the feature stride, else linear interpolation between two positions."""
    s = layout.stride_px
    q, rem = np.divmod(np.arange(tiles.start, tiles.stop, dtype=np.int64) * stride_px, s)
    if stride_px >= s:
        k, frac = q + (2 * rem >= s), np.zeros(len(q))
    else:
        k, frac = q, rem / s
    k0 = int(k[0])
    n = int(k[-1]) - k0 + 1 + int(frac[-1] > 0)
    return AxisSamples(k0, n, (k - k0).astype(np.int64), frac.astype(np.float32))


@dataclass
class DenseInput:
    """One block's window at model resolution (float32 in [0, 1]) and its geometry."""

    index: tuple[int, int]
    tiles: np.ndarray  # (K, 2) tissue tile row/col inside the block
    image: np.ndarray  # (H, W)
    ys: AxisSamples
    xs: AxisSamples
    read_s: float


def block_window_px(
    layout: DenseLayout, ys: AxisSamples, xs: AxisSamples
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(y0, x0)`` (model px from the lattice origin, i.e. the field window of tile
    (0, 0)) and ``(h, w)`` px of the window a block reads."""
    extra = 2 * layout.offset_px + layout.window_px - layout.stride_px
    return (
        (ys.k0 * layout.stride_px - layout.offset_px, xs.k0 * layout.stride_px - layout.offset_px),
        (ys.n * layout.stride_px + extra, xs.n * layout.stride_px + extra),
    )


def read_dense_block(
    section: Any,
    grid: MapGrid,
    layout: DenseLayout,
    index: tuple[int, int],
    tissue: np.ndarray,
    client_pid: int = -1,
) -> DenseInput:
    """Read block ``index``'s window (the lattice positions its tiles need, with the halo)
    at the model's pixel size, scaled to [0, 1] by the section's intensity range.
    ``tissue``: the block's ``(h, w)`` boolean tile mask."""
    t0 = time.perf_counter()
    use_sync_reads(client_pid)
    section = getattr(section, "section", section)
    rows, cols = grid.block_slices(*index)
    ys = axis_samples(rows, grid.stride_px, layout)
    xs = axis_samples(cols, grid.stride_px, layout)
    (py, px), (h, w) = block_window_px(layout, ys, xs)
    p = grid.model_px_um
    ly = grid.origin_um[0] + grid.patch_offset_um - grid.context_px * p  # lattice origin
    lx = grid.origin_um[1] + grid.patch_offset_um - grid.context_px * p
    inten = section_intensity(section)
    raw = section.read_window(
        ly + py * p, lx + px * p, h * p, w * p, p, fill=inten.background, model_view=True
    )
    image = inten.to_unit(np.asarray(raw, dtype=np.float32))
    return DenseInput(tuple(index), np.argwhere(tissue), image, ys, xs, time.perf_counter() - t0)


def nearest_corners(layout: DenseLayout, block: DenseInput) -> tuple[np.ndarray, np.ndarray]:
    """The top-left corners ``(M, 2)`` (px in the block's image) of the field windows
    (``window_px`` square) at the lattice positions nearest the block's tissue tiles (each
    position once) and, per tile, the index of its field. On the lattice (a stride that is
    a multiple of the feature stride) these are exactly the tiles' own fields; a finer map
    checks each field once, not once per tile."""
    t = block.tiles
    ky = block.ys.index[t[:, 0]] + (block.ys.frac[t[:, 0]] >= 0.5)
    kx = block.xs.index[t[:, 1]] + (block.xs.frac[t[:, 1]] >= 0.5)
    pos, which = np.unique(np.stack([ky, kx], 1), axis=0, return_inverse=True)
    return layout.offset_px + pos * layout.stride_px, which.ravel()


def sampled_positions(ys: AxisSamples, xs: AxisSamples, tiles: np.ndarray) -> np.ndarray:
    """The lattice positions ``(K, 2)`` (row, column in the block's ``(ny, nx)`` map, each
    once) that :func:`sample_tiles` reads for the tiles ``tiles``: each tile's position,
    and the next row/column where it interpolates."""
    need = np.zeros((ys.n, xs.n), dtype=bool)
    iy, ix = ys.index[tiles[:, 0]], xs.index[tiles[:, 1]]
    iy1 = np.where(ys.frac[tiles[:, 0]] > 0, np.minimum(iy + 1, ys.n - 1), iy)
    ix1 = np.where(xs.frac[tiles[:, 1]] > 0, np.minimum(ix + 1, xs.n - 1), ix)
    for r, c in ((iy, ix), (iy, ix1), (iy1, ix), (iy1, ix1)):
        need[r, c] = True
    return np.argwhere(need)


def sample_tiles(emb: Any, ys: AxisSamples, xs: AxisSamples, tiles: np.ndarray) -> Any:
    """Embeddings ``(K, D)`` of the tiles ``tiles`` (``(K, 2)`` row/col in the block) from a
    block's embedding map ``(D, ny, nx)``: nearest or bilinear, as :func:`axis_samples`."""
    import torch

    iy, fy = ys.index[tiles[:, 0]], torch.from_numpy(ys.frac[tiles[:, 0]])[:, None]
    ix, fx = xs.index[tiles[:, 1]], torch.from_numpy(xs.frac[tiles[:, 1]])[:, None]
    e = emb.permute(1, 2, 0)  # (ny, nx, D)
    if not (ys.frac[tiles[:, 0]].any() or xs.frac[tiles[:, 1]].any()):
        # every tile on a lattice position (a stride >= the feature stride): one gather
        return e[iy, ix]
    iy1, ix1 = np.minimum(iy + 1, ys.n - 1), np.minimum(ix + 1, xs.n - 1)
    fy, fx = fy.to(e.device, e.dtype), fx.to(e.device, e.dtype)
    top = torch.lerp(e[iy, ix], e[iy, ix1], fx)
    return torch.lerp(top, torch.lerp(e[iy1, ix], e[iy1, ix1], fx), fy)


def infer_dense_block(
    ref: ModelRef,
    grid: MapGrid,
    layout: DenseLayout,
    block: DenseInput,
    batch_size: int = 64,
    tissue_threshold: float | None = None,
    quality: Any = None,
) -> BlockResult:
    """Run the encoder densely over a block's window (this process's cached model), sample
    the tissue tiles' embeddings, score them with the head and open-set scorer. Fields
    unfit to read are checked at the lattice positions nearest the tiles
    (:func:`nearest_corners`), over the block's window at once
    (:func:`~cytowords.sections.quality.assess_block`: the verdicts of
    :func:`~.infer.unfit_fields` on the cut-out fields). ``batch_size`` is unused (one window)."""
    import torch

    t0 = time.perf_counter()
    scores = None
    if len(block.tiles):
        bundle, lock = get_model(ref)
        dev = bundle.device
        views = bundle.views if ref.views is None else ref.views
        with lock, torch.inference_mode():
            t0 = time.perf_counter()
            x = torch.from_numpy(np.ascontiguousarray(block.image))[None, None].to(dev)
            # the trunk runs over the whole window; the projection only where tiles read
            at = torch.from_numpy(sampled_positions(block.ys, block.xs, block.tiles)).to(dev)
            with autocast(dev, autocast_dtype(dev.type, ref.precision)):
                emb_at = dense_embed_views(bundle.encoder, x, views, at=at)[0].float()
            # (ny, nx, D) in memory: each tile's embedding is one contiguous row
            emb = torch.zeros((block.ys.n, block.xs.n, emb_at.shape[1]), device=dev)
            emb[at[:, 0], at[:, 1]] = emb_at
            emb = emb.permute(2, 0, 1)
            parts = [
                score_embeddings(bundle, sample_tiles(emb, block.ys, block.xs, t), views)
                for t in np.array_split(block.tiles, -(-len(block.tiles) // HEAD_BATCH))
            ]
        scores = concat_scores(parts)
    compute_s = time.perf_counter() - t0
    unfit = None
    if quality is not None and len(block.tiles):
        corners, which = nearest_corners(layout, block)
        q = assess_block(block.image, corners, layout.window_px, tissue_threshold, quality)
        unfit = q.flagged[which]
    return block_result(grid, block.index, block.tiles, scores, unfit, block.read_s, compute_s)


# --- fields of a region (describe) ------------------------------------------------------
#: fewest fields for which a region's fields are embedded densely. Measured on the bundled
#: model (CPU time, 1 thread, 8 views, fields 32 px apart as the describer's grid, best of 5,
#: 2026-12-04): one field costs 0.022 s dense vs 0.014 s per field (dense slower: one
#: call per view instead of one batch), a 2 × 2 grid 0.029 vs 0.050 s (×1.7), 3 × 3 ×4.8,
#: 5 × 5 ×10: dense is cheaper from 4 fields on.
DENSE_MIN_FIELDS = 4


@dataclass
class RegionFields:
    """A region's fields read at the model's pixel size.

    Attributes:
        centres_um: ``(M, 2)`` field centres, µm ``(y, x)`` from the section's corner (on
            the encoder's feature lattice when dense).
        patches: ``(M, read_px, read_px)`` float32 in [0, 1]: each field with its context,
            as :func:`cytowords.sections.read_fields` reads it.
        emb: ``(M, D)`` embeddings (``views`` test-time views) when evaluated densely, else
            None (the caller embeds ``patches``).
        evaluation: ``"dense"`` or ``"per field"``.
    """

    centres_um: np.ndarray
    patches: np.ndarray
    emb: Any
    evaluation: str


def snap_to_lattice(
    centres_um: np.ndarray, pixel_size_um: float, read_px: int, stride_px: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move field centres to the nearest point of a feature lattice (step ``stride_px``
    model px, at most half a step away). Returns the snapped centres ``(M, 2)`` µm, the
    lattice positions ``(M, 2)`` (row, column, from 0) and the window origin ``(2,)`` µm
    (top-left of position (0, 0)'s field window, on the section's model pixel grid)."""
    c = np.asarray(centres_um, dtype=np.float64).reshape(-1, 2)
    ps, half = float(pixel_size_um), read_px * float(pixel_size_um) / 2.0
    lo = np.floor((c.min(axis=0) - half) / ps) * ps
    k = np.round((c - half - lo) / (stride_px * ps)).astype(np.int64)
    k -= k.min(axis=0)
    return lo + k * stride_px * ps + half, k, lo


def read_region_fields(
    section: Any,
    bundle: Any,
    centres_um: np.ndarray,
    *,
    dense: bool | None = None,
    min_dense_fields: int = DENSE_MIN_FIELDS,
) -> RegionFields:
    """Read the fields centred on ``centres_um`` (µm) for ``bundle`` and, when dense, embed them.

    Dense (``dense`` None: when the encoder has a :func:`dense_layout`, there are at least
    ``min_dense_fields`` fields, no two snap to the same lattice position and the window holds
    no more pixels than the fields read one by one would; True: whenever the encoder has a
    layout): the centres snap to the encoder's feature lattice (:func:`snap_to_lattice`),
    one window covering every field is read, the trunk runs once over it with the
    bundle's test-time views (:func:`~cytowords.model.tta.dense_embed_views`, read at the
    fields' positions only) and the patches are cut from the same window, so each field's
    embedding and pixels equal the per-field read of the snapped centre. Otherwise the
    fields are read one by one (:func:`cytowords.sections.read_fields`) and ``emb`` is None."""
    import torch

    from ..sections import read_fields

    c = np.asarray(centres_um, dtype=np.float64).reshape(-1, 2)
    ps, n = float(bundle.pixel_size_um), int(bundle.read_px)
    layout = dense_layout(bundle.encoder)
    if layout is not None and dense is not False and len(c):
        snapped, k, lo = snap_to_lattice(c, ps, n, layout.stride_px)
        h, w = (k.max(axis=0) * layout.stride_px + n).tolist()
        # auto: enough fields, each on its own lattice position (the points read around a
        # small ROI's centroid would merge), and no more pixels than the fields hold
        distinct = len(np.unique(k, axis=0)) == len(c)
        if dense or (len(c) >= min_dense_fields and distinct and h * w <= len(c) * n * n):
            sec = getattr(section, "section", section)
            inten = section_intensity(sec)
            raw = sec.read_window(
                lo[0], lo[1], h * ps, w * ps, ps, fill=inten.background, model_view=True
            )
            image = inten.to_unit(np.asarray(raw, dtype=np.float32))
            corners = k * layout.stride_px  # position (0, 0)'s field starts at pixel 0
            patches = np.stack([image[y : y + n, x : x + n] for y, x in corners])
            pos, which = np.unique(k, axis=0, return_inverse=True)
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(image))[None, None].to(bundle.device)
                at = torch.from_numpy(pos).to(bundle.device)
                emb = dense_embed_views(bundle.encoder, x, bundle.views, at=at)[0].float().cpu()
            return RegionFields(snapped, patches, emb[torch.from_numpy(which.ravel())], "dense")
    return RegionFields(c, read_fields(section, c, ps, n), None, "per field")
