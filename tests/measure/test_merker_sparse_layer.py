"""A silver stain's (Merker's) contrast: dark somata scattered on a pale neuropil. Between
the somata of a cell-sparse layer, the neuropil is less than half as dense as the somata
around it (the contrast raises OD ratios to a power), as a line of glass in a narrow
cleft would be; but it is tissue, far denser than glass. A hand-made slide (no
generator): glass above a flat cortex, a pale layer I, a dense layer II, a layer III of
sparse dark somata on a pale neuropil, dense deep layers, pale white matter. The pia is
the glass's edge alone: no cleft (and no pia) inside the cortex."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.measure.ribbon import segment
from cytowords.measure.slide import slide_reference
from cytowords.sections import Section
from tests.support.slides import bright_field

PX = 16.0
#: slide side, the pia's y, cortical thickness (µm)
SIDE, PIA, T = 9600.0, 2000.0, 2500.0
#: layer III: its depth under the pia (µm) and the somata's share of its pixels
L3 = (400.0, 1000.0)


def _slide(neuropil: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(image uint8, depth µm from the pia)``: layer I (OD 0.25, 150 µm), layer II (0.9),
    layer III: a neuropil of OD ``neuropil`` with one pixel in eight a dark soma (OD 2.0),
    the deep layers (0.9), white matter (OD 0.3) from ``T``, 2 mm of it, glass beyond."""
    n = int(SIDE / PX)
    yy = (np.arange(n) + 0.5)[:, None] * PX * np.ones((1, n))
    d = yy - PIA
    rng = np.random.default_rng(seed + 1)
    od = np.full(d.shape, 0.9)
    od[d < 150] = 0.25
    l3 = (d >= L3[0]) & (d < L3[1])
    od[l3] = np.where(rng.random(d.shape) < 1 / 8, 2.0, neuropil)[l3]
    od[d >= T] = 0.3
    return bright_field(od, (d < 0) | (d > T + 2000), seed), d


def _section(img: np.ndarray) -> Section:
    return Section([da.from_array(img, chunks=1024)], [PX], name=f"merker-{img.sum()}")


#: a window across the cortex (rows, columns; as the readout's windows)
WIN = np.s_[int(1000 / PX) : int(5500 / PX), int(3000 / PX) : int(6600 / PX)]


@pytest.mark.parametrize("neuropil", [0.45, 0.55])
def test_sparse_dark_somata_on_a_pale_neuropil_are_no_cleft(neuropil):
    img, d = _slide(neuropil)
    rib = segment(img[WIN].astype(np.float64), PX, slide_reference([img]))
    d = d[WIN]
    # the pia along the glass, none inside the cortex (main: along layer III's neuropil)
    assert rib.pia[np.abs(d[:, 0]) <= 2 * PX].any(0).mean() > 0.95
    assert not rib.pia[d > 100].any()
    assert rib.tissue[(d > 2 * PX) & (d < T)].all()
    roi = np.array([[1500.0, 3300.0], [1500.0, 6300.0], [4800.0, 6300.0], [4800.0, 3300.0]])
    r = measure_roi(_section(img), roi, cells=False, profile_um=PX)
    assert r.measured, r.reasons
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.03)
