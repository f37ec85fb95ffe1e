"""Whole-section area maps, dense where the encoder allows, on dask or dask.distributed;
resumable; OME-Zarr and GeoJSON output.

One way in: :func:`compute_area_map` (``out=None``: in memory; ``out=path``: a resumable
OME-Zarr). See ``docs/mapping.md``.
"""

from ..sections import NoTissueError
from .compute import AreaMap, compute_area_map
from .geojson import area_map_to_geojson
from .plan import PlanError, check_plan_size
from .write import write_area_map

__all__ = [
    "AreaMap",
    "NoTissueError",
    "PlanError",
    "area_map_to_geojson",
    "check_plan_size",
    "compute_area_map",
    "write_area_map",
]
