"""Captioner: couple patch embeddings to any Hugging Face causal language model.

Sequence layout (training and generation alike)::

    [p_1 .. p_k] [BOS]? caption tokens [EOS]

where p_i are the projector's prefix vectors (fed through ``inputs_embeds``), BOS is
included when the tokenizer defines one, and the loss is the next-token loss on the
caption tokens and EOS only (prefix and BOS positions are labelled -100). Because the
prefix length is constant, batched greedy generation needs no left padding; it runs a
manual KV-cached loop, which works for GPT-2, Llama and any model that accepts
``inputs_embeds`` and ``past_key_values``.

Drafted decoding: one caption at a time on a plain Llama LM on the CPU (what ``describe``
does), the tokens that followed the last few generated ones in the captioner's training
texts (:attr:`Captioner.draft_texts`) are proposed as a draft and checked in one call of
the LM; the draft's tokens are kept up to the first that greedy decoding would not have
chosen, and the LM's own choice follows. The caption is the greedy one (the same
argmax at every position); only the number of LM calls falls, by about 2.4× on the
bundled model's captions (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import inspect
import re
import threading
from collections.abc import Iterable, Iterator
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
#: drafted decoding: continuations are looked up after the last 1..DRAFT_CONTEXT tokens and
#: are at most DRAFT_TOKENS long (12 proposed 2.39× fewer LM calls than 1 token at a time
#: on 37 captions of the bundled model, 8: 2.25×, 5: 2.18×)
DRAFT_CONTEXT = 3
DRAFT_TOKENS = 12
#: where a training caption is cut into draft texts (after a sentence or a ``;`` clause):
#: the clauses recombine across captions, the split keeps a bundle's file small
_DRAFT_SPLIT = re.compile(r"(?<=[.;])\s+")
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
        self._draft_texts: list[str] = []
        self._drafts: dict[tuple[int, ...], list[int]] | None = None
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
        table = self._draft_table() if fast is not None and b == 1 else None
        if table:
            return [self._drafted(fast, out.logits[0, -1], prompt, table, max_new_tokens)]
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
                logits = fast(nxt[:, None])[:, -1]
                continue
            out = self.lm(input_ids=nxt[:, None], use_cache=True, **{kw: past})
            past = getattr(out, kw)
            logits = out.logits[:, -1]
        rows = []
        for row in result.tolist():
            rows.append(row[: row.index(eos)] if eos in row else row)
        return rows

    @property
    def draft_texts(self) -> list[str]:
        """Texts whose token runs draft the next tokens when one caption is decoded (the
        captioner's training texts, :func:`draft_texts`; a bundle's ``drafts.txt``): speed
        only, the caption is the greedy one; empty: no drafts."""
        return list(self._draft_texts)

    @draft_texts.setter
    def draft_texts(self, texts: Iterable[str]) -> None:
        self._draft_texts, self._drafts = [str(t) for t in texts], None

    def _draft_table(self) -> dict[tuple[int, ...], list[int]]:
        """:func:`draft_table` of :attr:`draft_texts`, built at the first use."""
        if self._drafts is None:
            self._drafts = draft_table(self.tokenizer, self._draft_texts)
        return self._drafts

    def _drafted(
        self,
        steps: _LlamaSteps,
        logits: Tensor,
        prompt: list[int],
        table: dict[tuple[int, ...], list[int]],
        max_new_tokens: int,
    ) -> list[int]:
        """The greedy tokens of one caption after its prefill (``logits``: its last
        position's), each LM call checking a draft from ``table`` (see the module
        docstring)."""
        eos = self.tokenizer.eos_token_id
        seq, out = list(prompt), []
        nxt = int(logits.argmax())
        while True:
            out.append(nxt)
            seq.append(nxt)
            if nxt == eos or len(out) >= max_new_tokens:
                break
            draft = _draft(table, seq)[: max_new_tokens - len(out)]
            ids = torch.tensor([[nxt, *draft]], dtype=torch.long, device=self.device)
            pred = steps(ids)[0].argmax(-1).tolist()
            n = 0  # draft tokens greedy decoding would have chosen (up to an end)
            while n < len(draft) and draft[n] == pred[n] and draft[n] != eos:
                n += 1
            out.extend(draft[:n])
            seq.extend(draft[:n])
            steps.drop(len(draft) - n)
            if len(out) >= max_new_tokens:
                break
            nxt = pred[n]
        return out[: out.index(eos)] if eos in out else out


def draft_texts(captions: Iterable[str]) -> list[str]:
    """A captioner's draft texts (:attr:`Captioner.draft_texts`) from its training
    captions: their distinct sentences and ``;`` clauses, in sorted order."""
    parts = {p.strip() for c in captions for p in _DRAFT_SPLIT.split(str(c))}
    return sorted(p for p in parts if p)


def draft_table(tokenizer: Any, texts: list[str]) -> dict[tuple[int, ...], list[int]]:
    """Token runs of ``texts`` (each ending with EOS) -> the first up to
    :data:`DRAFT_TOKENS` tokens that follow them in the first text that has them, for runs
    of 1..:data:`DRAFT_CONTEXT` tokens."""
    table: dict[tuple[int, ...], list[int]] = {}
    if not texts:
        return table
    eos = tokenizer.eos_token_id
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids = [*ids, eos]
        for i in range(len(ids) - 1):
            for m in range(1, min(DRAFT_CONTEXT, i + 1) + 1):
                table.setdefault(tuple(ids[i - m + 1 : i + 1]), ids[i + 1 : i + 1 + DRAFT_TOKENS])
    return table


def _draft(table: dict[tuple[int, ...], list[int]], seq: list[int]) -> list[int]:
    """The draft after ``seq``: the continuation of its longest final run in ``table``."""
    for m in range(min(DRAFT_CONTEXT, len(seq)), 0, -1):
        got = table.get(tuple(seq[-m:]))
        if got is not None:
            return got
    return []


def _llama_decoder(lm: Any, cache: Any, length: int) -> _LlamaSteps | None:
    """Greedy decoding steps (:class:`_LlamaSteps`) of a plain Hugging Face
    ``LlamaForCausalLM`` (SDPA attention, one key/value head per query head, default RoPE,
    no adapters) after a prefill of ``length`` positions whose KV ``cache`` they take over.
    They run the LM's own modules in the order of its ``forward`` (the same operations on
    the same shapes, so the same logits) without the per-call wrappers, masks and output
    objects (the bundled LM's captions: about 15 % less CPU, docs/model.md). None for any
    other LM, cache or device than the CPU (not measured there): the caller then steps
    through ``lm``."""
    from transformers import LlamaForCausalLM

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
    return _LlamaSteps(lm, [[c.keys, c.values] for c in layers], length)


class _LlamaSteps:
    """Decoding steps of a plain Llama LM over its KV cache (:func:`_llama_decoder`)."""

    def __init__(self, lm: Any, kv: list[list[Tensor]], length: int) -> None:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        self.lm, self.kv, self.pos = lm, kv, length
        self.rope = apply_rotary_pos_emb

    def __call__(self, ids: Tensor) -> Tensor:
        """Feed token ids ``(B, m)`` after the cached positions (each attends to the cache
        and to the fed ones before it); the logits ``(B, m, vocab)`` of each."""
        model = self.lm.model
        x = model.embed_tokens(ids)
        b, m = ids.shape
        where = torch.arange(self.pos, self.pos + m, device=x.device)[None]
        cos, sin = model.rotary_emb(x, position_ids=where)
        # one fed token attends to everything cached; several, causally among themselves
        held = self.kv[0][0].shape[-2]
        mask = None if m == 1 else torch.ones(m, held + m, dtype=torch.bool).tril(held)
        sdpa = torch.nn.functional.scaled_dot_product_attention
        for layer, cached in zip(model.layers, self.kv):
            att = layer.self_attn
            h = layer.input_layernorm(x)
            shape = (b, m, -1, att.head_dim)
            q = att.q_proj(h).view(shape).transpose(1, 2)
            k = att.k_proj(h).view(shape).transpose(1, 2)
            v = att.v_proj(h).view(shape).transpose(1, 2)
            q, k = self.rope(q, k, cos, sin)
            cached[0] = torch.cat([cached[0], k], dim=-2)
            cached[1] = torch.cat([cached[1], v], dim=-2)
            o = sdpa(q, cached[0], cached[1], attn_mask=mask, dropout_p=0.0, scale=att.scaling)
            x = x + att.o_proj(o.transpose(1, 2).reshape(b, m, -1).contiguous())
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        self.pos += m
        return self.lm.lm_head(model.norm(x))

    def drop(self, n: int) -> None:
        """Forget the last ``n`` fed positions (a draft's tokens that were not kept)."""
        if n <= 0:
            return
        for cached in self.kv:
            cached[0], cached[1] = cached[0][..., :-n, :], cached[1][..., :-n, :]
        self.pos -= n
