"""Regions too small to hold a traverse of cortex: the readout's shortest column and the
check every front end makes before reading a pixel (one rule, no scipy or torch).

The readout (:mod:`cytowords.measure.readout`) drops traverses shorter than
:data:`MIN_TRAVERSE_UM` (imported from here); the CLI (``describe``,
``measure --rois``) and napari's *Describe* widget leave such ROIs out with
:func:`too_small` / :func:`too_small_line`. Kept apart so that the widget's check, run on
the GUI thread, does not import the readout (scipy.signal).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: traverses shorter than this (µm) are no cortical column: human cortex is 1.5-4.5 mm
#: thick (thinner only where pia and white matter touch at a cut edge or a tear); set
#: from the literature range (docs/measure.md), not fitted to test brains
MIN_TRAVERSE_UM = 1000.0


def too_small(rois: Sequence) -> list[int]:
    """Indices of the ROIs (:class:`~cytowords.regions.Roi`, µm) too small to hold a traverse
    of cortex: their bounding box's diagonal is shorter than the readout's shortest column
    (:data:`MIN_TRAVERSE_UM`, 1 mm), so no straight line in one reaches it. A Fiji set of
    Analyze Particles' outlines holds hundreds of such (cells of 20-60 µm), each read for
    nothing. The CLI and napari leave them out before reading any pixel, with
    :func:`too_small_line`."""
    small = []
    for i, roi in enumerate(rois):
        y0, x0, y1, x1 = roi.bounds
        if float(np.hypot(y1 - y0, x1 - x0)) < MIN_TRAVERSE_UM:
            small.append(i)
    return small


def too_small_line(rois: Sequence, small: Sequence[int]) -> str:
    """One line counting the ROIs :func:`too_small` found (indices ``small``, not empty),
    naming the first and its size (``describe`` and napari's Describe say "not described",
    ``measure`` "not measured")."""
    roi = rois[small[0]]
    y0, x0, y1, x1 = roi.bounds
    across = float(np.hypot(y1 - y0, x1 - x0))
    return (
        f"{len(small)} ROI(s) too small to hold a traverse of cortex (less than "
        f"{MIN_TRAVERSE_UM / 1000:g} mm across; e.g. {roi.name!r}, {across / 1000:.2g} mm): "
        "not described"
    )
