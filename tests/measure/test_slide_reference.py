"""The slide's glass level on a crop with little glass beside much pale white matter and a
banded cortex (an exported region of a slide): the three-class split put the white matter
with the glass, so no glass was found and every window read as tissue ("no pia"). Hand-made
coarse levels (no generator): glass, white matter, a pale and a dense cortical band."""

from __future__ import annotations

import numpy as np

from cytowords.measure.slide import _reference_from

GLASS = 240.0


def _crop(glass_share: float, wm_od: float, wm_share: float, seed: int = 0) -> np.ndarray:
    """A 300 × 400 px coarse level: glass on top (``glass_share`` of the rows), then the
    cortex (optical density falling from 0.55 under the pia to 0.18 at its bottom: dense
    and pale bands), white matter (``wm_od``, ``wm_share`` of the tissue's rows) below;
    grey levels with noise."""
    rng = np.random.default_rng(seed)
    h, w = 300, 400
    rows = np.arange(h)
    g = int(glass_share * h)
    d = (rows - g) / (h - g)
    cortex = 0.55 - (0.55 - 0.18) * d / (1 - wm_share)
    od = np.where(rows < g, 0.0, np.where(d < 1 - wm_share, cortex, wm_od))[:, None]
    od = od * np.ones((1, w))
    od = od + np.where(od > 0, rng.normal(0, 0.03, od.shape), 0.0)
    return np.clip(GLASS * np.exp(-od) + rng.normal(0, 1.5, od.shape), 1, 255).round()


def test_glass_beside_much_pale_white_matter_is_found():
    ref = _reference_from(_crop(0.1, 0.14, 0.45))
    assert ref is not None
    glass, tissue_od = ref
    assert abs(glass - GLASS) < 6
    # the tissue's typical OD lies among the tissue's classes, not at the glass
    assert 0.14 < tissue_od < 0.55
