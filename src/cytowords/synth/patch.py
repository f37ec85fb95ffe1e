"""Render one cell-body-stained cortical patch of an area in a given brain.

Output convention: ``uint8`` array ``(H, W)``, bright background (glass ~232-246), tissue
~190-225 between cells, dark somata (as in a Merker/Nissl stain or BigBrain). The field
shows the pia at depth ``depth_offset`` below its top edge (negative: background above the
pia), white matter below layer VI and, optionally, a gradual border to a neighbouring area.
"""

from __future__ import annotations

import math

import numpy as np

from ..atlas import Area, load_atlas
from .artefacts import artefact_layers
from .brain import Brain, stable_seed
from .geometry import PatchGeometry
from .render import render_window


def _positive(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number (µm), got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number (µm), got {value!r}")
    return v


def resolve_area(area: Area | str) -> Area:
    """Area object for an id/alias; ValueError naming close matches when unknown."""
    if isinstance(area, Area):
        return area
    try:
        return load_atlas().get(str(area))
    except KeyError as exc:
        raise ValueError(f"area: {exc.args[0]}") from None


def patch_geometry(
    areas: list[Area], brain: Brain, *, height_um: float, width_um: float, **kw
) -> PatchGeometry:
    """A :class:`PatchGeometry` for ``areas`` (one, or area + neighbour) in ``brain``."""
    tabs = [brain.table(a) for a in areas]
    tables = np.stack([t for t, _ in tabs])
    thickness = np.array([th for _, th in tabs])
    if len(areas) > 1 and brain.uses("borders"):
        kw.setdefault("border_width_um", brain.border_width_um(areas[0].id, areas[1].id))
    return PatchGeometry(
        tables,
        thickness,
        [a.id for a in areas],
        height_um=height_um,
        width_um=width_um,
        realistic=brain.realistic,
        realism=brain.realism,
        **kw,
    )


def render_patch(
    area: Area | str,
    brain: Brain | int,
    *,
    size_um: float | tuple[float, float],
    pixel_size_um: float,
    angle: float = 0.0,
    curvature: float = 0.0,
    depth_offset: float = 0.0,
    seed: int = 0,
    artefacts: bool | tuple[str, ...] = False,
    neighbour: Area | str | None = None,
    border_um: float = 0.0,
    obliquity_deg: float = 0.0,
) -> np.ndarray:
    """Render a cortical patch; returns ``uint8`` ``(H, W)`` with H, W = size / pixel size.

    Args:
        area: area id or alias (e.g. ``"hOc1"``, ``"V1"``).
        brain: a :class:`Brain` or its seed (the individual: thickness, density, staining).
        size_um: field size in µm (square, or ``(height, width)``).
        pixel_size_um: µm per pixel (e.g. 1-2 for cell detail, 16 for the default model).
        angle: rotation of the cortex in degrees (0: pia at the top, white matter below).
        curvature: bending in 1/mm (positive: gyral crown, negative: sulcal fundus).
        depth_offset: cortical depth in µm at the top edge's centre (negative: background
            above the pia; larger than the thickness: white matter only).
        seed: seed of this patch's cells, noise and artefacts.
        artefacts: ``True`` for random artefacts (tears, folds, bubbles, uneven staining,
            debris) or a tuple of kinds from ``artefacts.KINDS``.
        neighbour: optional neighbouring area whose profile takes over gradually beyond
            ``border_um`` (µm along the ribbon from the field centre; negative: the
            border lies on the other side). The field centre keeps ``area`` (its label).
        obliquity_deg: oblique cut; layers look wider by 1/cos(obliquity).
    """
    a = resolve_area(area)
    if not isinstance(brain, Brain):
        brain = Brain(brain)
    if isinstance(size_um, (tuple, list)):
        if len(size_um) != 2:
            raise ValueError(f"size_um must be a number or (height, width) in µm, got {size_um!r}")
        hu, wu = (_positive("size_um", s) for s in size_um)
    else:
        hu = wu = _positive("size_um", size_um)
    p = _positive("pixel_size_um", pixel_size_um)
    shape = (max(1, round(hu / p)), max(1, round(wu / p)))
    if shape[0] * shape[1] > 64e6:
        raise ValueError(f"patch of {shape} px is too large (max 64 Mpx); use virtual_section")
    hu, wu = shape[0] * p, shape[1] * p
    areas = [a] if neighbour is None else [a, resolve_area(neighbour)]
    geom = patch_geometry(
        areas,
        brain,
        height_um=hu,
        width_um=wu,
        angle=float(angle),
        curvature_per_mm=float(curvature),
        depth_offset_um=float(depth_offset),
        obliquity_deg=float(obliquity_deg),
        border_um=None if neighbour is None else float(border_um),
    )
    key = stable_seed("patch", brain.seed, a.id, int(seed), round(p, 4))

    def sources(bbox):
        yield bbox, np.random.default_rng(key)

    art = None
    if artefacts:
        kinds = None if artefacts is True else tuple(artefacts)
        art_rng = np.random.default_rng(key ^ 0xA57)

        def art(gx, gy):
            return artefact_layers(gx, gy, art_rng, max(hu, wu), kinds, pixel_um=p)

    return render_window(
        geom,
        brain,
        origin_um=(0.0, 0.0),
        shape=shape,
        pixel_um=p,
        cell_sources=sources,
        noise_key=key % 2**62,
        artefacts=art,
        field_key=key ^ 0xF1E1D,
    )
