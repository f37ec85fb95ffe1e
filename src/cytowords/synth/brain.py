"""Individual brains: a seed sets thickness, density, laminar and staining variation.

Train/test splits are by brain: two brains differ in overall cortical thickness, cell
density and soma size, in the relative thickness of each layer (an individual trait shared
by all areas, plus a smaller area-specific part), in staining (white level, stain strength,
neuropil darkness, blur, noise) and in where the area borders lie along the ribbon.
The magnitudes follow inter-individual variability reported for cytoarchitectonic areas
(cortical thickness ~10 %, cell density ~10-15 %, layer widths 10-20 %).
"""

from __future__ import annotations

import hashlib
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


@dataclass
class Brain:
    """A synthetic individual. ``Brain(seed)``: all variation derives from the seed.

    Attributes are multipliers around 1 (``thickness_scale``, ``density_scale``,
    ``size_scale``), per-layer thickness factors ``layer_scale`` (individual trait),
    and ``staining``; in a virtual section the same seed also sets the folding and the
    area borders along the ribbon.
    """

    seed: int
    thickness_scale: float = field(init=False)
    density_scale: float = field(init=False)
    size_scale: float = field(init=False)
    layer_scale: dict[str, float] = field(init=False)
    staining: Staining = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"Brain seed must be a non-negative integer, got {self.seed!r}")
        self.seed = int(self.seed)
        rng = np.random.default_rng(stable_seed("brain", self.seed))
        self.thickness_scale = float(np.exp(rng.normal(0, 0.09)))
        self.density_scale = float(np.exp(rng.normal(0, 0.10)))
        self.size_scale = float(np.exp(rng.normal(0, 0.06)))
        self.layer_scale = {k: float(np.exp(rng.normal(0, 0.07))) for k in LAYER_NAMES}
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
        return f"Brain(seed={self.seed})"

    def area_rng(self, area_id: str) -> np.random.Generator:
        """Random generator for the area-specific variation of this brain."""
        return np.random.default_rng(stable_seed("brain-area", self.seed, area_id))

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
        thick = area.profile.thickness_mm * 1000 * self.thickness_scale
        thick *= float(np.exp(rng.normal(0, 0.05)))
        layer_f = {k: self.layer_scale[k] * float(np.exp(rng.normal(0, 0.06))) for k in LAYER_NAMES}
        self._layer_factors[area.id] = layer_f
        table = compile_table(
            area.profile,
            layer_factor=layer_f,
            density_factor=self.density_scale * float(np.exp(rng.normal(0, 0.05))),
            size_factor=self.size_scale,
            neuropil_factor=self.staining.neuropil,
        )
        return table, thick
