"""Images on a virtual slide for the familiarity checks: a small image mirrored to fill a
section on glass, and any image as a section with its pyramid (tests and
``benchmarks/familiarity.py``)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.sections import Section, grey_levels
from cytowords.sections.pyramid import extend_pyramid

#: µm per pixel of the slides' level 0
PX_UM = 32.0
#: slide shape (px): 60 × 80 mm at 32 µm
SHAPE = (1875, 2500)
#: grey level of the empty glass
GLASS = 235


def pyramid(img: np.ndarray, px: float = PX_UM, name: str = "") -> Section:
    """A section of ``img`` (``(H, W)`` grey or ``(H, W, 3)`` RGB, read through the
    optical-density conversion of RGB scans) at ``px`` µm, with its lazy pyramid."""
    level = da.from_array(img, chunks=(1024, 1024) + img.shape[2:])
    levels = grey_levels([level])[0] if img.ndim == 3 else [level]
    levels, sizes = extend_pyramid(levels, [px], n_levels=3)
    return Section(levels, pixel_size_um=sizes, name=name)


def on_glass(img: np.ndarray) -> np.ndarray:
    """``img`` mirrored to fill the central 80 % of a slide of :data:`SHAPE`, glass
    around (RGB stays RGB)."""
    h, w = int(SHAPE[0] * 0.8), int(SHAPE[1] * 0.8)
    reps = (-(-h // img.shape[0]) + 1, -(-w // img.shape[1]) + 1)
    tile = np.concatenate([img, img[::-1]], 0)
    tile = np.concatenate([tile, tile[:, ::-1]], 1)
    big = np.tile(tile, (reps[0], reps[1]) + (1,) * (img.ndim - 2))[:h, :w]
    out = np.full(SHAPE + img.shape[2:], GLASS, img.dtype)
    y0, x0 = (SHAPE[0] - h) // 2, (SHAPE[1] - w) // 2
    out[y0 : y0 + h, x0 : x0 + w] = big
    return out


def square(y0: float, x0: float, side: float) -> np.ndarray:
    """A square ROI, ``(4, 2)`` ``(y, x)`` µm vertices, top-left corner at ``(y0, x0)``."""
    return np.array([[y0, x0], [y0, x0 + side], [y0 + side, x0 + side], [y0 + side, x0]])


def bright_field(od: np.ndarray, glass: np.ndarray, seed: int = 0, light: float = 240.0) -> np.ndarray:
    """A uint8 bright-field image of a hand-made optical-density map (natural log): the
    tissue's OD varied by 15 % (lognormal, per pixel), zero on ``glass``, and 2 grey levels
    of pixel noise under a light of ``light``."""
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    return np.clip(light * np.exp(-od) + rng.normal(0, 2, od.shape), 1, 255).astype(np.uint8)


def cortex_block(
    side_um: float, margin_um: float, thickness_um: float, grey_od: float, px_um: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A square block of tissue ``side_um - 2 margin_um`` µm wide on glass, cortex
    ``thickness_um`` µm thick on all four sides around a white-matter core, on a grid of
    ``px_um`` µm: ``(yy, xx, d, cortex, to_wm)``: the pixels' centres (µm), the depth from the
    nearest pia (µm; negative on the glass), the cortex's optical density (a pale layer I,
    0.4 of ``grey_od`` over its first 8 % of depth, a denser band at mid-depth) and the
    weight of the white matter (a grey/white transition of about 250 µm)."""
    n = int(side_um / px_um)
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) * px_um
    d = np.minimum.reduce(
        [yy - margin_um, side_um - margin_um - yy, xx - margin_um, side_um - margin_um - xx]
    )
    rel = d / thickness_um
    lam = 0.4 + 0.6 / (1 + np.exp(-(rel - 0.08) / 0.02))
    cortex = grey_od * lam * (1 + 0.3 * np.exp(-(((rel - 0.5) / 0.1) ** 2)))
    to_wm = 1 / (1 + np.exp(-(d - thickness_um) / 60.0))
    return yy, xx, d, cortex, to_wm
