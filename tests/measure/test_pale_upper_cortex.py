"""A pale upper cortex lining the pia is no white matter (issue #21).

Hand-made slide (no generator): glass above, a 3.2 mm cortex (a pale layer I, pale upper
layers down to 1.4 mm under the pia, a dense deep band in two levels), white matter below
it and a dense second cortex under that, then glass. The upper layers are nearly as pale
as the white matter (in the palest Otsu class with it), so the white matter found in a
square across the ribbon has two pieces: the upper cortex, from layer I up to the glass,
and the real white matter beyond the dense band, paler. The piece that lines the pia is
dropped (``ribbon._pale_upper_cortex``); without that the traverses ended under the pia
("no traverse longer than 1 mm")."""

from __future__ import annotations

import numpy as np
import pytest

import cytowords.measure.ribbon as ribbon
from cytowords.measure import measure_roi
from cytowords.measure.ribbon import _pale_upper_cortex
from cytowords.sections import Section  # noqa: F401
from tests.support.slides import bright_field, pyramid, square

PX = 20.0
W, H = 30000.0, 12000.0
PIA, UPPER, MID, T, WM_END, END = 1000.0, 1400.0, 2300.0, 3200.0, 7600.0, 10000.0
#: optical densities: layer I, the pale upper layers, the dense band (two levels), white matter
OD_I, OD_UPPER, OD_DENSE, OD_DEEP, OD_WM = 0.15, 0.30, 0.75, 0.55, 0.20
#: the slide's white and grey matter (ODs) for the unit tests
MATTER = (0.2, 0.6)


def _slide(upper: float = OD_UPPER, dense: float = OD_DENSE, deep: float = OD_DEEP) -> np.ndarray:
    yy, _ = (np.mgrid[0 : int(H / PX), 0 : int(W / PX)] + 0.5) * PX
    depth = yy - PIA
    od = np.select(
        [depth < 200, depth < UPPER, depth < MID, depth < T, yy < WM_END, yy < END - 200],
        [OD_I, upper, dense, deep, OD_WM, OD_DENSE],
        OD_I,
    )
    glass = (depth < 0) | (yy >= END)
    return bright_field(od, glass, 0)


def _section(**kw) -> Section:
    # with its pyramid: the slide's white and grey matter are read from the coarsest level
    return pyramid(_slide(**kw), PX, name="pale-upper-cortex")


def _pieces(deep_od: float):
    """Density, glass and white matter of a 4.8 mm window (16 µm pixels): glass in the top
    22 rows, a pale piece from row 22 to 90 (OD 0.30, lining the pia along the whole
    window) and a deeper piece from row 200 (OD ``deep_od``)."""
    density = np.full((300, 300), 0.7)
    density[22:90] = 0.30
    density[200:] = deep_od
    glass = np.zeros(density.shape, bool)
    glass[:22] = True
    wm = np.zeros(density.shape, bool)
    wm[22:90] = True
    wm[200:] = True
    return density, glass, wm


def test_the_piece_lining_the_pia_is_dropped_only_when_a_paler_one_lies_deeper():
    density, glass, wm = _pieces(0.20)
    got = _pale_upper_cortex(wm, density, glass, 16.0, MATTER)
    assert not got[22:90].any() and got[200:].all()
    # the deeper piece hardly paler (less than a fifth of the slide's contrast): both kept
    density, glass, wm = _pieces(0.25)
    assert np.array_equal(_pale_upper_cortex(wm, density, glass, 16.0, MATTER), wm)
    # one piece only (white matter reaching the glass at a cut edge): kept
    density, glass, wm = _pieces(0.20)
    only = wm.copy()
    only[200:] = False
    assert np.array_equal(_pale_upper_cortex(only, density, glass, 16.0, MATTER), only)
    # the glass only in a corner (the pale piece lines it along less than 1 mm): kept
    corner = np.zeros(glass.shape, bool)
    corner[:22, :40] = True
    assert np.array_equal(_pale_upper_cortex(wm, density, corner, 16.0, MATTER), wm)


def test_a_deeper_piece_holding_pale_deep_cortex_keeps_only_its_paler_part():
    # the deeper piece: pale deep cortex (OD 0.32, rows 200-260) over white matter (0.20):
    # its median is the upper piece's, its paler Otsu part is the white matter
    density, glass, wm = _pieces(0.20)
    density[200:260] = 0.32
    got = _pale_upper_cortex(wm, density, glass, 16.0, MATTER)
    assert not got[22:90].any()
    assert not got[200:255].any() and got[265:].all()


def test_a_square_across_the_ribbon_ends_at_the_white_matter(monkeypatch):
    roi = square(PIA - 300, 10000, 4200)
    r = measure_roi(_section(), roi, cells=False, profile_um=20.0)
    assert r.measured, r.reasons
    assert abs(r.thickness_mm - T / 1000) <= 0.3, r.thickness_mm
    # main's white matter (the rule left out): the traverses end under the pia
    monkeypatch.setattr(ribbon, "_pale_upper_cortex", lambda wm, *a: wm)
    assert not measure_roi(_section(), roi, cells=False, profile_um=20.0).measured


@pytest.mark.parametrize("kw", [dict(upper=OD_DENSE), dict(dense=OD_UPPER, deep=OD_UPPER)])
def test_a_cortex_with_no_pale_upper_layers_or_no_dense_band_reads_as_before(monkeypatch, kw):
    # a dense upper cortex (only layer I pale), or a pale cortex with no dense band (the
    # upper and deep layers alike): the rule leaves the white matter as it is
    roi = square(PIA - 300, 10000, 4200)
    calls = []
    rule = ribbon._pale_upper_cortex

    def spy(wm, *a):
        out = rule(wm, *a)
        calls.append(np.array_equal(out, wm))
        return out

    monkeypatch.setattr(ribbon, "_pale_upper_cortex", spy)
    r = measure_roi(_section(**kw), roi, cells=False, profile_um=20.0)
    assert calls and all(calls), r.reasons
