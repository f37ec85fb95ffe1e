"""Caption stage: mine captions, build the language model, train the captioner, evaluate.

Label-mediated pairing: a training example is (features of a patch of area A, a random mined
caption of A); ``__none__`` patches get the fixed rejection caption. The captioner's input
features are the frozen embedding, or (``caption_input="embedding+probs"``) the embedding
concatenated with the area head's class probabilities (the bundle records this in
``config.extra.caption_input`` and :class:`~cytowords.model.ModelBundle` does the same).

With ``caption_input="embedding+probs+readout"`` the features also hold the field's readout
vector (:mod:`cytowords.measure.vector`), simulated from the generator's truth with the
readout's errors (:mod:`cytowords.training.data.readout_truth`, drawn afresh each step), and
the caption target follows the field (:mod:`cytowords.training.data.caption_targets`): the
area's mined caption without the clauses the field contradicts, plus measured statements
from the vector.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cytowords.atlas import NONE_ID, Atlas
from cytowords.measure.vector import READOUT_DIM, READOUT_FIELDS
from cytowords.model import AreaHead, Captioner, PrefixProjector, ProjectorConfig
from cytowords.model.caption_input import caption_inputs, fill_all, uses_readout
from cytowords.training.fit import fit_captioner
from cytowords.training.mining import (
    REJECTION_CAPTION,
    load_captions,
    mine_corpus,
    parse_area,
    write_captions,
)

from ..data.caption_targets import caption_target, template_texts
from ..data.readout_truth import ReadoutNoise, field_truths, simulated_vector, simulated_vectors
from ..presets import Preset
from ..run_folder import write_json


def mine(
    docs: str | Path | None, atlas: Atlas, areas: list[str], folder: Path
) -> dict[str, list[str]]:
    """Captions per area (+ ``__none__``): builtin corpus split "train" or a user folder;
    cached as ``captions.jsonl``. Areas without mined captions get a plain fallback."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "captions.jsonl"
    if path.is_file():
        records = load_captions(path)
    else:
        builtin = docs is None or str(docs) == "builtin"
        res = mine_corpus(None if builtin else docs, atlas, split="train" if builtin else None)
        records = res.captions
        write_captions(records, path)
    out: dict[str, list[str]] = {a: [] for a in areas}
    for r in records:
        if r.area in out:
            out[r.area].append(r.caption)
    for a, caps in out.items():
        if not caps:
            name = atlas.areas[a].name if a in atlas.areas else a
            out[a] = [f"Area {a} ({name})."]
    out[NONE_ID] = [REJECTION_CAPTION]
    return out


def build_lm(p: Preset, captions: dict[str, list[str]], folder: Path, device: torch.device):
    """(lm, tokenizer): the compact default LM with its own tokenizer (tokenizer saved so a
    resumed run rebuilds the same vocabulary), or a local Hugging Face LM by path."""
    if p.lm_path:
        from cytowords.model.bundle.lm import load_hf_lm

        return load_hf_lm(p.lm_path, device)
    from transformers import PreTrainedTokenizerFast

    from cytowords.model import build_decoder, train_tokenizer

    tdir = folder / "tokenizer"
    if (tdir / "tokenizer.json").is_file():
        tok = PreTrainedTokenizerFast.from_pretrained(str(tdir), local_files_only=True)
    else:
        texts = [c for caps in captions.values() for c in caps]
        if uses_readout(p.caption_input):
            texts += template_texts()
        tok = train_tokenizer(texts, vocab_size=p.lm_vocab)
        tok.save_pretrained(str(tdir))
    lm = build_decoder(tok, n_layer=p.lm_layers, n_embd=p.lm_dim, n_head=p.lm_heads, seed=0)
    return lm.to(device), tok


@torch.inference_mode()
def caption_features(p: Preset, head: AreaHead, emb: torch.Tensor) -> torch.Tensor:
    """Captioner input without the readout vector (appended per batch when the preset
    conditions on it): embedding, or embedding + head probabilities."""
    spec = p.caption_input.removesuffix("+readout")
    return caption_inputs(spec, emb, head)


def readout_settings(p: Preset) -> dict:
    """What a readout-conditioned bundle records in ``config.extra`` (empty otherwise):
    the vector's size and fields and the noise model its training vectors were drawn with."""
    if not uses_readout(p.caption_input):
        return {}
    return {
        "readout_dim": READOUT_DIM,
        "readout_fields": list(READOUT_FIELDS),
        "readout_noise": ReadoutNoise().to_dict(),
    }


def run_captioner(
    p: Preset,
    feats: torch.Tensor,
    labels: np.ndarray,
    captions: dict[str, list[str]],
    folder: Path,
    device: torch.device,
    progress: Callable,
    cancel,
    brains: np.ndarray | None = None,
) -> tuple[Captioner, dict]:
    """Train the projector (+ the LM as ``p.caption_mode`` says) with next-token loss
    (resumable). ``feats``: :func:`caption_features`; ``brains``: the fields' brain ids
    (``synth-<seed>`` brains give readout truth; needed with a readout-conditioned preset)."""
    lm, tok = build_lm(p, captions, folder, device)
    torch.manual_seed(0)
    readout = uses_readout(p.caption_input)
    truths = field_truths(labels, brains if brains is not None else np.full(len(labels), ""))
    width = feats.shape[1] + (READOUT_DIM if readout else 0)
    proj = PrefixProjector(
        ProjectorConfig(width, lm.get_input_embeddings().embedding_dim, k=p.prefix_k)
    )
    proj.match_lm(lm)
    cap = Captioner(lm, tok, proj.to(device))
    keep = np.array([str(lab) in captions for lab in labels])
    idx_pool = np.nonzero(keep)[0]
    # balance: draw the area uniformly, then a patch of that area
    by_area: dict[str, np.ndarray] = {}
    for i in idx_pool:
        by_area.setdefault(str(labels[i]), []).append(i)  # type: ignore[union-attr]
    names = sorted(by_area)
    by_area = {a: np.array(v) for a, v in by_area.items()}

    def batches(step: int):
        rng = np.random.default_rng(zlib.crc32(b"captions") + step)
        chosen = rng.choice(len(names), size=p.caption_batch)
        rows, texts, vecs = [], [], []
        for c in chosen:
            a = names[int(c)]
            row = int(rng.choice(by_area[a]))
            rows.append(row)
            caps = captions[a]
            text = caps[int(rng.integers(len(caps)))]
            if readout:
                vec = simulated_vector(truths[row], rng)
                vecs.append(vec)
                text = caption_target(text, truths[row], vec, rng)
            texts.append(text)
        x = feats[rows]
        if readout:
            x = torch.cat([x, torch.from_numpy(np.stack(vecs))], 1)
        return x.to(device), texts

    res = fit_captioner(
        cap,
        batches,
        steps=p.caption_steps,
        mode=p.caption_mode,
        lr=p.caption_lr,
        warmup=max(1, min(50, p.caption_steps // 10)),
        checkpoint_dir=folder,
        checkpoint_every=250,
        on_progress=progress,
        cancel=cancel,
    )
    log = {"losses": res.losses, "seconds": res.seconds, "cancelled": res.cancelled}
    write_json(folder / "losses.json", log)
    return cap, log


@torch.inference_mode()
def caption_metrics(
    p: Preset,
    cap: Captioner,
    feats: torch.Tensor,
    labels: np.ndarray,
    areas: list[str],
    atlas: Atlas,
    device: torch.device,
    brains: np.ndarray | None = None,
) -> dict:
    """Label match of generated captions on validation patches: ``eval_captions_per_area``
    in-scope patches per area (parse_area == true area) and as many ``__none__`` patches
    (rejection caption expected). A readout-conditioned captioner reads vectors simulated
    from the validation fields' truth (``brains``) and its slots are filled from them."""
    rng = np.random.default_rng(7)
    rows = []
    for a in [*areas, NONE_ID]:
        idx = np.nonzero(labels == a)[0]
        if len(idx):
            k = p.eval_captions_per_area * (3 if a == NONE_ID else 1)
            rows.extend(rng.choice(idx, size=min(k, len(idx)), replace=False).tolist())
    if not rows:
        return {}
    texts: list[str] = []
    vecs = None
    if uses_readout(p.caption_input):
        b = brains if brains is not None else np.full(len(labels), "")
        vecs = simulated_vectors(field_truths(labels[rows], b[rows]), seed=11)
    for i in range(0, len(rows), 128):
        x = feats[rows[i : i + 128]]
        if vecs is not None:
            x = torch.cat([x, torch.from_numpy(vecs[i : i + 128])], 1)
        out = cap.generate(x.to(device), max_new_tokens=96)
        texts += fill_all(out, vecs[i : i + 128]) if vecs is not None else out
    hit_in, n_in, hit_none, n_none = 0, 0, 0, 0
    examples = []
    for r, t in zip(rows, texts):
        truth = str(labels[r])
        got = parse_area(t, atlas)
        if truth == NONE_ID:
            n_none += 1
            hit_none += got == NONE_ID
        else:
            n_in += 1
            hit_in += got == truth
        if len(examples) < 12 and rng.random() < 0.1:
            examples.append({"area": truth, "caption": t})
    return {
        "val_label_match": hit_in / max(1, n_in),
        "val_none_caption_rejection": hit_none / max(1, n_none),
        "n_val_captions": n_in,
        "caption_examples": examples,
    }
