"""Made-up cortical areas for outlier exposure ("none of the known areas" in training).

The open-set scorer must reject cortex that belongs to none of the training areas, yet the
unseen areas of the atlas may never be shown in training. A :func:`novel_area` is a
plausible but fictitious area: each layer takes a random mix of two in-scope areas' layers
(thickness, density, soma size, pyramidal share), then every layer's density and thickness
and the cortical thickness are pushed away from the mix by a random factor, so that the
result is cortex-like but not a copy of any training area. Nothing of the unseen areas is
used. Such areas are rendered like any other (``render_patch``) and labelled
:data:`cytowords.atlas.NONE_ID` in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..atlas import LAYER_NAMES, Area, load_atlas
from ..atlas.profiles import LaminarProfile, LayerProfile
from .brain import stable_seed

NOVEL_PREFIX = "__novel"


def _mix(a: float, b: float, w: float) -> float:
    return float((1.0 - w) * a + w * b)


def novel_area(seed: int, parents: Sequence[str] | None = None, *, shift: float = 0.25) -> Area:
    """A fictitious cortical area (id ``__novel<seed>``) mixed from two in-scope areas.

    Args:
        seed: selects the two parent areas, the per-layer mixing weights and the shifts.
        parents: area ids to draw the two parents from (default: the atlas's in-scope
            areas; never pass unseen areas, they must stay unseen).
        shift: log-normal sigma of the per-layer density/thickness shifts and the
            cortical-thickness shift away from the mix (0.25 = about ±25 %).
    """
    atlas = load_atlas()
    pool = list(parents if parents is not None else atlas.in_scope_ids)
    if len(pool) < 2:
        raise ValueError("novel_area needs at least two parent areas")
    rng = np.random.default_rng(stable_seed("novel", seed))
    ia, ib = rng.choice(len(pool), size=2, replace=False)
    pa, pb = atlas.get(pool[int(ia)]).profile, atlas.get(pool[int(ib)]).profile
    layers: dict[str, LayerProfile] = {}
    for name in LAYER_NAMES:
        la, lb = pa.layers[name], pb.layers[name]
        w = float(rng.uniform(0, 1))
        near = la if w < 0.5 else lb
        layers[name] = replace(
            near,
            rel_thickness=_mix(la.rel_thickness, lb.rel_thickness, w)
            * float(np.exp(rng.normal(0, shift))),
            density=_mix(la.density, lb.density, w) * float(np.exp(rng.normal(0, shift))),
            size_mean_um=_mix(la.size_mean_um, lb.size_mean_um, w),
            size_sd_um=_mix(la.size_sd_um, lb.size_sd_um, w),
            pyramidal_fraction=_mix(la.pyramidal_fraction, lb.pyramidal_fraction, w),
            sublayers=tuple(
                replace(s, density=s.density * float(np.exp(rng.normal(0, shift))))
                for s in near.sublayers
            ),
        )
    total = sum(lay.rel_thickness for lay in layers.values())
    layers = {k: replace(v, rel_thickness=v.rel_thickness / total) for k, v in layers.items()}
    w = float(rng.uniform(0, 1))
    special = tuple(s for lay in layers.values() for s in lay.special)
    profile = LaminarProfile(
        layers=layers,
        thickness_mm=_mix(pa.thickness_mm, pb.thickness_mm, w)
        * float(np.exp(rng.normal(0, shift))),
        laminar_contrast=float(np.clip(_mix(pa.laminar_contrast, pb.laminar_contrast, w), 0, 1)),
        columnar_strength=float(np.clip(_mix(pa.columnar_strength, pb.columnar_strength, w), 0, 1)),
        wm_border_sharpness=float(
            np.clip(_mix(pa.wm_border_sharpness, pb.wm_border_sharpness, w), 0, 1)
        ),
        special=special,
    )
    base = atlas.get(pool[int(ia)])
    return replace(
        base,
        id=f"{NOVEL_PREFIX}{int(seed)}",
        name=f"novel area {int(seed)}",
        aliases=(),
        shared_aliases=(),
        neighbours=(),
        in_scope=False,
        unseen_reason="fictitious area for outlier exposure",
        profile=profile,
        facts={},
        label=0,
    )
