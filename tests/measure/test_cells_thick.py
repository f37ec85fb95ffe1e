"""Somata out of the focal plane of a thick section (issue #21, large pyramids): a soma
whose own edge blur reads above :data:`SOMA_MAX_UM` has no size and no large call; the
window stays in focus while enough of its somata are sharp."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cytowords.measure.cells import (
    LARGE_PYRAMID_UM,
    SOMA_MAX_UM,
    cells_along,
    detect_somata,
    is_large,
)
from cytowords.synth.cells import draw_cells

from .test_cells import GLASS, _cells

SIDE_PX = 500
#: Gaussian SD (µm) of the shadow of a soma away from the focal plane
SOFT_UM = 2.5
BIG = np.array([[600.0, 490.0], [640.0, 520.0]])


def _thick_region(soft_big: bool, seed: int = 1) -> np.ndarray:
    """A 1 x 1 mm region at 2 µm/px of a ~20 µm section scanned in focus: small pyramids
    (8-14 µm) around a vertical traverse, half of them away from the focal plane, and two
    35 µm pyramids at 60 % depth; with ``soft_big`` the large ones lie away from the plane
    too. A soma away from the plane casts a shadow blurred by :data:`SOFT_UM` (the layers'
    transmissions multiply), then the scanner's own optics (0.8 µm), noise SD 2."""
    rng = np.random.default_rng(seed)
    small = np.stack([rng.uniform(20, 980, 400), rng.uniform(400, 600, 400)], 1)
    far = np.linalg.norm(small[:, None] - BIG[None], axis=2).min(1) > 30
    yx = small[far]
    diams = rng.uniform(8, 14, len(yx))
    soft = rng.random(len(yx)) < 0.5
    big_d = np.array([35.0, 36.0])
    sharp_yx = np.vstack([yx[~soft]] + ([] if soft_big else [BIG]))
    sharp_d = np.concatenate([diams[~soft]] + ([] if soft_big else [big_d]))
    soft_yx = np.vstack([yx[soft]] + ([BIG] if soft_big else []))
    soft_d = np.concatenate([diams[soft]] + ([big_d] if soft_big else []))
    sharp_def, soft_def = np.zeros((SIDE_PX, SIDE_PX)), np.zeros((SIDE_PX, SIDE_PX))
    draw_cells(sharp_def, _cells(sharp_d, sharp_yx, True, 0.8), (0.0, 0.0), 2.0)
    draw_cells(soft_def, _cells(soft_d, soft_yx, True, 0.8), (0.0, 0.0), 2.0)
    t_soft = ndi.gaussian_filter(np.clip(1 - soft_def, 0.03, 1), SOFT_UM / 2.0, mode="nearest")
    light = 235.0 * np.exp(-0.35) * np.clip(1 - sharp_def, 0.03, 1) * t_soft
    light = ndi.gaussian_filter(light, 0.8 / 2.0, mode="nearest")
    return (light + rng.normal(0, 2, light.shape)).astype(np.float32)


def _reader(image: np.ndarray):
    def read(y0, x0, h, w, px):
        out = np.full((round(h / px), round(w / px)), GLASS, np.float32)
        iy, ix = int(round(y0 / px)), int(round(x0 / px))
        ya, xa = max(0, iy), max(0, ix)
        yb, xb = min(SIDE_PX, iy + out.shape[0]), min(SIDE_PX, ix + out.shape[1])
        out[ya - iy : yb - iy, xa - ix : xb - ix] = image[ya:yb, xa:xb]
        return out

    return read


PATH = np.array([[0.0, 500.0], [1000.0, 500.0]])


def _near_big(yx_um: np.ndarray) -> np.ndarray:
    return np.linalg.norm(yx_um[:, None] - BIG[None], axis=2).min(1) < 12


def test_soft_large_soma_reads_out_of_the_plane():
    som = detect_somata(_thick_region(True)[150:450, 150:350], 2.0, GLASS)
    assert som.in_focus  # the small somata in the plane keep the window in focus
    big = _near_big(som.yx_um + [300.0, 300.0])
    assert big.any()
    assert np.all(som.soma_blur_um[big] > SOMA_MAX_UM) and not som.in_plane[big].any()
    # its soft rim would pass for a large pyramid
    assert is_large(som.diam_um[big], som.length_um[big]).any()


def test_soft_large_pyramids_give_no_large_call():
    st = cells_along(_reader(_thick_region(True)), [PATH], GLASS, 2.0)
    assert st.blurred == [] and st.n_windows >= 2
    assert len(st.large_diam_um) == 0 and st.large_per_mm == 0
    # they still count for density, but not for the sizes
    assert st.in_plane is not None and (~st.in_plane).sum() >= 2
    assert len(st.sized_diam_um) < len(st.diam_um)
    assert st.to_dict()["n_somata_out_of_plane"] == int((~st.in_plane).sum())


def test_sharp_large_pyramids_in_a_thick_section_are_called():
    st = cells_along(_reader(_thick_region(False)), [PATH], GLASS, 2.0)
    assert st.blurred == []
    assert len(st.large_diam_um) == 2 and st.large_diam_um.min() >= LARGE_PYRAMID_UM
