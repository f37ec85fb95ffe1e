"""A pale layer inside a thick cortex is no white matter: it is darker than the slide's
white matter. Hand-made slide (no generator): glass above, a 4.4 mm cortex (a pale layer I,
dense outer layers, a pale band 1.8–2.6 mm under the pia, dense deep layers), white
matter below it and a second cortex (dense, with its layer I) under that, then glass. The band is paler than the dense layers beside it by more
than white and grey matter must differ (``ribbon.MIN_WM_CONTRAST``), but its optical
density lies nearer the slide's grey than its white matter."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure.slide import slide_matter, slide_reference
from cytowords.sections import Section
from tests.support.slides import bright_field, square

PX = 20.0
W, H = 30000.0, 14000.0
PIA, T, WM_END, END = 1000.0, 4400.0, 9600.0, 12000.0
BAND = (1800.0, 2600.0)
#: optical densities: layer I, the dense layers, the pale band, white matter
OD_I, OD_DENSE, OD_BAND, OD_WM = 0.15, 0.72, 0.50, 0.22


def _slide(seed: int = 0) -> np.ndarray:
    yy, _ = (np.mgrid[0 : int(H / PX), 0 : int(W / PX)] + 0.5) * PX
    depth = yy - PIA
    od = np.select(
        [depth < 200, depth < BAND[0], depth < BAND[1], depth < T, yy < WM_END, yy < END - 200],
        [OD_I, OD_DENSE, OD_BAND, OD_DENSE, OD_WM, OD_DENSE],
        OD_I,
    )
    glass = (depth < 0) | (yy >= END)
    return bright_field(od, glass, seed)


def _section() -> Section:
    return Section([da.from_array(_slide(), chunks=512)], [PX], name="deep-pale-band")


def test_the_band_lies_between_the_slides_white_and_grey_matter():
    img = _slide()
    w, g = slide_matter([img], [PX], slide_reference([img]))
    assert abs(w - OD_WM) < 0.05
    assert 0.5 * (w + g) < OD_BAND < g


def test_a_square_over_the_pia_and_the_pale_band_is_not_measured():
    # pia, layer I, the dense outer layers, the band and 0.4 mm of the deep layers: no
    # white matter in the square nor in its window (the white matter lies 1.4 mm below)
    r = measure_roi(_section(), square(PIA - 300, 10000, 3000), cells=False, profile_um=20.0)
    assert not r.measured, (r.thickness_mm, r.reasons)
    assert any(
        s.startswith("no white matter in the ROI") and "pale layer of the cortex" in s
        for s in r.reasons
    ), r.reasons


def test_a_square_over_the_whole_ribbon_ends_at_the_white_matter():
    r = measure_roi(_section(), square(PIA - 300, 10000, 5500), cells=False, profile_um=20.0)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.3, r.thickness_mm
