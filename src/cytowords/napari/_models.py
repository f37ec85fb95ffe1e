"""Model bundles for the widgets: devices available here, loaded once per (path, device)."""

from __future__ import annotations

import threading
from pathlib import Path

from ..describe import Describer, default_model_path, resolve_model_path

_CACHE: dict[tuple[str, str, str], Describer] = {}
_LOCK = threading.Lock()


def available_devices() -> list[str]:
    """``["auto", "cpu"]`` plus ``"cuda"`` when a CUDA device is usable."""
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


def default_model_message() -> str | None:
    """None if the bundled default model is installed, else a message saying what to do."""
    path = default_model_path()
    if path.is_dir():
        return None
    return (
        f"The bundled default model is not installed ({path}). Choose a bundle folder "
        "(train one with `cytowords train --preset default --out DIR`)."
    )


def check_model(model: str | Path) -> Path:
    """The bundle folder for ``model`` (``"default"`` or a path); FileNotFoundError if none."""
    if not str(model).strip():
        raise FileNotFoundError("no model bundle folder chosen; pick the folder of a bundle")
    path = resolve_model_path(model)
    if not (path / "config.json").is_file() and not any(path.glob("*.json")):
        raise FileNotFoundError(
            f"{path} is not a model bundle (no config json); choose the bundle's folder"
        )
    return path


def get_describer(model: str | Path, device: str = "auto", lm_path: str = "") -> Describer:
    """A :class:`Describer` for ``model`` on ``device``, loaded once and cached (thread-safe).

    ``lm_path``: the folder of the bundle's language model when it lives outside the bundle
    and has moved ("" = where the bundle says, or ``CYTOWORDS_LM_PATH``)."""
    from ..model import resolve_device

    path = check_model(model)
    dev = str(resolve_device(device))
    key = (str(path.resolve()), dev, str(lm_path or ""))
    with _LOCK:
        d = _CACHE.get(key)
        if d is None:
            d = Describer(path, device=dev, lm_path=lm_path or None)
            _CACHE[key] = d
        return d
