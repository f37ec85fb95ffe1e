"""White matter far paler than the grey matter (Merker's stain leaves it nearly uncoloured)
and white matter close to the grey matter (a soft contrast, as on many real sections): a
hand-made block of tissue (no generator) with cortex on all four sides around a
white-matter core, glass around it. The white matter's OD is a share of the grey
matter's; the pia, layer I and the thickness must not depend on it."""

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
#: the grey matter's OD (natural log) below layer I
GREY = 0.8
ROI = np.array([[500.0, 4000.0], [500.0, 7000.0], [4500.0, 7000.0], [4500.0, 4000.0]])


def _slide(wm_share: float, seed: int = 0, smudge: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(image uint8, depth µm from the pia)``: a pale layer I (0.4 of the grey matter
    over its first 8 % of depth), a denser band at mid-depth, a grey/white transition of
    about 250 µm to a white matter of ``wm_share`` of the grey matter's OD; glass with
    pixel noise. ``smudge``: a faint bulky stain on the glass above the block (OD 0.08, a
    mountant smear), touching the pia."""
    yy, xx, d, cortex, to_wm = cortex_block(SIDE, MARGIN, T, GREY, PX)
    od = (1 - to_wm) * cortex + to_wm * wm_share * GREY
    glass = d < 0
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    if smudge:
        od = np.where(glass & (yy > 300) & (np.abs(xx - SIDE / 2) < 1500), 0.08, od)
    img = np.clip(230.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)
    return img, d


#: a window across the top of the block (rows, columns; as the readout's windows)
WIN = np.s_[: int(5000 / PX), int(3500 / PX) : int(7500 / PX)]


def _segment(img: np.ndarray):
    """The window :data:`WIN` segmented against the whole slide's reference."""
    return segment(img[WIN].astype(np.float64), PX, slide_reference([img]))


def _section(img: np.ndarray) -> Section:
    return Section([da.from_array(img, chunks=1024)], [PX], name=f"pale-{img.sum()}")


@pytest.mark.parametrize("wm_share", [0.1, 0.2])
def test_white_matter_nearly_uncoloured_is_tissue_and_white_matter(wm_share):
    img, d = _slide(wm_share)
    rib = _segment(img)
    d = d[WIN]
    core = d > T + 300
    assert rib.tissue[core].mean() > 0.98
    assert rib.wm[core].mean() > 0.95
    # no pia inside the block: the white matter's edge is no glass edge
    assert not rib.pia[d > 300].any()


@pytest.mark.parametrize("wm_share", [0.1, 0.7])
def test_pia_and_thickness_do_not_follow_the_white_matter(wm_share):
    """The pia where the tissue threshold puts it whatever the white matter's stain: the
    same pia as a white matter of 0.3 of the grey matter; the thickness within 3 %."""
    img, _ = _slide(wm_share)
    ref_img, _ = _slide(0.3)
    rib, rib_ref = _segment(img), _segment(ref_img)
    assert rib.pia.sum() > 100
    assert (rib.pia != rib_ref.pia).sum() <= 5
    r = measure_roi(_section(img), ROI, cells=False, profile_um=PX)
    assert r.measured, r.reasons
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.03)
    r_ref = measure_roi(_section(ref_img), ROI, cells=False, profile_um=PX)
    assert abs(r.layers.layer_i_width_um - r_ref.layers.layer_i_width_um) <= 2 * PX


def test_faint_smudge_on_the_glass_is_no_tissue():
    """A bulky faint stain on the glass (as pale as the white matter) touching the pia
    stays glass: it touches the clear glass."""
    img, d = _slide(0.1, smudge=True)
    rib = _segment(img)
    yy, xx = (np.mgrid[0 : img.shape[0], 0 : img.shape[1]] + 0.5) * PX
    smear = ((d < -100) & (yy > 400) & (np.abs(xx - SIDE / 2) < 1400))[WIN]
    assert rib.tissue[smear].mean() < 0.02
    assert rib.wm[d[WIN] > T + 300].mean() > 0.95


@pytest.mark.parametrize("wm_share", [0.12, 0.2])
def test_slide_white_matter_nearly_uncoloured(wm_share):
    # white matter under a quarter of the slide's typical tissue OD (as Merker's stain
    # leaves it) is still the slide's white matter: its class lies near the white matter's
    # own OD, not at the cortex's paler layers
    from cytowords.measure.slide import slide_matter

    img, _ = _slide(wm_share)
    ref = slide_reference([img])
    assert ref is not None and wm_share * GREY < 0.25 * ref[1]
    m = slide_matter([img], [PX], ref)
    assert m is not None
    assert m[0] < 1.5 * wm_share * GREY + 0.03
    assert m[1] > 0.5 * GREY
