"""A region inside the white matter is said to be white matter (judged by the slide's
typical white and grey matter), and full ribbons are measured as before. Hand-made slide
(no generator): glass above, a 3 mm cortex with a pale layer I, white matter below; the
left half an ordinary cortex, the right half a cortex with a pale outer band over a dense
deep part (paler than the slide's typical cortex, far darker than its white matter)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure.slide import slide_matter, slide_reference
from cytowords.sections import Section
from tests.support.slides import bright_field, square

PX = 20.0
W, H = 30000.0, 14000.0
PIA, T, WM_END = 2000.0, 3000.0, 12000.0
#: optical densities: layer I, the ordinary cortex, the pale band and the dense deep part
#: of the right half, white matter
OD_I, OD_CORTEX, OD_PALE, OD_DENSE, OD_WM = 0.15, 0.45, 0.36, 0.60, 0.20


def _slide(seed: int = 0) -> np.ndarray:
    yy, xx = (np.mgrid[0 : int(H / PX), 0 : int(W / PX)] + 0.5) * PX
    depth = yy - PIA
    right = xx >= W / 2
    od = np.where(right, np.where(depth < 1200, OD_PALE, OD_DENSE), OD_CORTEX)
    od = np.where(depth < 200, OD_I, od)
    od = np.where(depth >= T, OD_WM, od)
    glass = (depth < 0) | (yy >= WM_END)
    return bright_field(od, glass, seed)


def _section() -> Section:
    return Section([da.from_array(_slide(), chunks=512)], [PX], name="pale-band")


def test_slide_matter_reads_white_and_grey_matter():
    img = _slide()
    ref = slide_reference([img])
    assert ref is not None
    w, g = slide_matter([img], [PX], ref)
    assert abs(w - OD_WM) < 0.05
    assert OD_PALE - 0.05 < g < OD_DENSE


def test_region_inside_the_white_matter_is_said_to_be_white_matter():
    r = measure_roi(_section(), square(6500, 12000, 3000), cells=False, profile_um=20.0)
    assert not r.measured
    assert any("the ROI is white matter" in s for s in r.reasons), r.reasons
    assert not any(s.startswith("no white matter") for s in r.reasons), r.reasons


def test_full_ribbon_is_still_measured_on_both_halves():
    for x0 in (5000, 20000):
        r = measure_roi(_section(), square(PIA - 500, x0, 4000), cells=False, profile_um=20.0)
        assert r.measured, r.reasons
        assert abs(r.thickness_mm - T / 1000) <= 0.2


def _cortex_crop(seed: int = 0) -> np.ndarray:
    """A crop of cortex alone, cut above its white matter: glass above, layer I, dense
    II–IV, a pale layer V 1.2 mm wide, dense VI down to the image's lower edge."""
    h = 5400.0
    yy, _ = (np.mgrid[0 : int(h / PX), 0 : int(20000.0 / PX)] + 0.5) * PX
    depth = yy - PIA
    od = np.select([depth < 200, depth < 1400, depth < 2600], [0.15, 0.55, 0.30], 0.45)
    return bright_field(od, depth < 0, seed)


def test_a_crop_of_cortex_has_no_slide_white_matter():
    img = _cortex_crop()
    ref = slide_reference([img])
    assert ref is not None
    # its two kinds of tissue differ as white and grey matter would, but the pale kind is a
    # band with deeper layers under it that reach no glass
    assert slide_matter([img], [PX], ref) is None


def test_pale_layer_of_a_cortex_crop_is_not_called_white_matter():
    sec = Section([da.from_array(_cortex_crop(), chunks=512)], [PX], name="cortex-crop")
    # 0.6 mm: the window is all pale; 1 mm: the window shows the dense layers around the
    # pale one, which the window's own classes take for grey matter around white matter
    for side in (600, 1000):
        r = measure_roi(sec, square(PIA + 2000 - side / 2, 8000, side), cells=False,
                        profile_um=20.0)
        assert not r.measured
        assert not any("the ROI is white matter" in s for s in r.reasons), (side, r.reasons)


def test_white_matter_is_said_under_uneven_light():
    # light falling to 0.6 of full across the slide: the readout divides it out, and the
    # slide's white and grey matter are read from the divided levels too
    img = _slide().astype(np.float64) * np.linspace(0.6, 1.0, int(W / PX))[None, :]
    sec = Section([da.from_array(np.clip(img, 1, 255).astype(np.uint8), chunks=512)], [PX],
                  name="pale-band-uneven")
    r = measure_roi(sec, square(6500, 3000, 3000), cells=False, profile_um=20.0)
    assert not r.measured
    assert any(s.startswith("uneven light") for s in r.reasons), r.reasons
    assert any("the ROI is white matter" in s for s in r.reasons), r.reasons
    r = measure_roi(sec, square(PIA - 500, 5000, 4000), cells=False, profile_um=20.0)
    assert r.measured and abs(r.thickness_mm - T / 1000) <= 0.2, r.reasons


def _slide_with_hole(seed: int = 0) -> np.ndarray:
    """The slide above with a hole in its white matter: a large vessel or tear, 0.3 mm wide
    and 2 mm long, glass inside, white matter all round."""
    img = _slide(seed)
    yy, xx = (np.mgrid[0 : img.shape[0], 0 : img.shape[1]] + 0.5) * PX
    hole = (np.abs(yy - 8000.0) < 150.0) & (np.abs(xx - 13500.0) < 1000.0)
    rng = np.random.default_rng(seed + 1)
    img[hole] = np.clip(240.0 + rng.normal(0, 2, int(hole.sum())), 1, 255).astype(np.uint8)
    return img


def test_a_hole_in_the_white_matter_is_no_pia():
    # a region inside the white matter with a hole (wider than a crack) in view is still
    # white matter: the hole is lined all round by white matter, not by a cortex
    sec = Section([da.from_array(_slide_with_hole(), chunks=512)], [PX], name="hole")
    r = measure_roi(sec, square(6500, 12000, 3000), cells=False, profile_um=20.0)
    assert not r.measured
    assert any("the ROI is white matter" in s for s in r.reasons), r.reasons
    assert not any(s.startswith("no white matter") for s in r.reasons), r.reasons
    # full ribbons beside it are measured as before
    r = measure_roi(sec, square(PIA - 500, 5000, 4000), cells=False, profile_um=20.0)
    assert r.measured and abs(r.thickness_mm - T / 1000) <= 0.2, r.reasons


def test_a_pale_cortex_beside_the_pia_is_not_white_matter():
    # a cortex paler than the slide's mid-point of white and grey matter (as a pale
    # cortex can be under a silver stain's contrast), under a glass band: its pia is glass a
    # pia lines (denser tissue beneath its layer I), so it is never called white matter
    img = _slide()
    yy, xx = (np.mgrid[0 : img.shape[0], 0 : img.shape[1]] + 0.5) * PX
    depth = yy - PIA
    part = (xx >= 22000) & (depth >= 200) & (depth < T)
    rng = np.random.default_rng(3)
    od = 0.29 * np.exp(rng.normal(0, 0.15, int(part.sum())))
    img[part] = np.clip(240.0 * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)
    sec = Section([da.from_array(img, chunks=512)], [PX], name="pale-cortex")
    r = measure_roi(sec, square(PIA - 300, 24000, 1200), cells=False, profile_um=20.0)
    assert not any("the ROI is white matter" in s for s in r.reasons), r.reasons
