"""What was measured in a described ROI: the model-free readout beside the model's verdict.

:func:`measure_region` runs :func:`cytowords.measure.measure_roi` on a ROI's outer ring and
never fails the description: a region that cannot be measured (outside the section, empty)
gets its reason as ``not_measured``. :func:`atlas_comparison` sets the measured thickness
beside the atlas's stored value for the predicted area. What the readout contradicts never
reaches the caption, and the caption's thickness and layer I numbers are the measured ones
(:func:`cytowords.model.caption_input.shown_caption`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..measure.vector import missing_vector, readout_vector


@dataclass
class Measured:
    """The readout of one ROI for its description.

    ``measurements``: :meth:`cytowords.measure.Readout.to_dict` without the per-traverse
    coordinates, or ``{"not_measured": [reason]}`` when the region could not be measured;
    ``statements``: its sentences; ``thickness_mm`` (NaN when not measured) and
    ``cortex_type`` (``None`` when not measured) feed the comparisons; ``vector``: the
    readout vector a readout-conditioned captioner reads
    (:func:`cytowords.measure.vector.readout_vector`; all 0, "missing", when not measured);
    ``special``: the special-cell kinds a caption may state about the ROI
    (:meth:`cytowords.measure.Readout.special_support`; empty without cell statistics);
    ``wm_border``: the readout's white-matter border term
    (:attr:`cytowords.measure.Readout.wm_border`: "sharp", "gradual", "varies"; None when
    not read), passed beside the vector to the caption, which leaves out a border claim
    it contradicts.
    """

    measurements: dict[str, Any] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)
    thickness_mm: float = float("nan")
    cortex_type: str | None = None
    vector: np.ndarray = field(default_factory=missing_vector)
    special: frozenset[str] = frozenset()
    wm_border: str | None = None


def measure_region(
    section: Any, vertices_um: np.ndarray, *, cells: bool | str = False, cancel: Any = None
) -> Measured:
    """Run the readout on a ``(N, 2)`` ``(y, x)`` µm polygon of ``section``; a region that
    cannot be measured at all (the readout's reason, or a window the section refuses to
    read: a region drawn on another image) is reported in
    ``measurements["not_measured"]``, so the other regions of a run are still described.
    ``cancel``
    (an object with ``is_set()``) stops it with
    :class:`cytowords.jobs.Cancelled`."""
    from ..measure import MeasureError, measure_roi
    from ..sections.errors import SectionError

    try:
        r = measure_roi(section, vertices_um, cells=cells, cancel=cancel)
    except (MeasureError, SectionError) as err:
        why = str(err)
        return Measured({"not_measured": [why]}, [f"Not measured: {why}."])
    # without the traverses' long coordinate lists: the Profile view reads them itself
    d = r.to_dict(traverses=False)
    statements = d.pop("statements")
    thick = float(r.thickness_mm) if r.measured else float("nan")
    ctype = r.layers.cortex_type if r.layers is not None else None
    wm = r.wm_border if r.measured else None
    return Measured(d, statements, thick, ctype, readout_vector(r), r.special_support(), wm)


def atlas_comparison(m: Measured, area_id: str, atlas: Any) -> str:
    """ "Here the cortex is 2.6 mm thick (4p in the atlas: 3.3 mm, thick)." from the atlas's
    stored mean thickness and thickness term of ``area_id``; ``""`` when either side is
    missing (no area, not measured, no stored value)."""
    if not np.isfinite(m.thickness_mm):
        return ""
    try:
        area = atlas.get(area_id)
    except KeyError:
        return ""
    stored = getattr(area.profile, "thickness_mm", None)
    if stored is None or not np.isfinite(stored) or stored <= 0:
        return ""
    term = area.facts.get("thickness") if isinstance(area.facts, dict) else None
    ref = f"{stored:.1f} mm" + (f", {term}" if isinstance(term, str) and term else "")
    return f"Here the cortex is {m.thickness_mm:.1f} mm thick ({area.id} in the atlas: {ref})."
