"""The tissue (foreground) mask of a section, from its coarsest level.

The coarsest pyramid level (coarsened further to <= :data:`MASK_MAX_PX` px per side) is
scaled to [0, 1] by the section's intensity range (:mod:`.intensity`). Glass is the
*brightest* mode of its histogram (:func:`glass_threshold`): in a bright-field scan the
empty slide is the brightest thing, and pale white matter, though close to it, is still
darker. Tissue is every pixel darker than the threshold: the deepest point of the
(smoothed) histogram between the glass mode and the next darker mode (where a pixel is
least likely), but at least :data:`MIN_OD_MARGIN` in optical density darker than the
glass mode. Gently uneven glass (vignetting, haze) only widens the glass mode; glass
uneven by about the gap between it and white matter merges with it and is not handled
(that would need a flat-field correction). A constant fill (one exact value over at least
:data:`FILL_MIN_SHARE` of the image: the unscanned or never-written part of a whole-slide
store, padding) counts in the histogram as no taller than its tallest other bin, so a small
piece of tissue on a large filled slide still makes a mode of its own.

So the split does not depend on how much grey or white matter the section holds (Otsu's
two-class split of grey matter vs white matter + glass left white matter out). When the
histogram has a single mode, the image is one class: if Otsu's two halves of it differ by
less than :data:`MIN_CONTRAST` it is smooth glass, else it is tissue filling the view (a
crop without glass; the mask is every pixel below 1). If the mean of the pixels above the
threshold exceeds the mean of those below by less than :data:`MIN_CONTRAST`, the section
is said to have no tissue. Limitation: in a crop without glass that holds both grey and
white matter, white matter is the brightest mode and is taken for glass.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import dask.array as da
import numpy as np

from .intensity import section_intensity
from .section import Section

#: smallest difference of the class means (glass minus tissue, intensity in [0, 1])
#: accepted as tissue on glass
MIN_CONTRAST = 0.05
#: histogram of the unit intensity: bins over [0, 1] (8-bit resolution) and the sigma of
#: the Gaussian that smooths it (bins), so that noise makes no modes
HIST_BINS = 256
HIST_SMOOTH_BINS = 2.0
#: a mode counts when its prominence is at least this share of the tallest mode's height
MIN_MODE_PROMINENCE = 0.05
#: tissue is at least this optical density darker than the glass mode (10^-0.02: 4.5 %
#: darker), so glass noise beside a valley close to the glass mode stays glass
MIN_OD_MARGIN = 0.02
#: one exact value over at least this share of the image is a constant fill (an unscanned
#: or never-written area of the slide, padding), not glass noise: its histogram spike is
#: clipped so that it cannot hide the tissue's modes
FILL_MIN_SHARE = 0.2
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


def glass_threshold(img: np.ndarray) -> float | None:
    """Tissue/glass threshold of a unit-intensity image (values in [0, 1]; tissue is
    darker than it), by the glass-mode rule of the module docstring; None when the
    histogram has fewer than two modes (no glass mode to tell from tissue)."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    v = np.asarray(img, dtype=np.float64).ravel()
    hist, edges = np.histogram(v, bins=HIST_BINS, range=(0.0, 1.0))

    def modes(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = gaussian_filter1d(hist.astype(np.float64), HIST_SMOOTH_BINS, mode="constant")
        # pad so that a mode in the first or last bin is found too
        peaks, _ = find_peaks(np.r_[0.0, h, 0.0], prominence=MIN_MODE_PROMINENCE * h.max())
        return h, peaks - 1

    h, peaks = modes(hist)
    if len(peaks) < 2 and v.size:
        # a constant fill (a slide's unscanned or never-written area, padding) is one exact
        # value over much of the image: its spike dwarfs the tissue's modes. It counts as
        # no taller than the rest of the histogram's tallest bin
        vals, counts = np.unique(v, return_counts=True)
        k = int(np.argmax(counts))
        if counts[k] >= FILL_MIN_SHARE * v.size and counts[k] < v.size:
            b = min(int(np.searchsorted(edges, vals[k], side="right")) - 1, HIST_BINS - 1)
            clipped = hist.copy()
            clipped[b] -= counts[k]
            clipped[b] += min(int(counts[k]), int(clipped.max()))
            h, peaks = modes(clipped)
    if len(peaks) < 2:
        return None
    centres = (edges[:-1] + edges[1:]) / 2
    g_bin, d_bin = int(peaks[-1]), int(peaks[-2])
    glass = float(centres[g_bin])
    valley = float(edges[d_bin + int(np.argmin(h[d_bin : g_bin + 1]))])
    return min(valley, glass * 10.0**-MIN_OD_MARGIN)


@dataclass
class TissueMask:
    """Boolean tissue mask at a coarse pixel size (µm per mask pixel): ``mask`` is
    ``image < threshold`` (unit intensity); ``contrast`` is the mean of the pixels at or
    above the split minus the mean of those below (Otsu's split when there is one mode)."""

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
    t = glass_threshold(img)
    # one mode: Otsu's halves tell smooth glass (no contrast) from textured tissue
    split = otsu_threshold(img) if t is None else t
    dark, bright = img[img < split], img[img >= split]
    contrast = float(bright.mean() - dark.mean()) if dark.size and bright.size else 0.0
    if t is None:
        t = 1.0  # no glass in view: all tissue but saturated pixels
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
