"""A region crossed aslant by a ribbon about as thick as the region is wide (pia and white
matter in opposite corners, the columns from its pia reaching the white matter just
beyond its edge: measured on them; not where those columns bend), a region whose columns
leave it far above the white matter (not measured, and why), and a pale band of the
cortex taken for white matter (traverses under 1 mm). Hand-made slides (no generator): a
straight cortex with a pale layer I, a dense deep band and white matter, at 16 µm/px."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.sections import Section

PX = 16.0
SIZE = 10000.0
C = SIZE / 2
#: glass around the tissue block (µm)
FRAME = 1500.0


def ribbon_slide(
    angle_deg: float,
    thickness_um: float,
    seed: int = 0,
    pale_band_um: tuple[float, float] | None = None,
) -> Section:
    """A straight cortex ``thickness_um`` thick whose normal points ``angle_deg`` from the
    y axis, centred on the slide's middle: glass above its pia, white matter below, a
    glass frame around the tissue; multiplicative speckle as a cell-body stain shows.
    ``pale_band_um``: a band of the cortex (depths from the pia, µm) as pale as the white
    matter."""
    n = int(SIZE / PX)
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) * PX
    a = np.deg2rad(angle_deg)
    d = (yy - C) * np.cos(a) + (xx - C) * np.sin(a) + thickness_um / 2  # 0 at the pia
    x = np.clip(d / thickness_um, 0, 1)
    od = 0.35 + 0.45 / (1 + np.exp(-(d - 200.0) / 20.0)) + 0.4 * np.exp(-(((x - 0.75) / 0.08) ** 2))
    od = np.where(d > thickness_um, 0.3, od)
    if pale_band_um is not None:
        od = np.where((d > pale_band_um[0]) & (d < pale_band_um[1]), 0.3, od)
    glass = (d < 0) | (np.maximum(np.abs(yy - C), np.abs(xx - C)) > C - FRAME)
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    img = np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)
    return Section([da.from_array(img)], [PX], name=f"ribbon-{angle_deg:g}")


def square(y: float, x: float, half: float = 1500.0) -> np.ndarray:
    return np.array(
        [[y - half, x - half], [y - half, x + half], [y + half, x + half], [y + half, x - half]]
    )


@pytest.mark.parametrize("along_um", [-600.0, 300.0])
def test_a_ribbon_crossing_the_region_aslant_is_measured_on_the_columns_from_its_pia(along_um):
    # a 3.5 mm cortex at 20° across a 3 mm square: pia and white matter only in opposite
    # corners, and no traverse from its pia ends inside it; its columns leave the square
    # only near their deep end (well under 15 % of their length outside) and reach the
    # white matter the square shows a corner of, so they are the cortex here: measured,
    # and the sentence says how far beyond the edge they end
    t = 3500.0
    a = np.deg2rad(20.0)
    y, x = C - along_um * np.sin(a), C + along_um * np.cos(a)
    r = measure_roi(ribbon_slide(20.0, t), square(y, x), cells=False, profile_um=PX)
    assert r.measured and r.n_traverses >= 4, r.reasons
    assert r.thickness_mm == pytest.approx(t / 1000, rel=0.05)
    assert 0 < r.beyond_edge_mm < 0.5
    assert "beyond its edge" in r.statements()[0]
    assert r.to_dict(traverses=False)["thickness_mm"]["beyond_edge_mm"] == pytest.approx(
        r.beyond_edge_mm, abs=1e-3
    )
    assert not any(s.startswith("no traverse runs from the pia") for s in r.reasons)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_region_crossed_aslant_whose_columns_bend_is_not_measured(seed):
    # a 3.45 mm cortex at 10° across a 3 mm square: pia and white matter only near its
    # top and bottom corners, and the window's edges bend the depth field: the 6 columns
    # from its pia that stay inside it are bent (length / chord 1.05-1.06) and run about
    # 9 % longer than the cortex is thick; fewer than 4 are straight, so the region is not
    # measured (read on the bent columns it was 3.78 mm), with the aslant reason
    r = measure_roi(ribbon_slide(10.0, 3450.0, seed=seed), square(C, C), cells=False, profile_um=PX)
    assert not r.measured, (r.thickness_mm, r.n_traverses)
    why = [s for s in r.reasons if s.startswith("no traverse runs from the pia")]
    assert why and "reach the white matter only beyond its edge" in why[0], r.reasons


def slanted(y_top: float, x_left: float, width: float, height: float, shift: float) -> np.ndarray:
    """A parallelogram: its top edge ``width`` µm wide at ``y_top``, its bottom edge
    ``height`` µm lower and shifted ``shift`` µm to the right."""
    return np.array(
        [
            [y_top, x_left],
            [y_top, x_left + width],
            [y_top + height, x_left + width + shift],
            [y_top + height, x_left + shift],
        ]
    )


def test_columns_leaving_the_region_far_above_the_white_matter_are_not_measured():
    # a flat 3 mm cortex (columns vertical) and a region slanting to the right: its top
    # edge on the pia, its bottom edge on the white matter 2 mm to the right of the top
    # edge's far end; every column from its pia leaves it through its left side within
    # 1.5 mm of the pia (half or more of its length outside) and ends on the white matter
    # below the region's left neighbour: that is not the cortex here, so the region is
    # not measured and the reason says why
    t = 3000.0
    pia = C - t / 2
    v = slanted(pia - 200.0, C - 2000.0, 1000.0, t + 400.0, 2000.0)
    r = measure_roi(ribbon_slide(0.0, t), v, cells=False, profile_um=PX)
    assert not r.measured
    why = [s for s in r.reasons if s.startswith("no traverse runs from the pia")]
    assert why and "reach the white matter only beyond its edge" in why[0], r.reasons


def test_a_region_whose_columns_end_inside_it_is_measured_without_the_note():
    # the ribbon across the square's diagonal: the columns from its pia end inside it
    r = measure_roi(ribbon_slide(45.0, 3400.0), square(C, C), cells=False, profile_um=PX)
    assert r.measured and r.n_traverses >= 10
    assert r.thickness_mm == pytest.approx(3.4, abs=0.05)
    assert not any("beyond its edge" in s for s in r.reasons)


def test_a_pale_band_of_the_cortex_taken_for_white_matter_is_said_so():
    # a band of the cortex as pale as the white matter, 0.6-1.2 mm under the pia, and the
    # real white matter 3 mm deep beyond the region: the traverses end at the band, under
    # 1 mm; the reason names the pale band as well as a cut edge (not only "pia and white
    # matter touch")
    s = ribbon_slide(0.0, 3000.0, pale_band_um=(600.0, 1200.0))
    r = measure_roi(s, square(C - 300.0, C), cells=False, profile_um=PX)
    assert not r.measured
    why = [t for t in r.reasons if t.startswith("no traverse longer than")]
    assert why and "pale band of the cortex read as white matter" in why[0], r.reasons
