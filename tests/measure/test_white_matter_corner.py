"""A corner of white matter beside a wide pale cortex (issue #21).

The window is mostly a pale cortex with a textured density (a dense layer under layer I)
and a small corner of white matter (2-3 % of the tissue beyond layer I's reach). The
three-class Otsu split then puts the corner into its palest class with the paler half of
the cortex, whose median lies too near the grey level (< ``MIN_WM_CONTRAST``): the
readout said "no white matter". The paler Otsu part of that class is the corner; it is as
pale as the slide's white matter, so it is white matter. A corner too near the grey
level, or nearer the slide's grey than its white matter (a pale patch of the cortex),
stays no white matter, and so does the window without the corner.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cytowords.measure.ribbon import _white_matter

PX = 16.0  # µm per pixel
#: the slide's typical white and grey matter OD (:func:`.slide.slide_matter`)
MATTER = (0.22, 0.46)


def _window(corner_px: int = 50, corner_od: float | None = 0.24):
    """Density (OD), tissue, glass and the true white matter of a 4.8 mm window: glass in
    the top 25 rows, a pale cortex (OD 0.45 with a smooth texture of SD 0.05) with a dense
    layer (0.66) from 60 to 100 rows, a square corner of white matter ``corner_px`` wide
    at the bottom left of OD ``corner_od`` (None: no corner)."""
    h = w = 300
    yy, xx = np.mgrid[0:h, 0:w]
    glass = yy < 25
    dens = np.where((yy > 60) & (yy < 100), 0.66, 0.45)
    tex = ndi.gaussian_filter(np.random.default_rng(1).normal(0, 1, (h, w)), 6.0)
    dens = dens + 0.05 * tex / tex.std()
    wm = (yy > h - corner_px) & (xx < corner_px) if corner_od is not None else np.zeros((h, w), bool)
    if corner_od is not None:
        dens = np.where(wm, corner_od, dens)
    dens = ndi.gaussian_filter(dens, 4.0)
    dens[glass] = 0.0
    return dens.astype(np.float32), ~glass, glass, wm


def test_corner_of_white_matter_beside_pale_cortex_is_found() -> None:
    dens, tissue, glass, truth = _window()
    wm, wm_level, grey_level, *_ = _white_matter(dens, tissue, glass, PX, MATTER)
    assert wm.any(), "the corner of white matter is not found"
    # it is the corner: most of it found, nothing of the cortex taken
    assert (wm & truth).sum() >= 0.85 * truth.sum()
    assert (wm & ~truth).sum() <= 0.05 * truth.sum()
    assert wm_level < 0.5 * (MATTER[0] + MATTER[1]) < grey_level


def test_pale_cortex_without_white_matter_has_none() -> None:
    dens, tissue, glass, _ = _window(corner_od=None)
    wm, *_ = _white_matter(dens, tissue, glass, PX, MATTER)
    assert not wm.any()


def test_corner_too_close_to_grey_is_no_white_matter() -> None:
    # a paler patch of the cortex (OD 0.36 beside a grey level near 0.47: less than
    # MIN_WM_CONTRAST of it apart) is no white matter
    dens, tissue, glass, _ = _window(corner_od=0.36)
    wm, *_ = _white_matter(dens, tissue, glass, PX, MATTER)
    assert not wm.any()


def test_corner_darker_than_slide_white_matter_is_no_white_matter() -> None:
    # the same corner of OD 0.30 is white matter on a slide whose white/grey mid-point is
    # 0.34, not on one whose mid-point is 0.26 (nearer that slide's grey than its white)
    dens, tissue, glass, truth = _window(corner_od=0.30)
    wm, *_ = _white_matter(dens, tissue, glass, PX, MATTER)
    assert (wm & truth).sum() >= 0.85 * truth.sum()
    wm, *_ = _white_matter(dens, tissue, glass, PX, (0.12, 0.40))
    assert not wm.any()
