"""Large somata elongated along the radial direction (the traverse) against pairs of somata
side by side: :func:`cells.is_large` with ``off_radial``, through :func:`cells.cells_along`."""

from __future__ import annotations

import numpy as np

from cytowords.measure.cells import (
    COMPACT,
    RADIAL_COMPACT,
    cells_along,
    detect_somata,
    is_large,
    off_radial,
)
from cytowords.synth.cells import Cells, draw_cells

GLASS = 240.0


def _image(diams, yx, angle, elong, shape, seed=0):
    """Oval somata (the generator's round body; ``elong`` < 1 stretches it along
    ``angle``), stain fraction 0.8, on a neuropil of 200, noise SD 3, 2 µm/px."""
    n = len(diams)
    cells = Cells(
        x=yx[:, 1],
        y=yx[:, 0],
        diam=np.asarray(diams, float),
        kind=np.zeros(n, np.int8),
        pyramidal=np.zeros(n, bool),
        angle=np.asarray(angle, float),
        f=np.full(n, 0.8),
        elong=np.asarray(elong, float),
    )
    deficit = np.zeros(shape)
    draw_cells(deficit, cells, (0.0, 0.0), 2.0)
    rng = np.random.default_rng(seed)
    return (200.0 * (1 - np.clip(deficit, 0, 0.95)) + rng.normal(0, 3, shape)).astype(np.float32)


def test_off_radial_is_the_angle_between_undirected_axes():
    np.testing.assert_allclose(
        off_radial(np.array([0.0, np.pi / 2, 3.0]), np.pi / 2),
        [np.pi / 2, 0.0, 3.0 - np.pi / 2],
        atol=1e-12,
    )
    np.testing.assert_allclose(off_radial(0.1, np.pi - 0.1), 0.2, atol=1e-12)


def test_radially_elongated_large_soma_is_large_a_tangential_one_or_pair_not():
    # a vertical traverse (radial: y); at 30 % depth an oval soma of 28 µm equivalent
    # diameter stretched to 44 µm along the traverse (read 35 µm long, 24 µm across: not
    # compact, but a pyramid's shape along its column); at 60 % the same oval lying
    # across the column, at 85 % two 16 µm somata touching side by side
    yx = np.array([[300.0, 200.0], [600.0, 200.0], [850.0, 193.0], [850.0, 207.0]])
    diams = [28.0, 28.0, 16.0, 16.0]
    angle = [-np.pi / 2, 0.0, 0.0, 0.0]
    elong = [0.64, 0.64, 1.0, 1.0]
    img = _image(diams, yx, angle, elong, (500, 200))

    som = detect_somata(img, 2.0, GLASS)
    j = int(np.argmin(np.linalg.norm(som.yx_um - yx[0], axis=1)))
    k = int(np.argmin(np.linalg.norm(som.yx_um - yx[1], axis=1)))
    for i in (j, k):  # both read long and thin for their area: not compact
        assert RADIAL_COMPACT * som.length_um[i] <= som.diam_um[i] < COMPACT * som.length_um[i]
    assert off_radial(som.axis_rad[j], np.pi / 2) < np.radians(10)
    assert off_radial(som.axis_rad[k], np.pi / 2) > np.radians(80)

    def read(y0, x0, h, w, px):
        out = np.full((int(round(h / px)), int(round(w / px))), 200.0, np.float32)
        ys, xs = int(round(y0 / px)), int(round(x0 / px))
        sy, sx = (
            slice(max(ys, 0), min(ys + out.shape[0], 500)),
            slice(max(xs, 0), min(xs + out.shape[1], 200)),
        )
        out[sy.start - ys : sy.stop - ys, sx.start - xs : sx.stop - xs] = img[sy, sx]
        return out

    path = np.array([[0.0, 200.0], [1000.0, 200.0]])
    st = cells_along(read, [path], GLASS, 2.0)
    # only the radial oval is a large pyramid (the fixed cut-off: too few somata for the
    # region's own scale)
    assert len(st.large_depth) == 1
    assert abs(st.large_depth[0] - 0.3) < 0.03
    # without the radial direction, none of them is
    assert not is_large(som.diam_um, som.length_um).any()
