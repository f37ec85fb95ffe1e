"""Describe regions of a section: ROI -> patches -> embeddings -> area, rejection, caption.

>>> from cytowords.describe import Describer
>>> from cytowords.regions import Roi
>>> d = Describer("default", device="auto")            # doctest: +SKIP
>>> d.describe_roi(section, Roi.rectangle(0, 0, 4000, 4000)).caption  # doctest: +SKIP

Patches are squares of ``patch_px`` pixels at the model's pixel size (µm/px), read by
:func:`cytowords.mapping.dense.read_region_fields`: one dense window for a large ROI and an
encoder that can run densely, else field by field (:func:`cytowords.sections.read_fields`).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..atlas import NONE_ID, load_atlas
from ..jobs import Cancelled, Progress
from ..mapping.dense import read_region_fields
from ..model.captioner import torch_threads
from ..regions.roi import Roi, patch_grid
from ..sections import Section
from ..sections.quality import (
    assess_fields,
    quality_summary,
    section_tissue_threshold,
    warn_if_coarse,
)
from ..sections.roi_scale import (
    RoiScale,
    ScaleLimits,
    head_estimate,
    head_rejection,
    reread_at_scales,
    scale_rejection,
    scale_summary,
    thickness_rejection,
    too_few_left_rejection,
)
from ..sections.window import keep_regions
from .measured import Measured, atlas_comparison, measure_region
from .params import DescribeParams
from .result import (
    ABSTAINED_CAPTION,
    ABSTAINED_NAME,
    PatchResult,
    RegionDescription,
    accepted_share,
    aggregate,
    quality_rejection,
    top_alternatives,
)


def _scale_reach(limits: ScaleLimits | None) -> float:
    """How far (fraction of the extent, each side) the pixels read for a ROI's fields must
    reach so that the scale check's re-reads (fields ``1 / factor`` as large) fall inside
    them: the largest re-read's extra size, 0 without a check."""
    if limits is None or not limits.factors:
        return 0.0
    return max(0.0, 1.0 / min(limits.factors) - 1.0)


def _scale_dict(scale: RoiScale | None, head: tuple[float, int] | None) -> dict | None:
    """The description's ``scale`` entry: the re-reads' summary and the scale head's ROI
    estimate (``head_factor``: stated / true pixel size, ``head_fields``), None without
    either."""
    if scale is None and head is None:
        return None
    out = {} if scale is None else scale.to_dict()
    if head is not None:
        log_s, n = head
        out["head_factor"] = round(float(np.exp(log_s)), 4) if n else None
        out["head_fields"] = n
    return out


class Describer:
    """Describes ROIs of sections with a model bundle.

    The bundle comes from the process's model handle (:func:`cytowords.model.get_bundle`):
    describers of the same model share one loaded bundle, and a describer is cheap to make.
    It is never changed by describing: parameters can be given per call.

    Args:
        model: ``"default"`` (the bundled model) or the path of a bundle folder.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        params: the default sampling/aggregation parameters of :meth:`describe_roi`.
        lm_path: where the bundle's language model lives now, when it is not in the bundle
            and has moved (see :func:`cytowords.model.load_bundle`; its files are checked
            against the hashes recorded at training).
    """

    def __init__(
        self,
        model: str | Path = "default",
        device: str = "auto",
        params: DescribeParams | None = None,
        lm_path: str | Path | None = None,
    ) -> None:
        from ..model import get_bundle, resolve_model_path

        self.model_path = resolve_model_path(model)
        self.bundle = get_bundle(self.model_path, device, lm_path=lm_path or None)
        self.params = params or DescribeParams()
        self.atlas = load_atlas()

    @property
    def patch_um(self) -> float:
        """Side of one model patch in µm."""
        return self.bundle.patch_px * self.bundle.pixel_size_um

    def describe_roi(
        self,
        section: Section,
        roi: Roi,
        *,
        params: DescribeParams | None = None,
        on_progress: Progress | None = None,
        cancel: threading.Event | None = None,
        abstain: str = "",
    ) -> RegionDescription:
        """Describe one ROI (µm, ``(y, x)``) of ``section`` with ``params`` (None: the
        describer's :attr:`params`). What holds for the whole section is checked by the
        caller, once per job (:meth:`check_section`; the pixel size check,
        :func:`cytowords.sections.scale_check.check_pixel_size`). ``abstain``: a reason that
        holds for the whole section (e.g. :attr:`ScaleCheck.abstain_reason
        <cytowords.sections.scale_check.ScaleCheck.abstain_reason>`): every field abstains
        and the ROI is rejected with it; the model-free readout is still measured."""
        import torch

        p = params or self.params
        centers = patch_grid(
            roi,
            patch_um=self.patch_um,
            stride_um=self.patch_um * p.stride_fraction,
            section_shape_um=section.shape_um,
            max_patches=p.max_patches,
            min_patches=p.min_patches,
        )
        # the readout needs no model: when it is asked for, it runs beside the model's
        # part (the numpy/scipy solve and the encoder's torch threads overlap)
        readout = (
            (lambda: measure_region(section, roi.vertices, cells=p.measure_cells, cancel=cancel))
            if p.measure
            else None
        )
        # the fields are read at the stated pixel size, then (scale check) at the
        # others, mostly from the same pyramid level: that level's pixels are read once
        threads = (
            max(1, torch.get_num_threads() - 1) if readout is not None and p.yield_core else None
        )
        with (
            _in_background(readout) as early,
            keep_regions(grow=_scale_reach(p.scale)),
            torch_threads(threads),
        ):
            total = len(centers) + 1
            # one dense window when the encoder can run densely and the ROI is large
            # (centres then snap to the feature lattice); else field by field
            fields = read_region_fields(section, self.bundle, centers)
            centers, patches = fields.centres_um, fields.patches
            embs = [] if fields.emb is None else [fields.emb]
            for i in range(0, len(patches) if fields.emb is None else 0, p.batch_size):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("describe cancelled")
                embs.append(
                    self.bundle.embed(patches[i : i + p.batch_size], batch_size=p.batch_size)
                )
                if on_progress:
                    on_progress(min(i + p.batch_size, len(patches)), total)
            emb = torch.cat(embs)
            pred = self.bundle.predict(emb)
            probs, ood, rej = pred.probs, pred.ood_score, pred.rejected
            ids = self.bundle.area_ids
            votes = pred.votes if p.ignore_noncortex else np.ones(len(ood), bool)
            reasons: list[str | None] = [None] * len(centers)
            flagged = np.zeros(len(centers), bool)
            counts: dict[str, int] = {}
            if p.quality is not None:
                q = assess_fields(patches, section_tissue_threshold(section), p.quality)
                reasons, flagged, counts = q.reasons, q.flagged, q.counts()
                counts.pop("tissue", None)
                votes = votes & ~flagged
            summary = quality_summary(counts, len(centers))
            n_tissue = sum(r != "tissue" for r in reasons)
            why = quality_rejection(int(flagged.sum()), n_tissue, summary)
            if abstain:  # the whole section: no field votes
                why, votes = abstain, np.zeros_like(votes)
            agg = dict(
                area_ids=ids,
                min_accept_share=p.min_accept_share,
                min_votes=min(p.min_voting_fields, len(ood)),
            )
            best, mean, ood_med, roi_rej, accepted = aggregate(
                probs, ood, rej, abstain=~votes, **agg
            )
            scale, head = None, None
            scale_head = getattr(self.bundle, "scale_head", None)
            if p.scale is not None and scale_head is not None and not (why or roi_rej):
                # the tissue's apparent scale, from the fields that would vote
                head = head_estimate(scale_head, emb, accepted & votes)
                why = head_rejection(*head, float(section.pixel_size_um[0]), p.scale)
            if p.scale is not None and p.scale.factors and not (why or roi_rej):
                # only an answer can be a silent wrong one: a rejected ROI is not read again
                scale = reread_at_scales(
                    self.bundle, section, centers, votes, probs.argmax(1), ood, p.scale, patches
                )
                why = scale_rejection(scale, accepted & votes, p.scale)
                votes = votes & ~scale.flagged
                if scale.flagged.any() and not why:
                    best, mean, ood_med, roi_rej, accepted = aggregate(
                        probs, ood, rej, abstain=~votes, **agg
                    )
                    why = too_few_left_rejection(scale, int(votes.sum()), agg["min_votes"])
        if on_progress:  # the fields are read: the readout and the caption come next
            on_progress(total, total)
        m = None if early is None else early.result()
        if cancel is not None and cancel.is_set():  # the readout may have ended first
            raise Cancelled("describe cancelled")
        # measured before the caption: the thickness can stop an answer, and a
        # readout-conditioned captioner reads the ROI's readout
        if m is None and self.bundle.uses_readout and not (why or roi_rej or best is None):
            m = measure_region(section, roi.vertices, cells=p.measure_cells, cancel=cancel)
        if m is not None:
            if p.scale is not None and not (why or roi_rej):
                why = thickness_rejection(m.measurements, section.pixel_size_um[0], p.scale)
        if why:
            roi_rej, best = True, None
        if roi_rej or best is None:
            # set aside before the model's verdict: no share of rejected fields to give
            area, prob = NONE_ID, math.nan if why else 1.0 - accepted_share(accepted, votes)
            caption = ABSTAINED_CAPTION if why else self.bundle.rejection_caption
        else:
            area, prob = ids[best], float(mean[best])
            use = accepted & (probs.argmax(axis=1) == best)
            if not use.any():
                use = accepted
            mean_emb = emb[torch.from_numpy(use)].mean(dim=0, keepdim=True)
            caption = self._caption(mean_emb, area, m, p)
        factor = np.full(len(centers), -1) if scale is None else scale.field_factor
        patch_results = [
            PatchResult(
                center_um=(float(c[0]), float(c[1])),
                area=ids[int(pr.argmax())],
                probability=float(pr.max()),
                ood_score=float(o),
                rejected=bool(r),
                votes=bool(v),
                quality=qr,
                reads_better_at=None if k < 0 else scale.factors[k],
            )
            for c, pr, o, r, v, qr, k in zip(centers, probs, ood, rej, votes, reasons, factor)
        ]
        res = RegionDescription(
            area=area,
            area_name=ABSTAINED_NAME if why else self._name(area),
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
            n_flagged=int(flagged.sum()),
            flagged=counts,
            rejection_reason=why,
            n_scale_flagged=0 if scale is None else int(scale.flagged.sum()),
            scale=_scale_dict(scale, head),
        )
        res.add_note(summary)
        if scale is not None and not roi_rej:
            res.add_note(scale_summary(scale))
        res.add_note(self.size_note(roi))
        if m is not None and p.measure:
            self._add_measured(res, m)
        return res

    def _add_measured(self, res: RegionDescription, m: Measured) -> None:
        """Put the readout ``m`` of the ROI's outer ring on ``res``: measurements, statements
        and the atlas comparison for its area."""
        compare = "" if res.rejected else atlas_comparison(m, res.area, self.atlas)
        res.measurements = m.measurements
        res.statements = [*m.statements, *([compare] if compare else [])]

    def size_note(self, roi: Roi) -> str:
        """A sentence when ``roi`` is smaller than one model field (its area is then read
        from the tissue around it), else ``""``."""
        v = np.asarray(roi.vertices, dtype=float)
        side_mm = float((v.max(axis=0) - v.min(axis=0)).max()) / 1000.0
        field_mm = self.patch_um / 1000.0
        if side_mm >= field_mm:
            return ""
        much = "much " if side_mm < 0.5 * field_mm else ""
        return (
            f"the region ({side_mm:.2g} mm) is {much}smaller than one model field "
            f"({field_mm:.2g} mm): the area is read from the surrounding tissue"
        )

    def check_section(self, section: Section) -> bool:
        """Check once per job what holds for every ROI of ``section``: warn
        (:class:`~cytowords.sections.quality.CoarseSectionWarning`) when its finest level
        is much coarser than the model's pixel size. Returns whether it warned."""
        return warn_if_coarse(section, self.bundle.pixel_size_um)

    def describe_rois(
        self,
        section: Section,
        rois: Sequence[Roi],
        *,
        params: DescribeParams | None = None,
        on_progress: Progress | None = None,
        cancel: threading.Event | None = None,
        abstain: str = "",
    ) -> list[RegionDescription]:
        """Describe several ROIs (``params`` and ``abstain`` as :meth:`describe_roi`);
        progress counts finished ROIs."""
        self.check_section(section)
        out = []
        for i, roi in enumerate(rois):
            out.append(
                self.describe_roi(section, roi, params=params, cancel=cancel, abstain=abstain)
            )
            if on_progress:
                on_progress(i + 1, len(rois))
        return out

    def _caption(self, emb, area: str, m: Measured | None, params: DescribeParams) -> str:
        """The caption of the ROI's mean embedding (anchored on ``area`` when ``params``
        say so); ``m``: the ROI's readout (None: not measured): its vector is read by
        readout-conditioned bundles, and the bundle writes every thickness and layer I
        number the caption states as the readout's measured value and leaves out what the
        readout contradicts (with its white-matter border term) and special cells its
        cell statistics do not support
        (:func:`cytowords.model.caption_input.shown_caption`). A taught model shows
        the atlas's text about the area, labelled "In the literature:", unchanged."""
        if self.bundle.captioner is None:
            return self._atlas_words(area) if self.taught else ""
        anchor = [area] if params.anchor_caption else None
        n = params.max_new_tokens
        vec = m.vector if m is not None else None
        special = m.special if m is not None else None
        wm = m.wm_border if m is not None else None
        return self.bundle.caption(
            emb, n, areas=anchor, readout=vec, special=special, wm_border=wm
        )[0]

    @property
    def taught(self) -> bool:
        """True for a model taught from the user's annotations (:mod:`cytowords.teach`)."""
        return bool(((self.bundle.config.get("extra") or {}).get("taught") or {}).get("kind"))

    def _atlas_words(self, area: str) -> str:
        """A taught area's words: the atlas's literature description when its name is an
        atlas area (id or alias), else nothing (the readout's statements still follow)."""
        try:
            return self.atlas.get(area).literature_description()
        except KeyError:
            return ""

    def _name(self, area: str) -> str:
        if area == NONE_ID:
            return "not a known area"
        try:
            return self.atlas.get(area).name
        except KeyError:
            return area


@contextlib.contextmanager
def _in_background(work: Callable[[], Measured] | None) -> Iterator[Future[Measured] | None]:
    """Within: ``work`` runs on a thread of its own (None: nothing runs); its future is
    yielded. Leaving waits for it, so no readout outlives the description that asked for
    it (a cancelled description cancels it through the same event)."""
    if work is None:
        yield None
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cytowords-readout") as pool:
        yield pool.submit(work)
