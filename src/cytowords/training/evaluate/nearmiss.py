"""Which unseen areas are near misses: computed from the atlas's laminar profiles.

Each area's profile becomes a vector: cortical thickness and, per layer I-VI, relative
thickness, neuronal density, soma size (all log) and pyramidal share. Every component is
divided by its standard deviation over the in-scope areas, so distances are in units of
how much in-scope areas differ from each other. Rule: an unseen area is a *near miss* when
its nearest in-scope area lies no farther than the largest nearest-neighbour distance among
the in-scope areas themselves: the model has to separate in-scope areas that close, so an
unseen area within that spacing looks like one more in-scope area. Special cells,
sublayers and laminar contrast are not counted. No test score enters the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cytowords.atlas import LAYER_NAMES, Atlas, LaminarProfile

RULE = (
    "an unseen area is a near miss when the atlas-profile distance to its nearest in-scope "
    "area (log thickness and, per layer, log relative thickness, log density, log soma "
    "size and pyramidal share, each scaled by its SD over the in-scope areas) is at most "
    "the largest nearest-neighbour distance among the in-scope areas"
)


def profile_vector(profile: LaminarProfile) -> np.ndarray:
    """Unscaled feature vector of a laminar profile (25 numbers, see module docstring)."""
    v = [np.log(profile.thickness_mm)]
    for name in LAYER_NAMES:
        lay = profile.layers[name]
        v += [
            np.log(max(lay.rel_thickness, 1e-3)),
            np.log(max(lay.density, 1e-3)),
            np.log(max(lay.size_mean_um, 1e-3)),
            lay.pyramidal_fraction,
        ]
    return np.asarray(v, dtype=np.float64)


@dataclass(frozen=True)
class NearMisses:
    """``nearest``: unseen id -> (closest in-scope id, distance); ``limit``: the largest
    in-scope nearest-neighbour distance; ``near``: unseen ids within ``limit``."""

    nearest: dict[str, tuple[str, float]]
    limit: float
    near: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "rule": RULE,
            "limit": round(self.limit, 3),
            "near_miss_areas": list(self.near),
            "nearest_in_scope": {
                u: {"area": a, "distance": round(d, 3)} for u, (a, d) in self.nearest.items()
            },
        }


def near_misses(
    atlas: Atlas, in_scope: Sequence[str] | None = None, unseen: Sequence[str] | None = None
) -> NearMisses:
    """The near-miss unseen areas of ``atlas`` (rule in the module docstring)."""
    ins = list(atlas.in_scope_ids if in_scope is None else in_scope)
    uns = list(atlas.unseen_ids if unseen is None else unseen)
    if len(ins) < 2:
        raise ValueError("near misses need at least two in-scope areas")
    x = np.stack([profile_vector(atlas.get(a).profile) for a in ins])
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    z = x / sd
    d_in = np.linalg.norm(z[:, None] - z[None], axis=2)
    np.fill_diagonal(d_in, np.inf)
    limit = float(d_in.min(axis=1).max())
    nearest = {}
    for u in uns:
        d = np.linalg.norm(z - profile_vector(atlas.get(u).profile) / sd, axis=1)
        j = int(d.argmin())
        nearest[u] = (ins[j], float(d[j]))
    near = tuple(u for u in uns if nearest[u][1] <= limit)
    return NearMisses(nearest, limit, near)
