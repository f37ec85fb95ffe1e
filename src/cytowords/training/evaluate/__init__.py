"""Evaluation on held-out synthetic brains: the paper's table, baselines and robustness.

Headline: fields read from whole held-out sections of >= 10 brains, 95 % bootstrap
intervals over brains, near misses apart (:mod:`.headline`); secondary view: sampler
patches (:mod:`.testset`).

Public API::

    from cytowords.training.evaluate import EvalOptions, run_evaluation, build_section_set
    from cytowords.training.evaluate import bootstrap_ci, near_misses
    from cytowords.training.evaluate import metrics   # pure metric functions

See ``docs/results.md`` for the protocol and the numbers.
"""

from .bootstrap import bootstrap_ci
from .nearmiss import near_misses
from .run import EvalOptions, run_evaluation
from .sectionset import build_section_set
from .shifts import SHIFTS, apply_shift, strong_staining
from .testset import (
    DEV_TEST_SEEDS,
    PUBLISHED_TEST_SEEDS,
    PatchSet,
    build_patch_set,
    eval_brains,
    eval_seed_range,
    held_out_brains,
)

__all__ = [
    "DEV_TEST_SEEDS",
    "PUBLISHED_TEST_SEEDS",
    "SHIFTS",
    "bootstrap_ci",
    "build_section_set",
    "eval_brains",
    "eval_seed_range",
    "near_misses",
    "EvalOptions",
    "PatchSet",
    "apply_shift",
    "build_patch_set",
    "run_evaluation",
    "strong_staining",
    "held_out_brains",
]
