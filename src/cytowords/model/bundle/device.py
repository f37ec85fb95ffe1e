"""Where a model runs: the device a user names ("auto", "cpu", "cuda[:N]") and the devices
usable in this process."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """ "cpu", "cuda", "cuda:N" or "auto" (CUDA when available) -> ``torch.device``;
    ``ValueError`` (one line) for CUDA on a machine without it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use 'cpu'")
    return dev


def available_devices() -> list[str]:
    """``["auto", "cpu"]`` plus ``"cuda"`` when a CUDA device is usable."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices
