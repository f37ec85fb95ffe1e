"""The readout of a region as a fixed-length vector: what the captioner is conditioned on.

One layout for every source (a :class:`~cytowords.measure.Readout` of a drawn region, or the
generator's truth plus a measurement-noise model when training), so a model trained on one
reads the other. Entries (:data:`READOUT_FIELDS`, units in the names):

========================  =================================================================
``measured``              1 when the region's cortex was measured (pia to white matter), 0
                          when not (no cortex found, no pia or white matter in the region);
                          every other entry is then 0
``thickness_mm``          median cortical thickness (mm, as the readout reports it)
``layer_i_mm``            layer I width (mm); 0 with ``layer_i_known`` = 0
``layer_i_known``         1 when layer I was estimated
``konio`` .. ``agranular``  one-hot cortex type from the layer IV band (koniocortex,
                          granular, dysgranular, agranular); all 0 when unknown (a
                          measured region's layer IV undecided: its IV claims are
                          unsupported, :func:`~cytowords.measure.caption_claims.claim_unsupported`)
``iv_rel_width``          relative width of the layer IV band (0..1 of the thickness), 0
                          when there is none
``layer_i_rel``           relative width of layer I (0..1 of the thickness)
``oblique``               1 when the cut looks oblique (thickness apparent)
========================  =================================================================

Nothing here needs torch: the vector is numpy ``float32``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

READOUT_FIELDS: tuple[str, ...] = (
    "measured",
    "thickness_mm",
    "layer_i_mm",
    "layer_i_known",
    "konio",
    "granular",
    "dysgranular",
    "agranular",
    "iv_rel_width",
    "layer_i_rel",
    "oblique",
)
READOUT_DIM = len(READOUT_FIELDS)
#: readout cortex types in the order of their one-hot entries
CORTEX_TYPES: tuple[str, ...] = ("koniocortex", "granular", "dysgranular", "agranular")
#: readout cortex types with an inner granular layer IV (dysgranular is neither claim)
IV_PRESENT = ("koniocortex", "granular")
_TYPE_FIELDS = ("konio", "granular", "dysgranular", "agranular")
_INDEX = {name: i for i, name in enumerate(READOUT_FIELDS)}


def missing_vector() -> np.ndarray:
    """The vector of a region whose cortex could not be measured (all 0)."""
    return np.zeros(READOUT_DIM, np.float32)


def make_vector(
    thickness_mm: float,
    *,
    layer_i_um: float = float("nan"),
    cortex_type: str | None = None,
    iv_rel_width: float = 0.0,
    oblique: bool = False,
) -> np.ndarray:
    """The vector of a measured region: thickness (mm), layer I width (µm; NaN when not
    estimated), cortex type (one of :data:`CORTEX_TYPES` or None) and the layer IV band's
    relative width. A non-finite or non-positive thickness gives :func:`missing_vector`."""
    v = missing_vector()
    if not np.isfinite(thickness_mm) or thickness_mm <= 0:
        return v
    v[_INDEX["measured"]] = 1.0
    v[_INDEX["thickness_mm"]] = float(thickness_mm)
    if np.isfinite(layer_i_um) and layer_i_um >= 0:
        v[_INDEX["layer_i_mm"]] = float(layer_i_um) / 1000.0
        v[_INDEX["layer_i_known"]] = 1.0
        v[_INDEX["layer_i_rel"]] = min(1.0, float(layer_i_um) / 1000.0 / float(thickness_mm))
    if cortex_type is not None:
        if cortex_type not in CORTEX_TYPES:
            raise ValueError(f"cortex type {cortex_type!r}; expected one of {CORTEX_TYPES}")
        v[_INDEX[_TYPE_FIELDS[CORTEX_TYPES.index(cortex_type)]]] = 1.0
    if np.isfinite(iv_rel_width) and iv_rel_width > 0:
        v[_INDEX["iv_rel_width"]] = float(min(1.0, iv_rel_width))
    v[_INDEX["oblique"]] = float(bool(oblique))
    return v


def readout_vector(readout: Any) -> np.ndarray:
    """The vector of a :class:`~cytowords.measure.Readout` (None or an unmeasured readout:
    :func:`missing_vector`)."""
    if readout is None or not readout.measured:
        return missing_vector()
    lay = readout.layers
    iv_rel = 0.0
    if lay is not None and np.isfinite(lay.iv_top) and np.isfinite(lay.iv_bottom):
        iv_rel = float(lay.iv_bottom - lay.iv_top)
    return make_vector(
        float(readout.thickness_mm),
        layer_i_um=float(lay.layer_i_width_um) if lay is not None else float("nan"),
        cortex_type=lay.cortex_type if lay is not None else None,
        iv_rel_width=iv_rel,
        oblique=bool(readout.oblique),
    )


def vector_values(v: np.ndarray) -> dict[str, Any]:
    """What a vector says: ``measured`` (bool), ``thickness_mm`` and ``layer_i_mm`` (float or
    None), ``cortex_type`` (str or None), ``iv_rel_width``, ``oblique`` (bool)."""
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.shape[0] != READOUT_DIM:
        raise ValueError(f"readout vector has {a.shape[0]} entries; expected {READOUT_DIM}")
    measured = bool(a[_INDEX["measured"]] >= 0.5)
    onehot = a[[_INDEX[f] for f in _TYPE_FIELDS]]
    ctype = CORTEX_TYPES[int(np.argmax(onehot))] if measured and onehot.max() >= 0.5 else None
    return {
        "measured": measured,
        "thickness_mm": float(a[_INDEX["thickness_mm"]]) if measured else None,
        "layer_i_mm": (
            float(a[_INDEX["layer_i_mm"]])
            if measured and a[_INDEX["layer_i_known"]] >= 0.5
            else None
        ),
        "cortex_type": ctype,
        "iv_rel_width": float(a[_INDEX["iv_rel_width"]]),
        "oblique": bool(a[_INDEX["oblique"]] >= 0.5),
    }
