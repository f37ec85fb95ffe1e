"""Inference: ROI -> patches -> embeddings -> area + open-set rejection + caption."""

from .describer import DescribeParams, Describer, default_model_path, resolve_model_path
from .result import PatchResult, RegionDescription
from .roi import Roi, RoiError, patch_grid

__all__ = [
    "DescribeParams",
    "Describer",
    "PatchResult",
    "RegionDescription",
    "Roi",
    "RoiError",
    "default_model_path",
    "patch_grid",
    "resolve_model_path",
]
