"""Area models taught from the user's own annotations.

A neuroanatomist names regions on one or more sections (QuPath GeoJSON with classes, or
napari Shapes with names); :func:`teach` reads fields of cortex inside each region, embeds
them with a model bundle's encoder, checks section-wise (leave-one-section-out) how well a
linear discriminant on those embeddings names held-out sections, calibrates an "other"
threshold at a 95 % in-class acceptance on the held-out sections, and fits the final model
on everything. :func:`save_taught` writes it as an ordinary model bundle (the encoder, a
linear head, a Mahalanobis open-set scorer, the base bundle's cortex detector), so *Describe*
and *Area map* take it wherever a model folder is accepted.

- :mod:`.annotations` — named regions per section, checked against the section.
- :mod:`.fit` — fields, features, cross-validation, the model and its bundle.
- :mod:`.profiles` — the readout's profile features of whole regions, validated the same way.
"""

from .annotations import Annotation, TeachError, annotations_from_geojson
from .fit import CvResult, TaughtModel, save_taught, teach

__all__ = [
    "Annotation",
    "CvResult",
    "TaughtModel",
    "TeachError",
    "annotations_from_geojson",
    "save_taught",
    "teach",
]
