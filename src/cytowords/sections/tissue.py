"""The tissue (foreground) mask of a section, from its coarsest level.

The coarsest pyramid level (coarsened further to <= :data:`MASK_MAX_PX` px per side) is
scaled to [0, 1] by the section's intensity range (:mod:`.intensity`); Otsu's threshold
splits it into a dark class (tissue of a cell-body stain) and a bright class (glass). If
the class means differ by less than :data:`MIN_CONTRAST` the section is said to have no
tissue.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import dask.array as da
import numpy as np

from .intensity import section_intensity
from .section import Section

#: smallest difference of Otsu class means (intensity in [0, 1]) accepted as tissue vs glass
MIN_CONTRAST = 0.05
#: the foreground mask is computed at most at this many px per side
MASK_MAX_PX = 2048
#: per live Section (by id; dropped when it is collected): its last tissue mask and what
#: it was computed from (kept off the object: it would travel with it to dask workers)
_CACHE: dict[int, tuple[tuple, TissueMask]] = {}


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

    Raises :class:`NoTissueError` when the image has no dark-on-bright contrast. The mask
    is kept for the section object (read-only) for as long as its coarsest level, pixel
    size and intensity range stay the same: a live map asks for it at every view.
    """
    lev, ps = section.levels[-1], section.pixel_size_um[-1]
    inten = section_intensity(section)
    key = (id(lev), getattr(lev, "name", None), tuple(lev.shape), float(ps), inten)
    cached = _CACHE.get(id(section))
    if cached is not None and cached[0] == key:
        return cached[1]
    f = max(1, math.ceil(max(lev.shape) / MASK_MAX_PX))
    if f > 1:
        h, w = (lev.shape[0] // f) * f, (lev.shape[1] // f) * f
        cs = f * max(1, 1024 // f)
        lev = lev[:h, :w].rechunk((cs, cs)).astype(np.float32)
        lev = da.coarsen(np.mean, lev, {0: f, 1: f}, trim_excess=True)
        ps = ps * f
    img = inten.to_unit(lev.compute())
    t = otsu_threshold(img)
    dark, bright = img[img < t], img[img >= t]
    contrast = float(bright.mean() - dark.mean()) if dark.size and bright.size else 0.0
    if contrast < MIN_CONTRAST:
        raise NoTissueError(
            f"section {section.name!r}: no tissue found (the coarsest level has no "
            f"dark-on-bright contrast: {contrast:.3f} < {MIN_CONTRAST}); expected a "
            "cell-body-stained section with dark tissue on bright glass"
        )
    mask = img < t
    mask.setflags(write=False)  # shared by every caller through the cache
    tm = TissueMask(mask, float(ps), t, contrast)
    if id(section) not in _CACHE:
        weakref.finalize(section, _CACHE.pop, id(section), None)
    _CACHE[id(section)] = (key, tm)
    return tm
