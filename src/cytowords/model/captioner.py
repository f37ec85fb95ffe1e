"""Captioner: couple patch embeddings to any Hugging Face causal language model.

Sequence layout (training and generation alike)::

    [p_1 .. p_k] [BOS]? caption tokens [EOS]

where p_i are the projector's prefix vectors (fed through ``inputs_embeds``), BOS is
included when the tokenizer defines one, and the loss is the next-token loss on the
caption tokens and EOS only (prefix and BOS positions are labelled -100). Because the
prefix length is constant, batched greedy generation needs no left padding; it runs a
manual KV-cached loop, which works for GPT-2, Llama and any model that accepts
``inputs_embeds`` and ``past_key_values``.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from cytowords.model.projector import PrefixProjector

TRAIN_MODES = ("projector", "lora", "full")
#: older name of "full"
_ALIASES = {"projector+lm": "full"}


#: LMs of at most this many parameters decode on one CPU thread by default: a decoding
#: step of a small LM is a chain of tiny matrix products (the bundled 3.6 M-parameter
#: decoder: 1 × 256 by 256 × 682), where a second intra-op thread costs more in
#: synchronisation than it saves (``benchmarks/describe.py``, docs/benchmarks.md). Larger
#: LMs keep torch's thread setting (not measured)
SMALL_LM_PARAMS = 10_000_000
#: one decoding loop at a time changes torch's (process-wide) thread count
_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: unchanged), then restore the
    previous count; one such block at a time in the process."""
    if n is None:
        yield
        return
    with _THREADS_LOCK:
        old = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(old)


def _accepts(lm: Any, name: str) -> bool:
    """True when ``lm.forward`` (of the base model under a PEFT wrapper) takes ``name``."""
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    return name in inspect.signature(base.forward).parameters


def _cache_name(lm: Any) -> str:
    """Keyword of the KV cache in ``lm.forward``: ``cache`` (transformers >= 5.x) or
    ``past_key_values`` (older releases and most custom models)."""
    return "cache" if _accepts(lm, "cache") else "past_key_values"


class Captioner(nn.Module):
    """lm: a ``PreTrainedModel`` causal LM; tokenizer: its (fast) tokenizer;
    projector: a :class:`PrefixProjector` whose ``lm_dim`` matches the LM."""

    def __init__(
        self, lm: Any, tokenizer: Any, projector: PrefixProjector, *, max_caption_tokens: int = 96
    ) -> None:
        super().__init__()
        if tokenizer.eos_token_id is None:
            raise ValueError("Captioner: the tokenizer defines no eos_token; set one first")
        self.lm = lm
        self.tokenizer = tokenizer
        self.projector = projector
        self.max_caption_tokens = int(max_caption_tokens)
        #: torch intra-op threads while decoding on the CPU (None: torch's setting): 1 for
        #: LMs of at most :data:`SMALL_LM_PARAMS` parameters; captions do not depend on it
        small = sum(prm.numel() for prm in lm.parameters()) <= SMALL_LM_PARAMS
        self.decode_threads: int | None = 1 if small else None
        #: what :meth:`set_train_mode` made trainable; decides how a bundle stores the LM
        self.train_mode = "projector"
        h = lm.get_input_embeddings().embedding_dim
        if h != projector.config.lm_dim:
            raise ValueError(
                f"Captioner: projector lm_dim {projector.config.lm_dim} != language model "
                f"input-embedding size {h}"
            )

    # ---------------------------------------------------------------- helpers
    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def _prefix(self, emb: Tensor) -> Tensor:
        """Prefix vectors (+ BOS embedding) ``(B, k[+1], H)`` in the LM dtype."""
        wte = self.lm.get_input_embeddings()
        pre = self.projector(emb.to(self.device)).to(wte.weight.dtype)
        bos = self.tokenizer.bos_token_id
        if bos is not None:
            ids = torch.full((emb.shape[0], 1), bos, dtype=torch.long, device=self.device)
            pre = torch.cat([pre, wte(ids)], dim=1)
        return pre

    # ---------------------------------------------------------------- training
    def loss(self, embeddings: Tensor, captions: list[str]) -> Tensor:
        """Mean next-token cross-entropy of ``captions`` given ``embeddings (B, D)``."""
        if len(captions) != embeddings.shape[0]:
            raise ValueError(
                f"Captioner.loss: {embeddings.shape[0]} embeddings but {len(captions)} captions"
            )
        eos = self.tokenizer.eos_token_id
        toks = self.tokenizer(list(captions), add_special_tokens=False)["input_ids"]
        toks = [t[: self.max_caption_tokens - 1] + [eos] for t in toks]
        length = max(len(t) for t in toks)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        ids = torch.full((len(toks), length), pad, dtype=torch.long)
        att = torch.zeros((len(toks), length), dtype=torch.long)
        for i, t in enumerate(toks):
            ids[i, : len(t)] = torch.tensor(t)
            att[i, : len(t)] = 1
        ids, att = ids.to(self.device), att.to(self.device)
        prefix = self._prefix(embeddings)
        p = prefix.shape[1]
        inputs = torch.cat([prefix, self.lm.get_input_embeddings()(ids)], dim=1)
        mask = torch.cat([torch.ones(len(toks), p, dtype=torch.long, device=self.device), att], 1)
        labels = torch.cat(
            [torch.full((len(toks), p), -100, device=self.device), ids.masked_fill(att == 0, -100)],
            dim=1,
        )
        out = self.lm(inputs_embeds=inputs, attention_mask=mask, labels=labels, use_cache=False)
        return out.loss

    def set_train_mode(
        self, mode: str, *, lora_r: int = 8, lora_alpha: int = 16
    ) -> list[nn.Parameter]:
        """Choose what trains and return the trainable parameters.

        "projector": only the projector (LM frozen); "full": projector and every LM weight
        ("projector+lm" is accepted for it); "lora": projector + LoRA adapters on every
        linear layer of the LM but the output layer (needs the optional ``peft`` package)."""
        mode = _ALIASES.get(mode, mode)
        if mode not in TRAIN_MODES:
            raise ValueError(f"train mode {mode!r} unknown; expected one of {TRAIN_MODES}")
        if mode == "lora":
            try:
                from peft import LoraConfig, get_peft_model
            except ImportError:
                raise ImportError(
                    "train mode 'lora' needs the optional package peft "
                    "(pip install 'napari-cytowords[lora]')"
                ) from None
            cfg = LoraConfig(
                r=lora_r,
                lora_alpha=lora_alpha,
                target_modules="all-linear",
                lora_dropout=0.05,
                task_type="CAUSAL_LM",
            )
            if not hasattr(self.lm, "peft_config"):  # a resumed fit: adapters already there
                self.lm = get_peft_model(self.lm, cfg)
        else:
            for prm in self.lm.parameters():
                prm.requires_grad_(mode == "full")
        self.train_mode = mode
        for prm in self.projector.parameters():
            prm.requires_grad_(True)
        return [prm for prm in self.parameters() if prm.requires_grad]

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def generate(
        self,
        embeddings: Tensor,
        max_new_tokens: int = 96,
        prompts: list[str | None] | None = None,
    ) -> list[str]:
        """Greedy captions for embeddings ``(B, D)`` (batched, KV-cached).

        prompts: optional text per row that the caption is forced to start with (e.g.
        ``"Area 4a"`` to make the caption name the area the head predicted); the LM
        continues from it. Rows with the same prompt are generated as one batch."""
        was_training = self.training
        self.eval()
        try:
            b = embeddings.shape[0]
            if b == 0:
                return []
            if prompts is not None and len(prompts) != b:
                raise ValueError(f"generate: {b} embeddings but {len(prompts)} prompts")
            groups: dict[tuple[int, ...], list[int]] = {}
            for i in range(b):
                text = prompts[i] if prompts is not None else None
                ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
                groups.setdefault(tuple(ids), []).append(i)
            texts = [""] * b
            for ids, rows in groups.items():
                sel = torch.as_tensor(rows)
                gen = self._greedy(embeddings[sel], list(ids), max_new_tokens)
                for r, toks in zip(rows, gen):
                    out = self.tokenizer.decode(list(ids) + toks, skip_special_tokens=True)
                    texts[r] = out.strip()
            return texts
        finally:
            self.train(was_training)

    def _greedy(
        self, embeddings: Tensor, prompt: list[int], max_new_tokens: int
    ) -> list[list[int]]:
        """Token ids generated greedily after the prefix (+ the ``prompt`` token ids), on
        :attr:`decode_threads` threads when on the CPU."""
        threads = self.decode_threads if self.device.type == "cpu" else None
        with torch_threads(threads):
            return self._greedy_loop(embeddings, prompt, max_new_tokens)

    def _greedy_loop(
        self, embeddings: Tensor, prompt: list[int], max_new_tokens: int
    ) -> list[list[int]]:
        """The KV-cached greedy loop of :meth:`_greedy`."""
        b = embeddings.shape[0]
        eos = self.tokenizer.eos_token_id
        inputs = self._prefix(embeddings)
        if prompt:
            ids = torch.tensor(prompt, dtype=torch.long, device=self.device)[None].expand(b, -1)
            inputs = torch.cat([inputs, self.lm.get_input_embeddings()(ids)], dim=1)
        # no attention mask: every row has the same length (no padding), which is what a
        # causal LM assumes without one, and building it each step costs time
        kw = _cache_name(self.lm)
        last = {"logits_to_keep": 1} if _accepts(self.lm, "logits_to_keep") else {}
        out = self.lm(inputs_embeds=inputs, use_cache=True, **last)
        past = getattr(out, kw)
        fast = _llama_decoder(self.lm, past, inputs.shape[1])
        done = torch.zeros(b, dtype=torch.bool, device=self.device)
        result = torch.full((b, max_new_tokens), eos, dtype=torch.long, device=self.device)
        logits = out.logits[:, -1]
        for step in range(max_new_tokens):
            nxt = logits.argmax(-1).masked_fill(done, eos)
            result[:, step] = nxt
            done |= nxt == eos
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            if fast is not None:
                logits = fast(nxt)
                continue
            out = self.lm(input_ids=nxt[:, None], use_cache=True, **{kw: past})
            past = getattr(out, kw)
            logits = out.logits[:, -1]
        rows = []
        for row in result.tolist():
            rows.append(row[: row.index(eos)] if eos in row else row)
        return rows


def _llama_decoder(lm: Any, cache: Any, length: int) -> Callable[[Tensor], Tensor] | None:
    """One greedy decoding step of a plain Hugging Face ``LlamaForCausalLM`` (SDPA
    attention, one key/value head per query head, default RoPE, no adapters) after a
    prefill of ``length`` positions whose KV ``cache`` it takes over: ``step(ids)`` feeds
    the ``(B,)`` token ids and returns the next logits ``(B, vocab)``. It runs the LM's own
    modules in the order of its ``forward`` (the same operations on the same shapes, so
    the same logits) without the per-call wrappers, masks and output objects (the bundled
    LM's captions: about 15 % less CPU, docs/model.md). None for any other LM, cache or
    device than the CPU (not measured there): the caller then steps through ``lm``."""
    from transformers import LlamaForCausalLM
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    cfg = getattr(lm, "config", None)
    layers = getattr(cache, "layers", None)
    rope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_type", "default")
    if (
        type(lm) is not LlamaForCausalLM
        or lm.device.type != "cpu"
        or getattr(cfg, "_attn_implementation", None) != "sdpa"
        or cfg.num_key_value_heads != cfg.num_attention_heads
        or rope != "default"
        or getattr(cfg, "pretraining_tp", 1) != 1
        or layers is None
        or len(layers) != len(lm.model.layers)
        or any(getattr(c, "keys", None) is None for c in layers)
    ):
        return None
    model = lm.model
    kv = [[c.keys, c.values] for c in layers]
    pos = [length]
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def step(ids: Tensor) -> Tensor:
        x = model.embed_tokens(ids[:, None])
        b = x.shape[0]
        where = torch.tensor([[pos[0]]], device=x.device)
        cos, sin = model.rotary_emb(x, position_ids=where)
        for layer, cached in zip(model.layers, kv):
            att = layer.self_attn
            h = layer.input_layernorm(x)
            shape = (b, 1, -1, att.head_dim)
            q = att.q_proj(h).view(shape).transpose(1, 2)
            k = att.k_proj(h).view(shape).transpose(1, 2)
            v = att.v_proj(h).view(shape).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            cached[0] = torch.cat([cached[0], k], dim=-2)
            cached[1] = torch.cat([cached[1], v], dim=-2)
            o = sdpa(q, cached[0], cached[1], attn_mask=None, dropout_p=0.0, scale=att.scaling)
            o = o.reshape(b, -1, 1, v.shape[-1]).transpose(1, 2).contiguous()
            x = x + att.o_proj(o.reshape(b, 1, -1).contiguous())
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        pos[0] += 1
        return lm.lm_head(model.norm(x))[:, -1]

    return step
