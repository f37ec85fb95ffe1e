"""Is a stored pixel size plausible for a histology scan?

Brain sections are scanned at about 0.1–50 µm per pixel. A stored calibration outside
0.05–100 µm/px, or a TIFF resolution of exactly 72, 96 or 300 dots per inch (the screen and
print defaults that many programs write when they know no real size: 352.78, 264.58 and
84.67 µm/px), is almost surely not the scan's. Opening such a file still works; the
warning is kept in ``Section.metadata["calibration_warning"]`` so that the CLI and napari
say it before long work.
"""

from __future__ import annotations

from .section import Section

#: plausible µm per pixel of a histology scan
MIN_UM_PER_PX, MAX_UM_PER_PX = 0.05, 100.0
#: resolutions (dots per inch) that programs write by default, not scanners
DEFAULT_DPI = (72.0, 96.0, 300.0)
UM_PER_INCH = 25400.0


def implausible_pixel_size(pixel_size_um: float, *, inch_units: bool = False) -> str | None:
    """Why ``pixel_size_um`` (µm/px) is implausible for a histology scan, or None.

    ``inch_units``: the size came from TIFF resolution tags in pixels per inch."""
    p = float(pixel_size_um)
    if inch_units:
        for dpi in DEFAULT_DPI:
            if abs(UM_PER_INCH / p - dpi) <= 1e-3 * dpi:
                return f"{dpi:g} dpi, a screen/print default rather than a scan's resolution"
    if p > MAX_UM_PER_PX:
        return f"coarser than {MAX_UM_PER_PX:g} µm/px"
    if p < MIN_UM_PER_PX:
        return f"finer than {MIN_UM_PER_PX:g} µm/px"
    return None


def calibration_message(where: object, pixel_size_um: float, reason: str) -> str:
    """One line naming the file, the stored size and why it looks wrong."""
    return (
        f"{where}: stored pixel size {pixel_size_um:.4g} µm/px is implausible for a histology "
        f"scan ({reason}); check the file's calibration or give the real pixel size "
        "(CLI: --pixel-size-um)"
    )


def calibration_warning(section: Section) -> str | None:
    """The section's calibration warning (one line naming the file), or None."""
    w = section.metadata.get("calibration_warning")
    return str(w) if w else None
