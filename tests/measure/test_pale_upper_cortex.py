"""A pale upper cortex above a dense deep band is no white matter when white matter paler
than it lies beyond that band. Hand-made slide (no generator): glass above; on the left a
cortex dense throughout; on the right a cortex whose layers III (0.3-1.2 mm under the
pia) are pale, about the slide's white/grey mid-point, above a dense band (layer V) and a
layer VI; white matter, about a quarter paler than that upper cortex, under both; a
second cortex under the white matter, then glass. The pale upper cortex and the white
matter fall in the same pale class of the window and are too alike for the class to be
split (``ribbon.MIN_WM_CONTRAST``)."""

from __future__ import annotations

from dataclasses import replace

import dask.array as da
import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.measure import ribbon as rb
from cytowords.measure.layers import L1_MIN_TRAVERSES
from cytowords.measure.slide import slide_matter, slide_reference
from cytowords.measure.traverses import trace_traverses
from cytowords.sections import Section
from tests.support.slides import bright_field, square

PX = 20.0
W, H = 30000.0, 14000.0
PIA, T, WM_END, END = 1000.0, 2800.0, 9600.0, 12000.0
SPLIT_X = 15000.0
#: depths under the pia (µm) of the right cortex: layer I, II, the pale layers III, the
#: dense band (V), layer VI
I_END, II_END, PALE_END, BAND_END = 150.0, 300.0, 1200.0, 2000.0
#: optical densities: layer I, dense cortex, pale upper cortex, layer VI, white matter
OD_I, OD_DENSE, OD_PALE, OD_VI, OD_WM = 0.15, 0.62, 0.33, 0.45, 0.25


def _slide(seed: int = 0) -> np.ndarray:
    yy, xx = (np.mgrid[0 : int(H / PX), 0 : int(W / PX)] + 0.5) * PX
    depth = yy - PIA
    right = xx >= SPLIT_X
    cortex = np.select(
        [depth < I_END, ~right, depth < II_END, depth < PALE_END, depth < BAND_END],
        [OD_I, OD_DENSE, OD_DENSE, OD_PALE, OD_DENSE],
        OD_VI,
    )
    od = np.select([depth < T, yy < WM_END, yy < END - 200], [cortex, OD_WM, OD_DENSE], OD_I)
    glass = (depth < 0) | (yy >= END)
    return bright_field(od, glass, seed)


def _section() -> Section:
    return Section([da.from_array(_slide(), chunks=512)], [PX], name="pale-upper-cortex")


def test_the_white_matter_is_a_quarter_paler_than_the_pale_upper_cortex():
    img = _slide()
    w, g = slide_matter([img], [PX], slide_reference([img]))
    assert abs(w - OD_WM) < 0.05
    assert OD_PALE < 0.5 * (w + g)  # not set aside as a pale band darker than white matter
    assert 0.7 * OD_PALE < OD_WM < 0.8 * OD_PALE


def test_a_square_over_the_pale_upper_cortex_ends_at_the_white_matter():
    r = measure_roi(_section(), square(PIA - 300, 21000, 3500), cells=False, profile_um=20.0)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.3, r.thickness_mm


def test_a_square_over_the_dense_cortex_is_measured_as_before():
    r = measure_roi(_section(), square(PIA - 300, 6000, 3500), cells=False, profile_um=20.0)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.3, r.thickness_mm


def _two_parts(upper_od: float, deep_od: float):
    """A 4 x 4 mm window at 20 µm/px: glass above, a part of the white matter found from
    0.2 to 1.2 mm under it, another from 3 to 4 mm; ``(density, wm, glass, far)``."""
    n = 200
    yy = (np.mgrid[0:n, 0:n][0] + 0.5) * PX
    glass = yy < 200
    upper = (yy >= 400) & (yy < 1400)
    deep = yy >= 3200
    density = np.select([glass, upper, deep], [0.0, upper_od, deep_od], 0.6)
    far = ~glass & (yy - 200 > rb.LAYER_I_MAX_UM)
    return density, upper | deep, glass, far, upper


@pytest.mark.parametrize(
    ("deep_od", "dropped"),
    [
        (0.25, True),  # a quarter paler than the upper part, as pale as the slide's white
        (0.31, False),  # less than PALER_DEEPER_SHARE paler: both are white matter
        (0.05, True),
    ],
)
def test_upper_part_is_cortex_only_beside_paler_deeper_white_matter(deep_od, dropped):
    density, wm, glass, far, upper = _two_parts(0.33, deep_od)
    got = rb._pale_upper_cortex(density, wm, glass, far, PX, (0.25, 0.6))
    assert np.array_equal(got, upper if dropped else np.zeros_like(upper))


def test_deeper_part_mostly_as_dense_as_the_upper_one_keeps_it():
    # the deeper part's palest tenth is white matter, its bulk a pale layer VI as dense as
    # the upper part: where the grey/white border lies is not known, neither is set aside
    density, wm, glass, far, upper = _two_parts(0.33, 0.33)
    deep = wm & ~upper
    rows = np.flatnonzero(deep.any(1))
    density[rows[-len(rows) // 4 :]] = 0.25
    assert not rb._pale_upper_cortex(density, wm, glass, far, PX, (0.25, 0.6)).any()
    density[rows[-len(rows) // 2 - 2 :]] = 0.25  # now mostly white matter
    assert np.array_equal(rb._pale_upper_cortex(density, wm, glass, far, PX, (0.25, 0.6)), upper)


def test_deeper_part_darker_than_the_slides_white_matter_keeps_the_upper_one():
    # the deeper part is paler than the upper one but far darker than the slide's white
    # matter (0.15): neither is set aside
    density, wm, glass, far, _ = _two_parts(0.40, 0.30)
    assert not rb._pale_upper_cortex(density, wm, glass, far, PX, (0.15, 0.6)).any()


def test_a_part_a_cortex_away_from_the_glass_is_kept():
    # the upper part lies 1.2 mm under the glass (no thinner than a cortex): kept
    density, wm, glass, far, upper = _two_parts(0.33, 0.25)
    wm = wm & ~upper | (np.roll(upper, 60, axis=0) & ~glass)
    density = np.where(np.roll(upper, 60, axis=0), 0.33, density)
    assert not rb._pale_upper_cortex(density, wm, glass, far, PX, (0.25, 0.6)).any()


def _diamond(top: float, x: float = 21000.0, h: float = 2000.0) -> np.ndarray:
    """A square ROI standing on its corner: top vertex at ``(top, x)`` µm, diagonal 2 h."""
    return np.array([[top, x], [top + h, x + h], [top + 2 * h, x], [top + h, x - h]])


@pytest.mark.parametrize("above_um", [0.0, 10.0])
def test_a_region_showing_the_pale_upper_cortex_only_at_its_corner_is_not_read(above_um):
    # the region's top corner just touches the pia above the pale upper cortex: one or two
    # columns through that cortex do not show that it is cortex (too few to show a region)
    r = measure_roi(_section(), _diamond(PIA - above_um), cells=False, profile_um=20.0)
    assert not r.measured
    assert r.n_traverses == 0
    assert any("no traverse runs from the pia" in why for why in r.reasons), r.reasons


def test_a_region_showing_more_of_the_pale_upper_cortex_is_read():
    r = measure_roi(_section(), _diamond(PIA - 30.0), cells=False, profile_um=20.0)
    assert r.measured, r.reasons
    assert r.n_traverses >= L1_MIN_TRAVERSES
    assert abs(r.thickness_mm - T / 1000) <= 0.3, r.thickness_mm


def _window_ribbon():
    """The ribbon of a 6 x 6 mm window over the pale upper cortex, its top 1 mm glass."""
    img = _slide()
    ref = slide_reference([img])
    matter = slide_matter([img], [PX], ref)
    y0, x0 = int((PIA - 1000) / PX), int((21000 - 3000) / PX)
    n = int(6000 / PX)
    rib = rb.segment(img[y0 : y0 + n, x0 : x0 + n], PX, ref, None, matter)
    return rib, (y0 * PX, x0 * PX), n


def test_two_traverses_through_the_pale_upper_cortex_are_left_out_three_kept():
    rib, origin, n = _window_ribbon()
    assert rib.pale_upper is not None and rib.pale_upper.any()
    assert (rib.pale_band & rib.pale_upper).sum() == rib.pale_upper.sum()
    pia_rows = np.flatnonzero(rib.pia.any(1))
    for n_pia, kept in ((1, 0), (2, 0), (3, 3), (5, 5)):
        # a column 20 µm (1 px) wide per pial pixel, from the glass to the white matter
        roi = np.zeros(rib.pia.shape, bool)
        roi[:, n // 2 : n // 2 + n_pia] = True
        assert (rib.pia & roi).sum() == n_pia, pia_rows[:3]
        got = trace_traverses(rib, roi)
        assert len(got) == kept, (n_pia, len(got))
        # the same ribbon without the pale upper cortex marked: every column is traced
        assert len(trace_traverses(replace(rib, pale_upper=None), roi)) == n_pia
