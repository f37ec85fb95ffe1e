"""Soma detection of the readout against drawn cells of known size and the generator's cells."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from cytowords.measure.cells import LARGE_PYRAMID_UM, cells_along, detect_somata
from cytowords.synth import section_geometry, virtual_section
from cytowords.synth.cells import Cells, draw_cells
from cytowords.synth.truth import cells_in_window

GLASS = 240.0


def _cells(diams, yx: np.ndarray, pyramidal: bool, f) -> Cells:
    """Somata of the given diameters (µm) at ``yx`` (µm), apex up, stain fraction ``f``
    (one value or one per soma)."""
    n = len(diams)
    return Cells(
        x=yx[:, 1],
        y=yx[:, 0],
        diam=np.asarray(diams, float),
        kind=np.zeros(n, np.int8),
        pyramidal=np.full(n, pyramidal),
        angle=np.full(n, -np.pi / 2),
        f=np.broadcast_to(np.asarray(f, float), (n,)).copy(),
        elong=np.ones(n),
    )


def drawn(
    diams: np.ndarray, yx: np.ndarray, shape=(300, 300), px=2.0, pyramidal=False, seed=0, f=None
):
    """A bright image (glass 240, neuropil 200) with somata of the given diameters (µm);
    ``f``: each soma's stain fraction (default 0.8; pale somata lower)."""
    rng = np.random.default_rng(seed)
    cells = _cells(diams, yx, pyramidal, 0.8 if f is None else f)
    deficit = np.zeros(shape)
    draw_cells(deficit, cells, (0.0, 0.0), px)
    img = 200.0 * (1 - np.clip(deficit, 0, 0.95)) + rng.normal(0, 3, shape)
    return img.astype(np.float32)


def test_soma_sizes_of_drawn_cells():
    yx = np.array([[100.0, 100.0], [100.0, 300.0], [300.0, 100.0], [300.0, 300.0], [450.0, 450.0]])
    diams = np.array([10.0, 15.0, 20.0, 30.0, 45.0])
    som = detect_somata(drawn(diams, yx, shape=(300, 300)), 2.0, GLASS)
    assert len(som.diam_um) == 5
    d, j = cKDTree(yx).query(som.yx_um)
    assert np.all(d < 4)
    np.testing.assert_allclose(som.diam_um[np.argsort(j)], diams, rtol=0.2)


def test_large_pyramids_counted_per_mm_of_ribbon():
    # a vertical traverse 0..1000 µm; two 35 µm pyramids at 60 % depth, small cells elsewhere
    rng = np.random.default_rng(1)
    small = np.stack([rng.uniform(20, 980, 150), rng.uniform(420, 580, 150)], 1)
    big = np.array([[600.0, 490.0], [640.0, 520.0]])
    yx = np.vstack([small, big])
    diams = np.concatenate([rng.uniform(8, 12, 150), [35.0, 36.0]])
    far = np.linalg.norm(small[:, None] - big[None], axis=2).min(1) > 30
    yx, diams = yx[np.r_[far, True, True]], diams[np.r_[far, True, True]]
    image = drawn(diams, yx, shape=(500, 500), pyramidal=True)

    def read(y0, x0, h, w, px):
        out = np.full((round(h / px), round(w / px)), GLASS, np.float32)
        iy, ix = int(round(y0 / px)), int(round(x0 / px))
        ya, xa = max(0, iy), max(0, ix)
        yb, xb = min(500, iy + out.shape[0]), min(500, ix + out.shape[1])
        out[ya - iy : yb - iy, xa - ix : xb - ix] = image[ya:yb, xa:xb]
        return out

    path = np.array([[0.0, 500.0], [1000.0, 500.0]])
    st = cells_along(read, [path], GLASS, 2.0)
    assert len(st.large_diam_um) == 2 and st.large_diam_um.min() >= LARGE_PYRAMID_UM
    assert np.all(np.abs(st.large_depth - 0.62) < 0.06)
    assert st.large_per_mm == 2 / 0.1  # two in a 100 µm band
    assert st.density_per_mm2.sum() > 0


def test_detection_against_generator_cells():
    """Somata of >= 8 µm in a 2 µm/px window of a virtual section are found, sized right."""
    section, geom = virtual_section(203, pixel_size_um=2.0), section_geometry(203)
    y0, x0, h, w = 45100.0, 15500.0, 200.0, 200.0  # mid-depth of 3b
    som = detect_somata(section.read_window(y0, x0, h, w, 2.0), 2.0, GLASS)
    truth = cells_in_window(geom, y0, x0, h, w)
    big = truth.diam >= 8
    d, j = cKDTree(som.yx_um + [y0, x0]).query(np.stack([truth.y, truth.x], 1)[big])
    assert np.mean(d < 4) > 0.7  # recall of somata >= 8 µm
    found = som.diam_um[j[d < 4]]
    np.testing.assert_allclose(np.median(found / truth.diam[big][d < 4]), 1.0, atol=0.15)


def test_large_threshold_follows_the_regions_own_soma_sizes():
    from cytowords.measure.cells import LARGE_FACTOR, is_large, large_threshold_um

    rng = np.random.default_rng(0)
    # half-maximum lengths 8-12 µm, each lengthened by 1.5-2.5 µm to its half-light edge
    edge = rng.uniform(1.5, 2.5, 400)
    lengths = rng.uniform(8, 12, 400) + edge
    t = large_threshold_um(lengths, edge)
    assert t == pytest.approx(LARGE_FACTOR * np.median(lengths - edge) + np.median(edge))
    # a scan whose somata all look 1.5 times larger (calibration, shrinkage): same cells large
    cand_len = np.array([20.0, 30.0, 40.0])
    cand_diam = 0.8 * cand_len
    small_scale = is_large(cand_diam, cand_len, t)
    t_big = large_threshold_um(1.5 * lengths, 1.5 * edge)
    big_scale = is_large(1.5 * cand_diam, 1.5 * cand_len, t_big)
    assert np.array_equal(small_scale, big_scale) and small_scale.tolist() == [False, True, True]
    # too few somata for a scale of their own: the literature's 25 µm
    assert large_threshold_um(lengths[:5], edge[:5]) == LARGE_PYRAMID_UM


@pytest.mark.parametrize("diam, apart", [(14.0, 11.0), (10.0, 8.0)])
def test_touching_somata_are_split(diam, apart):
    # two round somata (pyramidal-cell size; granule-cell size, 5 px at 2 µm/px) whose
    # centres are closer than their diameter: one dark blob with a shallow waist
    yx = np.array([[150.0, 150.0 - apart / 2], [150.0, 150.0 + apart / 2]])
    som = detect_somata(drawn(np.array([diam, diam]), yx, shape=(150, 150)), 2.0, GLASS)
    assert len(som.diam_um) == 2
    d, j = cKDTree(yx).query(som.yx_um)
    assert np.all(d < 4) and sorted(j.tolist()) == [0, 1]


def test_lone_betz_size_soma_is_one_giant():
    from cytowords.measure.cells import GIANT_UM, is_large

    # a 50 µm pyramid (pale nucleus, dark nucleolus, apical dendrite) among small somata
    rng = np.random.default_rng(2)
    small = np.stack([rng.uniform(20, 580, 80), rng.uniform(20, 580, 80)], 1)
    big = np.array([[300.0, 300.0]])
    small = small[np.linalg.norm(small - big, axis=1) > 70]
    yx = np.vstack([small, big])
    diams = np.concatenate([rng.uniform(8, 12, len(small)), [50.0]])
    som = detect_somata(drawn(diams, yx, shape=(300, 300), pyramidal=True), 2.0, GLASS)
    # one soma within its own radius: not split by its pale nucleus, corners or base (its
    # apical dendrite, further up, may leave small pieces: see docs/measure.md)
    near = np.linalg.norm(som.yx_um - big, axis=1) < 25
    assert near.sum() == 1
    assert som.length_um[near][0] >= GIANT_UM
    assert is_large(som.diam_um[near], som.length_um[near], GIANT_UM).all()


@pytest.mark.parametrize("min_distance, exclude_border", [(1, False), (2, True), (3, False)])
def test_label_peaks_are_skimages_peaks(min_distance, exclude_border):
    # the detector's vectorised peak finder gives skimage's peaks, in skimage's order, on
    # blobs of every shape (plateaus, single pixels, touching the border)
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    from cytowords.measure.cells import label_peaks

    rng = np.random.default_rng(min_distance)
    for _ in range(10):
        field = ndi.gaussian_filter(rng.normal(size=(90, 70)), rng.uniform(0.5, 3))
        fg = field > rng.uniform(-0.2, 0.4)
        lab, _n = ndi.label(fg)
        dist = ndi.distance_transform_edt(fg)
        for img in (dist, np.round(dist), ndi.gaussian_filter(dist, 1.0)):
            want = peak_local_max(
                img, min_distance=min_distance, labels=lab, exclude_border=exclude_border
            )
            got = label_peaks(img, lab, min_distance, exclude_border)
            assert np.array_equal(got, want)


@pytest.mark.parametrize("stain", [0.8, 0.4])
def test_large_pyramid_among_neighbours_measured_to_its_length(stain):
    # a 50 µm pyramid whose base touches 15 µm pyramids, drawn dark or pale (the stain
    # fraction f of every soma): its length is measured within 15 % of the drawn size
    # whatever the stain, and its neighbours stay of their own size
    big = np.array([[300.0, 300.0]])
    ring = np.array(
        [[300 + 34 * np.sin(a), 300 + 34 * np.cos(a)] for a in np.linspace(0.6, 2.5, 4)]
    )
    yx = np.vstack([big, ring])
    diams = np.array([50.0, 15.0, 15.0, 15.0, 15.0])
    image = drawn(diams, yx, shape=(300, 300), pyramidal=True)
    if stain != 0.8:  # the same cells, paler: a weaker stain scales the light deficit
        image = (200.0 - (200.0 - image) * stain / 0.8).astype(np.float32)
    som = detect_somata(image, 2.0, GLASS)
    d, j = cKDTree(som.yx_um).query(yx)
    assert np.all(d < 0.25 * diams + 4)
    assert abs(som.length_um[j[0]] / 50.0 - 1) < 0.15
    assert np.all(np.abs(som.length_um[j[1:]] / 15.0 - 1) < 0.3)


@pytest.mark.parametrize("big_um", [30.0, 50.0])
def test_large_pyramid_in_dense_layer_not_read_short(big_um):
    # a large pyramid in a dense field of 10-14 µm pyramids (~40 % cover): the neighbours
    # raise the smoothed background, and a soma measured against it (or at a share of its
    # mean contrast) reads 4-6 % short; measured to its edge against the neuropil around it
    # and its own body level, its length is at least its drawn size less 4 % and no more
    # than the drawn shape's length (apex and the apical dendrite's base: 1.16 times the
    # drawn size, `_drawn_pyramid`)
    rng = np.random.default_rng(1)
    big = np.array([[300.0, 300.0]])
    pts = rng.uniform(20, 580, (900, 2))
    pts = pts[np.linalg.norm(pts - big, axis=1) > big_um / 2 + 8]
    keep = [pts[0]]
    for p in pts[1:]:
        if np.min(np.linalg.norm(np.array(keep) - p, axis=1)) > 16:
            keep.append(p)
    yx = np.vstack([big, keep])
    diams = np.concatenate([[big_um], rng.uniform(10, 14, len(keep))])
    som = detect_somata(drawn(diams, yx, shape=(300, 300), pyramidal=True, seed=1), 2.0, GLASS)
    d, j = cKDTree(som.yx_um).query(yx)
    assert d[0] < 4
    along = _drawn_pyramid()[0]
    assert 0.96 <= som.length_um[j[0]] / big_um <= along
    found = d[1:] < 4
    assert found.mean() > 0.9
    assert 0.9 <= np.median(som.length_um[j[1:]][found] / diams[1:][found]) <= along


def _drawn_pyramid(r_px: float = 200.0) -> tuple[float, float]:
    """Length and equivalent diameter of the generator's pyramid (at half its coverage,
    apical dendrite included) relative to its drawn size, from its shape on a fine grid."""
    from cytowords.synth.cells import _shape_coverage

    g = np.arange(-3.2 * r_px, 3.2 * r_px + 1)
    a, lat = np.meshgrid(g, g, indexing="ij")
    cov = _shape_coverage(
        a.reshape(1, -1), lat.reshape(1, -1), np.array([r_px]), np.array([True]), np.ones(1)
    ).reshape(a.shape)
    lab, _ = ndi.label(cov >= 0.5)
    body = lab == np.argmax(np.bincount(lab.ravel())[1:]) + 1
    rows = np.flatnonzero(body.any(1))
    return (rows[-1] - rows[0] + 1) / (2 * r_px), np.sqrt(body.sum() / np.pi) / r_px


def _blurred(diams, yx, pyramidal, blur_um, f, shape=(120, 120), px=2.0, seed=0):
    """Somata drawn as the generator draws them (stain fraction ``f``) on a neuropil of
    optical density 0.35, the light blurred by ``blur_um`` (Gaussian SD), noise SD 2."""
    cells = _cells(diams, yx, pyramidal, f)
    deficit = np.zeros(shape)
    draw_cells(deficit, cells, (0.0, 0.0), px)
    light = 235.0 * np.exp(-0.35) * np.clip(1 - deficit, 0.03, 1)
    light = ndi.gaussian_filter(light, blur_um / px, mode="nearest")
    rng = np.random.default_rng(seed)
    return (light + rng.normal(0, 2, shape)).astype(np.float32)


@pytest.mark.parametrize("blur_um", [0.5, 1.5])
@pytest.mark.parametrize("f", [0.5, 0.85])
def test_soma_measured_to_its_half_light_edge(blur_um, f):
    # optics blur the light, not the optical density: a soma's edge is where half the light
    # contrast to the neuropil is crossed; half the optical-density contrast lies inside it
    # (a 20 µm disc read 18.3 µm, a 26 µm pyramid 24.6 µm long, blurred by 1.5 µm). Discs
    # and pyramids of 20-40 µm: equivalent diameter within 3 % of the drawn shape's
    for d in (20.0, 30.0, 40.0):
        yx = np.array([[120.0, 120.0]])
        disc = detect_somata(_blurred([d], yx, False, blur_um, f), 2.0, GLASS)
        i = np.argmax(disc.diam_um)
        assert abs(disc.diam_um[i] / d - 1) < 0.03
        assert np.linalg.norm(disc.yx_um[i] - yx[0]) < 2
    along, eqd = _drawn_pyramid()
    for d in (26.0, 40.0):
        yx = np.array([[120.0, 120.0]])
        pyr = detect_somata(_blurred([d], yx, True, blur_um, f), 2.0, GLASS)
        i = np.argmax(pyr.diam_um)
        assert abs(pyr.diam_um[i] / (eqd * d) - 1) < 0.04
        # the apex and the dendrite's base are thin: the blur takes up to 12 % of the length
        assert 0.88 * along * d <= pyr.length_um[i] <= along * d


def _crowded_layer(big_yx, big_diam, big_f, seed=0):
    """Large pyramids in a crowded layer (IIIc): dark 14-20 µm pyramids about 22 µm apart
    around them, closer to the large ones than their own radius plus 6 µm only where a
    large one is not."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(10, 590, (3000, 2))
    far = np.all(
        np.linalg.norm(pts[:, None] - big_yx[None], axis=2) > np.asarray(big_diam) / 2 + 6, axis=1
    )
    keep: list[np.ndarray] = []
    for p in pts[far]:
        if not keep or np.min(np.linalg.norm(np.array(keep) - p, axis=1)) > 22:
            keep.append(p)
    yx = np.vstack([big_yx, keep])
    diams = np.concatenate([big_diam, rng.uniform(14, 20, len(keep))])
    f = np.concatenate([big_f, rng.uniform(0.85, 0.95, len(keep))])
    image = drawn(diams, yx, shape=(300, 300), pyramidal=True, seed=seed, f=f)
    return image, yx, diams


def test_pale_large_pyramids_among_dark_ones_are_found_whole():
    # pale 30-40 µm pyramids (stain fraction 0.3-0.4: cut off-centre or out of focus) in a
    # crowded field of dark pyramids: the first threshold (3 robust SDs of the optical
    # density minus its 25 µm mean) is raised by the dark somata and the pale ones fall
    # below it; the second pass against the neuropil finds each whole, at its length
    from cytowords.measure.cells import is_large

    big = np.array([[150.0, 150.0], [150.0, 400.0], [420.0, 280.0]])
    big_diam = np.array([30.0, 36.0, 40.0])
    image, yx, diams = _crowded_layer(big, big_diam, [0.35, 0.3, 0.4])
    som = detect_somata(image, 2.0, GLASS)
    d, j = cKDTree(som.yx_um).query(big)
    assert np.all(d < 0.25 * big_diam)
    assert np.all(np.abs(som.length_um[j] / big_diam - 1) < 0.15)
    assert is_large(som.diam_um[j], som.length_um[j]).all()
    # each one soma: no other detection's centre within its radius
    for k, p in enumerate(big):
        assert np.sum(np.linalg.norm(som.yx_um - p, axis=1) < big_diam[k] / 2) == 1
    # the dark neighbours are not merged into large somata: every large detection is a
    # drawn large pyramid
    large = is_large(som.diam_um, som.length_um)
    assert large.sum() == 3


def test_tissue_edge_and_vessel_are_not_large_somata():
    # neuropil with small somata, glass over a third of the window and a 30 µm vessel (a
    # pale hole): the neuropil next to them is not taken for large somata (the second
    # pass leaves glass and holes out of its neuropil level)
    rng = np.random.default_rng(3)
    yx = rng.uniform(10, 590, (150, 2))
    yx = yx[(yx[:, 1] < 380) & (np.linalg.norm(yx - [300.0, 200.0], axis=1) > 25)]
    image = drawn(rng.uniform(6, 12, len(yx)), yx, shape=(300, 300), seed=3)
    xx = np.arange(300) * 2.0 + 1
    yy = xx[:, None]
    image[:, xx > 400] = GLASS + rng.normal(0, 3, (300, int(np.sum(xx > 400))))
    vessel = np.hypot(yy - 300.0, xx[None] - 200.0) < 15
    image[vessel] = GLASS - 5
    som = detect_somata(image, 2.0, GLASS)
    from cytowords.measure.cells import is_large

    assert not is_large(som.diam_um, som.length_um).any()


def test_own_scale_decides_on_the_sizes_its_factor_was_set_for():
    # many 10 µm somata and one 30 µm pyramid, blurred by 1.5 µm: measured to the half-light
    # edge, the small somata gain relatively more than the pyramid (2 z s is additive), so
    # 2.5 times their median corrected length would rise above the pyramid (32.4 µm against
    # its 31.8 µm). The own-scale rule takes the factor on the half-maximum sizes (the
    # pyramid 2.65 times the median there) and adds back the edge correction
    from cytowords.measure.cells import LARGE_FACTOR, is_large, large_threshold_um

    g = np.arange(40.0, 580.0, 40.0)
    yx = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    big = np.array([300.0, 300.0])
    yx = np.vstack([big, yx[np.linalg.norm(yx - big, axis=1) > 45]])
    diams = np.r_[30.0, np.full(len(yx) - 1, 10.0)]
    pyramidal = np.r_[True, np.zeros(len(yx) - 1, bool)]
    som = detect_somata(_blurred(diams, yx, pyramidal, 1.5, 0.85, shape=(300, 300)), 2.0, GLASS)
    d, j = cKDTree(som.yx_um).query(big)
    assert d < 4 and len(som.diam_um) >= 150
    L, D, e = som.length_um, som.diam_um, som.edge_um
    assert np.all(e > 0)
    # the factor on the half-maximum sizes calls the pyramid, and only it, large
    t_half = LARGE_FACTOR * np.median(L - e)
    assert np.flatnonzero(is_large(D - e, L - e, t_half)).tolist() == [j]
    # and so does the own scale on the sizes to the half-light edge, as reported
    t = large_threshold_um(L, e)
    assert np.flatnonzero(is_large(D, L, t)).tolist() == [j]
    assert t_half < t < LARGE_FACTOR * np.median(L)


@pytest.mark.parametrize("blur_um", [1.0, 1.5])
@pytest.mark.parametrize("f", [0.5, 0.85])
def test_large_by_the_area_of_a_pyramid_that_long(blur_um, f):
    # an oval soma of 19 µm (drawn 24.4 x 14.8 µm) reads as long as a large pyramid and
    # compact, but has the area of a 19 µm soma; a pyramid drawn 25 µm has the area of
    # one 25 µm long (equivalent diameter ~0.8 of its length). Only the pyramid is large
    from cytowords.measure.cells import COMPACT, PYRAMID_EQ, is_large

    yx = np.array([[120.0, 120.0]])
    oval = _cells([19.0], yx, False, f)
    oval.elong[:] = 0.78
    deficit = np.zeros((120, 120))
    draw_cells(deficit, oval, (0.0, 0.0), 2.0)
    light = 235.0 * np.exp(-0.35) * np.clip(1 - deficit, 0.03, 1)
    light = ndi.gaussian_filter(light, blur_um / 2.0, mode="nearest")
    light += np.random.default_rng(0).normal(0, 2, light.shape)
    som = detect_somata(light.astype(np.float32), 2.0, GLASS)
    i = np.argmax(som.diam_um)
    assert np.linalg.norm(som.yx_um[i] - yx[0]) < 3
    # as long as a large pyramid and compact: the length alone would call it large
    assert som.length_um[i] >= LARGE_PYRAMID_UM
    assert som.diam_um[i] >= COMPACT * som.length_um[i]
    assert som.diam_um[i] < PYRAMID_EQ * LARGE_PYRAMID_UM
    assert not is_large(som.diam_um, som.length_um).any()
    pyr = detect_somata(_blurred([25.0], yx, True, blur_um, f), 2.0, GLASS)
    k = np.argmax(pyr.diam_um)
    assert np.linalg.norm(pyr.yx_um[k] - yx[0]) < 3
    assert np.flatnonzero(is_large(pyr.diam_um, pyr.length_um)).tolist() == [k]
