"""Traverses drawn sideways to white matter that is not under their pia (:func:`turn_deg`,
:func:`convergence`).

A region drawn over the grey matter beside a sulcus, whose white matter shows only in a
small piece at its edge (the bank's own white matter lies beyond the window): the depth
potential has no flux across the window's edge, so the streamlines from the sulcal pia
leave it at a right angle and then turn towards that piece, converging on it, longer the
farther they start (on synthetic brain 750 the readout said 3.1 mm against 2.2 mm). A
column runs straight across the ribbon on a crown and in a fundus, and around a sulcus's
tip the streamlines turn but spread towards the white matter: those are kept.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cytowords.measure.ribbon import Ribbon, _laplace_grid
from cytowords.measure.traverses import (
    MAX_TURN_DEG,
    Traverse,
    convergence,
    trace_traverses,
    turn_deg,
)

PX = 16.0  # µm per pixel


def _ribbon(glass: np.ndarray, wm: np.ndarray) -> Ribbon:
    """A ribbon from hand-made masks: grey matter everywhere else, the pia along the glass,
    the depth potential solved on the grey matter."""
    grey = ~glass & ~wm
    pia = grey & ndi.binary_dilation(glass, structure=ndi.generate_binary_structure(2, 1))
    od = np.where(glass, 0.0, np.where(wm, 0.2, 0.5)).astype(np.float32)
    return Ribbon(od, od, PX, ~glass, wm, grey, pia, _laplace_grid(grey, glass, wm))


def _sulcus_beside_a_piece_of_white_matter() -> tuple[Ribbon, np.ndarray]:
    """A 4.2 × 3.4 mm window of grey matter: a sulcus (a slit of glass 240 µm wide) rises
    from its bottom edge to 1.6 mm below its top, near its right edge; a piece of white
    matter (radius 0.8 mm) shows at its top edge; the region is the window less a margin
    (300 µm), so the white matter shows only along its top edge."""
    yy, xx = np.mgrid[0:264, 0:210]
    glass = (xx >= 165) & (xx < 180) & (yy >= 100)
    wm = np.hypot(yy + 10, xx - 40) < 50
    roi = np.zeros(glass.shape, bool)
    roi[35:245, 20:190] = True
    return _ribbon(glass, wm), roi


def test_traverses_turned_towards_a_piece_of_white_matter_are_left_out() -> None:
    rib, roi = _sulcus_beside_a_piece_of_white_matter()
    trs = trace_traverses(rib, roi)
    # the streamlines from the sulcal bank turn by 29-48° and converge on the piece of
    # white matter, 2.2 to 4.5 mm long; those turning aside are left out, and the few
    # kept agree in length
    assert all(turn_deg(t) <= MAX_TURN_DEG for t in trs)
    lengths = np.array([t.length_um for t in trs])
    assert len(trs) <= 3
    assert lengths.size == 0 or lengths.max() <= 1.2 * lengths.min(), lengths


def test_traverses_spreading_around_a_sulcal_tip_are_kept() -> None:
    # a sulcus rising to the middle of a 3.5 mm window whose top edge is white matter:
    # the streamlines from its walls leave them sideways and turn up by up to 52° to the
    # white matter, spreading along it (diverging): all kept
    yy, xx = np.mgrid[0:220, 0:220]
    glass = (np.abs(xx - 110) < 6) & (yy >= 120)
    roi = np.zeros(glass.shape, bool)
    roi[19:201, 19:201] = True
    trs = trace_traverses(_ribbon(glass, yy < 25), roi)
    assert len(trs) >= 30
    assert max(turn_deg(t) for t in trs) > MAX_TURN_DEG
    assert convergence(trs).min() > 1.0


@pytest.mark.parametrize("crown", [True, False])
def test_columns_of_a_crown_and_a_fundus_are_kept(crown: bool) -> None:
    # an annulus (pia radius 2.4 mm, white matter radius 1 mm) centred below the window:
    # its columns converge (a crown) or diverge (a fundus, glass inside) with depth; every
    # streamline runs radially straight, none turns aside
    yy, xx = np.mgrid[0:200, 0:200]
    r = np.hypot(yy - 190.0, xx - 100.0)
    glass, wm = (r >= 150, r < 60) if crown else (r < 60, r >= 150)
    roi = np.zeros(r.shape, bool)
    roi[19:181, 19:181] = True
    trs = trace_traverses(_ribbon(glass, wm), roi)
    assert len(trs) >= 20
    assert max(turn_deg(t) for t in trs) < 0.5 * MAX_TURN_DEG
    lengths = np.array([t.length_um for t in trs])
    assert np.abs(lengths - 90 * PX).max() <= 5 * PX


def test_turn_of_straight_and_bent_paths() -> None:
    line = np.stack([np.arange(50.0), np.zeros(50)], 1)
    assert turn_deg(Traverse(line, 50.0, 50.0)) == pytest.approx(0.0, abs=1e-6)
    # leaves along y for 15 % of its length, then runs along x: the chord turns by
    # atan(85 / 15) from the start's way
    bent = np.concatenate(
        [
            np.stack([np.arange(16.0), np.zeros(16)], 1),
            np.stack([np.full(85, 15.0), np.arange(1.0, 86)], 1),
        ]
    )
    assert turn_deg(Traverse(bent, 100.0, 86.0)) == pytest.approx(
        np.degrees(np.arctan2(85, 15)), abs=1.0
    )
