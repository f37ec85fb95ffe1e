"""The realistic generator: special cells, Bok's equivolume variation, vessels,
inter-individual variation, determinism, and the classic model reproducing the old pixels."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import ndimage as ndi

from cytowords.atlas import LAYER_NAMES
from cytowords.synth import Brain, render_patch, sample_patches, truth_at, virtual_section
from cytowords.synth.cells import SPECIAL
from cytowords.synth.section import section_geometry
from cytowords.synth.truth import cells_in_window

SIZE = (40, 30)  # mm: big enough for folds, small enough to build in seconds


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def test_classic_variation_reproduces_the_previous_generator():
    """Hashes of pixels and labels rendered by the generator before the realistic model
    existed: ``variation="classic"`` must keep them bit for bit (the bundled model)."""
    b = Brain(3, "classic")
    p = render_patch(
        "hOc1", b, size_um=512, pixel_size_um=4.0, angle=20, curvature=0.3, seed=1,
        artefacts=True, neighbour="hOc2", border_um=300, obliquity_deg=10,
    )  # fmt: skip
    q, _, _ = sample_patches([5], ["4p", "44"], 2, size_px=64, variation="classic")
    s = virtual_section(7, size_mm=(12, 9), pixel_size_um=8.0, chunk_px=256, variation="classic")
    w = s.levels[1][200:456, 300:556].compute()
    lab = s.labels["areas"].levels[0][400:700, 200:650].compute()
    assert _sha(p) == "7322e460d9857534"
    assert _sha(q) == "0d00871374c058f1"
    assert _sha(w) == "a99902e094d95391"
    assert _sha(lab) == "a2689936880b6c57"
    # and the realistic default differs
    assert _sha(render_patch("hOc1", 3, size_um=512, pixel_size_um=4.0, seed=1)) != _sha(
        render_patch("hOc1", b, size_um=512, pixel_size_um=4.0, seed=1)
    )


def test_bad_variation_is_one_clear_error():
    with pytest.raises(ValueError, match="variation"):
        Brain(1, "cartoon")
    with pytest.raises(ValueError, match="variation"):
        virtual_section(1, variation="cartoon")


def _cortex_points(geom, area: str, rel: tuple[float, float], step: float = 100.0):
    w, h = geom.size_um
    yy, xx = np.mgrid[step / 2 : h : step, step / 2 : w : step]
    q = geom.query(xx.ravel(), yy.ravel())
    k = geom.area_ids.index(area)
    sel = (q["area_index"] == k) & (q["depth"] >= rel[0]) & (q["depth"] < rel[1])
    return np.stack([yy.ravel()[sel], xx.ravel()[sel]], 1)


def test_betz_cells_are_rendered_in_layer_v_of_4p_and_not_in_hoc1():
    """Betz cells (atlas: sublayer "Vb" of an undivided V) are rendered in the lower V of
    4p, reported by the truth, drawn as large dark somata at 2 µm/px; hOc1 has none."""
    seed = 11
    geom = section_geometry(seed, size_mm=SIZE)
    sec = virtual_section(seed, size_mm=SIZE, pixel_size_um=2.0, chunk_px=256)
    found = 0
    for area, expect in (("4p", True), ("hOc1", False)):
        pts = _cortex_points(geom, area, (0.55, 0.85))
        t = truth_at(geom, pts[:: max(1, len(pts) // 50)])
        kinds = {s["kind"]: s for s in t["per_area"][area]["special"]}
        assert ("betz" in kinds) is expect
        assert not t["per_area"][area]["special_not_rendered"]
        giants = []
        for y, x in pts[:: max(1, len(pts) // 6)][:6]:
            c = cells_in_window(geom, y - 1500, x - 1500, 3000, 3000)
            big = c.diam >= 40
            if big.any():
                tt = truth_at(geom, np.stack([c.y[big], c.x[big]], 1))
                rel = tt["rel_depth"]
                in_v = (rel >= tt["layer_tops"][:, 4]) & (rel < tt["layer_tops"][:, 5])
                giants += [
                    (cy, cx, d)
                    for cy, cx, d, k, v in zip(c.y[big], c.x[big], c.diam[big], c.kind[big], in_v)
                    if k == SPECIAL and v
                ]
        if not expect:
            assert giants == []
            continue
        assert len(giants) >= 2, giants
        assert kinds["betz"]["layer"] == "V" and kinds["betz"]["size_um"] >= 25
        # in the pixels: a dark blob of Betz size at the cell's centre
        for cy, cx, d in giants[:3]:
            r, c = int(cy / 2.0), int(cx / 2.0)
            win = sec.levels[0][r - 40 : r + 40, c - 40 : c + 40].compute().astype(float)
            dark = ndi.binary_fill_holes(win < 0.75 * np.median(win))  # pale nucleus inside
            lab, _ = ndi.label(dark)
            near = lab[40 - int(d / 4) : 40 + int(d / 4), 40 - int(d / 4) : 40 + int(d / 4)]
            sizes = [(lab == b).sum() * 4.0 for b in np.unique(near[near > 0])]
            assert sizes, "no dark soma at the Betz cell's position"
            assert max(sizes) >= np.pi * (0.3 * d) ** 2, (d, sizes)
            found += 1
    assert found >= 2


def test_bok_crowns_thicker_with_relatively_thicker_deep_layers():
    """Per truth: gyral crowns are thicker than sulcal fundi (same area, relative to its
    mean thickness), with a larger share of V+VI; fundi give the upper layers more."""
    geom = section_geometry(5, size_mm=SIZE)
    pts = np.concatenate([_cortex_points(geom, a, (0.3, 0.7), 150.0) for a in geom.area_ids])
    kap = geom.curvature(pts[:, 1], pts[:, 0]) * 1000  # 1/mm
    t = truth_at(geom, pts)
    base = np.array([geom.thickness[geom.area_ids.index(a)] for a in t["area"]])
    rel_th = t["thickness_um"] / base
    deep = 1 - t["layer_tops"][:, LAYER_NAMES.index("V")]  # share of V + VI
    crown, fundus = kap > 0.3, kap < -0.5
    assert crown.sum() > 50 and fundus.sum() > 50
    ratio = np.median(rel_th[crown]) / np.median(rel_th[fundus])
    assert 1.10 <= ratio <= 1.35, ratio  # Fischl & Dale 2000: ~20-30 %
    assert np.median(deep[crown]) > np.median(deep[fundus]) + 0.05


def test_vessels_are_pale_holes_marked_in_truth():
    seed = 5
    sec = virtual_section(seed, size_mm=SIZE, pixel_size_um=4.0, chunk_px=512)
    geom = section_geometry(seed, size_mm=SIZE)
    pts = _cortex_points(geom, geom.area_ids[3], (0.2, 0.9), 400.0)
    y, x = pts[len(pts) // 2]
    r0, c0 = int(y / 4) - 250, int(x / 4) - 250
    img = sec.levels[0][r0 : r0 + 500, c0 : c0 + 500].compute().astype(float)
    yy, xx = (np.mgrid[0:500, 0:500] + 0.5) * 4.0
    t = truth_at(geom, np.stack([yy.ravel() + r0 * 4, xx.ravel() + c0 * 4], 1))
    vessel = t["vessel"].reshape(500, 500)
    cortex = ((t["rel_depth"] >= 0) & (t["rel_depth"] < 1)).reshape(500, 500)
    assert (vessel & cortex).sum() > 100, "no vessel in 2 x 2 mm of cortex"
    inner = ndi.binary_erosion(vessel, iterations=2)
    assert inner.sum() > 20
    tissue = cortex & ~ndi.binary_dilation(vessel, iterations=3)
    assert img[inner & cortex].mean() > np.median(img[tissue]) + 15
    assert t["tissue_missing"][t["vessel"]].all()
    classic = truth_at(section_geometry(seed, size_mm=SIZE, variation="classic"), pts)
    assert not classic["vessel"].any() and not classic["tissue_missing"].any()


def test_inter_individual_variation_is_as_large_as_reported():
    seeds = range(40)
    th = np.log([Brain(s).thickness_um("44") for s in seeds])
    th_c = np.log([Brain(s, "classic").thickness_um("44") for s in seeds])
    assert 0.09 <= th.std() <= 0.2 and th.std() > th_c.std()
    v = np.log([Brain(s).layer_fractions("44")[4] for s in seeds])
    v_c = np.log([Brain(s, "classic").layer_fractions("44")[4] for s in seeds])
    assert v.std() >= 0.1 and v.std() > 1.3 * v_c.std()
    # the profile shifts per brain layer by layer (density of layer III)
    d = np.log([Brain(s).table("44")[0][0][100] for s in seeds])
    assert d.std() >= 0.1
    # area extent along the ribbon differs several-fold between brains
    ext = []
    for s in range(8):
        g = section_geometry(s, size_mm=(12, 9))
        k = g.area_ids.index("44")
        ext.append((g.bounds[k + 1] - g.bounds[k]) / g.perimeter_um)
    assert max(ext) / min(ext) >= 2.0


def test_realistic_rendering_is_deterministic():
    a = render_patch("4a", 9, size_um=600, pixel_size_um=2.0, curvature=-0.4, seed=3)
    b = render_patch("4a", Brain(9), size_um=600, pixel_size_um=2.0, curvature=-0.4, seed=3)
    np.testing.assert_array_equal(a, b)
    p1, _, _ = sample_patches([2], ["hOc1"], 3, size_px=64, rng_seed=4)
    p2, _, _ = sample_patches([2], ["hOc1"], 3, size_px=64, rng_seed=4)
    np.testing.assert_array_equal(p1, p2)
