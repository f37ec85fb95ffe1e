"""The one field reader: square model fields of a section, scaled to [0, 1].

Every consumer (ROI description, area maps, the pixel-size check, training) reads its
fields here, so they all see the same pixels:

- a *field* is ``patch_px × patch_px`` pixels at ``pixel_size_um`` (the model's resolution),
  placed on the model's pixel grid anchored at the section's top-left corner (its first
  pixel starts at a whole multiple of ``pixel_size_um``, to within half a model pixel of the
  requested centre);
- fields close together are cut from one window (each stored chunk read once); fields spread
  over a larger extent are cut from square tiles aligned to the section's corner, each tile
  read once;
- parts outside the section read as the section's background (the empty slide);
- a pyramid level stored JPEG-compressed is read only well downsampled, from a finer level
  where one is stored (``Section.read_window(model_view=True)``);
- intensities are scaled by the section's intensity range (:mod:`.intensity`).
"""

from __future__ import annotations

import numpy as np

from .intensity import section_intensity
from .section import Section

#: largest single window (pixels at the requested resolution) read in one piece
MAX_WINDOW_PX = 4096 * 4096
#: side (px at the requested resolution) of the tiles read when fields spread wider
TILE_PX = 1024


def read_fields(
    section: Section,
    centres_um: np.ndarray,
    pixel_size_um: float,
    patch_px: int,
    *,
    as_uint8: bool = False,
    tile_px: int = TILE_PX,
    max_window_px: int = MAX_WINDOW_PX,
) -> np.ndarray:
    """Fields centred on ``centres_um`` (``(M, 2)`` ``(y, x)`` µm from the section's corner).

    Args:
        section: the section to read (only the chunks under the fields are read).
        centres_um: field centres in µm.
        pixel_size_um: µm per pixel of the fields (the model's resolution).
        patch_px: side of a field in pixels.
        as_uint8: return ``uint8`` fields (the unit value × 255, rounded) instead of float.
        tile_px: side (px) of the aligned tiles read when the fields do not fit one window.
        max_window_px: largest window (px) read in one piece.

    Returns:
        ``(M, patch_px, patch_px)`` float32 in [0, 1] (or uint8 with ``as_uint8``).
    """
    c = np.asarray(centres_um, dtype=np.float64).reshape(-1, 2)
    ps, n = float(pixel_size_um), int(patch_px)
    inten = section_intensity(section)
    raw = np.empty((len(c), n, n), dtype=np.float32)
    if len(c):
        half = n * ps / 2.0
        lo, hi = c.min(axis=0) - half, c.max(axis=0) + half
        if np.prod(np.ceil((hi - lo) / ps)) <= max_window_px:
            _cut_from_window(section, c, ps, n, inten.background, raw)
        else:
            _cut_from_tiles(section, c, ps, n, inten.background, int(tile_px), raw)
    return inten.to_uint8(raw) if as_uint8 else inten.to_unit(raw)


def _cut_from_window(
    section: Section, c: np.ndarray, ps: float, n: int, fill: float, out: np.ndarray
) -> None:
    """One window over all fields, aligned to the model pixel grid; fields cut from it."""
    half = n * ps / 2.0
    lo = np.floor((c.min(axis=0) - half) / ps) * ps
    hi = lo + np.ceil((c.max(axis=0) + half - lo) / ps) * ps
    win = section.read_window(
        lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], ps, fill=fill, model_view=True
    )
    for i, ci in enumerate(c):
        r, q = np.round((ci - half - lo) / ps).astype(int)
        out[i] = win[r : r + n, q : q + n]


def _cut_from_tiles(
    section: Section, c: np.ndarray, ps: float, n: int, fill: float, t: int, out: np.ndarray
) -> None:
    """Square tiles of ``t`` px aligned to the section corner, each read once when a field
    needs it; fields cut (and stitched across tile borders) from them."""
    tile_um = t * ps
    r0 = np.round(c / ps - n / 2.0).astype(np.int64)  # field origins in model pixels
    tiles: dict[tuple[int, int], np.ndarray] = {}

    def tile(ti: int, tj: int) -> np.ndarray:
        if (ti, tj) not in tiles:
            tiles[ti, tj] = section.read_window(
                ti * tile_um, tj * tile_um, tile_um, tile_um, ps, fill=fill, model_view=True
            )
        return tiles[ti, tj]

    for m, (r, q) in enumerate(r0):
        for ti in range(r // t, (r + n - 1) // t + 1):
            for tj in range(q // t, (q + n - 1) // t + 1):
                a = tile(ti, tj)
                ya, yb = max(r, ti * t), min(r + n, (ti + 1) * t)
                xa, xb = max(q, tj * t), min(q + n, (tj + 1) * t)
                out[m, ya - r : yb - r, xa - q : xb - q] = a[
                    ya - ti * t : yb - ti * t, xa - tj * t : xb - tj * t
                ]
