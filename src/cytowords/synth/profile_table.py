"""Compile a laminar profile into smooth depth tables used by the renderers.

The table samples, on a relative depth axis from just above the pia (-0.1) into the white
matter (1.5), everything the renderer needs per depth: neuron density, soma size, pyramidal
fraction, glia density, neuropil absorbance and special cells. Layer borders are blurred by
``laminar_contrast`` and the cortex/white-matter transition by ``wm_border_sharpness``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..atlas import LAYER_NAMES, LaminarProfile, SubLayer

DEPTH_MIN, DEPTH_MAX, DEPTH_BINS = -0.1, 1.5, 320
GLIA_CORTEX, GLIA_WM = 600.0, 900.0  # glial nuclei per mm² (20 µm section)
WM_NEURONS = 25.0  # interstitial white-matter neurons per mm²
#: table rows, in order
FIELDS = (
    "density",
    "size",
    "size_sd",
    "pyr",
    "glia",
    "neuropil",
    "special",
    "special_size",
    "columns",
)


def depth_axis() -> np.ndarray:
    """Relative depth of each table bin centre."""
    step = (DEPTH_MAX - DEPTH_MIN) / DEPTH_BINS
    return DEPTH_MIN + (np.arange(DEPTH_BINS) + 0.5) * step


def depth_to_bin(rel_depth: np.ndarray) -> np.ndarray:
    """Table bin index for relative depths (clipped to the table)."""
    scale = DEPTH_BINS / (DEPTH_MAX - DEPTH_MIN)
    idx = ((rel_depth - DEPTH_MIN) * scale).astype(np.int32)
    return np.clip(idx, 0, DEPTH_BINS - 1)


def layer_fractions(
    profile: LaminarProfile, layer_factor: dict[str, float] | None = None
) -> np.ndarray:
    """Relative thickness of layers I-VI (sum 1) after ``layer_factor`` (see compile_table)."""
    lf = layer_factor or {}
    rel = np.array([profile.layers[k].rel_thickness * lf.get(k, 1.0) for k in LAYER_NAMES])
    return rel / rel.sum()


def sublayer_span(layer: str, sublayer: str) -> tuple[float, float]:
    """Part ``(top, bottom)`` of a layer (fractions 0..1) that a sublayer name means when
    the profile does not divide the layer: "Vb" the lower half of V, "IIIc" the lower
    third of III, "VIa" the upper half of VI; anything else the whole layer."""
    suffix = sublayer[len(layer) :] if sublayer.startswith(layer) else ""
    if len(suffix) != 1 or suffix not in "abc":
        return 0.0, 1.0
    i = "abc".index(suffix)
    n = max(2, i + 1)
    return i / n, (i + 1) / n


def compile_table(
    profile: LaminarProfile,
    *,
    layer_factor: dict[str, float] | None = None,
    density_factor: float = 1.0,
    size_factor: float = 1.0,
    neuropil_factor: float = 1.0,
    layer_density_factor: dict[str, float] | None = None,
    layer_size_factor: dict[str, float] | None = None,
    place_all_special: bool = False,
) -> np.ndarray:
    """Return an array ``(len(FIELDS), DEPTH_BINS)`` (rows as :data:`FIELDS`) for a profile.

    ``layer_factor`` multiplies each layer's relative thickness (then renormalised),
    ``density_factor``/``size_factor`` scale neuron density and soma size, the
    ``layer_*_factor`` dicts do so per layer (I..VI). With ``place_all_special`` every
    special cell of the profile is rendered: one whose sublayer the layer does not declare
    (Betz cells in "Vb" of an undivided V) goes into the matching part of the layer
    (:func:`sublayer_span`); without it such cells are left out.
    """
    rel = layer_fractions(profile, layer_factor)
    ldf = layer_density_factor or {}
    lsf = layer_size_factor or {}
    d = depth_axis()
    out = np.zeros((len(FIELDS), DEPTH_BINS))
    dens, size, sd, pyr, glia, npil, spec, spec_size, cols = out
    top = 0.0
    for name, r in zip(LAYER_NAMES, rel):
        lay = profile.layers[name]
        parts = lay.sublayers or (SubLayer(name, 1.0, lay.density, lay.size_mean_um),)
        t = top
        df = density_factor * ldf.get(name, 1.0)
        sf = size_factor * lsf.get(name, 1.0)
        for sub in parts:
            b = t + sub.fraction * r
            m = (d >= t) & (d < b)
            dens[m] = sub.density * df
            size[m] = sub.size_mean_um * sf
            sd[m] = lay.size_sd_um * sf * sub.size_mean_um / max(lay.size_mean_um, 1e-6)
            pyr[m] = lay.pyramidal_fraction
            for s in lay.special:
                if s.get("sublayer") in (None, sub.name):
                    spec[m] += float(s["density"]) * df
                    spec_size[m] = float(s["size_um"]) * sf
            t = b
        if place_all_special:
            declared = {sub.name for sub in parts}
            for s in lay.special:
                if s.get("sublayer") not in (None, *declared):
                    lo, hi = sublayer_span(name, str(s["sublayer"]))
                    m = (d >= top + lo * r) & (d < top + hi * r)
                    spec[m] += float(s["density"]) * df
                    spec_size[m] = float(s["size_um"]) * sf
        top += r
    cortex = (d >= 0) & (d < 1)
    wm = d >= 1
    cols[cortex] = profile.columnar_strength
    glia[cortex] = GLIA_CORTEX
    glia[wm] = GLIA_WM
    dens[wm] = WM_NEURONS
    size[wm], sd[wm], pyr[wm] = 9.0 * size_factor, 2.5, 0.3
    # neuropil: darker where neurons are dense; white matter pale; nothing above the pia
    npil[cortex] = (0.09 + 0.14 * np.clip(dens[cortex] / 2000.0, 0, 1.5)) * neuropil_factor
    npil[wm] = 0.04 * neuropil_factor
    # smooth layer borders (laminar contrast) inside the cortex, WM border separately
    step = (DEPTH_MAX - DEPTH_MIN) / DEPTH_BINS
    sigma_layers = (0.01 + 0.04 * (1.0 - profile.laminar_contrast)) / step
    sigma_wm = (0.006 + 0.08 * (1.0 - profile.wm_border_sharpness)) / step
    inner = d < 0.9
    for row in (dens, size, sd, pyr, npil, spec, spec_size):
        a = gaussian_filter1d(row, sigma_layers, mode="nearest")
        b = gaussian_filter1d(row, sigma_wm, mode="nearest")
        w = np.clip((d - 0.85) / 0.1, 0, 1)  # use the WM smoothing near the WM border
        row[:] = np.where(inner, a, (1 - w) * a + w * b)
    glia[:] = gaussian_filter1d(glia, 1.0 / DEPTH_BINS / step, mode="nearest")
    above = d < 0
    out[:, above] = 0.0  # nothing above the pia (the pial surface is sharp)
    size[above] = 6.0
    sd[above] = 1.0
    return out
