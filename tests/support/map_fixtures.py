"""Small hand-made sections for area-map tests: dark cortex-like bands on bright glass."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.sections import Section


def band_section(
    h_um: float = 4000.0, w_um: float = 3000.0, px_um: float = 16.0, *, seed: int = 0
) -> Section:
    """A uint8 section: bright glass (~240) with a dark textured band (tissue) in the
    middle third of the rows and a dark disc at the lower right; two pyramid levels."""
    rng = np.random.default_rng(seed)
    h, w = int(round(h_um / px_um)), int(round(w_um / px_um))
    img = np.full((h, w), 240.0) + rng.normal(0, 3, (h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    band = (yy > h // 3) & (yy < 2 * h // 3)
    disc = (yy - 0.85 * h) ** 2 + (xx - 0.75 * w) ** 2 < (0.1 * min(h, w)) ** 2
    tissue = band | disc
    texture = 120 + 40 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + rng.normal(0, 20, (h, w))
    img[tissue] = texture[tissue]
    img = np.clip(img, 0, 255).astype(np.uint8)
    lev0 = da.from_array(img, chunks=(64, 64))
    lev1 = da.from_array(
        img[: h // 2 * 2, : w // 2 * 2]
        .reshape(h // 2, 2, w // 2, 2)
        .mean(axis=(1, 3))
        .astype(np.uint8),
        chunks=(64, 64),
    )
    return Section([lev0, lev1], [px_um, 2 * px_um], name="bands", metadata={"truth": tissue})


def blank_section(h_um: float = 2000.0, w_um: float = 2000.0, px_um: float = 16.0) -> Section:
    """Glass only (no tissue)."""
    rng = np.random.default_rng(1)
    h, w = int(h_um / px_um), int(w_um / px_um)
    img = np.clip(240 + rng.normal(0, 3, (h, w)), 0, 255).astype(np.uint8)
    return Section([da.from_array(img, chunks=64)], [px_um], name="blank")
