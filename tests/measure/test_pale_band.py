"""A pale band of a thick cortex on the pia's side of its dense deep layers is not white
matter (issues #21/#22). Hand-made slide (no generator): glass above, a 3.6 mm cortex with a
pale layer I, a pale outer band (its upper layers, as pale as the white matter) down to
1.4 mm over a dense deep part, white matter below, glass below that."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure.ribbon import segment, slide_matter, slide_reference
from cytowords.sections import Section

PX = 20.0
W, H = 16000.0, 14000.0
PIA, BAND, T, WM_END = 2000.0, 1400.0, 3600.0, 12000.0
#: optical densities: layer I, the pale outer band, the dense deep part, white matter
OD_I, OD_BAND, OD_DENSE, OD_WM = 0.15, 0.22, 0.60, 0.20


def _slide(seed: int = 0) -> np.ndarray:
    yy = (np.mgrid[0 : int(H / PX), 0 : int(W / PX)][0] + 0.5) * PX
    depth = yy - PIA
    od = np.where(depth < BAND, OD_BAND, OD_DENSE)
    od = np.where(depth < 200, OD_I, od)
    od = np.where(depth >= T, OD_WM, od)
    glass = (depth < 0) | (yy >= WM_END)
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    return np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)


def _square(y0: float, x0: float, side: float) -> np.ndarray:
    return np.array([[y0, x0], [y0, x0 + side], [y0 + side, x0 + side], [y0 + side, x0]])


def _section() -> Section:
    return Section([da.from_array(_slide(), chunks=512)], [PX], name="pale-outer-band")


def test_pale_outer_band_is_no_white_matter():
    img = _slide()
    ref = slide_reference([img])
    assert ref is not None
    rows = slice(int((PIA - 600) / PX), int((PIA + T + 1400) / PX))
    win = img[rows, 200:500].astype(np.float64)
    rib = segment(win, PX, ref, matter=slide_matter([img], [PX], ref))
    depth = (np.arange(rows.start, rows.stop) + 0.5) * PX - PIA
    band = (depth > 400) & (depth < BAND - 200)
    deep_wm = depth > T + 300
    assert rib.wm[band].mean() < 0.05
    assert rib.wm[deep_wm].mean() > 0.9
    # the pia is the grey matter along the glass above (layer I is no white matter)
    assert rib.pia[(depth > -PX) & (depth < 3 * PX)].any()


def test_full_ribbon_under_a_pale_outer_band_is_measured():
    r = measure_roi(_section(), _square(PIA - 500, 6000, 4600), cells=False, profile_um=20.0)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.2


def test_region_without_white_matter_says_so():
    r = measure_roi(_section(), _square(PIA - 500, 6000, 3000), cells=False, profile_um=20.0)
    assert not r.measured
    assert any(s.startswith("no white matter") for s in r.reasons), r.reasons
    assert not any(s.startswith("no pia") for s in r.reasons), r.reasons
