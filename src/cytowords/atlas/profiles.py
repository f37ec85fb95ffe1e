"""Quantitative laminar profiles of cortical areas (layers I–VI, sublayers, special cells).

Units: ``density`` is neuronal somata per mm² of a 20 µm cell-body-stained section (the
BigBrain calibration sample gives ~300/mm² in layer I and ~1200/mm² in layer VI); sizes are
soma diameters in µm; ``thickness_mm`` is the mean cortical thickness in mm. Glia and the
neuropil are not part of the profile (the generator adds them everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

LAYER_NAMES: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI")


@dataclass(frozen=True)
class SubLayer:
    """A named part of a layer (e.g. hOc1 ``IVb``): its share of the layer and own cells."""

    name: str
    fraction: float
    density: float
    size_mean_um: float


@dataclass(frozen=True)
class LayerProfile:
    """One cortical layer: relative thickness (fraction of the cortex), neuronal density
    (somata/mm² in a 20 µm section), soma diameter mean/sd (µm), share of pyramidal cells,
    sublayers (top to bottom) and special cells found in it."""

    rel_thickness: float
    density: float
    size_mean_um: float
    size_sd_um: float
    pyramidal_fraction: float
    sublayers: tuple[SubLayer, ...] = ()
    special: tuple[dict[str, Any], ...] = ()
    notes: str | None = None


@dataclass(frozen=True)
class LaminarProfile:
    """The laminar profile of an area.

    ``layers`` maps "I".."VI" to :class:`LayerProfile` (relative thicknesses sum to 1);
    ``laminar_contrast`` (0..1, 1 = sharp layer borders), ``columnar_strength`` (0..1, radial
    cell rows), ``wm_border_sharpness`` (0..1, 1 = abrupt cortex/white-matter border);
    ``special`` lists notable cells (``{"kind", "layer", "density", "size_um", ...}``)."""

    layers: dict[str, LayerProfile]
    thickness_mm: float
    laminar_contrast: float
    columnar_strength: float
    wm_border_sharpness: float
    special: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def layer_bounds(self) -> dict[str, tuple[float, float]]:
        """Relative depth interval ``(top, bottom)`` (0 = pia, 1 = white matter) per layer."""
        out, top = {}, 0.0
        for name in LAYER_NAMES:
            bottom = top + self.layers[name].rel_thickness
            out[name] = (top, bottom)
            top = bottom
        return out

    def depth_table(self, n: int = 256) -> dict[str, np.ndarray]:
        """Sample the profile at ``n`` relative depths (bin centres, 0 = pia, 1 = WM).

        Returns arrays ``depth``, ``density`` (somata/mm²), ``size_mean_um``,
        ``size_sd_um`` and ``pyramidal_fraction``, with sublayers resolved (no smoothing:
        the renderer blurs borders according to ``laminar_contrast``).
        """
        depth = (np.arange(n) + 0.5) / n
        dens, size, sd, pyr = (np.zeros(n) for _ in range(4))
        for name, (top, bottom) in self.layer_bounds().items():
            lay = self.layers[name]
            parts = lay.sublayers or (SubLayer(name, 1.0, lay.density, lay.size_mean_um),)
            t = top
            for sub in parts:
                b = t + sub.fraction * (bottom - top)
                m = (depth >= t) & (depth < b)
                dens[m], size[m] = sub.density, sub.size_mean_um
                sd[m] = lay.size_sd_um * sub.size_mean_um / max(lay.size_mean_um, 1e-6)
                pyr[m] = lay.pyramidal_fraction
                t = b
        return {
            "depth": depth,
            "density": dens,
            "size_mean_um": size,
            "size_sd_um": sd,
            "pyramidal_fraction": pyr,
        }


def profile_from_dict(d: dict[str, Any]) -> LaminarProfile:
    """Build a :class:`LaminarProfile` from its ``areas.yaml`` mapping."""
    special = tuple(d.get("special") or ())
    layers = {}
    for name in LAYER_NAMES:
        ld = d["layers"][name]
        layers[name] = LayerProfile(
            rel_thickness=float(ld["rel_thickness"]),
            density=float(ld["density"]),
            size_mean_um=float(ld["size_mean_um"]),
            size_sd_um=float(ld["size_sd_um"]),
            pyramidal_fraction=float(ld["pyramidal_fraction"]),
            sublayers=tuple(
                SubLayer(
                    s["name"], float(s["fraction"]), float(s["density"]), float(s["size_mean_um"])
                )
                for s in ld.get("sublayers") or ()
            ),
            special=tuple(s for s in special if s.get("layer") == name),
            notes=ld.get("notes"),
        )
    return LaminarProfile(
        layers=layers,
        thickness_mm=float(d["thickness_mm"]),
        laminar_contrast=float(d["laminar_contrast"]),
        columnar_strength=float(d["columnar_strength"]),
        wm_border_sharpness=float(d["wm_border_sharpness"]),
        special=special,
    )
