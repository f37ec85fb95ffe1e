"""Procedural cortex: laminar profiles -> cells -> patches and lazily rendered sections.

Pixel convention: ``uint8``, bright background (glass ~232-246), dark cell bodies as in a
cell-body (Merker/Nissl) stain. Units are µm everywhere at the API.

- :class:`Brain` — an individual (seed): thickness, density, staining, border variation.
- :func:`render_patch` — one patch of an area (any resolution, angle, curvature, depth).
- :func:`sample_patches` — labelled training/evaluation patches without a whole section.
- :func:`virtual_section` / :func:`section_geometry` — whole folded sections through dask.
- :func:`truth_at` / :func:`truth_in_roi` — what the readout measures, as rendered.
"""

from .brain import Brain, stable_seed
from .patch import render_patch
from .sampling import sample_patches
from .section import section_geometry, virtual_section
from .truth import truth_at, truth_in_roi

__all__ = [
    "Brain",
    "render_patch",
    "sample_patches",
    "section_geometry",
    "stable_seed",
    "truth_at",
    "truth_in_roi",
    "virtual_section",
]
