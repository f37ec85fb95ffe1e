"""Individual brains: a seed sets thickness, density, laminar and staining variation.

Train/test splits are by brain: two brains differ in overall cortical thickness, cell
density and soma size, in the relative thickness of each layer (an individual trait shared
by all areas, plus a smaller area-specific part), in staining (white level, stain strength,
neuropil darkness, blur, noise) and in where the area borders lie along the ribbon.

Two variation models (``Brain(seed, variation=...)``):

- ``"realistic"`` (default): magnitudes as reported for human cortex (sources in
  docs/synthetic_cortex.md): overall thickness σ 0.10 plus 0.08 per area, each layer's
  width σ 0.12 per brain plus 0.10 per area, neuron density σ 0.10 plus 0.08 per area and
  0.08 per layer, soma size σ 0.06 plus 0.05 per layer, area extent along the ribbon
  (lognormal σ 0.35) and border transition widths of 0.3-2 mm; cortical thickness and
  laminar proportions follow the folding (Bok's equivolume principle), vessels, cracks,
  uneven section thickness and staining over the section.
- ``"classic"``: the earlier, smaller variation (thickness σ 0.09, density 0.10, layers
  0.07), flat laminar proportions, no vessels; every pixel as before. It exists only for
  the bundled model trained on it and goes when that bundle is retrained.

Ablation: ``Brain(seed, realism_off={"vessels", ...})`` switches single components of the
realistic model off (:data:`REALISM_COMPONENTS`); each then behaves as in the classic
model and everything else stays as it was (the same random draws). Empty (the default):
the full realistic model, every pixel as without the knob.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..atlas import LAYER_NAMES, Area, load_atlas


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts (stable across runs and platforms)."""
    h = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 1


@dataclass(frozen=True)
class Staining:
    """Staining and imaging of one brain: intensities on a 0-255 scale."""

    white: float  # bright level of unstained tissue
    glass: float  # background outside the tissue
    stain: float  # multiplier of cell absorbance
    neuropil: float  # multiplier of neuropil absorbance
    blur_um: float  # optical blur sigma (µm)
    noise: float  # pixel noise sigma (grey levels)


VARIATIONS = ("realistic", "classic")

#: components of the realistic variation model that ``realism_off`` can switch off; each
#: falls back to the classic model's behaviour
REALISM_COMPONENTS: dict[str, str] = {
    "folding": "irregular folding (off: an ellipse indented by U-shaped sulci)",
    "oblique": "oblique cuts: the section plane meets the ribbon at up to 50°",
    "bok": "Bok's equivolume variation: thickness and layer proportions follow the folding",
    "borders": "gradual area borders 0.3-2 mm wide (off: 400 µm in sections, 250 µm in patches)",
    "extent": "area extent along the ribbon lognormal σ 0.35 (off: uniform 0.7-1.3)",
    "individual": "inter-individual magnitudes of thickness, layer widths and density "
    "(off: the classic σ)",
    "profile_shifts": "per-brain shifts of each area's profile, layer by layer "
    "(density σ 0.08, soma size σ 0.05)",
    "vessels": "vessels: pale holes and streaks with a perivascular space",
    "cracks": "cell-free cracks along the grey/white-matter border",
    "stain": "uneven section thickness and low-frequency stain variation over a section",
    "cell_shape": "giant-cell size sd 25 % (off: 15 %; only where cells are drawn, <= 20 µm/px)",
}


def realism_off_set(
    realism_off: Iterable[str] | str | None, variation: str = "realistic"
) -> frozenset[str]:
    """``realism_off`` (an iterable of :data:`REALISM_COMPONENTS` names, or None) as a
    frozenset; ValueError for an unknown name or a non-empty set with ``"classic"``."""
    if realism_off is None:
        return frozenset()
    if isinstance(realism_off, str):
        realism_off = (realism_off,)
    try:
        off = frozenset(str(c) for c in realism_off)
    except TypeError:
        raise ValueError(
            f"realism_off must be a set of component names, got {realism_off!r}"
        ) from None
    unknown = sorted(off - set(REALISM_COMPONENTS))
    if unknown:
        raise ValueError(
            f"realism_off: unknown component(s) {unknown}; expected some of "
            f"{sorted(REALISM_COMPONENTS)}"
        )
    if off and variation != "realistic":
        raise ValueError(f"realism_off only applies to variation='realistic', not {variation!r}")
    return off


@dataclass
class Brain:
    """A synthetic individual. ``Brain(seed)``: all variation derives from the seed.

    Attributes are multipliers around 1 (``thickness_scale``, ``density_scale``,
    ``size_scale``), per-layer thickness factors ``layer_scale`` (individual trait),
    and ``staining``; in a virtual section the same seed also sets the folding and the
    area borders along the ribbon. ``variation`` selects the variation model (see the
    module docstring): ``"realistic"`` (default) or ``"classic"``; ``realism_off`` names
    components of the realistic model to switch off (:data:`REALISM_COMPONENTS`).
    """

    seed: int
    variation: str = "realistic"
    realism_off: frozenset[str] = frozenset()
    thickness_scale: float = field(init=False)
    density_scale: float = field(init=False)
    size_scale: float = field(init=False)
    layer_scale: dict[str, float] = field(init=False)
    staining: Staining = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"Brain seed must be a non-negative integer, got {self.seed!r}")
        self.seed = int(self.seed)
        if self.variation not in VARIATIONS:
            raise ValueError(f"Brain variation must be one of {VARIATIONS}, got {self.variation!r}")
        self.realism_off = realism_off_set(self.realism_off, self.variation)
        rng = np.random.default_rng(stable_seed("brain", self.seed))
        sd = self._sd()
        self.thickness_scale = float(np.exp(rng.normal(0, sd["thickness"])))
        self.density_scale = float(np.exp(rng.normal(0, sd["density"])))
        self.size_scale = float(np.exp(rng.normal(0, 0.06)))
        self.layer_scale = {k: float(np.exp(rng.normal(0, sd["layer"]))) for k in LAYER_NAMES}
        self.staining = Staining(
            white=float(rng.uniform(205, 228)),
            glass=float(rng.uniform(232, 246)),
            stain=float(np.exp(rng.normal(0, 0.15))),
            neuropil=float(np.exp(rng.normal(0, 0.15))),
            blur_um=float(rng.uniform(0.5, 1.5)),
            noise=float(rng.uniform(2.0, 6.0)),
        )
        self._tables: dict[str, tuple[np.ndarray, float]] = {}
        self._layer_factors: dict[str, dict[str, float]] = {}

    def __repr__(self) -> str:
        if self.variation == "realistic":
            if self.realism_off:
                return f"Brain(seed={self.seed}, realism_off={set(sorted(self.realism_off))!r})"
            return f"Brain(seed={self.seed})"
        return f"Brain(seed={self.seed}, variation={self.variation!r})"

    @property
    def realistic(self) -> bool:
        """Whether this brain uses the realistic variation model (folding, vessels...)."""
        return self.variation == "realistic"

    @property
    def realism(self) -> frozenset[str]:
        """The realistic components this brain uses (empty for ``"classic"``)."""
        if not self.realistic:
            return frozenset()
        return frozenset(REALISM_COMPONENTS) - self.realism_off

    def uses(self, component: str) -> bool:
        """Whether the realistic ``component`` (:data:`REALISM_COMPONENTS`) is on."""
        if component not in REALISM_COMPONENTS:
            raise ValueError(f"unknown realism component {component!r}")
        return component in self.realism

    def _sd(self) -> dict[str, float]:
        return _SD["realistic" if self.uses("individual") else "classic"]

    def area_rng(self, area_id: str) -> np.random.Generator:
        """Random generator for the area-specific variation of this brain."""
        return np.random.default_rng(stable_seed("brain-area", self.seed, area_id))

    def border_width_um(self, a: str, b: str) -> float:
        """Width (µm) of the gradual transition between areas ``a`` and ``b`` in this brain:
        the profile changes over ~0.3-2 mm of ribbon (realistic), 250 µm (classic fields)."""
        if not self.uses("borders"):
            return 250.0
        rng = np.random.default_rng(stable_seed("border", self.seed, *sorted((a, b))))
        return float(np.clip(np.exp(rng.normal(np.log(700.0), 0.4)), 300.0, 2000.0))

    def thickness_um(self, area: Area | str) -> float:
        """Mean cortical thickness (µm) of an area in this brain."""
        return self.table(area)[1]

    def table(self, area: Area | str) -> tuple[np.ndarray, float]:
        """Compiled depth table ``(len(FIELDS), DEPTH_BINS)`` and thickness (µm) of an area.

        Rows (see :data:`FIELDS`): neuron density (somata/mm²), soma size mean and sd (µm),
        pyramidal fraction, glia density (/mm²), neuropil absorbance, special-cell density
        (/mm²) and size (µm), on the relative depth axis ``DEPTH_MIN..DEPTH_MAX``.
        """
        if isinstance(area, str):
            area = load_atlas().get(area)
        hit = self._tables.get(area.id)
        if hit is None:
            hit = self._tables[area.id] = self._compile(area)
        return hit

    def layer_fractions(self, area: Area | str) -> np.ndarray:
        """Relative thickness of layers I-VI (sum 1) of an area in this brain, as rendered."""
        from .profile_table import layer_fractions

        if isinstance(area, str):
            area = load_atlas().get(area)
        self.table(area)
        return layer_fractions(area.profile, self._layer_factors[area.id])

    def _compile(self, area: Area) -> tuple[np.ndarray, float]:
        from .profile_table import compile_table

        rng = self.area_rng(area.id)
        sd = self._sd()
        thick = area.profile.thickness_mm * 1000 * self.thickness_scale
        thick *= float(np.exp(rng.normal(0, sd["area_thickness"])))
        layer_f = {
            k: self.layer_scale[k] * float(np.exp(rng.normal(0, sd["area_layer"])))
            for k in LAYER_NAMES
        }
        self._layer_factors[area.id] = layer_f
        density = self.density_scale * float(
            np.exp(rng.normal(0, 0.08 if self.uses("individual") else 0.05))
        )
        extra: dict = {}
        if self.realistic:
            extra["place_all_special"] = True
        if self.uses("profile_shifts"):
            # per-brain shifts of the area's profile, layer by layer (own stream: the
            # draws above stay those of the classic model)
            prng = np.random.default_rng(stable_seed("brain-profile", self.seed, area.id))
            extra["layer_density_factor"] = {
                k: float(np.exp(prng.normal(0, 0.08))) for k in LAYER_NAMES
            }
            extra["layer_size_factor"] = {
                k: float(np.exp(prng.normal(0, 0.05))) for k in LAYER_NAMES
            }
        table = compile_table(
            area.profile,
            layer_factor=layer_f,
            density_factor=density,
            size_factor=self.size_scale,
            neuropil_factor=self.staining.neuropil,
            **extra,
        )
        return table, thick


#: inter-individual standard deviations (log scale) of each variation model
_SD = {
    "classic": {
        "thickness": 0.09,
        "density": 0.10,
        "layer": 0.07,
        "area_thickness": 0.05,
        "area_layer": 0.06,
    },
    "realistic": {
        "thickness": 0.10,
        "density": 0.10,
        "layer": 0.12,
        "area_thickness": 0.08,
        "area_layer": 0.10,
    },
}
