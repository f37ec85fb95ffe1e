"""Small sections with three textures ("areas") side by side, for the teach tests."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.sections import Section

#: µm per pixel of the test sections (the tiny bundle reads 16 µm/px fields of 32 px)
PIXEL_UM = 8.0
#: each texture is a vertical band of this many pixels
BAND_PX = 120
#: height of the test sections (px)
HEIGHT_PX = 160


def texture_section(seed: int, name: str = "s") -> Section:
    """A 160 × 360 px section (8 µm/px): three bands ("areas" 0, 1, 2 from left to right)
    of horizontal stripes with periods 6, 14 and 30 px around grey levels 110, 160 and
    205, with noise; ``seed`` draws the phases and the noise."""
    rng = np.random.default_rng(seed)
    h, w = HEIGHT_PX, 3 * BAND_PX
    y = np.arange(h)[:, None].astype(float)
    img = np.zeros((h, w))
    for k, (period, level) in enumerate(((6.0, 110.0), (14.0, 160.0), (30.0, 205.0))):
        phase = rng.uniform(0, 2 * np.pi)
        img[:, k * BAND_PX : (k + 1) * BAND_PX] = level + 35 * np.sin(
            2 * np.pi * y / period + phase
        )
    img = (img + rng.normal(0, 10, img.shape)).clip(0, 255).astype(np.uint8)
    lev0 = da.from_array(img, chunks=128)
    lev1 = da.from_array(img[::2, ::2].copy(), chunks=128)
    return Section([lev0, lev1], [PIXEL_UM, 2 * PIXEL_UM], name=name)


def band_rect(k: int, margin_px: int = 20) -> np.ndarray:
    """``(4, 2)`` ``(y, x)`` µm corners of band ``k``'s region (inset by ``margin_px``)."""
    y0, y1 = margin_px * PIXEL_UM, (HEIGHT_PX - margin_px) * PIXEL_UM
    x0, x1 = (k * BAND_PX + margin_px) * PIXEL_UM, ((k + 1) * BAND_PX - margin_px) * PIXEL_UM
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])


def qupath_geojson(regions: list[tuple[str, np.ndarray]]) -> list[dict]:
    """QuPath 0.4-style export (a list of features, ``[x, y]`` full-resolution pixels) of
    named regions given as ``(class name, (N, 2) (y, x) µm)``."""
    out = []
    for name, v in regions:
        xy = [[float(x) / PIXEL_UM, float(y) / PIXEL_UM] for y, x in v]
        out.append(
            {
                "type": "Feature",
                "id": f"0b6c2f0e-0000-4000-8000-{len(out):012d}",
                "geometry": {"type": "Polygon", "coordinates": [xy + [xy[0]]]},
                "properties": {
                    "objectType": "annotation",
                    "classification": {"name": name, "color": [200, 0, 0]},
                },
            }
        )
    return out
