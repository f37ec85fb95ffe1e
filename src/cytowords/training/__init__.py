"""The training submodule: labelled data, staged pipeline, presets, fit loops, mining.

Public API (imported lazily; see docs/training.md)::

    from cytowords.training import (train, get_preset, Preset, PRESETS,
        labelled_section, LabelledSection, load_data_spec, read_data_spec, DataSpecError,
        check_data_spec, PatchConfig, PatchSet, build_patch_set)
"""

from __future__ import annotations

_EXPORTS = {
    "train": "pipeline",
    "STAGES": "pipeline",
    "get_preset": "presets",
    "Preset": "presets",
    "PRESETS": "presets",
    "labelled_section": "data.spec",
    "LabelledSection": "data.spec",
    "load_data_spec": "data.spec",
    "check_brain_splits": "data.spec",
    "read_data_spec": "data.spec",
    "DataSpecError": "data.spec",
    "check_data_spec": "data.spec_check",
    "PatchConfig": "data.patches",
    "PatchSet": "data.patches",
    "build_patch_set": "data.patches",
    "sample_section": "data.patches",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # noqa: ANN202 - lazy module attribute
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'cytowords.training' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
