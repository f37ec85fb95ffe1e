"""Sample labelled patches quickly without rendering a whole section.

Each tissue patch is centred inside the cortex of its area (label = area at the centre) at a
random depth (15-85 % of the local thickness), angle, curvature and obliquity, sometimes
with a neighbouring area's border in the field. ``include_nontissue`` adds patches labelled
:data:`cytowords.atlas.NONE_ID` (white matter, background, artefact-only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..atlas import NONE_ID, load_atlas
from .brain import VARIATIONS, Brain, stable_seed
from .patch import render_patch, resolve_area

#: bumped whenever rendered patches change for the same arguments (caches key on it);
#: 2: a neighbour's border with negative ``border_um`` no longer covers the field centre;
#: 3: realistic variation by default (``variation="classic"`` renders as version 2);
#: 4: realistic sections' position along the ribbon is continuous (their columns are radial
#: rows; patches and ``classic`` render as before)
GENERATOR_VERSION = 4

META_KEYS = (
    "brain",
    "angle",
    "curvature",
    "depth_offset",
    "centre_depth_rel",
    "neighbour",
    "border_um",
    "obliquity",
    "seed",
    "artefacts",
    "kind",
)


def _check_count(name: str, value: int) -> int:
    if not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def sample_patches(
    brain_seeds: Sequence[int],
    area_ids: Sequence[str],
    n_per_area: int,
    *,
    size_px: int = 128,
    pixel_size_um: float = 16.0,
    rng_seed: int = 0,
    artefacts: float = 0.0,
    include_nontissue: float = 0.0,
    neighbour_prob: float = 0.3,
    max_angle: float = 180.0,
    depth_range: tuple[float, float] = (0.15, 0.85),
    variation: str = "realistic",
) -> tuple[np.ndarray, list[str], dict[str, list]]:
    """Render ``n_per_area`` patches per (brain, area); returns ``(patches, labels, meta)``.

    Args:
        brain_seeds: the individuals to draw from (split train/test by brain).
        area_ids: area ids or aliases (labels are returned as canonical ids).
        n_per_area: patches per area and brain.
        size_px, pixel_size_um: patch size in pixels and resolution (µm/px).
        rng_seed: seed of the placement randomness (angles, depths, seeds).
        artefacts: probability that a patch gets random artefacts (0..1).
        include_nontissue: number of ``__none__`` patches as a fraction of tissue patches.
        neighbour_prob: probability of a neighbouring area's border in the field.
        max_angle: cortex rotation drawn uniformly in ``[-max_angle, max_angle]`` degrees.
        depth_range: relative cortical depth range (0 pia, 1 white matter) of patch centres.
        variation: the brains' variation model (:class:`Brain`): ``"realistic"`` or
            ``"classic"``.

    Returns ``patches`` uint8 ``(N, size_px, size_px)``, ``labels`` (area ids or
    ``NONE_ID``) and ``meta`` (lists per key of :data:`META_KEYS`).
    """
    n = _check_count("n_per_area", n_per_area)
    size = _check_count("size_px", size_px)
    if size == 0 or not pixel_size_um or float(pixel_size_um) <= 0:
        raise ValueError("size_px and pixel_size_um must be positive")
    if not 0 <= artefacts <= 1 or include_nontissue < 0:
        raise ValueError("artefacts must be a probability in [0, 1], include_nontissue >= 0")
    lo, hi = (float(v) for v in depth_range)
    if not 0 <= lo <= hi <= 1:
        raise ValueError(f"depth_range must satisfy 0 <= low <= high <= 1, got {depth_range!r}")
    if variation not in VARIATIONS:
        raise ValueError(f"variation must be one of {VARIATIONS}, got {variation!r}")
    if not brain_seeds:
        raise ValueError("brain_seeds is empty: give at least one brain seed")
    atlas = load_atlas()
    areas = [resolve_area(a) for a in area_ids]
    field = size * float(pixel_size_um)
    rng = np.random.default_rng(stable_seed("sample", rng_seed))
    jobs = []
    for b in brain_seeds:
        for a in areas:
            allowed = [nb for nb in a.neighbours if atlas.get(nb).in_scope == a.in_scope]
            for _ in range(n):
                jobs.append((int(b), a, "tissue", allowed))
    n_none = int(round(include_nontissue * len(jobs)))
    for i in range(n_none):
        jobs.append((int(brain_seeds[i % len(brain_seeds)]), areas[i % len(areas)], "none", []))
    patches = np.empty((len(jobs), size, size), np.uint8)
    labels: list[str] = []
    meta: dict[str, list] = {k: [] for k in META_KEYS}
    brains: dict[int, Brain] = {}
    for i, (b, area, kind, allowed) in enumerate(jobs):
        brain = brains.setdefault(b, Brain(b, variation))
        th = brain.thickness_um(area)
        angle = float(rng.uniform(-max_angle, max_angle))
        curv = float(np.clip(rng.normal(0, 0.25), -0.6, 0.6))
        obl = float(rng.uniform(0, 30))
        seed = int(rng.integers(2**31))
        art = bool(rng.random() < artefacts)
        nb, border = None, 0.0
        if kind == "tissue":
            rel = float(rng.uniform(lo, hi))
            centre = rel * th
            if allowed and rng.random() < neighbour_prob:
                nb = allowed[int(rng.integers(len(allowed)))]
                border = float(rng.choice([-1, 1]) * rng.uniform(300, 1000))
            label, sub = area.id, "tissue"
        else:
            sub = ("white_matter", "background", "artefact")[int(rng.integers(3))]
            if sub == "background":
                centre = -0.75 * field * np.sqrt(2) - rng.uniform(0, 500)
            else:
                centre = th + 0.75 * field * np.sqrt(2) + rng.uniform(0, 2000)
            art = art or sub == "artefact"
            label, rel = NONE_ID, float(centre / th)
        kinds = ("tear", "bubble", "fold") if sub == "artefact" else art
        patches[i] = render_patch(
            area,
            brain,
            size_um=field,
            pixel_size_um=pixel_size_um,
            angle=angle,
            curvature=curv,
            depth_offset=centre - field / 2,
            seed=seed,
            artefacts=kinds,
            neighbour=nb,
            border_um=border,
            obliquity_deg=obl,
        )
        labels.append(label)
        for k, v in zip(
            META_KEYS,
            (b, angle, curv, centre - field / 2, rel, nb, border, obl, seed, bool(art), sub),
        ):
            meta[k].append(v)
    return patches, labels, meta
