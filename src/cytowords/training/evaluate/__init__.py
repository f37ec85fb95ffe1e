"""Evaluation on held-out synthetic brains: the paper's table, baselines and robustness.

Public API::

    from cytowords.training.evaluate import EvalOptions, run_evaluation, build_patch_set
    from cytowords.training.evaluate import metrics   # pure metric functions

See ``docs/results.md`` for the protocol and the numbers.
"""

from .run import EvalOptions, run_evaluation
from .shifts import SHIFTS, apply_shift, strong_staining
from .testset import PatchSet, build_patch_set, held_out_brains

__all__ = [
    "SHIFTS",
    "EvalOptions",
    "PatchSet",
    "apply_shift",
    "build_patch_set",
    "run_evaluation",
    "strong_staining",
    "held_out_brains",
]
