"""Cell windows out of focus: the edge blur check (issue #21: say what could not be
measured and why, "out of focus")."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cytowords.measure.cells import (
    FOCUS_MAX_UM,
    LARGE_PYRAMID_UM,
    cells_along,
    detect_somata,
)
from cytowords.synth.cells import draw_cells

from .test_cells import GLASS, _cells

SIDE_PX = 500


def _region(blur_um: float, seed: int = 1) -> np.ndarray:
    """A 1 x 1 mm region at 2 µm/px: small pyramids (8-14 µm) around a vertical traverse,
    two 35 µm pyramids at 60 % depth, on a neuropil of optical density 0.35; the light
    blurred by ``blur_um`` (Gaussian SD, as a scanner out of focus blurs it), noise SD 2."""
    rng = np.random.default_rng(seed)
    small = np.stack([rng.uniform(20, 980, 400), rng.uniform(400, 600, 400)], 1)
    big = np.array([[600.0, 490.0], [640.0, 520.0]])
    far = np.linalg.norm(small[:, None] - big[None], axis=2).min(1) > 30
    yx = np.vstack([small[far], big])
    diams = np.concatenate([rng.uniform(8, 14, int(far.sum())), [35.0, 36.0]])
    deficit = np.zeros((SIDE_PX, SIDE_PX))
    draw_cells(deficit, _cells(diams, yx, True, 0.8), (0.0, 0.0), 2.0)
    light = 235.0 * np.exp(-0.35) * np.clip(1 - deficit, 0.03, 1)
    # the scanner's own optics (0.8 µm) and the defocus on top
    light = ndi.gaussian_filter(light, np.hypot(0.8, blur_um) / 2.0, mode="nearest")
    return (light + rng.normal(0, 2, light.shape)).astype(np.float32)


def _reader(image: np.ndarray):
    def read(y0, x0, h, w, px):
        out = np.full((round(h / px), round(w / px)), GLASS, np.float32)
        iy, ix = int(round(y0 / px)), int(round(x0 / px))
        ya, xa = max(0, iy), max(0, ix)
        yb, xb = min(SIDE_PX, iy + out.shape[0]), min(SIDE_PX, ix + out.shape[1])
        out[ya - iy : yb - iy, xa - ix : xb - ix] = image[ya:yb, xa:xb]
        return out

    return read


PATH = np.array([[0.0, 500.0], [1000.0, 500.0]])


def test_sharp_window_is_in_focus():
    som = detect_somata(_region(0.0)[:200, 150:350], 2.0, GLASS)
    assert np.isfinite(som.blur_um) and som.blur_um < FOCUS_MAX_UM
    assert som.in_focus


def test_blurred_window_is_out_of_focus():
    som = detect_somata(_region(4.0)[:200, 150:350], 2.0, GLASS)
    assert som.blur_um > FOCUS_MAX_UM
    assert not som.in_focus


def _thick_window(soft_share: float, seed: int = 1) -> np.ndarray:
    """A 400 x 400 µm window at 2 µm/px of a section thicker than the depth of field,
    scanned in focus: small pyramids (8-14 µm, at least 16 µm apart), a ``soft_share`` of
    them away from the focal plane (their shadow blurred by SD 4 µm), the rest in it; the
    layers' transmissions multiply, then the scanner's own optics (0.8 µm), noise SD 2."""
    rng = np.random.default_rng(seed)
    yx = []
    for p in rng.uniform(10, 390, (1400, 2)):
        if all(np.hypot(*(p - q)) > 16 for q in yx):
            yx.append(p)
    yx = np.array(yx)
    diams = rng.uniform(8, 14, len(yx))
    soft = rng.random(len(yx)) < soft_share
    sharp_def, soft_def = np.zeros((200, 200)), np.zeros((200, 200))
    draw_cells(sharp_def, _cells(diams[~soft], yx[~soft], True, 0.8), (0.0, 0.0), 2.0)
    draw_cells(soft_def, _cells(diams[soft], yx[soft], True, 0.8), (0.0, 0.0), 2.0)
    t_soft = ndi.gaussian_filter(np.clip(1 - soft_def, 0.03, 1), 4.0 / 2.0, mode="nearest")
    light = 235.0 * np.exp(-0.35) * np.clip(1 - sharp_def, 0.03, 1) * t_soft
    light = ndi.gaussian_filter(light, 0.8 / 2.0, mode="nearest")
    return (light + rng.normal(0, 2, light.shape)).astype(np.float32)


@pytest.mark.parametrize("soft_share", [0.5, 0.6])
def test_thick_section_with_half_its_somata_soft_is_in_focus(soft_share):
    # the focal plane is in the window: its sharp somata say so (a window median reads the
    # soft ones' blur and called such a scan out of focus: 1.88 µm at 60 % soft)
    som = detect_somata(_thick_window(soft_share), 2.0, GLASS)
    assert np.isfinite(som.blur_um) and som.blur_um < 1.0
    assert som.in_focus


def test_thick_section_with_every_soma_soft_is_out_of_focus():
    # no soma in the focal plane: a missed focus point
    som = detect_somata(_thick_window(1.0), 2.0, GLASS)
    assert som.blur_um > FOCUS_MAX_UM
    assert not som.in_focus


def test_blurred_region_gives_no_large_pyramids_and_says_why():
    from cytowords.measure.readout import _focus_reason

    st = cells_along(_reader(_region(4.0)), [PATH], GLASS, 2.0)
    assert st.n_windows >= 2 and len(st.blurred) == st.n_windows
    assert len(st.diam_um) == 0 and len(st.large_diam_um) == 0 and st.large_per_mm == 0
    assert all(b > FOCUS_MAX_UM for b, _, _ in st.blurred)
    why = _focus_reason(st)
    assert why.startswith("cell statistics: out of focus (edge blur about ")
    assert "not shown" in why


def test_sharp_region_unchanged():
    st = cells_along(_reader(_region(0.0)), [PATH], GLASS, 2.0)
    assert st.blurred == [] and st.covered == [] and st.n_windows >= 2
    assert len(st.large_diam_um) == 2 and st.large_diam_um.min() >= LARGE_PYRAMID_UM
    assert st.large_per_mm == 2 / 0.1
    # density over the whole traverse, as without the check
    n = int(np.sum((st.depth_of_cell >= 0.2) & (st.depth_of_cell < 0.5)))
    assert st.density_between(0.2, 0.5) == n / (1.0 * 0.3 * 0.1)


def test_partly_blurred_region_counts_only_the_windows_in_focus():
    from cytowords.measure.readout import _focus_reason

    sharp, blurred = _region(0.0), _region(4.0)
    image = sharp.copy()
    image[:260] = blurred[:260]  # the upper 520 µm out of focus (a fold, a missed focus point)
    st = cells_along(_reader(image), [PATH], GLASS, 2.0)
    assert len(st.blurred) == 1 and st.n_windows == 2  # not most: the rest is shown
    ref = cells_along(_reader(sharp), [PATH], GLASS, 2.0)
    # the deep half, read in focus both times: the same density
    assert abs(st.density_between(0.6, 1.0) / ref.density_between(0.6, 1.0) - 1) < 0.05
    assert "those windows left out" in _focus_reason(st)


class _OutOfFocus:
    """A virtual section whose reads at cell resolution (<= 2 µm/px) are out of focus: the
    light blurred by ``blur_um`` (Gaussian SD) on top of the scanner's own optics."""

    def __init__(self, section, blur_um: float):
        self._s, self._blur = section, blur_um

    def __getattr__(self, name):
        return getattr(self._s, name)

    def read_window(self, y0, x0, h, w, px, **kw):
        img = self._s.read_window(y0, x0, h, w, px, **kw)
        if px > 2.0:
            return img
        return ndi.gaussian_filter(np.asarray(img, np.float64), self._blur / px, mode="nearest")


def test_readout_of_a_region_out_of_focus_shows_no_cell_statistics():
    from cytowords.measure import measure_roi
    from cytowords.synth import virtual_section

    y, x, half = 40192.0, 11648.0, 1500.0  # 4p of brain 203 (classic), as test_measure's
    roi = np.array([[y - half, x - half], [y - half, x + half], [y + half, x + half], [y + half, x - half]])
    section = _OutOfFocus(virtual_section(203, pixel_size_um=2.0, variation="classic"), 4.0)
    r = measure_roi(section, roi, cells=True, profile_um=16.0)
    assert r.measured and r.cells is None
    why = [s for s in r.reasons if s.startswith("cell statistics: out of focus")]
    assert len(why) == 1 and "not shown" in why[0]
    assert r.special_support() == frozenset()
    assert r.to_dict()["cells"] is None
    # the columns' somata are as blurred: no columnar organisation is read either
    assert r.columns is None
    assert any(s.startswith("columnar organisation: not read") for s in r.reasons)
