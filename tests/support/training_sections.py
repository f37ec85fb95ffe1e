"""Small hand-made labelled sections for training tests (no generator involved).

A section (y, x) of 30 × 40 mm at 64 µm/px: the top half is cortex split into bands of
three areas (each with its own texture and brightness), the bottom-left quarter is white
matter (tissue, label 0), the bottom-right quarter empty slide (label 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cytowords.atlas import load_atlas
from cytowords.sections import LabelImage, Section, open_section, write_section

AREAS = ["hOc1", "4a", "44"]
PX = 64.0
SHAPE = (470, 625)


def make_section(brain: int, name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8, labels int32) of one hand-made section of brain ``brain``."""
    atlas = load_atlas()
    rng = np.random.default_rng(brain)
    h, w = SHAPE
    img = np.full(SHAPE, 240, np.float64)
    lab = np.zeros(SHAPE, np.int32)
    band = w // len(AREAS)
    yy, xx = np.mgrid[0:h, 0:w]
    for i, a in enumerate(AREAS):
        sl = (slice(0, h // 2), slice(i * band, (i + 1) * band if i < len(AREAS) - 1 else w))
        period = 3 + 3 * i
        stripes = 25 * (np.sin(2 * np.pi * yy[sl] / period) > 0)
        img[sl] = 150 + 20 * i + stripes + rng.normal(0, 4, stripes.shape) + rng.normal(0, 3)
        lab[sl] = atlas.label_of(a)
    img[h // 2 :, : w // 2] = 215 + rng.normal(0, 3, (h - h // 2, w // 2))
    return np.clip(img, 0, 255).astype(np.uint8), lab


def persisted_section(tmp: Path, brain: int) -> Path:
    """Write a hand-made section with its ``areas`` label image as OME-Zarr."""
    img, lab = make_section(brain)
    return write_section(
        tmp / f"brain{brain}.ome.zarr",
        img,
        pixel_size_um=PX,
        labels={"areas": lab},
        chunk_px=256,
    )


def in_memory_section(brain: int) -> Section:
    import dask.array as da

    img, lab = make_section(brain)
    atlas = load_atlas()
    labels = LabelImage([da.from_array(lab, chunks=256)], [PX], atlas.label_names())
    return Section([da.from_array(img, chunks=256)], [PX], f"mem{brain}", {}, {"areas": labels})


__all__ = [
    "AREAS",
    "PX",
    "SHAPE",
    "in_memory_section",
    "make_section",
    "open_section",
    "persisted_section",
]
