"""Tile shading: a widefield mosaic stitched from vignetted camera tiles without flat-field
correction. The readout finds the periodic light pattern on the slide's glass, divides it
out of every level (and says so), leaves an evenly lit scan exactly as it is, and does not
take the cortex's own repeats (columns) for tiles. The section is the hand-made one of
``test_scan_shifts`` (independent of cytowords.synth); the tiles are built here, not by the
benchmark's generator."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.measure import illumination, measure_roi
from cytowords.sections import open_section
from cytowords.sections.write import write_section
from tests.measure.test_scan_shifts import PX, ROI, TOLERANCE, light, scene

#: camera tiles: 1.2 mm wide, 10 % overlap (pitch 1080 µm), corners at 0.8 of the centre
TILE_UM, PITCH_UM, CORNER = 1200.0, 1080.0, 0.8


def tiles(shape: tuple[int, int], origin_um: tuple[float, float] = (130.0, 370.0)) -> np.ndarray:
    """Naively stitched vignetting: each pixel the light of the last tile covering it (the
    first ``PITCH_UM`` of it), cos^4-like about the tile's centre."""
    f2 = 2 * (TILE_UM / 2) ** 2 / (CORNER**-0.5 - 1)
    y = (np.arange(shape[0]) + 0.5) * PX + origin_um[0]
    x = (np.arange(shape[1]) + 0.5) * PX + origin_um[1]
    uy = y % PITCH_UM - TILE_UM / 2
    ux = x % PITCH_UM - TILE_UM / 2
    return 1.0 / (1 + (uy[:, None] ** 2 + ux[None, :] ** 2) / f2) ** 2


def _open(tmp_path, t: np.ndarray, tag: str):
    u8 = np.clip(np.rint(np.clip(t, 0, 1) * 255), 0, 255).astype(np.uint8)
    return open_section(write_section(tmp_path / f"{tag}.ome.zarr", u8, pixel_size_um=PX))


@pytest.fixture(autouse=True)
def _fresh_caches():
    from cytowords.measure import slide as slide_mod

    for c in (illumination._TILE_CACHE, illumination._CACHE, slide_mod._REF_CACHE, slide_mod._MATTER_CACHE):
        c.clear()


@pytest.mark.parametrize("band", [0.3, 0.0])
def test_tile_shading_is_found_and_divided_out(tmp_path, band):
    # without the correction the seams' dimmed stripes across the cortex make a layer IV
    # band where there is none (band 0.0: shown under the tiles, undecided on the clean
    # scan)
    od = scene(band)
    clean = measure_roi(_open(tmp_path, light(od, "clean"), "clean"), ROI, cells=False, profile_um=16.0)
    shade = tiles(od.shape)
    section = _open(tmp_path, light(od, "clean") * shade, "tiles")
    found = illumination.tile_field(section.levels, section.pixel_size_um)
    assert found is not None
    assert found[0] == pytest.approx(PITCH_UM, rel=0.005)
    assert found[1] == pytest.approx(PITCH_UM, rel=0.005)
    # the light found is the tiles' light up to a constant, within 1.5 % on 95 % of the
    # pixels (off by more only on the seams, a pixel wide)
    ratio = illumination.tile_light(0, 0, od.shape, PX, found) / shade
    assert np.percentile(np.abs(ratio / np.median(ratio) - 1), 95) < 0.015
    r = measure_roi(section, ROI, cells=False, profile_um=16.0)
    assert r.measured, r.reasons
    assert any(x.startswith("tile shading") for x in r.reasons)
    assert r.thickness_mm == pytest.approx(clean.thickness_mm, rel=TOLERANCE)
    assert r.layers.iv_present == clean.layers.iv_present
    assert abs(r.layers.layer_i_width_um - clean.layers.layer_i_width_um) <= 50.0


def test_corrected_scan_reads_as_the_clean_scan(tmp_path):
    # divided out, the shaded scan's pixels are the clean scan's within 8-bit rounding
    # and the estimate's error
    od = scene(0.3)
    t = light(od, "clean")
    section, found = illumination.tile_corrected(_open(tmp_path, t * tiles(od.shape), "tiles"))
    assert found is not None
    got = np.asarray(section.levels[0], dtype=np.float64) / 255.0
    want = np.clip(t, 0, 1)
    assert np.median(np.abs(got - want)) < 0.01
    assert np.percentile(np.abs(got / np.maximum(want, 0.05) - 1), 95) < 0.04


def test_evenly_lit_scan_is_left_exactly_as_it_is(tmp_path):
    od = scene(0.3)
    section = _open(tmp_path, light(od, "clean"), "clean")
    assert illumination.tile_field(section.levels, section.pixel_size_um) is None
    same, found = illumination.tile_corrected(section)
    assert found is None and same is section
    r = measure_roi(section, ROI, cells=False, profile_um=16.0)
    assert not any(x.startswith("tile shading") for x in r.reasons)


def test_cortical_columns_are_not_tiles(tmp_path):
    # the cortex's own repeats: dense columns every 0.5 mm across the tissue (a strong
    # periodic pattern, but not in the glass)
    od = scene(0.3)
    x = (np.arange(od.shape[1]) + 0.5) * PX
    columns = 1 + 0.6 * (np.cos(2 * np.pi * x / 500.0) > 0.3)
    od = od * columns[None, :]
    section = _open(tmp_path, light(od, "clean"), "columns")
    assert illumination.tile_field(section.levels, section.pixel_size_um) is None


def test_a_smooth_gradient_is_not_tiles(tmp_path):
    od = scene(0.3)
    section = _open(tmp_path, light(od, "gradient"), "gradient")
    assert illumination.tile_field(section.levels, section.pixel_size_um) is None
