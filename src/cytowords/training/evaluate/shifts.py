"""Robustness shifts the model never sees in training.

- ``pixel_size_x1.5``: patches rendered at 1.5x the model's µm/px on the model's pixel grid
  (as if a scan's pixel size were mis-stated or ignored): tissue appears 1.5x smaller.
- ``stain``: stronger staining/imaging variation than any training brain: per patch, the
  absorbance (optical density relative to the glass) is scaled by 0.45-2.2 (log-uniform),
  the white level shifted by -30..+10 grey levels, a Gaussian blur of 0.6-1.4 px and noise
  of 6 grey levels. Training brains vary stain strength by ~15 % and augment gain by 20 %.
- ``artefacts``: every patch carries artefacts (tears, bubbles, folds; training: some).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

SHIFTS = ("none", "pixel_size_x1.5", "stain", "artefacts")


def shift_sampling(shift: str, pixel_size_um: float) -> dict:
    """Extra keyword arguments for ``sample_patches`` under ``shift``."""
    if shift == "pixel_size_x1.5":
        return {"pixel_size_um": 1.5 * pixel_size_um}
    if shift == "artefacts":
        return {"pixel_size_um": pixel_size_um, "artefacts": 1.0}
    return {"pixel_size_um": pixel_size_um}


def strong_staining(patches: np.ndarray, seed: int = 0) -> np.ndarray:
    """The ``stain`` shift applied to ``uint8 (N, H, W)`` patches; returns uint8."""
    rng = np.random.default_rng(seed + 7919)
    out = np.empty_like(patches)
    for i, p in enumerate(patches):
        x = p.astype(np.float64)
        glass = max(float(np.percentile(x, 99.5)), 1.0)
        od = -np.log(np.clip(x, 1.0, None) / glass)
        od *= float(np.exp(rng.uniform(np.log(0.45), np.log(2.2))))
        y = (glass + rng.uniform(-30, 10)) * np.exp(-od)
        y = gaussian_filter(y, rng.uniform(0.6, 1.4)) + rng.normal(0, 6.0, y.shape)
        out[i] = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return out


def apply_shift(shift: str, patches: np.ndarray, seed: int = 0) -> np.ndarray:
    """Post-rendering part of a shift (only ``stain`` changes pixels after rendering)."""
    if shift not in SHIFTS:
        raise ValueError(f"shift {shift!r} unknown; expected one of {', '.join(SHIFTS)}")
    return strong_staining(patches, seed) if shift == "stain" else patches


def defocus(patches: np.ndarray, sigma_px: float) -> np.ndarray:
    """``uint8 (N, H, W)`` patches blurred by a Gaussian of ``sigma_px`` (an out-of-focus
    scan, at the patches' resolution); returns uint8."""
    x = gaussian_filter(patches.astype(np.float64), (0, sigma_px, sigma_px), mode="reflect")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def jpeg_compress(patches: np.ndarray, quality: int) -> np.ndarray:
    """``uint8 (N, H, W)`` patches stored as JPEG at ``quality`` (1-95, Pillow) and read
    back; returns uint8."""
    import io

    from PIL import Image

    out = np.empty_like(patches)
    for i, im in enumerate(patches):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(buf))
    return out
