"""Open and write sections: OME-Zarr (NGFF 0.4/0.5), plain zarr and TIFF as multiscale dask arrays."""

from .section import LabelImage, Section

__all__ = ["LabelImage", "Section"]
