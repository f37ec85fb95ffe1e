"""Layers and the atlas vocabulary from one laminar profile (pia -> white matter).

The profile is a grey-level-index / optical-density profile resampled to relative depth
(0 = pia, 1 = white-matter border). Every criterion is relative to the profile's own range
(``range = max - min`` over the cortex), so the stain strength and the scanner's contrast
do not matter, only the shape:

- **Layer I** ends where the profile first rises half-way from its minimum under the pia
  to the first maximum below it (the cell-dense layer II/III).
- **Inner granular layer IV** is a local maximum between relative depths
  :data:`IV_RANGE` (between the pyramidal layers III and V) whose topographic prominence
  (height above the higher of the two minima around it) is at least
  :data:`IV_GRANULAR` of the range; :data:`IV_DYSGRANULAR` to :data:`IV_GRANULAR` is a
  weak, dysgranular IV; a prominent (>= :data:`IV_KONIO`) and wide
  (>= :data:`IV_KONIO_WIDTH`) IV is koniocortex. Its top and bottom are the peak's
  half-prominence crossings. A band wider than :data:`IV_MAX_WIDTH` is not IV: in an
  optical-density profile the large pyramids of lower III and V make such a broad dark band;
  one narrower than :data:`IV_MIN_WIDTH` is a single dense row or noise.
- **Laminar contrast** is the coefficient of variation of the profile over 5-95 % depth.
- The borders of II, III, V and VI are not estimated from a mean profile: they are blurred
  in cell-body stains (the readout says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks, peak_widths

IV_RANGE = (0.3, 0.72)
IV_DYSGRANULAR = 0.04
IV_GRANULAR = 0.10
IV_KONIO = 0.30
IV_KONIO_WIDTH = 0.10
#: a dark band wider than this (relative depth at half prominence) is not layer IV but
#: the large pyramids of lower III and V (motor and premotor cortex)
IV_MAX_WIDTH = 0.22
#: a peak narrower than this is a single dense row or noise, not a layer
IV_MIN_WIDTH = 0.035
#: laminar contrast (profile SD / mean) bands: blurred < 0.08 <= moderate < 0.15 <= sharp
CONTRAST_BANDS = (0.08, 0.15)


@dataclass
class LayerEstimate:
    """Layers read from a mean profile (relative depths; widths in µm when a thickness is
    given). ``iv_prominence`` is relative to the profile range; ``cortex_type`` is
    ``koniocortex``, ``granular``, ``dysgranular`` or ``agranular``."""

    layer_i_bottom: float
    layer_i_width_um: float
    iv_present: bool
    iv_prominence: float
    iv_top: float
    iv_bottom: float
    iv_width_um: float
    cortex_type: str
    laminar_contrast: float
    laminar_contrast_term: str

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in self.__dict__.items()}


def _json(v):
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else round(float(v), 4)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def analyse_profile(profile: np.ndarray, thickness_um: float = float("nan")) -> LayerEstimate:
    """Layer I, layer IV, cortex type and laminar contrast of a profile sampled at equally
    spaced relative depths (bin centres, pia first; any length >= 20)."""
    p = np.asarray(profile, dtype=np.float64)
    n = len(p)
    if n < 20 or not np.all(np.isfinite(p)):
        raise ValueError(f"a profile needs >= 20 finite samples, got {n}")
    depth = (np.arange(n) + 0.5) / n
    ps = gaussian_filter1d(p, max(0.5, n / 100.0), mode="nearest")
    rng = float(ps.max() - ps.min())
    inner = (depth >= 0.05) & (depth <= 0.95)
    mean = float(np.mean(p[inner]))
    contrast = float(np.std(p[inner]) / mean) if mean > 0 else float("nan")
    term = (
        "blurred"
        if contrast < CONTRAST_BANDS[0]
        else "moderate"
        if contrast < CONTRAST_BANDS[1]
        else "sharp"
    )
    l1 = _layer_i(ps, depth)
    iv = _layer_iv(ps, depth, rng)
    prom, top, bottom = iv
    if prom >= IV_KONIO and (bottom - top) >= IV_KONIO_WIDTH:
        ctype = "koniocortex"
    elif prom >= IV_GRANULAR:
        ctype = "granular"
    elif prom >= IV_DYSGRANULAR:
        ctype = "dysgranular"
    else:
        ctype = "agranular"
    present = prom >= IV_GRANULAR
    return LayerEstimate(
        layer_i_bottom=l1,
        layer_i_width_um=l1 * thickness_um,
        iv_present=present,
        iv_prominence=prom,
        iv_top=top if prom >= IV_DYSGRANULAR else float("nan"),
        iv_bottom=bottom if prom >= IV_DYSGRANULAR else float("nan"),
        iv_width_um=(bottom - top) * thickness_um if prom >= IV_DYSGRANULAR else float("nan"),
        cortex_type=ctype,
        laminar_contrast=contrast,
        laminar_contrast_term=term,
    )


def _layer_i(p: np.ndarray, depth: np.ndarray) -> float:
    """Relative depth of the layer I / II border (see module docstring)."""
    top = depth < 0.2
    i_min = int(np.argmin(np.where(top, p, np.inf)))
    below = (depth > depth[i_min]) & (depth < 0.45)
    if not below.any():
        return float("nan")
    i_max = int(np.argmax(np.where(below, p, -np.inf)))
    half = (p[i_min] + p[i_max]) / 2
    for i in range(i_min, i_max + 1):
        if p[i] >= half:
            if i == 0:
                return float(depth[0])
            # linear interpolation between samples i-1 and i
            f = (half - p[i - 1]) / max(p[i] - p[i - 1], 1e-12)
            return float(depth[i - 1] + f * (depth[i] - depth[i - 1]))
    return float("nan")


def _layer_iv(p: np.ndarray, depth: np.ndarray, rng: float) -> tuple[float, float, float]:
    """``(relative prominence, top, bottom)`` of the strongest layer IV candidate."""
    if rng <= 0:
        return 0.0, float("nan"), float("nan")
    peaks, props = find_peaks(p, prominence=0)
    ok = (depth[peaks] >= IV_RANGE[0]) & (depth[peaks] <= IV_RANGE[1])
    if not ok.any():
        return 0.0, float("nan"), float("nan")
    peaks, prom = peaks[ok], props["prominences"][ok]
    _, _, left, right = peak_widths(p, peaks, rel_height=0.5)
    step = depth[1] - depth[0]
    width = (right - left) * step
    narrow = (width <= IV_MAX_WIDTH) & (width >= IV_MIN_WIDTH)
    if not narrow.any():
        return 0.0, float("nan"), float("nan")
    j = int(np.argmax(np.where(narrow, prom, -1)))
    top = float(depth[0] + left[j] * step)
    bottom = float(depth[0] + right[j] * step)
    return float(prom[j] / rng), top, bottom
