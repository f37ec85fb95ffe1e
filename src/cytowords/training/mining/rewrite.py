"""Optional paraphrasing of captions by a local Hugging Face instruct model (off by default).

Runs only with an explicit local model folder, checked and loaded as the captioner's LM
(:func:`cytowords.model.bundle.lm.load_hf_lm`: safetensors only, never downloads, never
runs model code from the folder). A rewrite is kept
only if it still names its area first, names no other area and stays short.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cytowords.atlas import Atlas

from .aliases import find_mentions
from .captions import MAX_WORDS, parse_area
from .pipeline import CaptionRecord

PROMPT = (
    "Rewrite this description of a brain area's cytoarchitecture in different words. "
    "Keep every fact, start with the area name exactly as given, and mention no other "
    "area.\n\nDescription: {caption}\nRewritten:"
)


def _valid(text: str, area: str, atlas: Atlas) -> bool:
    if not text or len(text.split()) > MAX_WORDS or parse_area(text, atlas) != area:
        return False
    return all(area in m.ids for m in find_mentions(text, atlas))


def check_rewrite_model(model_path: str | Path | None) -> Path:
    """The folder of the rewrite model, checked without loading it: ValueError without a
    path or for a folder that is no usable local causal LM (pickled weights, remote code,
    unreadable headers: :func:`~cytowords.model.bundle.lm.check_lm_folder`),
    FileNotFoundError when it is missing; each one line."""
    if model_path is None or not str(model_path).strip():
        raise ValueError("rewrite needs an explicit local model folder (--rewrite-model PATH)")
    path = Path(model_path)
    if not path.is_dir():
        raise FileNotFoundError(f"--rewrite-model {path}: no such model folder")
    from cytowords.model.bundle.lm import check_lm_folder

    check_lm_folder(path)  # safetensors only, no remote code, readable headers
    return path


def rewrite_captions(
    records: list[CaptionRecord],
    atlas: Atlas,
    model_path: str | Path | None,
    *,
    max_new_tokens: int = 80,
    device: str = "cpu",
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CaptionRecord]:
    """Paraphrases of ``records`` (valid ones only) by the causal LM at ``model_path``
    (checked first: :func:`check_rewrite_model`)."""
    path = check_rewrite_model(model_path)
    import torch

    from cytowords.model.bundle.lm import load_hf_lm

    model, tok = load_hf_lm(path, torch.device(device), dtype=torch.float32)
    model.eval()
    out: list[CaptionRecord] = []
    for i, rec in enumerate(records):
        if on_progress:
            on_progress(i, len(records))
        if rec.area.startswith("__"):
            continue
        prompt = PROMPT.format(caption=rec.caption)
        ids = tok(prompt, return_tensors="pt").to(device)
        with torch.no_grad():
            gen = model.generate(
                **ids,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id or tok.eos_token_id,
            )
        text = tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        text = text.strip().split("\n")[0].strip()
        if _valid(text, rec.area, atlas) and text != rec.caption:
            out.append(CaptionRecord(rec.area, text, f"{rec.source}+rewrite", rec.passage))
    if on_progress:
        on_progress(len(records), len(records))
    return out
