"""A pale band deep inside a thick cortex, with more than 1 mm of grey matter above it (so
no pia-side band) and dense deep layers under it, is taken for the white matter in a window
that does not reach the real white matter; the readout then measured the cortex down to the
band (about half its thickness). Hand-made slide (no generator): glass above, a 4.4 mm
cortex (pale layer I, dense upper layers, a pale band 2.0–2.7 mm deep as pale as the white
matter, dense deep layers), white matter below, glass below that."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure.readout import DEEP_GREY_SHARE, deeper_grey_share
from cytowords.measure.ribbon import segment, slide_matter, slide_reference
from cytowords.sections import Section

PX = 20.0
W, H = 16000.0, 14000.0
PIA, BAND0, BAND1, T, WM_END = 2000.0, 2000.0, 2700.0, 4400.0, 12000.0
#: optical densities: layer I, the dense cortex, the pale band, white matter
OD_I, OD_DENSE, OD_BAND, OD_WM = 0.15, 0.60, 0.20, 0.20


def _slide(seed: int = 0) -> np.ndarray:
    yy = (np.mgrid[0 : int(H / PX), 0 : int(W / PX)][0] + 0.5) * PX
    depth = yy - PIA
    od = np.where((depth >= BAND0) & (depth < BAND1), OD_BAND, OD_DENSE)
    od = np.where(depth < 200, OD_I, od)
    od = np.where(depth >= T, OD_WM, od)
    glass = (depth < 0) | (yy >= WM_END)
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    return np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)


def _square(y0: float, x0: float, side: float) -> np.ndarray:
    return np.array([[y0, x0], [y0, x0 + side], [y0 + side, x0 + side], [y0 + side, x0]])


def _section() -> Section:
    return Section([da.from_array(_slide(), chunks=512)], [PX], name="deep-pale-band")


def test_a_region_ending_above_the_white_matter_is_not_measured_to_a_deep_band():
    # 4 mm square from above the pia to 0.9 mm under the band: the real white matter
    # (4.4 mm deep) is beyond it and beyond the readout's window
    r = measure_roi(_section(), _square(PIA - 400, 6000, 4000), cells=False, profile_um=20.0)
    assert not r.measured, (r.thickness_mm, r.reasons)
    assert any("pale band inside a thicker cortex" in s for s in r.reasons), r.reasons


def test_deeper_grey_share_of_a_band_window_and_of_a_plain_ribbon():
    img = _slide()
    ref = slide_reference([img])
    assert ref is not None
    matter = slide_matter([img], [PX], ref)
    # the band's window: grey matter under the band, more than the band's depth from the pia
    rows = slice(int((PIA - 700) / PX), int((PIA + 3500) / PX))
    win = img[rows, 200:400].astype(np.float64)
    rib = segment(win, PX, ref, matter=matter)
    depth = (np.arange(rows.start, rows.stop) + 0.5) * PX - PIA
    assert rib.wm[(depth > BAND0 + 200) & (depth < BAND1 - 200)].mean() > 0.9
    roi = np.zeros(win.shape, bool)
    roi[(depth > -400)[:, None] & np.ones(win.shape[1], bool)] = True
    assert deeper_grey_share(rib, roi, BAND0) > DEEP_GREY_SHARE
    # a window down to the real white matter, without the band: no grey deeper than the cortex
    plain = np.where(
        ((np.arange(img.shape[0]) + 0.5) * PX - PIA >= BAND0)[:, None]
        & ((np.arange(img.shape[0]) + 0.5) * PX - PIA < BAND1)[:, None],
        img[int((PIA + 1000) / PX)][None, :],
        img,
    )
    rows = slice(int((PIA - 700) / PX), int((PIA + T + 1000) / PX))
    rib = segment(plain[rows, 200:400].astype(np.float64), PX, ref, matter=matter)
    depth = (np.arange(rows.start, rows.stop) + 0.5) * PX - PIA
    roi = np.zeros(rib.wm.shape, bool)
    roi[(depth > -400)[:, None] & np.ones(rib.wm.shape[1], bool)] = True
    assert rib.wm[depth > T + 300].mean() > 0.9
    assert deeper_grey_share(rib, roi, T) < 0.02
