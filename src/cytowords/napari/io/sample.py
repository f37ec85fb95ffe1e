"""napari sample data: a virtual 80 × 60 mm section (2 µm/px) with its ground-truth areas.

The section is rendered lazily chunk by chunk (``cytowords.synth.virtual_section``), every
pyramid level directly at its own resolution, so opening it costs only the visible tiles.
"""

from __future__ import annotations

from typing import Any

LayerData = tuple[Any, dict[str, Any], str]


def make_sample_section(seed: int = 1) -> list[LayerData]:
    """Layer data: the virtual section (multiscale image, µm scale, fixed contrast limits)
    and its ground-truth area labels (multiscale Labels layer, hidden, area names as
    features)."""
    from ...synth import virtual_section
    from ..demo import section_layers

    section = virtual_section(seed, size_mm=(80.0, 60.0), pixel_size_um=2.0)
    section.name = f"virtual section {seed}"
    layers = section_layers(section)
    out: list[LayerData] = []
    for data, meta, kind in layers:
        if kind == "image":
            meta["contrast_limits"] = (0.0, 255.0)
        else:
            meta["visible"] = False
        out.append((data, meta, kind))
    return out
