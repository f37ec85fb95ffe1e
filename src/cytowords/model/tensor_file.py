"""Small model parts stored as one safetensors file with string metadata (the domain
model, the scale head): written atomically, read back with one clear error line."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..atomic import atomic_file


def save_tensor_file(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]
) -> Path:
    """Write ``tensors`` (contiguous) with ``meta`` to ``path`` atomically."""
    with atomic_file(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
    return Path(path)


def load_tensor_file(path: str | Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a file written by :func:`save_tensor_file` (ValueError,
    one line naming ``what`` and the file, when it cannot be read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (ValueError, OSError, RuntimeError) as exc:
        raise ValueError(f"{what} {path}: cannot read it ({exc})") from None
