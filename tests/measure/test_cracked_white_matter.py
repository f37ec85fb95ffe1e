"""Pale white matter cracked all through (issue #21): a hand-made block of tissue (no
generator), cortex on all four sides around a pale white-matter core crossed by narrow
cracks of glass (80 µm wide, 500 µm apart), so that no white matter lies farther than
350 µm from glass. The cracks are lined by white matter on both sides; no pia lines them,
and layer I's reach is measured from the glass around the block only: the white matter is
found and the region measured.

Before session 34 every crack counted as glass a pia could line: no pale tissue lay beyond
layer I's reach, the window had "no white matter" and the region was not measured (issue
#21). Now, where no white matter is found, narrow glass closed in the tissue and lined
150-300 µm away by tissue nearer the slide's white than its grey matter is a crack
(``gaps._wm_cracks``) and does not count for layer I's reach. The guards: a narrow
sulcus closed in the section (glass lined by layer I, then the dense layers II-III) in a
window without white matter is no crack, and neither is a pale-lined inlet of glass that
opens onto the glass around the section, and a pale-lined closed inlet in a window where
the white matter is found without looking for cracks is left as glass. Not guarded: in a
window with no white matter in view, a closed narrow sulcus whose layer I is so wide that
its lining 150-300 µm away is as pale as white matter would be taken for a crack.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.measure import gaps, measure_roi
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import slide_matter, slide_reference
from cytowords.sections import Section
from tests.support.slides import cortex_block

PX = 16.0
#: slide side, glass margin around the block, cortical thickness (µm)
SIDE, MARGIN, T = 11000.0, 1000.0, 2500.0
#: the grey matter's OD (natural log) below layer I; the white matter's share of it
GREY, WM_SHARE = 0.8, 0.3
ROI = np.array([[500.0, 4000.0], [500.0, 7000.0], [4500.0, 7000.0], [4500.0, 4000.0]])
#: a window across the top of the block (rows, columns; as the readout's windows)
WIN = np.s_[: int(5000 / PX), int(3500 / PX) : int(7500 / PX)]
#: the cracks: 80 µm wide, vertical, every 500 µm across, from and to 200 µm inside the
#: white matter
CRACK_W, CRACK_STEP, CRACK_IN = 80.0, 500.0, 200.0


def _slide(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image uint8, depth µm from the pia, crack mask)``: the block with white matter of
    :data:`WM_SHARE` of the grey matter's OD (pixel texture of 10 %) and cracks of glass
    (OD 0) across it."""
    yy, xx, d, cortex, to_wm = cortex_block(SIDE, MARGIN, T, GREY, PX)
    rng = np.random.default_rng(seed)
    lo, hi = MARGIN + T + CRACK_IN, SIDE - MARGIN - T - CRACK_IN
    xs = np.arange(lo, hi + 1, CRACK_STEP)
    crack = np.zeros(d.shape, bool)
    for x in xs:
        crack |= (np.abs(xx - x) < CRACK_W / 2) & (yy > lo) & (yy < hi)
    wm = WM_SHARE * GREY * np.exp(rng.normal(0, 0.1, d.shape))
    od = (1 - to_wm) * cortex * np.exp(rng.normal(0, 0.15, d.shape)) + to_wm * wm
    od = np.where((d < 0) | crack, 0.0, od)
    img = np.clip(230.0 * np.exp(-od) + rng.normal(0, 1, od.shape), 1, 255).astype(np.uint8)
    return img, d, crack


def test_no_white_matter_beyond_layer_i_reach_of_the_cracks():
    """The premise: every white-matter pixel lies within 350 µm of a crack."""
    from scipy import ndimage as ndi

    _, d, crack = _slide()
    dist = ndi.distance_transform_edt(~crack) * PX
    assert dist[d > T + 100].max() < 350


def test_cracked_white_matter_is_found():
    img, d, crack = _slide()
    ref = slide_reference([img])
    matter = slide_matter([img], [PX], ref)
    assert ref is not None and matter is not None
    rib = segment(img[WIN].astype(np.float64), PX, ref, matter=matter)
    d, crack = d[WIN], crack[WIN]
    assert rib.wm[(d > T + 300) & ~crack].mean() > 0.9
    # no pia along the cracks: the pia is the block's edge
    assert rib.pia.sum() > 100
    assert np.abs(d[rib.pia]).max() <= 3 * PX


def test_region_over_cracked_white_matter_is_measured():
    img, _, _ = _slide()
    r = measure_roi(
        Section([da.from_array(img, chunks=1024)], [PX], name="cracked-wm"),
        ROI, cells=False, profile_um=PX,
    )
    assert r.measured, r.reasons
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.05)


def _sulcus_slide(
    width_um: float,
    top_um: float,
    layer_i: float | tuple[float, float] = 0.08,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(image uint8, glass mask)``: the block of :func:`cortex_block`'s shading (no cracks)
    with a narrow sulcus of ``width_um`` µm, running down from ``top_um`` µm under the top
    pia to 1900 µm (its own layers around it, a pale layer I of ``layer_i`` of the cortical
    thickness on each bank, or ``(left, right)`` per bank); ``top_um`` < 0 opens it onto the
    glass around the block."""
    n = int(SIDE / PX)
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) * PX
    edge = np.minimum.reduce(
        [yy - MARGIN, SIDE - MARGIN - yy, xx - MARGIN, SIDE - MARGIN - xx]
    )
    y0, y1 = MARGIN + top_um, MARGIN + 1900.0
    d = np.minimum(edge, np.hypot(xx - SIDE / 2, np.clip(yy, y0, y1) - yy) - width_um / 2)
    rel = d / T
    if not np.isscalar(layer_i):
        layer_i = np.where(xx < SIDE / 2, layer_i[0], layer_i[1])
    lam = 0.4 + 0.6 / (1 + np.exp(-(rel - layer_i) / 0.02))
    cortex = GREY * lam * (1 + 0.3 * np.exp(-(((rel - 0.5) / 0.1) ** 2)))
    to_wm = 1 / (1 + np.exp(-(edge - T) / 60.0))
    rng = np.random.default_rng(seed)
    wm = WM_SHARE * GREY * np.exp(rng.normal(0, 0.1, d.shape))
    od = (1 - to_wm) * cortex * np.exp(rng.normal(0, 0.15, d.shape)) + to_wm * wm
    od = np.where(d < 0, 0.0, od)
    img = np.clip(230.0 * np.exp(-od) + rng.normal(0, 1, od.shape), 1, 255).astype(np.uint8)
    return img, d < 0


#: a window over the top pia and 2.2 mm of cortex around the sulcus: no white matter in it
SULCUS_WIN = np.s_[int(MARGIN / PX) - 20 : int((MARGIN + 2200) / PX), int(3000 / PX) : int(8000 / PX)]


def _sulcus_ribbon(width_um: float, top_um: float, layer_i: float = 0.08):
    img, glass = _sulcus_slide(width_um, top_um, layer_i)
    # the slide's white and grey matter as on the cracked block's slide (same stain)
    ref_img = _slide()[0]
    ref = slide_reference([ref_img])
    matter = slide_matter([ref_img], [PX], ref)
    assert ref is not None and matter is not None
    return segment(img[SULCUS_WIN].astype(np.float64), PX, ref, matter=matter), glass[SULCUS_WIN]


@pytest.mark.parametrize("width", [150.0, 200.0, 280.0])
def test_closed_sulcus_in_a_window_without_white_matter_is_no_crack(width):
    """A sulcus closed in the section, 150-280 µm wide, in a window of cortex only: it is
    narrow and closed, and the white matter found without it would be the two layer I's
    along it, but its lining 150-300 µm away is the dense layers II-III: no crack, no
    white matter, and its banks keep their pia. (Passes on main, where no crack is looked
    for; fails, 200 µm: 5907 px of white matter, when the lining test is left out.)"""
    rib, glass = _sulcus_ribbon(width, 400.0)
    assert not rib.wm.any()
    assert (rib.pia & ndi_dilate(glass & (np.arange(glass.shape[0])[:, None] > 60))).sum() > 50


def test_pale_lined_inlet_opening_onto_the_glass_is_no_crack():
    """A 200 µm inlet of glass from the pia into a cortex whose layer I is 400 µm wide (its
    lining 150-300 µm away as pale as white matter, as session 32's 444 FG3): it opens onto
    the glass around the block, one part of glass with it, wider than a crack, so it is no
    crack even though its lining is pale; the window (no white matter in it) has none and
    the inlet's banks keep their pia. (Passes on main, where no crack is looked for.)"""
    img, glass = _sulcus_slide(200.0, -100.0, layer_i=0.16)
    ref_img = _slide()[0]
    ref = slide_reference([ref_img])
    matter = slide_matter([ref_img], [PX], ref)
    assert ref is not None and matter is not None
    win = img[SULCUS_WIN].astype(np.float64)
    rib = segment(win, PX, ref, matter=matter)
    assert not rib.wm.any()
    assert rib.pia.sum() > 300


def test_pale_lined_closed_inlet_beside_white_matter_found_is_no_crack():
    """Session 32's 444 FG3: a 200 µm inlet of glass 150 µm under the pia (closed in the
    section, narrow, its lining 150-300 µm away as pale as white matter: layer I 400 µm
    wide) in a window that also shows the white matter: the white matter is found without
    looking for cracks, so the inlet stays glass and its banks keep their pia. (Passes on
    main; fails when cracks are dropped whatever main finds: 7720 px of white matter within
    0.5 mm of the inlet, no pia along it.)"""
    from scipy import ndimage as ndi

    img, glass = _sulcus_slide(200.0, 250.0, layer_i=0.16)
    ref_img = _slide()[0]
    ref = slide_reference([ref_img])
    matter = slide_matter([ref_img], [PX], ref)
    assert ref is not None and matter is not None
    win = np.s_[int(MARGIN / PX) - 20 : int((MARGIN + T + 800) / PX), int(3000 / PX) : int(8000 / PX)]
    rib = segment(img[win].astype(np.float64), PX, ref, matter=matter)
    inlet = glass[win].copy()
    inlet[:40] = False  # the glass above the block
    near = ndi.distance_transform_edt(~inlet) * PX
    assert rib.wm.sum() > 5000
    assert not (rib.wm & (near < 500)).any()
    assert (rib.pia & (near < 40)).sum() > 100


def test_wm_cracks_takes_closed_narrow_pale_lined_glass_only():
    """:func:`gaps._wm_cracks` on the cracked block's window: every crack (each reaches
    the window's edge, as the readout's windows cut them) is taken; the glass around the
    block (wide) is not."""
    img, d, crack = _slide()
    ref = slide_reference([img])
    matter = slide_matter([img], [PX], ref)
    assert ref is not None and matter is not None
    rib = segment(img[WIN].astype(np.float64), PX, ref, matter=matter)
    tissue = rib.tissue | rib.wm  # the cracks were turned into white matter after
    glass = ~tissue | crack[WIN]
    tissue &= ~crack[WIN]
    got = gaps._wm_cracks(tissue, glass, rib.density, matter, PX)
    assert got[crack[WIN]].mean() > 0.95
    assert not got[d[WIN] < 0].any()


def ndi_dilate(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.binary_dilation(mask, iterations=2)


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: a closed sulcus lined by a 400 µm layer I in a window without "
    "white matter is taken for a crack (its lining 150-300 µm away is as pale as white matter)",
)
def test_closed_sulcus_with_a_wide_pale_layer_i_is_no_crack():
    """As :func:`test_closed_sulcus_in_a_window_without_white_matter_is_no_crack` (200 µm),
    with a layer I 400 µm wide on each bank: main finds no white matter; with the crack rule
    the two layer I's become white matter (15427 px) and the pia is all but lost."""
    rib, _ = _sulcus_ribbon(200.0, 400.0, layer_i=0.16)
    assert not rib.wm.any()
