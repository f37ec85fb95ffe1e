"""Tile grid of a whole-section area map: geometry, tissue (foreground) mask and blocks.

One map pixel is one *tile* of ``stride_um`` µm; the model patch of a tile (``patch_px`` px at
the model's pixel size) is centred on the tile (to within half a model pixel). The stride is
snapped to a whole number of model pixels and the grid origin to the model pixel grid, so
every patch is a pixel-exact slice of its block's window. Tiles are grouped in square
*blocks* of ``block_tiles`` × ``block_tiles`` tiles: the unit of work (one dask task reads
one window for a block and runs the model on its tissue tiles).

Foreground mask: the coarsest pyramid level (coarsened further to <= 2048 px per side)
is scaled to [0, 1] by the section's intensity range (:mod:`cytowords.sections.intensity`); Otsu's threshold splits it into a dark class (tissue of a cell-body
stain) and a bright class (glass). If the class means differ by less than
:data:`MIN_CONTRAST` the section is said to have no tissue. A tile is over tissue when at
least ``min_tissue`` of its area is dark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dask.array as da
import numpy as np

from ..sections import Section, section_intensity

#: smallest difference of Otsu class means (intensity in [0, 1]) accepted as tissue vs glass
MIN_CONTRAST = 0.05
#: the foreground mask is computed at most at this many px per side
MASK_MAX_PX = 2048


class NoTissueError(ValueError):
    """The section (or region) has no tile over tissue."""


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values`` (maximises the between-class variance)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m = np.cumsum(hist * centres)
    mu0 = m / np.maximum(w0, 1)
    mu1 = (m[-1] - m) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between[:-1])) + 1])


@dataclass
class TissueMask:
    """Boolean tissue mask at a coarse pixel size (µm per mask pixel)."""

    mask: np.ndarray
    pixel_size_um: float
    threshold: float
    contrast: float


def tissue_mask(section: Section) -> TissueMask:
    """Foreground (tissue) mask from the coarsest level (see module docstring).

    Raises :class:`NoTissueError` when the image has no dark-on-bright contrast.
    """
    lev, ps = section.levels[-1], section.pixel_size_um[-1]
    f = max(1, math.ceil(max(lev.shape) / MASK_MAX_PX))
    if f > 1:
        h, w = (lev.shape[0] // f) * f, (lev.shape[1] // f) * f
        cs = f * max(1, 1024 // f)
        lev = lev[:h, :w].rechunk((cs, cs)).astype(np.float32)
        lev = da.coarsen(np.mean, lev, {0: f, 1: f}, trim_excess=True)
        ps = ps * f
    img = section_intensity(section).to_unit(lev.compute())
    t = otsu_threshold(img)
    dark, bright = img[img < t], img[img >= t]
    contrast = float(bright.mean() - dark.mean()) if dark.size and bright.size else 0.0
    if contrast < MIN_CONTRAST:
        raise NoTissueError(
            f"section {section.name!r}: no tissue found (the coarsest level has no "
            f"dark-on-bright contrast: {contrast:.3f} < {MIN_CONTRAST}); expected a "
            "cell-body-stained section with dark tissue on bright glass"
        )
    return TissueMask(img < t, float(ps), t, contrast)


def _integral(mask: np.ndarray) -> np.ndarray:
    ii = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.float64)
    ii[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)
    return ii


@dataclass(frozen=True)
class MapGrid:
    """Tile grid over a section (µm, corner convention of :mod:`cytowords.sections`).

    Attributes:
        origin_um: ``(y, x)`` of the top-left corner of tile (0, 0).
        stride_um: tile side (= map pixel size), a whole number of model pixels.
        shape: ``(rows, cols)`` of tiles.
        model_px_um: model pixel size (µm/px); patch_px: patch side (px).
        block_tiles: tiles per block side.
    """

    origin_um: tuple[float, float]
    stride_um: float
    shape: tuple[int, int]
    model_px_um: float
    patch_px: int
    block_tiles: int

    @property
    def stride_px(self) -> int:
        return int(round(self.stride_um / self.model_px_um))

    @property
    def patch_offset_um(self) -> float:
        """Offset from a tile's corner to its patch's corner (whole model pixels)."""
        return ((self.stride_px - self.patch_px) // 2) * self.model_px_um

    @property
    def block_shape(self) -> tuple[int, int]:
        """Number of blocks ``(rows, cols)``."""
        b = self.block_tiles
        return (-(-self.shape[0] // b), -(-self.shape[1] // b))

    def block_slices(self, bi: int, bj: int) -> tuple[slice, slice]:
        """Tile rows/cols of block ``(bi, bj)``."""
        b = self.block_tiles
        return (
            slice(bi * b, min(self.shape[0], (bi + 1) * b)),
            slice(bj * b, min(self.shape[1], (bj + 1) * b)),
        )

    def window_um(self, rows: slice, cols: slice) -> tuple[float, float, float, float]:
        """``(y0, x0, h, w)`` µm of the window holding the patches of these tiles."""
        s, off, p = self.stride_um, self.patch_offset_um, self.model_px_um
        y0 = self.origin_um[0] + rows.start * s + off
        x0 = self.origin_um[1] + cols.start * s + off
        h = ((rows.stop - rows.start - 1) * self.stride_px + self.patch_px) * p
        w = ((cols.stop - cols.start - 1) * self.stride_px + self.patch_px) * p
        return y0, x0, h, w

    def tissue_fraction(self, tm: TissueMask) -> np.ndarray:
        """``(rows, cols)`` share of each tile's area covered by tissue (coarse-pixel exact)."""
        ii = _integral(tm.mask.astype(np.float64))
        mh, mw = tm.mask.shape

        def edges(o: float, n: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
            e = (o + np.arange(n + 1) * self.stride_um) / tm.pixel_size_um
            a = np.clip(np.floor(e[:-1]).astype(int), 0, limit)
            b = np.clip(np.maximum(np.ceil(e[1:]).astype(int), a + 1), 0, limit)
            return a, b

        ya, yb = edges(self.origin_um[0], self.shape[0], mh)
        xa, xb = edges(self.origin_um[1], self.shape[1], mw)
        tot = ii[yb][:, xb] - ii[ya][:, xb] - ii[yb][:, xa] + ii[ya][:, xa]
        area = np.outer(yb - ya, xb - xa).astype(np.float64)
        return np.where(area > 0, tot / np.maximum(area, 1), 0.0)


def make_grid(
    section: Section,
    model_px_um: float,
    patch_px: int,
    *,
    region_um: tuple[float, float, float, float] | None = None,
    stride_um: float | None = None,
    block_tiles: int = 16,
) -> MapGrid:
    """Tile grid over ``region_um = (y0, x0, y1, x1)`` (default: the whole section).

    ``stride_um`` defaults to half the patch side; it is rounded to whole model pixels.
    """
    hu, wu = section.shape_um
    if region_um is None:
        region_um = (0.0, 0.0, hu, wu)
    try:
        y0, x0, y1, x1 = (float(v) for v in region_um)
    except (TypeError, ValueError):
        raise ValueError(f"region_um={region_um!r}: expected (y0, x0, y1, x1) in µm") from None
    y0, x0, y1, x1 = max(0.0, y0), max(0.0, x0), min(hu, y1), min(wu, x1)
    if not all(math.isfinite(v) for v in (y0, x0, y1, x1)) or y1 <= y0 or x1 <= x0:
        raise ValueError(
            f"region_um={region_um!r}: empty inside the section of {hu:.0f} × {wu:.0f} µm; "
            "expected (y0, x0, y1, x1) with y0 < y1, x0 < x1 in µm"
        )
    if int(block_tiles) < 1:
        raise ValueError(f"block_tiles={block_tiles}; expected >= 1")
    if stride_um is None:
        stride_um = patch_px * model_px_um / 2.0
    if not (math.isfinite(float(stride_um)) and float(stride_um) > 0):
        raise ValueError(f"stride_um={stride_um!r}; expected a positive number of µm")
    sp = max(1, int(round(float(stride_um) / model_px_um)))
    s = sp * model_px_um
    oy, ox = math.floor(y0 / model_px_um) * model_px_um, math.floor(x0 / model_px_um) * model_px_um
    shape = (max(1, math.ceil((y1 - oy) / s - 1e-9)), max(1, math.ceil((x1 - ox) / s - 1e-9)))
    return MapGrid((oy, ox), s, shape, float(model_px_um), int(patch_px), int(block_tiles))
