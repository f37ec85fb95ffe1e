"""Describe regions of a section: ROI -> patches -> embeddings -> area, rejection, caption.

>>> from cytowords.describe import Describer, Roi
>>> d = Describer("default", device="auto")            # doctest: +SKIP
>>> d.describe_roi(section, Roi.rectangle(0, 0, 4000, 4000)).caption  # doctest: +SKIP

Patches are squares of ``patch_px`` pixels at the model's pixel size (µm/px), read from the
best pyramid level; one ROI is read as one window (bounding box plus half a patch) whenever
that window is small enough, else patch by patch, so only the chunks needed are touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..atlas import NONE_ID, load_atlas
from ..sections import Section
from .result import (
    PatchResult,
    RegionDescription,
    accepted_share,
    aggregate,
    top_alternatives,
)
from .roi import Roi, patch_grid
from .scale_check import warn_if_coarse

ProgressFn = Callable[[int, int], None]
#: largest single window (pixels at model resolution) read in one piece for a ROI
MAX_WINDOW_PX = 4096 * 4096


class Cancelled(Exception):
    """Raised when a describe job is cancelled through its cancel event."""


@dataclass
class DescribeParams:
    """Widget/CLI values for describing ROIs.

    Attributes:
        stride_fraction: patch-grid spacing as a fraction of the patch side (0.5 = half
            overlapping patches).
        max_patches: upper bound on patches per ROI (the grid coarsens beyond it).
        min_patches: a ROI whose grid gives fewer patches (one smaller than the model's
            field) is also read at its centroid and 4 points around it, so one unlucky
            field cannot decide (or reject) it; 1 = the grid only.
        batch_size: patches per encoder batch.
        top_k: number of alternatives reported.
        min_accept_share: a ROI is rejected when fewer of its patches are accepted.
        max_new_tokens: caption length limit (tokens).
        anchor_caption: make the caption name the ROI's predicted area (the language
            model then describes that area from the ROI's embedding); off: the caption
            is generated freely and may name another area than the one reported.
        ignore_noncortex: fields that read as no cortex at all (white matter or
            background of a loosely drawn ROI: open-set score at the bundle's non-cortex
            level, :meth:`cytowords.model.model_bundle.ModelBundle.noncortex_level`) do
            not vote on the verdict; the acceptance share is taken over the other
            fields. No effect with bundles that have no non-cortex level. (The bundle's
            cortex detector, which labels area-map tiles, names fewer drawn regions
            correctly when it decides the votes: docs/benchmarks.md.)
        min_voting_fields: a ROI with fewer voting fields (or, when it is read at fewer
            fields, fewer than all) is rejected: it holds no cortex of a known area.
    """

    stride_fraction: float = 0.5
    max_patches: int = 256
    min_patches: int = 5
    batch_size: int = 64
    top_k: int = 3
    min_accept_share: float = 0.5
    max_new_tokens: int = 96
    anchor_caption: bool = True
    ignore_noncortex: bool = True
    min_voting_fields: int = 2


def default_model_path() -> Path:
    """Folder of the default model bundle shipped in the package."""
    return Path(str(resources.files("cytowords") / "models" / "default"))


def resolve_model_path(model: str | Path) -> Path:
    """``"default"`` or a bundle folder -> an existing folder (clear error otherwise)."""
    path = default_model_path() if str(model) == "default" else Path(model)
    if not path.is_dir():
        if str(model) == "default":
            raise FileNotFoundError(
                f"the default model is not installed at {path}; rebuild it with "
                "`cytowords train --preset default --out DIR` and pass --model DIR"
            )
        raise FileNotFoundError(f"model bundle folder {path} does not exist")
    return path


def section_background(section: Section) -> float:
    """Intensity of empty slide (bright background of a cell-body stain), from the coarsest
    level; used to fill patches that extend beyond the section."""
    cached = section.metadata.get("_cytowords_background")
    if cached is None:
        small = np.asarray(section.levels[-1][:2048, :2048].compute(), dtype=np.float32)
        cached = float(np.percentile(small, 99.5)) if small.size else 0.0
        section.metadata["_cytowords_background"] = cached
    return cached


def _unit_scale(section: Section) -> float:
    dt = np.dtype(section.dtype)
    if dt == np.uint8:
        return 1.0 / 255.0
    if dt == np.uint16:
        return 1.0 / 65535.0
    return 1.0


class Describer:
    """Describes ROIs of sections with a model bundle.

    Args:
        model: ``"default"`` (the bundled model) or the path of a bundle folder.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        params: sampling/aggregation parameters.
    """

    def __init__(
        self,
        model: str | Path = "default",
        device: str = "auto",
        params: DescribeParams | None = None,
    ) -> None:
        from ..model import load_bundle

        self.model_path = resolve_model_path(model)
        self.bundle = load_bundle(self.model_path, device=device)
        self.params = params or DescribeParams()
        self.atlas = load_atlas()

    @property
    def patch_um(self) -> float:
        """Side of one model patch in µm."""
        return self.bundle.patch_px * self.bundle.pixel_size_um

    def read_patches(self, section: Section, centers_um: np.ndarray) -> np.ndarray:
        """``(M, patch_px, patch_px)`` float32 patches in [0, 1] centred on ``centers_um``."""
        ps, n = self.bundle.pixel_size_um, self.bundle.patch_px
        half = n * ps / 2.0
        fill = section_background(section)
        scale = _unit_scale(section)
        lo = centers_um.min(axis=0) - half
        hi = centers_um.max(axis=0) + half
        win_px = np.prod(np.ceil((hi - lo) / ps))
        out = np.empty((len(centers_um), n, n), dtype=np.float32)
        if win_px <= MAX_WINDOW_PX:
            lo = np.floor(lo / ps) * ps  # align the window to the model's pixel grid
            hi = lo + np.ceil((hi - lo) / ps) * ps
            win = section.read_window(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], ps, fill=fill)
            for i, c in enumerate(centers_um):
                r, q = np.round((c - half - lo) / ps).astype(int)
                out[i] = win[r : r + n, q : q + n]
        else:
            for i, c in enumerate(centers_um):
                out[i] = section.read_window(
                    c[0] - half, c[1] - half, 2 * half, 2 * half, ps, fill=fill
                )
        return np.clip(out * scale, 0.0, 1.0)

    def describe_roi(
        self,
        section: Section,
        roi: Roi,
        *,
        on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> RegionDescription:
        """Describe one ROI (µm, ``(y, x)``) of ``section``."""
        import torch

        warn_if_coarse(section, self.bundle.pixel_size_um)

        p = self.params
        centers = patch_grid(
            roi,
            patch_um=self.patch_um,
            stride_um=self.patch_um * p.stride_fraction,
            section_shape_um=section.shape_um,
            max_patches=p.max_patches,
            min_patches=p.min_patches,
        )
        total = len(centers) + 1
        patches = self.read_patches(section, centers)
        embs = []
        for i in range(0, len(patches), p.batch_size):
            if cancel is not None and cancel.is_set():
                raise Cancelled("describe cancelled")
            embs.append(self.bundle.embed(patches[i : i + p.batch_size], batch_size=p.batch_size))
            if on_progress:
                on_progress(min(i + p.batch_size, len(patches)), total)
        emb = torch.cat(embs)
        probs, ood, rej = (t.numpy() for t in self.bundle.classify(emb))
        ids = self.bundle.area_ids
        level = self.bundle.noncortex_level() if p.ignore_noncortex else None
        votes = np.ones(len(ood), bool) if level is None else ood < level
        best, mean, ood_med, roi_rej, accepted = aggregate(
            probs,
            ood,
            rej,
            ids,
            min_accept_share=p.min_accept_share,
            abstain=~votes,
            min_votes=min(p.min_voting_fields, len(ood)),
        )
        if roi_rej or best is None:
            area, prob = NONE_ID, 1.0 - accepted_share(accepted, votes)
            caption = self.bundle.rejection_caption
        else:
            area, prob = ids[best], float(mean[best])
            use = accepted & (probs.argmax(axis=1) == best)
            if not use.any():
                use = accepted
            caption = self._caption(emb[torch.from_numpy(use)].mean(dim=0, keepdim=True), area)
        if on_progress:
            on_progress(total, total)
        patch_results = [
            PatchResult(
                center_um=(float(c[0]), float(c[1])),
                area=ids[int(pr.argmax())],
                probability=float(pr.max()),
                ood_score=float(o),
                rejected=bool(r),
                votes=bool(v),
            )
            for c, pr, o, r, v in zip(centers, probs, ood, rej, votes)
        ]
        return RegionDescription(
            area=area,
            area_name=self._name(area),
            probability=prob,
            rejected=bool(roi_rej),
            ood_score=ood_med,
            caption=caption,
            n_patches=len(centers),
            top_k=top_alternatives(mean, ids, p.top_k),
            threshold=self.bundle.threshold,
            patches=patch_results,
            n_voting=int(votes.sum()),
            n_accepted=int((accepted & votes).sum()),
        )

    def describe_rois(
        self,
        section: Section,
        rois: Sequence[Roi],
        *,
        on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> list[RegionDescription]:
        """Describe several ROIs; progress counts finished ROIs."""
        out = []
        for i, roi in enumerate(rois):
            out.append(self.describe_roi(section, roi, cancel=cancel))
            if on_progress:
                on_progress(i + 1, len(rois))
        return out

    def _caption(self, emb, area: str) -> str:
        if self.bundle.captioner is None:
            return ""
        anchor = [area] if self.params.anchor_caption else None
        return self.bundle.caption(emb, self.params.max_new_tokens, areas=anchor)[0]

    def _name(self, area: str) -> str:
        if area == NONE_ID:
            return "not a known area"
        try:
            return self.atlas.get(area).name
        except KeyError:
            return area
