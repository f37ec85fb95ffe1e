"""Vision-language model: patch encoder, area head, open-set scorer, projector +
language-model captioner, the model bundle (save/load) and the one model handle
(:func:`get_bundle`: a model reference loaded once per process and device).

Public API (import from here): see ``docs/model.md``.
"""

from cytowords.atlas import REJECTION_CAPTION
from cytowords.model.bundle import (
    DEFAULT_MODEL,
    FORMAT_VERSION,
    NONE_LABEL,
    BundleError,
    FieldPredictions,
    ModelBundle,
    available_devices,
    default_model_path,
    get_bundle,
    load_bundle,
    resolve_device,
    resolve_model_path,
    save_bundle,
    to_unit_float,
)
from cytowords.model.captioner import Captioner
from cytowords.model.contrastive import augment, contrastive_step, spatial_contrastive_loss
from cytowords.model.encoder import CytoEncoder, EncoderConfig, ExternalEncoder, PatchEncoder
from cytowords.model.head import AreaHead, HeadConfig, OpenSetScorer
from cytowords.model.projector import PrefixProjector, ProjectorConfig

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT_VERSION",
    "NONE_LABEL",
    "REJECTION_CAPTION",
    "AreaHead",
    "BundleError",
    "Captioner",
    "CytoEncoder",
    "EncoderConfig",
    "ExternalEncoder",
    "FieldPredictions",
    "HeadConfig",
    "ModelBundle",
    "OpenSetScorer",
    "PatchEncoder",
    "PrefixProjector",
    "ProjectorConfig",
    "augment",
    "available_devices",
    "build_decoder",
    "build_default_lm",
    "contrastive_step",
    "default_model_path",
    "get_bundle",
    "load_bundle",
    "resolve_device",
    "resolve_model_path",
    "save_bundle",
    "spatial_contrastive_loss",
    "to_unit_float",
    "train_tokenizer",
]

_LAZY = {"build_decoder", "build_default_lm", "train_tokenizer"}  # import transformers lazily


def __getattr__(name: str):  # noqa: ANN202 - module-level lazy attribute
    if name in _LAZY:
        from cytowords.model import default_lm

        return getattr(default_lm, name)
    raise AttributeError(f"module 'cytowords.model' has no attribute {name!r}")
