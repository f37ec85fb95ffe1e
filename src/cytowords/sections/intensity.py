"""Intensity normalisation of a section: its real range, not its data type's.

One :class:`Intensity` per section, estimated once from a coarse level (at most
``COARSE_MAX_PX`` px per side of the coarsest level is read) and cached in
``Section.metadata["intensity"]``:

- ``uint8``: value / 255 exactly (the bundled model was trained on 8-bit scans).
- other integer types (12-/14-bit scanners store their data in ``uint16``): the white level
  is the largest value of the smallest standard bit depth (8, 10, 12, 14, 16, then any)
  that holds the 99.99th percentile of the coarse level; value / white. A 12-bit scan
  (0–4095) whose empty slide lies anywhere above 1023 thus reads like its 8-bit twin.
- floating point: values already in [0, 1] are kept; otherwise the robust range from
  ``min(0, 0.1th percentile)`` to the 99.9th percentile of the coarse level maps to [0, 1]
  (in a bright-field scan the empty slide is the brightest thing, so it reads near 1).

Results are clipped to [0, 1]. The *background* (the empty slide's raw value, 99.5th
percentile of the coarse level) is what fields read outside the section.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .section import Section

#: at most this many px per side of the coarsest level are read to estimate the range
COARSE_MAX_PX = 2048
#: standard bit depths of scanners, tried in order for integer data
BIT_DEPTHS = (8, 10, 12, 14, 16)


@dataclass(frozen=True)
class Intensity:
    """Raw values ``black`` and ``white`` map to 0 and 1; ``background`` is the raw value
    of the empty slide; ``rule`` says in words how the range was found."""

    black: float
    white: float
    background: float
    rule: str

    @property
    def scale(self) -> float:
        """Factor from raw value (minus ``black``) to [0, 1]."""
        return 1.0 / (self.white - self.black)

    def _shifted(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float32)
        return raw - np.float32(self.black) if self.black else raw

    def to_unit(self, raw: np.ndarray) -> np.ndarray:
        """Raw values -> float32 in [0, 1]."""
        return np.clip(self._shifted(raw) * self.scale, 0.0, 1.0)

    def to_uint8(self, raw: np.ndarray) -> np.ndarray:
        """Raw values -> uint8 (unit value × 255, rounded half to even); exact for uint8."""
        return np.clip(np.rint(self._shifted(raw) * (255.0 * self.scale)), 0, 255).astype(
            np.uint8
        )


def intensity_of(sample: np.ndarray, dtype: np.dtype) -> Intensity:
    """The intensity rule (module docstring) applied to a coarse ``sample`` of the data."""
    dt = np.dtype(dtype)
    v = np.asarray(sample, dtype=np.float32)
    bg = float(np.percentile(v, 99.5)) if v.size else 0.0
    if dt == np.uint8:
        return Intensity(0.0, 255.0, bg, "8-bit: value / 255")
    if dt == np.bool_:
        return Intensity(0.0, 1.0, bg, "binary: 0 / 1")
    if np.issubdtype(dt, np.integer):
        hi = float(np.percentile(v, 99.99)) if v.size else 255.0
        bits = next((b for b in BIT_DEPTHS if hi <= 2**b - 1), None)
        if bits is None:
            bits = max(17, math.ceil(math.log2(hi + 1.0)))
        white = float(2**bits - 1)
        return Intensity(0.0, white, bg, f"{bits}-bit data in {dt}: value / {white:g}")
    lo, hi = (
        (float(np.percentile(v, 0.1)), float(np.percentile(v, 99.9))) if v.size else (0.0, 1.0)
    )
    if lo >= 0.0 and hi <= 1.0:
        return Intensity(0.0, 1.0, bg, f"{dt} in [0, 1]: kept")
    black = min(0.0, lo)
    white = hi if hi > black else black + 1.0
    return Intensity(
        black, white, bg, f"{dt}: robust range {black:g} .. {white:g} (0.1th–99.9th percentile)"
    )


def section_intensity(section: Section) -> Intensity:
    """The section's :class:`Intensity`, estimated once (coarsest level, at most
    ``COARSE_MAX_PX`` px per side) and cached in ``section.metadata["intensity"]``."""
    cached = section.metadata.get("intensity")
    if isinstance(cached, dict):
        try:
            return Intensity(**cached)
        except TypeError:
            pass
    small = section.levels[-1][:COARSE_MAX_PX, :COARSE_MAX_PX].compute()
    inten = intensity_of(small, section.dtype)
    section.metadata["intensity"] = asdict(inten)
    return inten


def section_background(section: Section) -> float:
    """Raw value of the empty slide (bright background of a cell-body stain)."""
    return section_intensity(section).background
