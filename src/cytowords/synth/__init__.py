"""Procedural cortex: laminar profiles -> cells -> patches and lazily rendered sections.

Pixel convention: ``uint8``, bright background (glass ~232-246), dark cell bodies as in a
cell-body (Merker/Nissl) stain. Units are µm everywhere at the API.

- :class:`Brain` — an individual (seed): thickness, density, staining, border variation.
- :func:`render_patch` — one patch of an area (any resolution, angle, curvature, depth).
- :func:`sample_patches` — labelled training/evaluation patches without a whole section.
- :func:`virtual_section` / :func:`section_geometry` — whole folded sections through dask.
- :func:`truth_at` / :func:`truth_in_roi` — what the readout measures, as rendered;
  :func:`squares_across_ribbon` — regions drawn as the readout asks (pia to white matter).
"""

from .brain import Brain, stable_seed
from .patch import render_patch
from .sampling import sample_patches
from .section import section_geometry, virtual_section
from .truth import (
    mid_depth_points,
    square_across,
    squares_across_ribbon,
    truth_at,
    truth_in_roi,
)

__all__ = [
    "Brain",
    "mid_depth_points",
    "render_patch",
    "sample_patches",
    "section_geometry",
    "square_across",
    "squares_across_ribbon",
    "stable_seed",
    "truth_at",
    "truth_in_roi",
    "virtual_section",
]
