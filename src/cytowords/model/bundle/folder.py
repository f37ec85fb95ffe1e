"""The bundle folder: one folder with everything needed for inference; save and load.

Layout::

    config.json          format "cytowords-bundle", format_version, encoder/head/scorer/
                         projector configs, area ids (head index order), none-class
                         handling, rejection threshold, test-time views and the
                         threshold of each view count ("tta"), atlas version, metrics,
                         prefix k
    weights.safetensors  encoder.* head.* scorer.* projector.* tensors (fp16 optional;
                         the scorer always stays float32)
    encoder.torchscript.pt   only for an external (TorchScript) encoder
    lm/                  Hugging Face save_pretrained of the language model + tokenizer
                         (absent when the bundle references a frozen LM by path)
    lm_adapter/          LoRA adapter (peft, safetensors) on a referenced base LM
    domain.safetensors   optional: the domain model (class means and whitening of
                         training embeddings, cutoff; :mod:`cytowords.model.domain`)
    scale_head.safetensors   optional: the scale head (embedding -> log of stated / true
                         pixel size, its calibration and band; :mod:`cytowords.model.scale_head`)
    drafts.txt           optional: the captioner's draft texts, one per line (UTF-8; the
                         sentences and clauses of its training captions,
                         :attr:`cytowords.model.Captioner.draft_texts`): they only
                         speed up decoding
    hashes.json          sha256 of every other file

Loading checks the format and version, every hash, and refuses unlisted files; nothing
is unpickled (safetensors, ``from_pretrained(use_safetensors=True,
trust_remote_code=False, local_files_only=True)``; TorchScript via ``torch.jit.load``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from cytowords.atlas import REJECTION_CAPTION
from cytowords.atlas.catalogue import NONE_ID
from cytowords.atomic import atomic_directory
from cytowords.model.captioner import Captioner
from cytowords.model.cortex import CortexConfig, CortexDetector
from cytowords.model.domain import DOMAIN_FILE, DomainModel
from cytowords.model.encoder import CytoEncoder, EncoderConfig, ExternalEncoder
from cytowords.model.head import AreaHead, HeadConfig, OpenSetScorer
from cytowords.model.projector import PrefixProjector, ProjectorConfig
from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead
from cytowords.model.tta import check_views

from .device import resolve_device
from .files import BundleError, verify_hashes, write_hashes
from .inference import ModelBundle
from .lm import load_lm, save_lm

FORMAT_NAME = "cytowords-bundle"
FORMAT_VERSION = 1
NONE_LABEL = NONE_ID  # "__none__": white matter, background, artefacts
_TS_FILE = "encoder.torchscript.pt"
DRAFTS_FILE = "drafts.txt"


def _prefixed(prefix: str, sd: dict[str, Tensor], fp16: bool) -> dict[str, Tensor]:
    out = {}
    for k, v in sd.items():
        v = v.detach().cpu()
        if fp16 and v.is_floating_point():
            v = v.half()
        out[f"{prefix}.{k}"] = v.contiguous()
    return out


def save_bundle(
    path: str | Path,
    *,
    encoder: CytoEncoder | ExternalEncoder,
    head: AreaHead,
    scorer: OpenSetScorer,
    area_ids: list[str],
    captioner: Captioner | None = None,
    rejection_caption: str = REJECTION_CAPTION,
    atlas_version: str = "",
    metrics: dict[str, Any] | None = None,
    fp16: bool = True,
    lm_path: str | Path | None = None,
    extra: dict[str, Any] | None = None,
    views: int = 1,
    thresholds: dict[int, float] | None = None,
    noncortex: dict[int, float] | None = None,
    cortex: CortexDetector | None = None,
    domain: DomainModel | None = None,
    scale_head: ScaleHead | None = None,
) -> Path:
    """Write a bundle folder atomically (temp folder beside ``path``, then rename).

    area_ids: area id per head output in index order (without ``__none__``; when
    ``head.config.none_class`` the head's last output is the none class). fp16: store
    encoder/head/projector tensors and the embedded language model as float16.
    lm_path: the local Hugging Face model folder the captioner's LM was loaded from. As
    the captioner was trained (``captioner.train_mode``): ``projector`` references the
    folder (its files' sha256 checked on load), ``lora`` saves the adapter in the bundle
    and references the base, ``full`` embeds the trained LM (:mod:`cytowords.model.bundle.lm`).
    None: the LM is embedded.
    views: test-time mirror/rotation views per field the bundle uses by default
    (:mod:`cytowords.model.tta`); thresholds: the open-set threshold calibrated for each
    view count (default: the scorer's threshold, for ``views``); noncortex: per view count,
    the open-set score from which a field reads as non-cortex and does not vote on a ROI
    (:meth:`ModelBundle.noncortex_level`; default: none);
    cortex: the cortex detector (:mod:`cytowords.model.cortex`), which then decides which
    fields vote on a ROI instead of the non-cortex level (default: none);
    domain: the domain model (:mod:`cytowords.model.domain`), written as
    :data:`~cytowords.model.domain.DOMAIN_FILE` (default: none);
    scale_head: the scale head (:mod:`cytowords.model.scale_head`), written as
    :data:`~cytowords.model.scale_head.SCALE_HEAD_FILE` with its fit figures under
    ``"scale_head"`` in ``config.json`` (default: none)."""
    views = check_views(views)
    for name, part in (("domain model", domain), ("scale head", scale_head)):
        if part is not None and part.embed_dim != encoder.embed_dim:
            raise ValueError(
                f"save_bundle: the {name} was fitted on {part.embed_dim}-d embeddings; "
                f"the encoder gives {encoder.embed_dim}-d"
            )
    table = {int(k): float(v) for k, v in (thresholds or {views: scorer.threshold}).items()}
    if views not in table:
        raise ValueError(f"save_bundle: no threshold for the default {views} views in {table}")
    n_expected = len(area_ids) + int(head.config.none_class)
    if head.config.n_classes != n_expected:
        raise ValueError(
            f"save_bundle: head has {head.config.n_classes} outputs but area_ids has "
            f"{len(area_ids)} entries (+1 none class: {head.config.none_class})"
        )
    if isinstance(encoder, CytoEncoder):
        enc_cfg: dict[str, Any] = {"kind": "cytoencoder", **encoder.config.to_dict()}
    elif isinstance(encoder, ExternalEncoder):
        enc_cfg = {
            "kind": "torchscript",
            "file": _TS_FILE,
            "pixel_size_um": encoder.pixel_size_um,
            "patch_px": encoder.patch_px,
            "embed_dim": encoder.embed_dim,
        }
    else:
        raise ValueError(f"save_bundle: unsupported encoder type {type(encoder).__name__}")
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "encoder": enc_cfg,
        "head": head.config.to_dict(),
        "scorer": {"mode": scorer.mode},
        "projector": captioner.projector.config.to_dict() if captioner else None,
        "prefix_k": captioner.projector.config.k if captioner else None,
        "max_caption_tokens": captioner.max_caption_tokens if captioner else None,
        "area_ids": list(area_ids),
        "none_class": {"enabled": head.config.none_class, "label": NONE_LABEL},
        "rejection_caption": rejection_caption,
        "threshold": table[views],
        "tta": {"views": views, "thresholds": {str(k): v for k, v in sorted(table.items())}},
        "atlas_version": atlas_version,
        "metrics": metrics or {},
        "weights_dtype": "float16" if fp16 else "float32",
        "lm": None,
        "cortex": cortex.config.to_dict() if cortex is not None else None,
        "extra": extra or {},
    }
    if scale_head is not None:
        config["scale_head"] = dict(scale_head.info)
    if noncortex:
        config["tta"]["noncortex"] = {
            str(int(k)): float(v) for k, v in sorted(noncortex.items()) if int(k) in table
        }
    tensors = _prefixed("head", head.state_dict(), fp16)
    tensors |= _prefixed("scorer", scorer.state_dict(), False)
    if isinstance(encoder, CytoEncoder):
        tensors |= _prefixed("encoder", encoder.state_dict(), fp16)
    if captioner is not None:
        tensors |= _prefixed("projector", captioner.projector.state_dict(), fp16)
    if cortex is not None:
        tensors |= _prefixed("cortex", cortex.state_dict(), False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(Path(path), overwrite=True) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        save_file(tensors, str(tmp / "weights.safetensors"), metadata={"format": FORMAT_NAME})
        if isinstance(encoder, ExternalEncoder):
            shutil.copyfile(encoder.path, tmp / _TS_FILE)
        if captioner is not None:
            config["lm"] = save_lm(
                captioner, tmp, fp16=fp16, lm_path=str(lm_path) if lm_path else None
            )
            (tmp / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        if domain is not None:
            domain.save(tmp / DOMAIN_FILE)
        if scale_head is not None:
            scale_head.save(tmp / SCALE_HEAD_FILE)
        if captioner is not None and captioner.draft_texts:
            write_drafts(tmp / DRAFTS_FILE, captioner.draft_texts)
        write_hashes(tmp)
    return Path(path)


def write_drafts(path: Path, texts: list[str]) -> None:
    """Write draft texts one per line (a text's own line breaks become spaces)."""
    lines = (" ".join(str(t).split()) for t in texts)
    path.write_text("\n".join(t for t in lines if t) + "\n", encoding="utf-8")


def read_drafts(path: Path) -> list[str]:
    """The draft texts of :func:`write_drafts`."""
    return [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]


def _read_config(root: Path) -> dict[str, Any]:
    if not root.is_dir():
        raise BundleError(f"model bundle {root} does not exist or is not a folder")
    cp = root / "config.json"
    if not cp.is_file():
        raise BundleError(f"model bundle {root}: config.json is missing")
    try:
        cfg = json.loads(cp.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"model bundle {root}: config.json is not valid JSON ({exc})") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT_NAME:
        found = cfg.get("format") if isinstance(cfg, dict) else type(cfg).__name__
        raise BundleError(
            f"model bundle {root}: config.json format is {found!r}, expected {FORMAT_NAME!r}"
        )
    if cfg.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"model bundle {root}: format_version {cfg.get('format_version')!r} is not "
            f"supported by this cytowords (expected {FORMAT_VERSION})"
        )
    return cfg


def load_bundle(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    lm_dtype: torch.dtype | None = None,
    lm_path: str | Path | None = None,
    captioner: bool = True,
) -> ModelBundle:
    """Verify and load a bundle folder; raises :class:`BundleError` on any problem.

    device: "cpu", "cuda[:N]" or "auto"; lm_dtype: language-model dtype (default float32
    on CPU, bfloat16/float16 on CUDA); lm_path: where the language model of a bundle
    that references it (frozen or LoRA base) now lives (default: the environment variable
    ``CYTOWORDS_LM_PATH``, else the folder recorded at training); its files must be the
    ones the bundle was trained with. captioner: False loads the vision parts only (no
    language model is read; ``ModelBundle.captioner`` is None)."""
    root = Path(path)
    cfg = _read_config(root)
    verify_hashes(root)
    dev = resolve_device(device)
    try:
        weights = load_file(str(root / "weights.safetensors"))
        enc_cfg = dict(cfg["encoder"])
        if enc_cfg.pop("kind") == "torchscript":
            if enc_cfg.get("file") != _TS_FILE:
                raise BundleError(f"model bundle {root}: encoder file must be {_TS_FILE}")
            encoder: Any = ExternalEncoder(
                root / _TS_FILE,
                pixel_size_um=enc_cfg["pixel_size_um"],
                patch_px=enc_cfg["patch_px"],
                embed_dim=enc_cfg["embed_dim"],
                map_location=dev,
            )
        else:
            encoder = CytoEncoder(EncoderConfig.from_dict(enc_cfg))
            encoder.load_state_dict(_section(weights, "encoder"))
        head = AreaHead(HeadConfig.from_dict(cfg["head"]))
        head.load_state_dict(_section(weights, "head"))
        scorer = OpenSetScorer(head.config.embed_dim, head.config.n_classes, cfg["scorer"]["mode"])
        scorer.load_state_dict(_section(weights, "scorer"))
        cortex = None
        if cfg.get("cortex"):
            cortex = CortexDetector(CortexConfig.from_dict(cfg["cortex"]))
            cortex.load_state_dict(_section(weights, "cortex"))
        domain = None
        if (root / DOMAIN_FILE).is_file():
            domain = DomainModel.load(root / DOMAIN_FILE)
        scale_head = None
        if (root / SCALE_HEAD_FILE).is_file():
            scale_head = ScaleHead.load(root / SCALE_HEAD_FILE)
        cap = None
        if captioner and cfg.get("projector"):
            projector = PrefixProjector(ProjectorConfig.from_dict(cfg["projector"]))
            projector.load_state_dict(_section(weights, "projector"))
            lm_spec = cfg.get("lm") or {"kind": "embedded"}
            lm, tok = load_lm(lm_spec, root, dev, lm_dtype, lm_path=lm_path)
            cap = Captioner(
                lm, tok, projector, max_caption_tokens=cfg.get("max_caption_tokens") or 96
            )
            if (root / DRAFTS_FILE).is_file():
                cap.draft_texts = read_drafts(root / DRAFTS_FILE)
    except BundleError:
        raise  # already names the bundle and the problem
    except (KeyError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise BundleError(f"model bundle {root}: could not load weights ({exc})") from None
    if domain is not None and domain.embed_dim != encoder.embed_dim:
        raise BundleError(
            f"model bundle {root}: {DOMAIN_FILE} was fitted on {domain.embed_dim}-d "
            f"embeddings, the encoder gives {encoder.embed_dim}"
        )
    if scale_head is not None and scale_head.embed_dim != encoder.embed_dim:
        raise BundleError(
            f"model bundle {root}: {SCALE_HEAD_FILE} was fitted on {scale_head.embed_dim}-d "
            f"embeddings, the encoder gives {encoder.embed_dim}"
        )
    try:
        return ModelBundle(
            encoder,
            head,
            scorer,
            cap,
            cfg,
            dev,
            cortex=cortex,
            domain=domain,
            scale_head=scale_head,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise BundleError(
            f"model bundle {root}: config.json 'tta' is invalid ({exc}); expected "
            '{"views": 1|2|4|8, "thresholds": {"<views>": <threshold>, ...}}'
        ) from None


def _section(weights: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    p = prefix + "."
    sec = {
        k[len(p) :]: v.float() if v.is_floating_point() else v
        for k, v in weights.items()
        if k.startswith(p)
    }
    if not sec:
        raise KeyError(f"no '{prefix}.*' tensors in weights.safetensors")
    return sec
