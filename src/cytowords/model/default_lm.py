"""The bundled default language model: own tokenizer + compact Llama-style decoder.

Everything is built from configuration (no downloads): a byte-level BPE tokenizer is
trained with the ``tokenizers`` library on the caption corpus and wrapped as a
``PreTrainedTokenizerFast``; the decoder is a ``LlamaForCausalLM`` with a few layers.
Both save/load with the standard Hugging Face ``save_pretrained``/``from_pretrained``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
}


def train_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 3000, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Byte-level BPE tokenizer (``vocab_size`` incl. 256 byte symbols and 4 specials)
    trained on ``texts``, with ``<pad>``, ``<s>``, ``</s>``, ``<unk>`` special tokens."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("train_tokenizer: no non-empty caption texts given")
    if vocab_size < 300:
        raise ValueError(f"train_tokenizer: vocab_size must be >= 300, got {vocab_size}")
    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)


def build_decoder(
    tokenizer: PreTrainedTokenizerFast,
    *,
    n_layer: int = 4,
    n_embd: int = 256,
    n_head: int = 4,
    max_positions: int = 256,
    seed: int | None = None,
) -> LlamaForCausalLM:
    """Randomly initialised compact Llama decoder sized for ``tokenizer`` (tied input and
    output embeddings; ~4 M parameters with the defaults and a 3k vocabulary)."""
    if n_embd % n_head:
        raise ValueError(f"build_decoder: n_embd {n_embd} is not divisible by n_head {n_head}")
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=n_embd,
        intermediate_size=int(n_embd * 8 / 3) // 16 * 16,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attention_dropout=0.0,
    )
    if seed is not None:
        import torch

        torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def build_default_lm(
    captions: Iterable[str],
    *,
    vocab_size: int = 3000,
    n_layer: int = 4,
    n_embd: int = 256,
    n_head: int = 4,
    max_positions: int = 256,
    seed: int | None = 0,
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Tokenizer trained on ``captions`` plus a fresh compact decoder: ``(model, tokenizer)``."""
    tokenizer = train_tokenizer(captions, vocab_size=vocab_size)
    model = build_decoder(
        tokenizer,
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        max_positions=max_positions,
        seed=seed,
    )
    return model, tokenizer
