"""Readout vectors for training fields without running the readout: truth plus noise.

The readout (:func:`cytowords.measure.measure_roi`) needs the pia and the white matter in
view, so it measures a drawn region, not a training field (a field of 32-64 px at 32-64
µm/px, about 2 mm, rarely holds the whole 1.8-3.8 mm cortex). The captioner is conditioned
on the readout of the *region* around a field; for synthetic training fields that region's
readout is simulated from the generator's truth for the field's brain and area (that brain's
thickness and layer proportions, the area's cortex type and special cells) with the errors
the readout makes (:class:`ReadoutNoise`, from ``benchmarks/measure_accuracy.py``). Fields of
user data, and ``__none__`` fields, get the "missing" vector.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.measure.vector import CORTEX_TYPES, READOUT_DIM, make_vector, missing_vector


@dataclass(frozen=True)
class ReadoutNoise:
    """Measurement errors of the readout (``benchmarks/measure_accuracy.py`` on brains
    205–212): thickness relative SD (median relative error about 2 %, heavier tail: 4 %),
    layer I width SD (µm; error about 26 µm), the share of oblique-looking cuts (their
    apparent thickness is up to 15 % larger) and of regions that cannot be measured.

    Layer IV: the readout shows a layer IV (koniocortex or granular) or leaves it
    undecided, never "agranular" (docs/measure.md). ``iv_undecided``: the share of regions
    with a layer IV left undecided (46 of 94 granular ROIs of brains 205–212);
    ``iv_false_band``: the share of regions without one (agranular) read as granular all
    the same (5 of 10). A dysgranular region, when decided, reads granular."""

    thickness_rel_sd: float = 0.04
    layer_i_sd_um: float = 26.0
    iv_undecided: float = 0.5
    iv_false_band: float = 0.5
    oblique: float = 0.15
    missing: float = 0.1

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class FieldTruth:
    """What the generator says about a field's region: area, true thickness (mm), layer I
    width (µm), the readout-vocabulary cortex type, layer IV's relative width and the
    special cells the area has (kinds, e.g. ``betz``)."""

    area: str
    thickness_mm: float
    layer_i_um: float
    cortex_type: str
    iv_rel_width: float
    special: tuple[str, ...]


def readout_cortex_type(atlas_type: str, iv_fraction: float) -> str:
    """The readout's word (:data:`CORTEX_TYPES`) for an atlas cortex type (``granular
    isocortex``, ``proisocortex``...) and the rendered layer IV share."""
    t = atlas_type.lower()
    if "konio" in t:
        return "koniocortex"
    if t.startswith("agranular") or iv_fraction <= 0:
        return "agranular"
    if "dysgranular" in t or "proiso" in t:
        return "dysgranular"
    return "granular"


@lru_cache(maxsize=4096)
def brain_truth(seed: int, area_id: str) -> FieldTruth:
    """The truth of ``area_id`` in synthetic brain ``seed`` (as the generator renders it)."""
    brain = _brain(seed)
    area = load_atlas().get(area_id)
    frac = np.asarray(brain.layer_fractions(area), dtype=float)
    th_um = float(brain.thickness_um(area))
    return FieldTruth(
        area=area.id,
        thickness_mm=th_um / 1000.0,
        layer_i_um=float(frac[0] * th_um),
        cortex_type=readout_cortex_type(area.cortex_type, float(frac[3])),
        iv_rel_width=float(frac[3]),
        special=tuple(str(s["kind"]) for s in area.profile.special),
    )


@lru_cache(maxsize=64)
def _brain(seed: int):
    from cytowords.synth.brain import Brain

    return Brain(int(seed))


_SYNTH_BRAIN = re.compile(r"synth-(\d+)$")


def field_truths(labels: np.ndarray, brains: np.ndarray) -> list[FieldTruth | None]:
    """Truth per field of a patch set (``labels``: area ids or ``__none__``; ``brains``:
    ``synth-<seed>`` for synthetic brains): None for ``__none__`` fields and user data."""
    out: list[FieldTruth | None] = []
    atlas = load_atlas()
    for lab, b in zip(np.asarray(labels).astype(str), np.asarray(brains).astype(str)):
        m = _SYNTH_BRAIN.match(b)
        if lab == NONE_ID or m is None or lab not in atlas.areas:
            out.append(None)
        else:
            out.append(brain_truth(int(m.group(1)), lab))
    return out


def simulated_vector(
    truth: FieldTruth | None, rng: np.random.Generator, noise: ReadoutNoise = ReadoutNoise()
) -> np.ndarray:
    """A readout vector as the readout would measure ``truth`` (None: missing)."""
    if truth is None or rng.random() < noise.missing:
        return missing_vector()
    oblique = bool(rng.random() < noise.oblique)
    th = truth.thickness_mm * max(0.5, 1.0 + rng.normal(0.0, noise.thickness_rel_sd))
    if oblique:
        th *= 1.0 + rng.uniform(0.03, 0.15)
    l1 = max(0.0, truth.layer_i_um + rng.normal(0.0, noise.layer_i_sd_um))
    ctype: str | None = truth.cortex_type
    if ctype == "agranular":
        ctype = "granular" if rng.random() < noise.iv_false_band else None
    elif rng.random() < noise.iv_undecided:
        ctype = None
    elif ctype == "dysgranular":
        ctype = "granular"
    iv = truth.iv_rel_width if ctype is not None else 0.0
    if ctype is not None and iv <= 0:
        iv = float(rng.uniform(0.05, 0.12))
    return make_vector(th, layer_i_um=l1, cortex_type=ctype, iv_rel_width=iv, oblique=oblique)


def simulated_vectors(
    truths: list[FieldTruth | None], seed: int, noise: ReadoutNoise = ReadoutNoise()
) -> np.ndarray:
    """:func:`simulated_vector` for every field ``(N, READOUT_DIM)``, deterministic in
    ``seed``."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(truths), READOUT_DIM), np.float32)
    for i, t in enumerate(truths):
        out[i] = simulated_vector(t, rng, noise)
    return out
