"""Language-model part of a bundle: embedded (``lm/`` folder) or referenced by path.

* embedded: ``save_pretrained`` (safetensors) + tokenizer files inside the bundle,
  covered by ``hashes.json`` (the bundled default LM).
* path: a large model (e.g. an 8B instruct model) stays where it is; the bundle
  stores the path and a fingerprint (sha256 of its ``config.json`` and
  ``tokenizer.json`` plus names and sizes of its ``*.safetensors`` files) that is
  checked at load time. The LM is frozen in this mode, so only the projector (in
  ``weights.safetensors``) depends on it.

Loading never runs remote code and reads only safetensors.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from cytowords.model.bundle_files import BundleError, sha256_file


def lm_fingerprint(model_dir: str | Path) -> str:
    """Cheap identity of a Hugging Face model folder (see module docstring)."""
    d = Path(model_dir)
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json"):
        if (d / name).is_file():
            h.update(f"{name}:{sha256_file(d / name)}\n".encode())
    for f in sorted(d.glob("*.safetensors")):
        h.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return h.hexdigest()


def save_lm(captioner: Any, out_dir: Path, *, fp16: bool, lm_path: str | None) -> dict[str, Any]:
    """Write the LM of ``captioner`` into ``out_dir/lm`` (or reference ``lm_path``);
    returns the ``lm`` section of config.json."""
    if lm_path is not None:
        if hasattr(captioner.lm, "merge_and_unload"):
            raise ValueError(
                "save_bundle: the language model carries LoRA adapters, which a bundle that "
                "references the base model by lm_path would lose; omit lm_path (the merged "
                "model is embedded) or save lm.merge_and_unload() to a folder and pass that"
            )
        src = Path(lm_path)
        if not (src / "config.json").is_file():
            raise ValueError(
                f"save_bundle: lm_path {src} is not a local Hugging Face model folder "
                "(no config.json); download the model first and pass its folder"
            )
        return {"kind": "path", "path": str(src.resolve()), "fingerprint": lm_fingerprint(src)}
    lm = captioner.lm
    if hasattr(lm, "merge_and_unload"):  # peft/LoRA: store the merged weights
        lm = lm.merge_and_unload()
    sd = {
        k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in lm.state_dict().items()
    }
    lm.save_pretrained(str(out_dir / "lm"), state_dict=sd)
    tok = captioner.tokenizer
    for key in ("is_local", "local_files_only"):  # how it was loaded, not what it is:
        tok.init_kwargs.pop(key, None)  # a resumed run writes the same files as a fresh one
    tok.save_pretrained(str(out_dir / "lm"))
    return {"kind": "embedded", "dir": "lm"}


def load_lm(
    spec: dict[str, Any], root: Path, device: torch.device, dtype: torch.dtype | None = None
) -> tuple[Any, Any]:
    """Load ``(lm, tokenizer)`` described by the config's ``lm`` section.

    dtype: default float32 on CPU, bfloat16 (if supported, else float16) on CUDA."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if spec.get("kind") == "path":
        lm_dir = Path(spec["path"])
        if not (lm_dir / "config.json").is_file():
            raise BundleError(f"model bundle {root}: its language model folder {lm_dir} is missing")
        found = lm_fingerprint(lm_dir)
        if found != spec.get("fingerprint"):
            raise BundleError(
                f"model bundle {root}: language model at {lm_dir} differs from the one the "
                f"bundle was trained with (fingerprint expected {spec.get('fingerprint')}, "
                f"found {found})"
            )
    else:
        lm_dir = root / spec.get("dir", "lm")
    if dtype is None:
        if device.type == "cpu":
            dtype = torch.float32
        else:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        lm = AutoModelForCausalLM.from_pretrained(
            str(lm_dir),
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            dtype=dtype,
        )
        tok = AutoTokenizer.from_pretrained(
            str(lm_dir), local_files_only=True, trust_remote_code=False
        )
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return lm.to(device).eval(), tok
