"""Language-model part of a bundle, and the checks of a language-model folder.

How a bundle holds its LM follows from how the captioner was trained
(:meth:`cytowords.model.Captioner.set_train_mode`):

* ``embedded`` (``lm/``): ``save_pretrained`` (safetensors) + tokenizer files inside the
  bundle. The bundled default LM, and any LM trained in mode ``full``: the weights that
  were trained are the weights the bundle runs.
* ``path``: an LM used frozen (mode ``projector``) stays where it is; the bundle records
  its folder and the sha256 of its files (config, tokenizer, safetensors weights) and
  refuses a folder whose files differ.
* ``lora``: the LoRA adapter trained on a frozen base LM is saved in the bundle
  (``lm_adapter/``, peft ``save_pretrained``, safetensors); the base is referenced and
  checked as for ``path``, and the adapter is loaded onto it.

A referenced folder can be re-pointed at load time (``lm_path=``, or the environment
variable :data:`LM_PATH_ENV`); the files are checked all the same.

Loading never runs remote code and reads only safetensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .files import BundleError, sha256_file

#: environment variable that re-points a bundle's referenced LM folder (see load_lm)
LM_PATH_ENV = "CYTOWORDS_LM_PATH"
#: where a LoRA adapter lives inside a bundle
ADAPTER_DIR = "lm_adapter"
#: the adapter's weights file in it (peft ``save_pretrained(safe_serialization=True)``)
ADAPTER_WEIGHTS = "adapter_model.safetensors"
CAPTION_MODES = ("projector", "lora", "full")
#: parameters above which training the whole LM on a CPU earns a warning
LARGE_LM_PARAMS = 1_000_000_000
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


class LMFolderError(ValueError):
    """A language-model folder cannot be used (missing config, weights or tokenizer)."""


def _lm_files(d: Path) -> list[Path]:
    """The files that make up an LM: config, tokenizer files, safetensors weights."""
    names = ["config.json", "generation_config.json", *_TOKENIZER_FILES]
    files = [d / n for n in names if (d / n).is_file()]
    files += sorted(d.glob("*.safetensors")) + sorted(d.glob("*.safetensors.index.json"))
    return files


def _file_hash(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) within this process: an 8B
    model's 16 GB are read once per process, not once per bundle load."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = sha256_file(path)
    return _HASH_CACHE[key]


def lm_file_hashes(model_dir: str | Path) -> dict[str, str]:
    """sha256 of each file of a Hugging Face model folder that decides what the LM
    computes (``config.json``, tokenizer files, ``*.safetensors``), by file name."""
    d = Path(model_dir)
    return {f.name: _file_hash(f) for f in _lm_files(d)}


def lm_fingerprint(model_dir: str | Path) -> str:
    """One content hash of a model folder: sha256 over :func:`lm_file_hashes`."""
    h = hashlib.sha256()
    for name, digest in sorted(lm_file_hashes(model_dir).items()):
        h.update(f"{name}:{digest}\n".encode())
    return h.hexdigest()


def _legacy_fingerprint(d: Path) -> str:
    """The identity older bundles recorded: config/tokenizer hashes + weight file sizes."""
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json"):
        if (d / name).is_file():
            h.update(f"{name}:{sha256_file(d / name)}\n".encode())
    for f in sorted(d.glob("*.safetensors")):
        h.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return h.hexdigest()


# ------------------------------------------------------------------ folder checks
def check_lm_folder(model_dir: str | Path) -> Path:
    """Check that ``model_dir`` holds a usable causal LM: ``config.json`` with a
    ``model_type``, safetensors weights and tokenizer files. Returns the resolved folder;
    raises :class:`LMFolderError` naming the folder and the missing piece."""
    d = Path(model_dir)
    where = f"language model folder {d}"
    if not d.is_dir():
        raise LMFolderError(f"{where}: not a folder")
    cfg_file = d / "config.json"
    if not cfg_file.is_file():
        raise LMFolderError(
            f"{where}: config.json is missing (save the model with save_pretrained)"
        )
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LMFolderError(f"{where}: config.json is not valid JSON ({exc})") from None
    if not isinstance(cfg, dict) or not cfg.get("model_type"):
        raise LMFolderError(f"{where}: config.json has no model_type")
    _check_model_type(where, cfg)
    weights = sorted(d.glob("*.safetensors"))
    if not weights:
        if any(d.glob("*.bin")) or any(d.glob("*.pt")):
            raise LMFolderError(
                f"{where}: the weights are PyTorch pickles (*.bin), which cytowords does not "
                "load; save them as safetensors (model.save_pretrained(folder))"
            )
        raise LMFolderError(f"{where}: no *.safetensors weight files")
    for f in weights:
        _check_safetensors_header(where, f)
    has_tok = (d / "tokenizer.json").is_file() or (d / "tokenizer.model").is_file()
    has_tok = has_tok or ((d / "vocab.json").is_file() and (d / "merges.txt").is_file())
    if not has_tok:
        raise LMFolderError(
            f"{where}: no tokenizer (tokenizer.json, tokenizer.model or vocab.json + "
            "merges.txt); save it there with tokenizer.save_pretrained(folder)"
        )
    return d.resolve()


def _check_model_type(where: str, cfg: dict[str, Any]) -> None:
    """Refuse a ``model_type`` that transformers does not know: such a folder needs its
    own model code (``auto_map``), which cytowords never runs."""
    from transformers import CONFIG_MAPPING

    kind = cfg["model_type"]
    if kind in CONFIG_MAPPING:
        return
    if cfg.get("auto_map"):
        raise LMFolderError(
            f"{where}: config.json asks for the folder's own model code (model_type "
            f"{kind!r}, auto_map), which cytowords never runs (trust_remote_code stays "
            "off); use a model whose architecture transformers has built in"
        )
    import transformers

    raise LMFolderError(
        f"{where}: model_type {kind!r} in config.json is not one transformers "
        f"{transformers.__version__} knows"
    )


def _check_safetensors_header(where: str, path: Path) -> None:
    """Open a safetensors file and read its header (not its tensors): a truncated or
    foreign file is refused before any training rather than when the LM is loaded."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LMFolderError(
            f"{where}: {path.name} cannot be read as safetensors ({why}); a truncated or "
            "incomplete copy? copy or save the model again"
        ) from None


def load_tokenizer(model_dir: str | Path) -> Any:
    """The folder's tokenizer, as the captioner expects it: an end-of-sequence token is
    required (it ends every caption); a missing pad token is set to it (padded positions
    are masked out of the loss, so its identity does not matter)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            str(model_dir), local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise LMFolderError(
            f"language model folder {model_dir}: the tokenizer could not be loaded ({exc})"
        ) from None
    if tok.eos_token is None:
        raise LMFolderError(
            f"language model folder {model_dir}: the tokenizer defines no eos_token, which "
            "ends every caption; set one (tokenizer.eos_token = ...) and save it again"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _meta_lm(model_dir: Path) -> Any:
    """The folder's model built on the meta device (no memory, no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        cfg = AutoConfig.from_pretrained(
            str(model_dir), local_files_only=True, trust_remote_code=False
        )
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(cfg, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LMFolderError(
            f"language model folder {model_dir}: not a causal language model transformers "
            f"can build ({exc})"
        ) from None


def _check_weights_fit(d: Path, lm: Any) -> None:
    """Compare the tensors named in the safetensors headers with those the config builds
    (``lm`` on the meta device): a tensor of another shape, or a parameter the files lack,
    means config and weights do not belong together (transformers would fail, or fill the
    gap with random numbers). Names transformers maps on loading are left to
    :func:`load_hf_lm`."""
    from safetensors import safe_open

    where = f"language model folder {d}"
    stored: dict[str, tuple[tuple[int, ...], str]] = {}
    for f in sorted(d.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as fh:
            for k in fh.keys():
                stored[k] = (tuple(fh.get_slice(k).get_shape()), f.name)
    params = lm.state_dict(keep_vars=True)
    if not set(stored) <= set(params):
        return
    for k, (shape, fname) in stored.items():
        want = tuple(params[k].shape)
        if shape != want:
            raise LMFolderError(
                f"{where}: {k} is {list(shape)} in {fname} but {list(want)} by config.json; "
                "the config and the weights do not belong together"
            )
    present = {id(params[k]) for k in stored}
    lacking = [k for k, v in lm.named_parameters(remove_duplicate=False) if id(v) not in present]
    if lacking:
        raise LMFolderError(
            f"{where}: config.json asks for {len(lacking)} tensor(s) that the *.safetensors "
            f"files lack ({', '.join(lacking[:3])}{', ...' if len(lacking) > 3 else ''}); "
            "the config and the weights do not belong together"
        )


def lora_targets(lm: Any) -> list[str]:
    """Names of the linear layers a LoRA adapter goes on (every ``nn.Linear`` and GPT-2
    style ``Conv1D`` except the output embedding), as peft's ``"all-linear"`` picks them."""
    from transformers.pytorch_utils import Conv1D

    out_emb = lm.get_output_embeddings()
    return [
        name
        for name, mod in lm.named_modules()
        if isinstance(mod, (torch.nn.Linear, Conv1D)) and mod is not out_emb
    ]


def check_caption_mode(mode: str, model_dir: str | Path | None, device: torch.device) -> str:
    """Check before training that ``mode`` (``projector``, ``lora``, ``full``) can train
    the LM in ``model_dir`` (None: the bundled compact LM) on ``device``; returns the mode.

    lora needs peft and linear layers to adapt; full on a CPU with an LM above
    :data:`LARGE_LM_PARAMS` parameters warns (about 16 bytes per parameter with AdamW)."""
    mode = {"projector+lm": "full"}.get(mode, mode)
    if mode not in CAPTION_MODES:
        raise ValueError(f"caption mode {mode!r}: expected one of {', '.join(CAPTION_MODES)}")
    if mode == "lora":
        try:
            import peft  # noqa: F401
        except ImportError:
            raise ValueError(
                "caption mode 'lora' needs the optional package peft "
                "(pip install 'napari-cytowords[lora]')"
            ) from None
    if model_dir is None:
        return mode
    d = check_lm_folder(model_dir)
    load_tokenizer(d)
    lm = _meta_lm(d)
    if mode == "lora" and not lora_targets(lm):
        raise LMFolderError(
            f"language model folder {d}: caption mode 'lora' finds no linear layers to adapt "
            f"in {type(lm).__name__}"
        )
    n = sum(p.numel() for p in lm.parameters())
    if mode == "full" and device.type == "cpu" and n > LARGE_LM_PARAMS:
        warnings.warn(
            f"caption mode 'full' trains all {n / 1e9:.1f} B parameters of {d} on the CPU: "
            f"about {16 * n / 2**30:.0f} GiB of memory and very slow; consider "
            "--caption-mode lora or projector, or a GPU",
            UserWarning,
            stacklevel=2,
        )
    _check_weights_fit(d, lm)
    return mode


# ------------------------------------------------------------------ load / save
def load_hf_lm(model_dir: str | Path, device: torch.device, dtype: torch.dtype | None = None):
    """``(lm, tokenizer)`` of a local Hugging Face model folder (safetensors only, no remote
    code, no progress bar). dtype: default float32 on CPU, bfloat16 (if supported, else
    float16) on CUDA."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    if dtype is None:
        if device.type == "cpu":
            dtype = torch.float32
        else:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # its loading report: the problems are raised below
    try:
        lm, info = AutoModelForCausalLM.from_pretrained(
            str(model_dir),
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            dtype=dtype,
            output_loading_info=True,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "mismatched_sizes" in why:
            why = "tensors of other shapes than config.json gives"
        raise LMFolderError(
            f"language model folder {model_dir}: the weights could not be loaded ({why})"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise LMFolderError(
            f"language model folder {model_dir}: the weights lack {len(missing)} tensor(s) "
            f"of the model ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); "
            "transformers would fill them with random numbers"
        )
    return lm.to(device), load_tokenizer(model_dir)


def _reference(src: Path) -> dict[str, Any]:
    return {"path": str(src.resolve()), "files": lm_file_hashes(src)}


def save_lm(captioner: Any, out_dir: Path, *, fp16: bool, lm_path: str | None) -> dict[str, Any]:
    """Write the LM of ``captioner`` into ``out_dir`` as its train mode says (module
    docstring); returns the ``lm`` section of config.json.

    lm_path: the folder the captioner's LM was loaded from (None: the LM exists only in
    memory, e.g. the bundled compact LM, and is embedded whatever the mode)."""
    lm = captioner.lm
    is_peft = hasattr(lm, "merge_and_unload")
    mode = getattr(captioner, "train_mode", "projector")
    if lm_path is not None:
        src = Path(lm_path)
        if not (src / "config.json").is_file():
            raise ValueError(
                f"save_bundle: lm_path {src} is not a local Hugging Face model folder "
                "(no config.json); download the model first and pass its folder"
            )
        if is_peft:
            lm.save_pretrained(str(out_dir / ADAPTER_DIR), safe_serialization=True)
            return {"kind": "lora", "adapter": ADAPTER_DIR, **_reference(src)}
        if mode != "full":
            return {"kind": "path", **_reference(src)}
    if is_peft:  # LoRA on an in-memory LM: store the merged weights
        lm = lm.merge_and_unload()
    sd = {
        k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in lm.state_dict().items()
    }
    lm.save_pretrained(str(out_dir / "lm"), state_dict=sd)
    tok = captioner.tokenizer
    for key in ("is_local", "local_files_only"):  # how it was loaded, not what it is:
        tok.init_kwargs.pop(key, None)  # a resumed run writes the same files as a fresh one
    tok.save_pretrained(str(out_dir / "lm"))
    out: dict[str, Any] = {"kind": "embedded", "dir": "lm"}
    if lm_path is not None:
        out["trained_from"] = str(Path(lm_path).resolve())
    return out


def _check_reference(spec: dict[str, Any], lm_dir: Path, root: Path) -> None:
    """Refuse a referenced LM folder that is missing or whose files differ."""
    if not (lm_dir / "config.json").is_file():
        raise BundleError(
            f"model bundle {root}: its language model folder {lm_dir} is missing; point the "
            f"bundle at the model's folder (load_bundle(lm_path=...), --lm or {LM_PATH_ENV})"
        )
    expected = spec.get("files")
    if expected is None:  # older bundles: one fingerprint
        if _legacy_fingerprint(lm_dir) != spec.get("fingerprint"):
            raise BundleError(
                f"model bundle {root}: the language model at {lm_dir} differs from the one "
                "the bundle was trained with"
            )
        return
    found = lm_file_hashes(lm_dir)
    diff = sorted(n for n in set(expected) | set(found) if expected.get(n) != found.get(n))
    if diff:
        raise BundleError(
            f"model bundle {root}: the language model at {lm_dir} differs from the one the "
            f"bundle was trained with ({', '.join(diff)} differ)"
        )


def load_lm(
    spec: dict[str, Any],
    root: Path,
    device: torch.device,
    dtype: torch.dtype | None = None,
    lm_path: str | Path | None = None,
) -> tuple[Any, Any]:
    """Load ``(lm, tokenizer)`` described by the config's ``lm`` section.

    lm_path: folder to use instead of the one a ``path``/``lora`` bundle recorded (default:
    the environment variable :data:`LM_PATH_ENV`, else the recorded folder); its files must
    hash as recorded. Embedded LMs ignore it. dtype: as :func:`load_hf_lm`."""
    kind = spec.get("kind", "embedded")
    if kind not in ("path", "lora"):
        return load_hf_lm(root / spec.get("dir", "lm"), device, dtype)
    lm_dir = Path(lm_path or os.environ.get(LM_PATH_ENV) or spec["path"])
    _check_reference(spec, lm_dir, root)
    lm, tok = load_hf_lm(lm_dir, device, dtype)
    if kind == "lora":
        try:
            from peft import PeftModel
        except ImportError:
            raise BundleError(
                f"model bundle {root}: its LoRA adapter needs the optional package peft "
                "(pip install 'napari-cytowords[lora]')"
            ) from None
        adapter = root / spec.get("adapter", ADAPTER_DIR)
        if not (adapter / ADAPTER_WEIGHTS).is_file():
            raise BundleError(
                f"model bundle {root}: its LoRA adapter {adapter.name}/ holds no "
                f"{ADAPTER_WEIGHTS} (cytowords reads safetensors weights only, no pickles)"
            )
        lm = PeftModel.from_pretrained(lm, str(adapter), local_files_only=True)
        lm = lm.to(device)
    return lm.eval(), tok
