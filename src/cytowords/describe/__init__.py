"""Inference: ROI -> patches -> embeddings -> area + open-set rejection + caption.

:class:`DescribeParams` imports no model code; the rest (torch) is imported when first used
(``from cytowords.describe import Describer`` works as before)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import DescribeParams

if TYPE_CHECKING:
    from .describer import Describer
    from .result import PatchResult, RegionDescription

__all__ = ["DescribeParams", "Describer", "PatchResult", "RegionDescription"]

_LAZY = {
    "Describer": ".describer",
    "PatchResult": ".result",
    "RegionDescription": ".result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
