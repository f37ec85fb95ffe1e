"""Made-up cortical areas for outlier exposure ("none of the known areas" in training).

The open-set scorer must reject cortex that belongs to none of the training areas, yet the
unseen areas of the atlas may never be shown in training. A :func:`novel_area` is a
plausible but fictitious area: each layer takes a random mix of two in-scope areas' layers
(thickness, density, soma size, pyramidal share), then every layer's density and thickness
and the cortical thickness are pushed away from the mix by a random factor, so that the
result is cortex-like but not a copy of any training area. Nothing of the unseen areas is
used. Such areas are rendered like any other (``render_patch``) and labelled
:data:`cytowords.atlas.NONE_ID` in training.

Two kinds: ``near=False`` mixes two random parents with large shifts (cortex far from
every training area), ``near=True`` mixes an area with one of its closest neighbours and
shifts less, giving *near misses*: made-up areas that lie between and beside the training
areas, at about the distance that separates neighbouring training areas, but never closer
to one of them than ``min_distance`` (:func:`profile_distance`, in units of the
inter-individual variation of the generator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from ..atlas import LAYER_NAMES, Area, load_atlas
from ..atlas.profiles import LaminarProfile, LayerProfile
from .brain import stable_seed

NOVEL_PREFIX = "__novel"

#: scales that :func:`profile_distance` divides by: about the inter-individual standard
#: deviations of the generator (:class:`cytowords.synth.brain.Brain`, log scale) for
#: thickness, layer thickness, density and soma size; the pyramidal share does not vary
#: between brains and gets a nominal 0.10 (absolute)
_SD = {"thickness": 0.10, "rel_thickness": 0.09, "density": 0.11, "size": 0.06, "pyr": 0.10}


def _profile_vector(profile: LaminarProfile) -> np.ndarray:
    v = [np.log(profile.thickness_mm) / _SD["thickness"]]
    for name in LAYER_NAMES:
        lay = profile.layers[name]
        v += [
            np.log(max(lay.rel_thickness, 1e-3)) / _SD["rel_thickness"],
            np.log(max(lay.density, 1e-3)) / _SD["density"],
            np.log(lay.size_mean_um) / _SD["size"],
            lay.pyramidal_fraction / _SD["pyr"],
        ]
    return np.asarray(v, dtype=float)


def profile_distance(a: LaminarProfile, b: LaminarProfile) -> float:
    """Distance between two laminar profiles in units of inter-individual variation.

    Euclidean over cortical thickness and, per layer, relative thickness, density, soma
    size (all log) and pyramidal share, each divided by how much it varies between brains
    of the generator. Neighbouring training areas lie about 2-8 apart (4a/4p 2.1, median
    nearest neighbour 5.6); the unseen near misses hIP3 and OP3 4.0 and 4.5 from their
    closest training area, Te1.2 7.0, CA1 25.
    Specials (giant cells, sublayers) and laminar contrast are not counted.
    """
    return float(np.linalg.norm(_profile_vector(a) - _profile_vector(b)))


@lru_cache(maxsize=8)
def _pool_vectors(pool: tuple[str, ...]) -> np.ndarray:
    atlas = load_atlas()
    return np.stack([_profile_vector(atlas.get(a).profile) for a in pool])


def _mix(a: float, b: float, w: float) -> float:
    return float((1.0 - w) * a + w * b)


def novel_area(
    seed: int,
    parents: Sequence[str] | None = None,
    *,
    shift: float | None = None,
    near: bool = False,
    min_distance: float = 3.0,
) -> Area:
    """A fictitious cortical area (id ``__novel<seed>``, ``__novelnear<seed>`` when near).

    Args:
        seed: selects the two parent areas, the per-layer mixing weights and the shifts.
        parents: area ids to draw the two parents from (default: the atlas's in-scope
            areas; never pass unseen areas, they must stay unseen).
        shift: log-normal sigma of the per-layer density/thickness shifts and the
            cortical-thickness shift away from the mix (default 0.25 = about ±25 %, or
            0.12 when ``near``).
        near: a near miss: the second parent is one of the first's 3 closest areas in
            the pool, and the result is redrawn (up to 50 times) until it lies at least
            ``min_distance`` (:func:`profile_distance`) from every area of the pool.
        min_distance: see ``near``; ignored otherwise.
    """
    atlas = load_atlas()
    pool = tuple(parents if parents is not None else atlas.in_scope_ids)
    if len(pool) < 2:
        raise ValueError("novel_area needs at least two parent areas")
    if not near:
        return _novel(seed, pool, 0.25 if shift is None else shift, None, "")
    vecs = _pool_vectors(pool)
    for attempt in range(50):
        area = _novel(seed, pool, 0.12 if shift is None else shift, attempt, "near")
        d = np.linalg.norm(vecs - _profile_vector(area.profile), axis=1)
        if d.min() >= min_distance:
            break
    return area


def _novel(seed: int, pool: tuple[str, ...], shift: float, attempt: int | None, kind: str) -> Area:
    atlas = load_atlas()
    if attempt is None:
        rng = np.random.default_rng(stable_seed("novel", seed))
        ia, ib = rng.choice(len(pool), size=2, replace=False)
    else:
        rng = np.random.default_rng(stable_seed("novel-near", seed, attempt))
        vecs = _pool_vectors(pool)
        ia = int(rng.integers(len(pool)))
        d = np.linalg.norm(vecs - vecs[ia], axis=1)
        d[ia] = np.inf
        ib = int(rng.choice(np.argsort(d)[: min(3, len(pool) - 1)]))
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
        id=f"{NOVEL_PREFIX}{kind}{int(seed)}",
        name=f"novel {kind + ' ' if kind else ''}area {int(seed)}",
        aliases=(),
        shared_aliases=(),
        neighbours=(),
        in_scope=False,
        unseen_reason="fictitious area for outlier exposure",
        profile=profile,
        facts={},
        label=0,
    )
