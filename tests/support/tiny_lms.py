"""Tiny GPT-2 / Llama causal LMs built from config for a given tokenizer (tests)."""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM


def tiny_lm(kind: str, tok, *, dim: int = 48, layers: int = 2):
    """A randomly initialised (seed 0) ``"gpt2"`` or ``"llama"`` LM sized for ``tok``."""
    torch.manual_seed(0)
    if kind == "gpt2":
        cfg = GPT2Config(
            vocab_size=len(tok),
            n_layer=layers,
            n_embd=dim,
            n_head=2,
            n_positions=128,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
        return GPT2LMHeadModel(cfg)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=dim,
        intermediate_size=2 * dim,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(cfg)
