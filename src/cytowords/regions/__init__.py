"""Regions a user draws on a section: ROIs in µm (polygons with holes and parts) and their
GeoJSON files (every form QuPath writes, and the plugin's own)."""

from .geojson import GeoJsonError, read_geojson_rois
from .roi import Roi, RoiError, patch_grid

__all__ = ["GeoJsonError", "Roi", "RoiError", "patch_grid", "read_geojson_rois"]
