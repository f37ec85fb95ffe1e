"""The uneven-light check on a silver-stain-like (Merker) slide that is evenly lit: the
white matter is pale and flat, nearly as light as the glass, and in a weakly stained
stretch of the section the tissue's edge and its cortex change only gradually, so flat
pixels lead from the glass into the white matter. That white matter is enclosed by the
cortex, the empty slide is not: no field is found (the slide is read as it is), while the
same slide under truly uneven light is still divided by its glass's level. Hand-made
slide (no generator), on its coarse level (100 µm/px)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.measure import illumination
from cytowords.sections import Section
from tests.support.slides import bright_field

PX = 100.0  # µm/px
H, W = 300, 400  # px: a 30 x 40 mm scan
#: the section: an ellipse of these semi-axes (px) around the scan's centre, its cortex a
#: ring of CORTEX px inside the edge, white matter within
RY, RX, CORTEX = 110.0, 150.0, 25.0
#: optical densities (natural log): cortex, white matter (pale, flat: a silver stain)
OD_CORTEX, OD_WM = 0.55, 0.08
#: the weakly stained stretch: the cortex's OD there, and the edge's and the white-matter
#: border's ramps (px), over which the OD changes by less than a tenth of the tissue's per
#: pixel
OD_PALE, RAMP = 0.25, 12.0


def _slide(light: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    dy, dx = (yy - H / 2) / RY, (xx - W / 2) / RX
    rho = np.hypot(dy, dx)
    depth = (1.0 - rho) * min(RY, RX)  # px in from the edge (about)
    glass = depth <= 0
    # the stain's strength around the section: weak over the top stretch
    theta = np.arctan2(dy, dx)
    weak = np.exp(-(((theta + np.pi / 2) / 0.45) ** 2))
    cortex = OD_CORTEX + (OD_PALE - OD_CORTEX) * weak
    # sharp steps where stained normally, ramps of RAMP px where weak
    width = 1.0 + (RAMP - 1.0) * weak
    rise = np.clip(depth / width, 0.0, 1.0)  # glass -> cortex
    to_wm = np.clip((depth - CORTEX) / width, 0.0, 1.0)  # cortex -> white matter
    od = rise * ((1 - to_wm) * cortex + to_wm * OD_WM)
    img = bright_field(od, glass, seed).astype(np.float64)
    if light is not None:
        img = img * light
    return np.clip(np.rint(img), 1, 255).astype(np.uint8)


def _field(img: np.ndarray):
    illumination._CACHE.clear()
    sec = Section([da.from_array(img, chunks=512)], [PX], name=f"even-light-{img.sum()}")
    return illumination.slide_field(sec.levels, sec.pixel_size_um)


def test_even_light_with_pale_white_matter_has_no_field():
    # main took the white matter for dim glass: "the glass reads down to ~90 %"
    assert _field(_slide()) is None


def test_uneven_light_on_the_same_slide_is_still_found():
    x = (np.arange(W) + 0.5) / W
    light = np.broadcast_to(0.75 + 0.25 * x, (H, W))
    found = _field(_slide(light))
    assert found is not None
    lf, coarse_um, (glass, _) = found
    assert coarse_um == PX
    # the field follows the light on the glass: left and right margins
    ratio = lf / glass
    for col in (10, W // 2, W - 10):
        assert abs(np.median(ratio[:, col]) / light[0, col] - 1) < 0.04, col
