"""Open and write sections: OME-Zarr (NGFF 0.4/0.5), plain zarr and TIFF as multiscale dask arrays."""

from .calibration import calibration_warning
from .colour import StainModel, grey_levels
from .errors import PixelSizeMissingError, SectionError, SectionNotFoundError, WriteCancelled
from .fields import read_fields
from .intensity import Intensity, section_background, section_intensity
from .open import open_section
from .section import LabelImage, Section
from .write import write_section

__all__ = [
    "StainModel",
    "grey_levels",
    "calibration_warning",
    "Intensity",
    "LabelImage",
    "Section",
    "PixelSizeMissingError",
    "SectionError",
    "SectionNotFoundError",
    "WriteCancelled",
    "open_section",
    "read_fields",
    "section_background",
    "section_intensity",
    "write_section",
]
