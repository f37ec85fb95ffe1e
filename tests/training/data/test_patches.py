"""The generic labelled-data path: sections on disk -> labelled patches at model resolution."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.sections import open_section
from cytowords.training.data.patches import PatchConfig, areas_in, build_patch_set, sample_section
from cytowords.training.data.spec import check_brain_splits, labelled_section, load_data_spec
from tests.support.training_sections import AREAS, PX, SHAPE, make_section, persisted_section

CFG = PatchConfig(pixel_size_um=PX, patch_px=32, n_per_area=8, none_share=0.3, min_purity=0.9)


def _expected_label(lab: np.ndarray, centre_um: np.ndarray) -> str:
    i, j = (centre_um // PX).astype(int)
    v = int(lab[min(i, SHAPE[0] - 1), min(j, SHAPE[1] - 1)])
    return NONE_ID if v == 0 else load_atlas().area_of_label(v)


def test_patches_from_persisted_section_have_correct_labels(tmp_path):
    path = persisted_section(tmp_path, 0)
    ls = labelled_section(path, brain="B0", split="train")  # labels="areas" inside the store
    ps = sample_section(ls, AREAS, CFG)
    img, lab = make_section(0)
    counts = {a: int((ps.labels == a).sum()) for a in [*AREAS, NONE_ID]}
    assert all(counts[a] == 8 for a in AREAS), counts
    assert counts[NONE_ID] >= 5  # white matter and slide next to tissue
    assert ps.patches.shape[1:] == (32, 32) and ps.patches.dtype == np.uint8
    assert set(ps.brains) == {"B0"} and set(ps.sections) == {"brain0"}
    for patch, label, c in zip(ps.patches, ps.labels, ps.positions_um):
        assert label == _expected_label(lab, c)
        # the patch is the image around its centre, read at model resolution
        r, q = (c / PX - 16).astype(int)
        want = img[max(r, 0) : r + 32, max(q, 0) : q + 32]
        if want.shape == (32, 32):
            np.testing.assert_array_equal(patch, want)
    # purity 0.9: area patches lie inside their band (footprint mostly one label)
    areas_only = ps.labels != NONE_ID
    assert (ps.positions_um[areas_only, 0] < SHAPE[0] // 2 * PX).all()


def test_rois_and_label_store_and_spec(tmp_path):
    img, lab = make_section(1)
    from cytowords.sections import write_section

    sec_path = write_section(tmp_path / "s1.ome.zarr", img, pixel_size_um=PX)
    store = write_section(tmp_path / "s1_labels.ome.zarr", lab, pixel_size_um=PX)
    h, w = SHAPE[0] * PX, SHAPE[1] * PX
    band = SHAPE[1] // 3 * PX
    roi = {
        "type": "FeatureCollection",
        "properties": {"pixel_size_um": 1.0},
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
                },
                "properties": {"classification": {"name": name}},
            }
            for name, (x0, y0, x1, y1) in [
                ("V1", (1000, 1000, band - 1000, h / 2 - 1000)),  # alias of hOc1
                ("white matter", (1000, h / 2 + 1000, w / 2 - 1000, h - 1000)),
            ]
        ],
    }
    (tmp_path / "s1.geojson").write_text(json.dumps(roi))
    (tmp_path / "spec.yaml").write_text(
        "areas: [hOc1, 4a, 44]\nsections:\n"
        "  - {path: s1.ome.zarr, brain: B1, split: train, rois: s1.geojson}\n"
        "  - {path: s1.ome.zarr, brain: B2, split: val, label_store: s1_labels.ome.zarr,\n"
        "     label_names: atlas}\n"
    )
    sections, areas = load_data_spec(tmp_path / "spec.yaml")
    assert areas == AREAS and [s.split for s in sections] == ["train", "val"]
    roi_ps = sample_section(sections[0], areas, CFG)
    assert set(roi_ps.labels) == {"hOc1", NONE_ID}
    assert (roi_ps.positions_um[roi_ps.labels == "hOc1", 1] < band).all()
    store_ps = sample_section(sections[1], areas, CFG)
    assert {a: int((store_ps.labels == a).sum()) for a in AREAS} == dict.fromkeys(AREAS, 8)
    assert areas_in([sections[1]]) == AREAS
    assert sec_path.exists() and store.exists()


def test_qupath_rois_with_holes_and_parts(tmp_path):
    """A QuPath 0.3 list export (level-0 pixels, old property names) labels a section:
    the class is the annotation's classification, a MultiPolygon labels both pieces and no
    patch is taken from a hole."""
    from cytowords.regions.roi import Roi
    from cytowords.training.data.grid import IGNORE, class_grid
    from tests.support.qupath_files import closed, feature_v03, polygon, rect, write_v03

    img, _ = make_section(1)
    from cytowords.sections import write_section

    sec = write_section(tmp_path / "s.ome.zarr", img, pixel_size_um=PX)
    band = SHAPE[1] // 3  # hOc1's band, in pixels
    outline, hole = rect(10, 10, band - 10, 200), rect(50, 60, band - 50, 150)
    pieces = {
        "type": "MultiPolygon",
        "coordinates": [[closed(rect(10, 300, 100, 400))], [closed(rect(300, 300, 400, 400))]],
    }
    rois = write_v03(
        tmp_path / "s.geojson",
        [
            feature_v03(polygon(outline, hole), "V1"),
            feature_v03(pieces, "white matter"),
            feature_v03({"type": "Point", "coordinates": [1, 1]}, "V1"),
        ],
    )
    ls = labelled_section(sec, brain="B1", rois=rois)
    (v1, hoc1), (wm, wm_name) = ls.rois
    assert (hoc1, wm_name) == ("V1", "white matter") and len(v1.holes) == 1 and len(wm.parts) == 1
    grid = class_grid(ls, AREAS, load_atlas(), PX, none_margin_um=0.0)
    assert (grid[70:140, 60 : band - 50] == IGNORE).all(), "the hole is not labelled"
    assert (grid[20:50, 20 : band - 20] == AREAS.index("hOc1")).all()
    assert (grid[310:390, 20:90] == len(AREAS)).all() and (
        grid[310:390, 310:390] == len(AREAS)
    ).all()
    ps = sample_section(ls, AREAS, CFG)
    at = ps.positions_um[ps.labels == "hOc1"]
    assert len(at) and not Roi(np.array(hole, float)[:, ::-1] * PX).contains(at).any()


def test_brain_split_check(tmp_path):
    path = persisted_section(tmp_path, 0)
    a = labelled_section(path, brain="B0", split="train")
    b = labelled_section(path, brain="B1", split="val")
    assert check_brain_splits([a, b]) == {"train": ["B0"], "val": ["B1"], "test": []}
    c = labelled_section(path, brain="B0", split="test")
    with pytest.raises(ValueError, match="brain 'B0' appears in splits 'train' and 'test'"):
        check_brain_splits([a, b, c])
    with pytest.raises(ValueError, match="no label image 'tissue'"):
        labelled_section(path, brain="B0", labels="tissue")


def test_patch_cache_is_reused_without_reading(tmp_path):
    path = persisted_section(tmp_path, 2)
    ls = labelled_section(open_section(path), brain="B2")
    first = build_patch_set([ls], AREAS, CFG, cache=tmp_path / "cache.npz")
    shutil.rmtree(path)  # the section is gone: only the cache can answer
    again = build_patch_set([ls], AREAS, CFG, cache=tmp_path / "cache.npz")
    np.testing.assert_array_equal(first.patches, again.patches)
    np.testing.assert_array_equal(first.labels, again.labels)
    # a different config does not reuse the cache: it resamples from the (now empty) store
    other = build_patch_set(
        [ls],
        AREAS,
        PatchConfig(pixel_size_um=PX, patch_px=32, n_per_area=3),
        cache=tmp_path / "cache.npz",
    )
    assert len(other) != len(first) and "hOc1" not in set(other.labels)


def test_purity_counts_cortex_only_when_asked():
    from cytowords.training.data.grid import IGNORE, purity

    g = np.full((8, 8), 2, np.int32)  # 2 = __none__ (white matter) with 2 areas
    g[:3] = 0  # a thin band of area 0 across the top
    g[0, :2] = 1  # a little of area 1 inside it
    g[7, 7] = IGNORE
    # footprint rows 0-5, cols 0-7 around (2, 4): area 0 is 22 of 48 cells, of 24 cortex cells
    assert purity(g, 2, 4, 4) == 22 / 48
    assert purity(g, 2, 4, 4, n_areas=2) == 22 / 24
    assert purity(g, 5, 5, 4, n_areas=2) == 0.0  # centre in white matter: no cortex share
