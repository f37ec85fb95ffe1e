"""The values of one describe run (:class:`DescribeParams`): the widget's defaults and the
core call's arguments. Imports no model code (torch), so that napari's widget can read its
defaults on the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass

from ..sections.quality import DEFAULT_THRESHOLDS, QualityThresholds
from ..sections.roi_scale import DEFAULT_SCALE_LIMITS, ScaleLimits


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
            level, :meth:`cytowords.model.ModelBundle.noncortex_level`) do
            not vote on the verdict; the acceptance share is taken over the other
            fields. No effect with bundles that have no non-cortex level. (The bundle's
            cortex detector, which labels area-map tiles, names fewer drawn regions
            correctly when it decides the votes: docs/benchmarks.md.)
        min_voting_fields: a ROI with fewer voting fields (or, when it is read at fewer
            fields, fewer than all) is rejected: it holds no cortex of a known area.
        quality: limits of the field-quality check (:mod:`cytowords.sections.quality`):
            fields out of focus, with JPEG blocks or clipped do not vote, and a ROI where
            most tissue fields are such is rejected with that reason; None: no check.
        measure: also run the model-free readout (:func:`cytowords.measure.measure_roi`)
            on the ROI's outer ring and put its measurements and statements on the
            description (profiles only by default: see ``measure_cells``).
        measure_cells: the readout's ``cells`` argument: False (profiles, thickness and
            layers only), ``"auto"`` (also cell statistics on scans of <= 2 µm/px, which
            take seconds more per ROI) or True.
        scale: limits of the scale-consistency check
            (:class:`cytowords.sections.roi_scale.ScaleLimits`): a ROI that would be
            named is read again at other pixel sizes; fields that read as another area and
            more familiar there do not vote, and a ROI whose tissue reads clearly better at
            another pixel size, or whose measured thickness is far outside the human
            range, is rejected with that reason. None: no check.
        yield_core: with the readout beside the model (``measure``), the model's part of
            the description (reading and embedding the fields, the scale check) runs on
            one torch thread fewer than torch's setting (at least one), so that the two ask
            for no more cores than torch was given: two torch threads and the readout on
            2 busy cores wait for each other (docs/benchmarks.md). False: torch's setting.
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
    quality: QualityThresholds | None = DEFAULT_THRESHOLDS
    measure: bool = True
    measure_cells: bool | str = False
    scale: ScaleLimits | None = DEFAULT_SCALE_LIMITS
    yield_core: bool = True
