"""Inference: ROI -> patches -> embeddings -> area + open-set rejection + caption."""

from .describer import DescribeParams, Describer
from .result import PatchResult, RegionDescription

__all__ = ["DescribeParams", "Describer", "PatchResult", "RegionDescription"]
