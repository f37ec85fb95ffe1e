"""Running the model inside a map task: the process's model and its inference lock (the
model loads once per worker), precision, embeddings -> area / probability / open-set score /
rejection code, and the per-field path's two task functions (read a block's fields, run
the model on them).
The dense path's tasks are in :mod:`.dense`.

Tasks receive the bundle *path* (:class:`ModelRef`), never weights; each process gets the
bundle from its own model handle (:func:`cytowords.model.get_bundle`: loaded once per
process and device, kept). Inference in a process is serialised by one lock per model, so
that while one thread runs the model (all torch threads, or the GPU) other threads read
and cut the next blocks' windows: reading overlaps compute.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..sections import read_fields

if TYPE_CHECKING:
    from .plan import MapGrid

_INFER_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()
_SYNC_SET: list[bool] = [False]


#: codes of a tile in the rejection map: cortex of no known area; no cortex at all; a
#: field whose image is unfit to read (out of focus, JPEG blocks, clipped:
#: :mod:`cytowords.sections.quality`), shown as "not a known area" in the final map
REJECTED_UNKNOWN = 1
REJECTED_NO_CORTEX = 2
REJECTED_UNFIT = 3


@dataclass(frozen=True)
class ModelRef:
    """How a task finds its model: bundle folder, device, precision, torch threads and
    test-time views per field (None: the bundle's default)."""

    path: str
    device: str = "auto"
    precision: str = "auto"
    torch_threads: int | None = None
    views: int | None = None


def get_model(ref: ModelRef) -> tuple[Any, threading.Lock]:
    """The bundle for ``ref`` in this process (the model handle's, loaded on first use;
    maps need no captions: the language model is not loaded) and its inference lock."""
    from ..model import get_bundle

    if ref.torch_threads:
        import torch

        if torch.get_num_threads() != int(ref.torch_threads):
            torch.set_num_threads(int(ref.torch_threads))
    bundle = get_bundle(ref.path, ref.device, captioner=False)
    with _LOCKS_LOCK:
        lock = _INFER_LOCKS.setdefault(bundle, threading.Lock())
    return bundle, lock


def autocast_dtype(device_type: str, precision: str) -> Any:
    """torch dtype for autocast, or None for float32.

    ``precision``: ``"auto"`` (bf16 on CUDA when supported, else fp16; fp32 on CPU),
    ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    """
    import torch

    p = str(precision).lower()
    if p == "fp32":
        return None
    if p == "bf16":
        return torch.bfloat16
    if p == "fp16":
        return torch.float16
    if p != "auto":
        raise ValueError(f"precision={precision!r}; expected 'auto', 'fp32', 'bf16' or 'fp16'")
    if device_type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: Any, dtype: Any) -> Any:
    """``torch.autocast`` on ``device`` with ``dtype``, or no context for float32 (None)."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class BlockInput:
    """Patches of the tissue tiles of one block (float32 in [0, 1]) and timing."""

    index: tuple[int, int]
    tiles: np.ndarray  # (K, 2) tile row/col inside the block
    patches: np.ndarray  # (K, field_px, field_px)
    read_s: float


@dataclass
class BlockResult:
    """Model output for one block; ``area`` is -1 where no tile was computed."""

    index: tuple[int, int]
    area: np.ndarray  # (h, w) int16, index into the model's area ids
    probability: np.ndarray  # (h, w) float32
    ood_score: np.ndarray  # (h, w) float32
    rejected: np.ndarray  # (h, w) uint8: 0 accepted, 1 not a known area, 2 no cortex
    n_patches: int
    read_s: float
    compute_s: float
    #: (h, w) float32 domain distance (:mod:`cytowords.model.domain`); NaN where not
    #: computed or the bundle has no domain model
    domain: np.ndarray | None = None


def use_sync_reads(client_pid: int) -> None:
    """In a separate distributed worker process, make nested dask reads synchronous.

    A block reads its fields with ``read_fields`` (a dask ``compute``); inside a
    worker process that would otherwise be sent back to the cluster as a sub-graph.
    """
    if _SYNC_SET[0] or os.getpid() == client_pid:
        return
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return
    import dask

    dask.config.set(scheduler="synchronous")
    _SYNC_SET[0] = True


def read_block(
    section: Any,
    grid: MapGrid,
    index: tuple[int, int],
    tissue: np.ndarray,
    client_pid: int = -1,
) -> BlockInput:
    """Read the tissue fields of block ``index`` (one window at model resolution).

    ``section`` is a :class:`~cytowords.sections.Section` or a handle with ``.section``;
    ``tissue`` is the block's ``(h, w)`` boolean tile mask.
    """
    t0 = time.perf_counter()
    use_sync_reads(client_pid)
    section = getattr(section, "section", section)
    rows, cols = grid.block_slices(*index)
    tiles = np.argwhere(tissue)
    y0, x0, _, _ = grid.window_um(rows, cols)
    half = grid.patch_px * grid.model_px_um / 2.0
    centres = np.array([y0, x0]) + tiles * grid.stride_um + half
    patches = read_fields(section, centres, grid.model_px_um, grid.field_px)
    return BlockInput(tuple(index), tiles, patches, time.perf_counter() - t0)


def infer_patches(
    bundle: Any, patches: np.ndarray, batch_size: int, precision: str, views: int | None = None
) -> tuple:
    """``(area index, probability, ood score, rejected, domain distance)`` arrays for
    ``(K, n, n)`` patches (domain distance NaN without a domain model);
    rejected is a uint8 code: 0 accepted, :data:`REJECTED_UNKNOWN` for cortex of no known
    area, :data:`REJECTED_NO_CORTEX` for a rejected field that reads as no cortex at all
    (white matter, background: :attr:`FieldPredictions.cortex`).

    Batches of ``batch_size`` go to the device (pinned, non-blocking on CUDA) and through
    the encoder under ``torch.autocast`` when a reduced precision is selected; the head
    and open-set scorer run in float32.
    """
    import torch

    dev = bundle.device
    dtype = autocast_dtype(dev.type, precision)
    out: list[tuple] = []
    with torch.inference_mode():
        for i in range(0, len(patches), max(1, int(batch_size))):
            x = torch.from_numpy(np.ascontiguousarray(patches[i : i + batch_size]))[:, None]
            if dev.type == "cuda":
                x = x.pin_memory().to(dev, non_blocking=True)
            with autocast(dev, dtype):
                emb = bundle.embed_tensor(x, views)
            out.append(score_embeddings(bundle, emb, views))
    return concat_scores(out)


def score_embeddings(bundle: Any, emb: Any, views: int | None) -> tuple:
    """``(area index, probability, ood score, rejection code, domain distance)`` arrays of
    embeddings ``(B, D)`` (the head and open-set scorer run in float32; codes as
    :func:`infer_patches`; domain distance NaN when the bundle has no domain model)."""
    pred = bundle.predict(emb, views)
    code = pred.rejected.astype(np.uint8)
    if pred.cortex is not None:
        code[pred.rejected & ~pred.cortex] = REJECTED_NO_CORTEX
    return (
        pred.area_index.astype(np.int16),
        pred.probability.astype(np.float32),
        pred.ood_score,
        code,
        (
            np.full(len(code), np.nan, np.float32)
            if pred.domain is None
            else pred.domain.astype(np.float32)
        ),
    )


def concat_scores(parts: list[tuple]) -> tuple:
    """The five arrays of :func:`score_embeddings` over several batches (empty: length 0)."""
    if not parts:
        z = np.zeros(0)
        f = z.astype(np.float32)
        return z.astype(np.int16), f, f.copy(), z.astype(np.uint8), f.copy()
    return tuple(np.concatenate(k) for k in zip(*parts))


def infer_block(
    ref: ModelRef,
    grid: MapGrid,
    block: BlockInput,
    batch_size: int = 64,
    tissue_threshold: float | None = None,
    quality: Any = None,
) -> BlockResult:
    """Run the model (this process's cached copy) on a block's patches; quality check as
    :func:`unfit_fields`."""
    t0 = time.perf_counter()
    scores = concat_scores([])
    if len(block.tiles):
        bundle, lock = get_model(ref)
        with lock:
            t0 = time.perf_counter()
            scores = infer_patches(bundle, block.patches, batch_size, ref.precision, ref.views)
    compute_s = time.perf_counter() - t0
    unfit = unfit_fields(block.patches, tissue_threshold, quality)
    return block_result(grid, block.index, block.tiles, scores, unfit, block.read_s, compute_s)


def unfit_fields(
    fields: np.ndarray, tissue_threshold: float | None, quality: Any
) -> np.ndarray | None:
    """Bool ``(K,)``: fields unfit to read (out of focus, JPEG blocks, clipped) by
    ``quality`` (:class:`~cytowords.sections.quality.QualityThresholds`; None: no check);
    ``tissue_threshold``: the section's tissue level in [0, 1]."""
    if quality is None or not len(fields):
        return None
    from ..sections.quality import assess_fields

    return assess_fields(fields, tissue_threshold, quality).flagged


def block_result(
    grid: MapGrid,
    index: tuple[int, int],
    tiles: np.ndarray,
    scores: tuple,
    unfit: np.ndarray | None,
    read_s: float,
    compute_s: float,
) -> BlockResult:
    """The :class:`BlockResult` of block ``index`` from the scores of its tissue tiles
    ``tiles`` (``(K, 2)`` row/col in the block); tiles whose field is ``unfit`` are
    rejected (:data:`REJECTED_UNFIT`, unless they read as no cortex at all)."""
    rows, cols = grid.block_slices(*index)
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    area = np.full(shape, -1, dtype=np.int16)
    prob = np.zeros(shape, dtype=np.float32)
    ood = np.zeros(shape, dtype=np.float32)
    rej = np.zeros(shape, dtype=np.uint8)
    dom = np.full(shape, np.nan, dtype=np.float32)
    if len(tiles):
        a, p, o, r, d = scores
        if unfit is not None:
            r[unfit & (r != REJECTED_NO_CORTEX)] = REJECTED_UNFIT  # no cortex says more
        rr, cc = tiles[:, 0], tiles[:, 1]
        area[rr, cc], prob[rr, cc], ood[rr, cc], rej[rr, cc], dom[rr, cc] = a, p, o, r, d
    return BlockResult(tuple(index), area, prob, ood, rej, len(tiles), read_s, compute_s, dom)
