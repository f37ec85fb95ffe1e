"""Inference: ROI -> patches -> embeddings -> area + open-set rejection + caption."""

from .describer import DescribeParams, Describer
from .result import PatchResult, RegionDescription
from .roi import Roi, RoiError, patch_grid

__all__ = [
    "DescribeParams",
    "Describer",
    "PatchResult",
    "RegionDescription",
    "Roi",
    "RoiError",
    "patch_grid",
]
