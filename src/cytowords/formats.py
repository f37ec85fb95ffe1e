"""File suffixes the plugin reads (no imports: the napari readers ask about every file).

One list per kind of file: the section opener (:func:`cytowords.sections.open_section`),
the region loader (:func:`cytowords.regions.read_region_file`) and the napari readers all
use these.
"""

#: TIFF and the whole-slide scanner formats built on it (read by tifffile): generic and
#: pyramidal (OME-)TIFF, BigTIFF, Aperio SVS, Hamamatsu NDPI, Leica SCN
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".svs", ".ndpi", ".scn")
#: plain 8-bit images as exported from viewers or papers (no calibration)
PLAIN_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: every section file (zarr stores are directories)
SECTION_FILE_SUFFIXES = TIFF_SUFFIXES + PLAIN_IMAGE_SUFFIXES
#: region files read as Fiji/ImageJ ROIs: one ROI, or the ROI Manager's "Save..." (RoiSet.zip);
#: any other region file is read as (QuPath or plugin) GeoJSON
IMAGEJ_ROI_SUFFIXES = (".roi", ".zip")
