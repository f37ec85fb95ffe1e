"""Render a rectangular pixel window of any :class:`Geometry` (patches and section chunks).

Up to :data:`CELL_MODE_MAX_UM` µm/px individual cells are drawn (sub-pixel cells as
intensity-correct splats); above it the expected cell deficit plus matching noise is used,
which keeps coarse pyramid levels of huge sections cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from .artefacts import border_crack, section_variation
from .brain import Brain, stable_seed
from .cells import Cells, draw_cells, expected_deficit, sample_cells
from .geometry import Geometry
from .stain import finish, hash_normal, smooth_field
from .vessels import MAX_REACH_UM, Vessels, draw_vessels, sample_vessels, vessel_rng

CELL_MODE_MAX_UM = 20.0
CELL_MARGIN_UM = 80.0


def render_window(
    geom: Geometry,
    brain: Brain,
    *,
    origin_um: tuple[float, float],
    shape: tuple[int, int],
    pixel_um: float,
    cell_sources: Callable[
        [tuple[float, float, float, float]], Iterable[tuple[tuple, np.random.Generator]]
    ],
    noise_key: int,
    row0: int = 0,
    col0: int = 0,
    artefacts: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]] | None = None,
    field_key: int | None = None,
    vessel_sources: Callable[[tuple[float, float, float, float]], Vessels] | None = None,
) -> np.ndarray:
    """Render ``shape`` pixels whose pixel (0, 0) top-left corner is at ``origin_um``.

    ``cell_sources(bbox)`` yields ``(tile_bbox, rng)`` pairs covering ``bbox`` (µm): cells are
    sampled per tile so that any window gives the same cells whatever the chunking.
    ``row0``/``col0`` are the global pixel indices of pixel (0, 0) (noise hash).
    Realistic brains also get vessels, cracks at the white-matter border, uneven section
    thickness and low-frequency stain variation (each unless in ``brain.realism_off``);
    ``field_key`` seeds those smooth fields
    (default: the brain's, the same at every pyramid level of a section);
    ``vessel_sources(bbox)`` gives the vessels starting in ``bbox`` (default: sampled from
    ``cell_sources``' tiles).
    """
    st = brain.staining
    sigma_px = max(st.blur_um / pixel_um, 0.45 if pixel_um > 4 else 0.0)
    halo = int(math.ceil(3 * sigma_px)) + 1 if sigma_px > 0.25 else 0
    h, w = shape[0] + 2 * halo, shape[1] + 2 * halo
    ox, oy = origin_um[0] - halo * pixel_um, origin_um[1] - halo * pixel_um
    xs = ox + (np.arange(w) + 0.5) * pixel_um
    ys = oy + (np.arange(h) + 0.5) * pixel_um
    gx, gy = np.meshgrid(xs, ys)
    cell_mode = pixel_um <= CELL_MODE_MAX_UM
    props, along, depth, th = geom.props(
        gx.ravel(), gy.ravel(), (5,) if cell_mode else None, with_thickness=True
    )
    props = props.reshape(props.shape[0], h, w)
    depth = depth.reshape(h, w)
    tissue = np.clip(0.5 + depth / max(pixel_um, 1.0), 0, 1)
    stain_var = smooth_field(stable_seed("stain", brain.seed) % 2**31, gx, gy, 3000.0, n=4)
    neuropil = props[0 if cell_mode else 5] * (1 + 0.12 * stain_var)
    absorb_scale = None
    key = stable_seed("section-fields", brain.seed) if field_key is None else field_key
    if brain.uses("stain"):
        absorb_scale = section_variation(key, xs, ys)
        neuropil = neuropil * absorb_scale
    if brain.uses("cracks"):
        th = np.broadcast_to(th, depth.size).reshape(h, w)
        tissue = tissue * border_crack(key + 2, depth, th, along.reshape(h, w), pixel_um)
    if brain.uses("vessels"):
        reach = MAX_REACH_UM
        big = (ox - reach, oy - reach, ox + w * pixel_um + reach, oy + h * pixel_um + reach)
        if vessel_sources is None:
            vessels = Vessels.concat(
                [sample_vessels(geom, tb, vessel_rng(rng)) for tb, rng in cell_sources(big)]
            )
        else:
            vessels = vessel_sources(big)
        draw_vessels(tissue, vessels, (ox, oy), pixel_um)
    if pixel_um < 8:
        neuropil = neuropil + 0.12 * np.exp(-((depth / 5.0) ** 2)) * (depth >= -2)
    if cell_mode:
        deficit = np.zeros((h, w))
        margin = CELL_MARGIN_UM
        bbox = (ox - margin, oy - margin, ox + w * pixel_um + margin, oy + h * pixel_um + margin)
        parts = [
            sample_cells(geom, tb, rng, st.stain, need_angles=pixel_um < 6)
            for tb, rng in cell_sources(bbox)
        ]
        cells = Cells.concat(parts)
        draw_cells(deficit, cells, (ox, oy), pixel_um)
    else:
        mean, sd = expected_deficit(props, pixel_um, st.stain)
        rows = np.arange(row0 - halo, row0 - halo + h) + 2**31
        cols = np.arange(col0 - halo, col0 - halo + w) + 2**31
        deficit = np.clip(mean + sd * hash_normal(noise_key + 7, rows, cols), 0, None)
    deficit *= 1 + 0.1 * stain_var
    if absorb_scale is not None:
        deficit *= absorb_scale
    extra = None
    if artefacts is not None:
        layers = artefacts(gx, gy)
        tissue = tissue * layers["tissue"]
        deficit = deficit * layers["deficit"]
        extra = layers["absorb"]
    return finish(
        deficit,
        neuropil,
        tissue,
        white=st.white,
        glass=st.glass,
        pixel_um=pixel_um,
        blur_um=st.blur_um,
        noise=st.noise,
        noise_key=noise_key,
        row0=row0,
        col0=col0,
        extra_absorb=extra,
        halo=halo,
    )
