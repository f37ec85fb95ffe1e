"""Open and write sections: OME-Zarr (NGFF 0.4/0.5), plain zarr and TIFF as multiscale dask arrays."""

from .errors import PixelSizeMissingError, SectionError, SectionNotFoundError, WriteCancelled
from .open import open_section
from .section import LabelImage, Section
from .write import write_section

__all__ = [
    "LabelImage",
    "Section",
    "PixelSizeMissingError",
    "SectionError",
    "SectionNotFoundError",
    "WriteCancelled",
    "open_section",
    "write_section",
]
