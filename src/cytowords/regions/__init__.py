"""Regions a user draws on a section: ROIs in µm (polygons with holes and parts) and their
files: GeoJSON (every form QuPath writes, and the plugin's own) and Fiji/ImageJ ROIs
(``.roi``, ``RoiSet.zip``), all read by :func:`read_region_file`."""

from .geojson import RegionFileError, read_region_file
from .roi import Roi, RoiError, patch_grid

__all__ = ["RegionFileError", "Roi", "RoiError", "patch_grid", "read_region_file"]
