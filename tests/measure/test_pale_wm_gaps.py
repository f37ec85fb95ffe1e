"""White matter whose pale texture dips under the tissue threshold in gaps (the pale
ground between fibre bundles and rows of glial cells on a silver-stained scan): a
hand-made block of tissue (no generator), cortex on all four sides around a white-matter
core a little above the threshold, with elongated gaps under it (longer than a filled
hole, too narrow to be a bulky white-matter core) but clearly above the glass. Such a gap
holds no glass (no core at the glass's level, however large it is) and is white matter;
the pia stays where the glass is, and the region is measured. A real hole in the white
matter (a tear: glass at its middle) stays glass.

On main (session 29) the gaps were glass: the white matter within 350 µm of them was no
white-matter core, the pia ran along them, and the region was refused or read short.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import slide_reference
from cytowords.sections import Section
from tests.support.slides import cortex_block

PX = 16.0
#: slide side, glass margin around the block, cortical thickness (µm)
SIDE, MARGIN, T = 11000.0, 1000.0, 2500.0
#: the grey matter's OD (natural log) below layer I; the white matter's and the gaps'
#: shares of it (the tissue threshold, a quarter of the typical tissue OD, lies between)
GREY, WM_SHARE, GAP_SHARE = 0.8, 0.34, 0.19
ROI = np.array([[500.0, 4000.0], [500.0, 7000.0], [4500.0, 7000.0], [4500.0, 4000.0]])
#: a window across the top of the block (rows, columns; as the readout's windows)
WIN = np.s_[: int(5000 / PX), int(3500 / PX) : int(7500 / PX)]
#: the gaps: 112 µm wide, from 3800 to 4900 µm down, every 600 µm across (µm)
GAP_W, GAP_Y = 112.0, (3800.0, 4900.0)
GAP_X = (4300.0, 4900.0, 5500.0, 6100.0, 6700.0)
#: the tear's width (µm)
TEAR_W = 400.0


def _slide(tear: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image uint8, depth µm from the pia, gap mask)``: the block with white matter of
    :data:`WM_SHARE` of the grey matter's OD and gaps of :data:`GAP_SHARE` (pixel texture
    of 10 % on both); with ``tear`` a hole of glass (OD 0) :data:`TEAR_W` wide in place of
    the middle gap (wider than a crack, which the readout takes as white matter)."""
    yy, xx, d, cortex, to_wm = cortex_block(SIDE, MARGIN, T, GREY, PX)
    rng = np.random.default_rng(seed)
    gap = np.zeros(d.shape, bool)
    for x in GAP_X:
        gap |= (np.abs(xx - x) < GAP_W / 2) & (yy > GAP_Y[0]) & (yy < GAP_Y[1])
    wm = np.where(gap, GAP_SHARE, WM_SHARE) * GREY * np.exp(rng.normal(0, 0.1, d.shape))
    od = (1 - to_wm) * cortex * np.exp(rng.normal(0, 0.15, d.shape)) + to_wm * wm
    if tear:
        hole = (np.abs(xx - GAP_X[2]) < TEAR_W / 2) & (yy > GAP_Y[0]) & (yy < GAP_Y[1])
        od = np.where(hole, 0.0, od)
    od = np.where(d < 0, 0.0, od)
    img = np.clip(230.0 * np.exp(-od) + rng.normal(0, 1, od.shape), 1, 255).astype(np.uint8)
    return img, d, gap


def test_gaps_are_under_the_tissue_threshold():
    """The premise: the gaps lie under the threshold, the white matter above it."""
    img, _, _ = _slide()
    ref = slide_reference([img])
    assert ref is not None
    assert GAP_SHARE * GREY < 0.25 * ref[1] < WM_SHARE * GREY


def test_gaps_in_white_matter_are_white_matter():
    img, d, gap = _slide()
    rib = segment(img[WIN].astype(np.float64), PX, slide_reference([img]))
    d, gap = d[WIN], gap[WIN]
    assert rib.tissue[gap].mean() > 0.95
    core = d > T + 300
    assert rib.wm[core].mean() > 0.9
    # no pia inside the block: the gaps are no glass edge
    assert rib.pia.sum() > 100
    assert np.abs(d[rib.pia]).max() <= 3 * PX


def test_region_over_gapped_white_matter_is_measured():
    img, _, _ = _slide()
    r = measure_roi(
        Section([da.from_array(img, chunks=1024)], [PX], name="pale-gaps"),
        ROI, cells=False, profile_um=PX,
    )
    assert r.measured, r.reasons
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.05)


def test_tear_in_white_matter_stays_glass():
    """A gap with glass at its middle (a tear) is no pale tissue: it holds a core at the
    glass's level."""
    img, _, gap = _slide(tear=True)
    rib = segment(img[WIN].astype(np.float64), PX, slide_reference([img]))
    gap = gap[WIN]
    cols = (np.arange(img.shape[1]) + 0.5) * PX
    rows = (np.arange(img.shape[0]) + 0.5) * PX
    inner = ((rows[WIN[0]] > GAP_Y[0] + 100) & (rows[WIN[0]] < GAP_Y[1] - 100))[:, None]
    mid = inner & (np.abs(cols[WIN[1]] - GAP_X[2]) < TEAR_W / 2 - 100)[None, :]
    assert mid.any()
    assert rib.tissue[mid].mean() < 0.05
    # the other gaps are white matter still
    other = gap & ~(np.abs(cols[WIN[1]] - GAP_X[2]) < TEAR_W)[None, :]
    assert rib.tissue[other].mean() > 0.95
