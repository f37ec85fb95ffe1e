"""The tissue mask: glass is the brightest histogram mode, tissue everything clearly darker
(pale white matter included), on hand-made slides and a synthetic brain."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.sections import NoTissueError, Section, tissue_mask
from cytowords.sections.tissue import otsu_threshold

H, W = 300, 400
GLASS, WHITE, GREY = 0.93, 0.85, 0.55  # unit intensity; white matter OD 0.04 above glass


def _slide(img: np.ndarray, name: str) -> Section:
    """An 8-bit single-level section (16 µm/px) from a unit-intensity image."""
    u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return Section([da.from_array(u8, chunks=128)], [16.0], name=name)


def _noise(sd: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, sd, (H, W))


def _brain(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, tissue truth, white-matter truth): an elliptic section on glass whose thin
    grey-matter rim (~20 % of the tissue) surrounds a large pale white-matter core."""
    yy, xx = np.mgrid[0:H, 0:W]
    r = ((yy - H / 2) / (0.42 * H)) ** 2 + ((xx - W / 2) / (0.42 * W)) ** 2
    tissue, white = r < 1.0, r < 0.8
    img = np.full((H, W), GLASS) + _noise(0.01, seed)
    img[tissue] = (GREY + _noise(0.05, seed + 1))[tissue]
    img[white] = (WHITE + _noise(0.015, seed + 2))[white]
    return img, tissue, white


def test_pale_white_matter_close_to_glass_is_tissue():
    img, tissue, white = _brain()
    tm = tissue_mask(_slide(img, "pale"))
    assert (tm.mask == tissue).mean() > 0.995
    assert tm.mask[white].mean() > 0.98 and tm.mask[~tissue].mean() < 0.001
    assert WHITE < tm.threshold < GLASS and tm.contrast > 0.05
    # the case Otsu's two-class split gets wrong: grey vs white matter + glass
    assert (img < otsu_threshold(img))[white].mean() < 0.5


def test_uneven_glass_gradient():
    """Vignetting / haze: the glass darkens by 0.02 from left to right (a quarter of its
    gap to white matter)."""
    img, tissue, white = _brain(seed=3)
    ramp = np.linspace(0.0, 0.02, W)[None, :] * np.ones((H, 1))
    img = np.where(tissue, img, img - ramp)
    tm = tissue_mask(_slide(img, "uneven"))
    assert tm.mask[white].mean() > 0.97
    assert tm.mask[~tissue].mean() < 0.005  # darker glass is still glass


def test_cortex_only_crop_on_glass():
    img = np.full((H, W), GLASS) + _noise(0.01, 5)
    cortex = np.zeros((H, W), bool)
    cortex[:, : W // 3] = True
    img[cortex] = (GREY + _noise(0.05, 6))[cortex]
    tm = tissue_mask(_slide(img, "crop"))
    assert (tm.mask == cortex).mean() > 0.995


def test_tissue_without_glass_is_all_tissue():
    """A crop inside the cortex (no glass): one textured mode, so all of it is tissue."""
    img = GREY + _noise(0.05, 7)
    tm = tissue_mask(_slide(img, "no glass"))
    assert tm.mask.all() and tm.threshold == 1.0 and tm.contrast > 0.05


def test_blank_glass_has_no_tissue():
    for img in (GLASS + _noise(0.01, 8), GLASS + _noise(0.01, 9) - np.linspace(0, 0.03, W)):
        with pytest.raises(NoTissueError, match="no tissue found"):
            tissue_mask(_slide(img, "blank"))


def test_synthetic_brain_204_white_matter_is_tissue():
    """Brain 204 (little grey matter, much white matter): the mask covers the generator's
    tissue (grey and white matter: depth >= 0), not only the grey matter."""
    from cytowords.synth.section import section_geometry, virtual_section

    kw = dict(size_mm=(80, 60), include_unseen=True)
    tm = tissue_mask(virtual_section(204, pixel_size_um=128, **kw))
    h, w = tm.mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    q = section_geometry(204, **kw).query(
        (xx.ravel() + 0.5) * tm.pixel_size_um, (yy.ravel() + 0.5) * tm.pixel_size_um
    )
    truth = (np.asarray(q["depth"]) >= 0).reshape(h, w)
    assert tm.mask[truth].mean() > 0.97 and tm.mask[~truth].mean() < 0.01
    assert abs(tm.mask.mean() - truth.mean()) < 0.03


def test_small_tissue_on_a_large_constant_fill():
    """A whole-slide store written lazily (or a scan's unscanned area): 96 % of the slide is
    one constant value, the tissue and its own noisy glass a small box. The fill's spike
    must not hide the tissue's mode (it did: one mode, so the whole slide was tissue)."""
    fill = 241 / 255
    img = np.full((H, W), fill)
    box = np.zeros((H, W), bool)
    box[100:160, 150:230] = True
    cortex = np.zeros((H, W), bool)
    cortex[110:160, 150:230] = True  # glass along the box's top, as at the pia
    img[box] = (GLASS + 0.015 + _noise(0.01, 10))[box]
    img[cortex] = (GREY + _noise(0.05, 11))[cortex]
    tm = tissue_mask(_slide(img, "filled"))
    assert tm.mask[~box].mean() == 0.0
    assert (tm.mask == cortex)[box].mean() > 0.97
