"""The model bundle: the folder format (save, load, file checks), its language model, the
loaded bundle (embed, classify, caption) and the one model handle (resolve a reference,
load once per process, cache, device).

Modules: :mod:`.folder` (layout, :func:`save_bundle`, :func:`load_bundle`), :mod:`.files`
(file hashes and checks), :mod:`.lm` (the language model inside or beside a bundle),
:mod:`.inference` (:class:`ModelBundle`), :mod:`.device` and :mod:`.handle`
(:func:`get_bundle`).
"""

from .device import available_devices, resolve_device
from .files import BundleError
from .folder import FORMAT_VERSION, NONE_LABEL, load_bundle, save_bundle
from .handle import DEFAULT_MODEL, default_model_path, get_bundle, resolve_model_path
from .inference import FieldPredictions, ModelBundle, to_unit_float

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT_VERSION",
    "NONE_LABEL",
    "BundleError",
    "FieldPredictions",
    "ModelBundle",
    "available_devices",
    "default_model_path",
    "get_bundle",
    "load_bundle",
    "resolve_device",
    "resolve_model_path",
    "save_bundle",
    "to_unit_float",
]
