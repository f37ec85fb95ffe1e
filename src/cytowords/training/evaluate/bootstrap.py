"""Bootstrap confidence intervals over brains (the unit of independent variation).

Fields of one brain share its individuality (thickness, density, staining, folding), so
they are not independent samples: intervals resample whole brains with replacement and
recompute the statistic on the pooled fields of the drawn brains (percentile intervals).

>>> brains = [np.ones(2), np.zeros(2)]  # per-brain correctness flags
>>> bootstrap_ci(brains, lambda parts: float(np.mean(np.concatenate(parts))), n=100)[0]
0.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def bootstrap_ci(
    values_by_brain: Sequence[T],
    stat: Callable[[list[T]], Any],
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[Any, Any, Any]:
    """Point estimate and percentile interval of ``stat`` over brains.

    Args:
        values_by_brain: one item per brain (e.g. a dict of per-field arrays).
        stat: statistic of a list of brain items (a resample may repeat a brain); returns a
            float or a 1-D array of floats (several statistics from one resample).
        n: number of resamples (brains drawn with replacement, as many as there are).
        seed: resampling seed (the same intervals on every run).
        level: coverage of the interval (0.95: the 2.5th and 97.5th percentiles).

    Returns:
        ``(value, lo, hi)``: ``stat`` of all brains and the interval bounds (floats, or
        arrays like ``stat``'s). Resamples where a statistic is nan (e.g. no unseen fields
        drawn) are left out of that statistic's interval; nan when none remain.
    """
    items = list(values_by_brain)
    if not items:
        raise ValueError("bootstrap_ci: no brains")
    if n < 1:
        raise ValueError(f"bootstrap_ci: n must be at least 1, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must lie in (0, 1), got {level}")
    point = np.asarray(stat(items), dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(items), size=(n, len(items)))
    reps = np.stack([np.asarray(stat([items[i] for i in row]), dtype=np.float64) for row in draws])
    alpha = (1 - level) / 2
    with np.errstate(all="ignore"):
        ok = np.isfinite(reps)
        lo = np.full(point.shape, np.nan)
        hi = np.full(point.shape, np.nan)
        flat_reps = reps.reshape(n, -1)
        flat_ok = ok.reshape(n, -1)
        for j in range(flat_reps.shape[1]):
            v = flat_reps[flat_ok[:, j], j]
            if len(v):
                lo.flat[j], hi.flat[j] = np.quantile(v, [alpha, 1 - alpha])
    if point.ndim == 0:
        return float(point), float(lo), float(hi)
    return point, lo, hi


def split_by_brain(brain: np.ndarray, **arrays: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per-field arrays cut into one dict per brain (brains in ascending order)."""
    brain = np.asarray(brain)
    return [{k: np.asarray(v)[brain == b] for k, v in arrays.items()} for b in np.unique(brain)]


def pool(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The per-brain dicts of a resample joined into one dict of per-field arrays."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
