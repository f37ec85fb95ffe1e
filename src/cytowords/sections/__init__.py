"""Open and write sections (OME-Zarr NGFF 0.4/0.5, plain zarr, TIFF; grey or RGB) as
multiscale dask arrays; the one field reader with the section's intensity range; the
tissue mask."""

from .calibration import calibration_warning
from .colour import StainModel, grey_levels
from .errors import (
    NonSquarePixelsError,
    PixelSizeMissingError,
    SectionError,
    SectionNotFoundError,
)
from .fields import read_fields
from .intensity import Intensity, section_background, section_intensity
from .open import open_section
from .section import LabelImage, Section
from .tissue import NoTissueError, TissueMask, tissue_mask
from .write import write_section

__all__ = [
    "calibration_warning",
    "grey_levels",
    "Intensity",
    "LabelImage",
    "NoTissueError",
    "open_section",
    "NonSquarePixelsError",
    "PixelSizeMissingError",
    "read_fields",
    "Section",
    "section_background",
    "section_intensity",
    "SectionError",
    "SectionNotFoundError",
    "StainModel",
    "tissue_mask",
    "TissueMask",
    "write_section",
]
