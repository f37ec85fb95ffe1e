"""Language-model coupling with tiny GPT-2 / Llama models built from config."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from cytowords.model import Captioner, PrefixProjector, ProjectorConfig, build_default_lm
from cytowords.model.default_lm import train_tokenizer
from cytowords.training.fit import fit_captioner
from tests.support.tiny_lms import tiny_lm

CAPTIONS = [
    "Area hOc1 shows a pale band in layer IVb and a dense granular layer IV.",
    "Area 4p is agranular with giant Betz cells in layer V.",
    "Area 44 has large pyramidal cells in deep layer III and a thin layer IV.",
    "This region does not match any known cortical area.",
]
CORPUS = (
    CAPTIONS * 5
    + [
        "granular cortex with a broad layer II and columns",
        "dysgranular transition with an inconspicuous layer IV",
        "thick cortex, sharp white matter border, large cells",
    ]
    * 5
)
EMB_DIM = 16


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS, vocab_size=320, min_frequency=1)


def _captioner(kind: str, tok) -> Captioner:
    lm = tiny_lm(kind, tok)
    proj = PrefixProjector(ProjectorConfig(EMB_DIM, lm.get_input_embeddings().embedding_dim, k=4))
    proj.match_lm(lm)
    return Captioner(lm, tok, proj)


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(len(CAPTIONS), EMB_DIM, generator=g), list(CAPTIONS)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_coupling_trains_and_generates(kind, tokenizer):
    torch.set_num_threads(1)
    cap = _captioner(kind, tokenizer)
    emb, caps = _data()
    loss0 = cap.loss(emb, caps).detach()
    assert torch.isfinite(loss0)
    res = fit_captioner(
        cap, lambda step: (emb, caps), steps=60, mode="projector+lm", lr=5e-3, warmup=5
    )
    assert res.losses[-1] < 0.5 * float(loss0)
    out = cap.generate(emb, max_new_tokens=40)
    assert isinstance(out, list) and len(out) == len(caps) and all(isinstance(s, str) for s in out)
    # the embedding alone decides the caption: most are reproduced verbatim
    assert sum(o == c for o, c in zip(out, caps)) >= 3
    assert cap.generate(emb[:0]) == []
    # anchored generation: each caption starts with its prompt, rows without one are free
    prompts = ["Area 44", None, "Area 4p", "Area hOc1"]
    anchored = cap.generate(emb, max_new_tokens=40, prompts=prompts)
    for p, a, free in zip(prompts, anchored, out):
        assert a.startswith(p) if p else a == free
    with pytest.raises(ValueError, match="2 prompts"):
        cap.generate(emb, prompts=["Area 44", None])


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_prefix_only_training_freezes_lm(kind, tokenizer):
    cap = _captioner(kind, tokenizer)
    before = {k: v.clone() for k, v in cap.lm.state_dict().items()}
    proj_before = [p.detach().clone() for p in cap.projector.parameters()]
    emb, caps = _data()
    res = fit_captioner(cap, lambda step: (emb, caps), steps=15, mode="projector", lr=3e-3)
    assert res.losses[-1] < res.losses[0]
    after = cap.lm.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(not torch.equal(a, b) for a, b in zip(proj_before, cap.projector.parameters()))


def test_loss_masks_prefix_and_padding(tokenizer):
    cap = _captioner("llama", tokenizer)
    emb, caps = _data()
    # a batch with padding gives the same per-caption loss as each caption alone
    cap.eval()
    with torch.no_grad():
        single = cap.loss(emb[1:2], caps[1:2])
        n1 = len(tokenizer(caps[1], add_special_tokens=False)["input_ids"]) + 1
        n0 = len(tokenizer(caps[3], add_special_tokens=False)["input_ids"]) + 1
        pair = cap.loss(emb[[1, 3]], [caps[1], caps[3]])
        other = cap.loss(emb[3:4], caps[3:4])
    assert torch.allclose(pair, (single * n1 + other * n0) / (n1 + n0), atol=1e-4)
    with pytest.raises(ValueError, match="2 embeddings but 1 captions"):
        cap.loss(emb[:2], caps[:1])


def test_projector_dimension_mismatch(tokenizer):
    lm = tiny_lm("gpt2", tokenizer)
    with pytest.raises(ValueError, match="lm_dim 64"):
        Captioner(lm, tokenizer, PrefixProjector(ProjectorConfig(EMB_DIM, 64)))


def test_default_lm_is_compact_and_couples():
    model, tok = build_default_lm(CORPUS, vocab_size=400, n_layer=2, n_embd=64, n_head=4)
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>" and tok.pad_token == "<pad>"
    assert (
        tok.decode(tok("Betz cells", add_special_tokens=False)["input_ids"]).strip() == "Betz cells"
    )
    n = sum(p.numel() for p in model.parameters())
    assert n < 500_000
    proj = PrefixProjector(ProjectorConfig(EMB_DIM, 64))
    proj.match_lm(model)
    cap = Captioner(model, tok, proj)
    emb, caps = _data()
    assert torch.isfinite(cap.loss(emb, caps))
    # the documented default size: ~2-5 M parameters with a 3k vocabulary
    big, _ = build_default_lm(CORPUS * 3, vocab_size=3000)
    assert 2e6 < sum(p.numel() for p in big.parameters()) < 5e6


@pytest.mark.skipif(importlib.util.find_spec("peft") is not None, reason="peft installed")
def test_lora_without_peft_says_what_to_install(tokenizer):
    cap = _captioner("gpt2", tokenizer)
    with pytest.raises(ImportError, match="peft"):
        cap.set_train_mode("lora")


@pytest.mark.skipif(importlib.util.find_spec("peft") is None, reason="optional peft missing")
def test_lora_trains_adapters_only(tokenizer):
    cap = _captioner("llama", tokenizer)
    emb, caps = _data()
    res = fit_captioner(cap, lambda step: (emb, caps), steps=10, mode="lora", lr=3e-3)
    assert res.losses[-1] < res.losses[0]


def test_fit_captioner_resumes_exactly(tmp_path, tokenizer):
    emb, caps = _data()

    def batches(step):
        i = step % len(caps)
        return emb[[i, (i + 1) % len(caps)]], [caps[i], caps[(i + 1) % len(caps)]]

    stop = {"flag": False}

    def progress(done, total):
        stop["flag"] = done >= 3

    cap = _captioner("llama", tokenizer)
    cap.lm.config.dropout = 0.0
    r1 = fit_captioner(
        cap,
        batches,
        steps=6,
        lr=3e-3,
        checkpoint_dir=tmp_path,
        on_progress=progress,
        cancel=lambda: stop["flag"],
    )
    assert r1.cancelled and len(r1.losses) == 3
    stop["flag"] = False
    torch.manual_seed(99)
    resumed = _captioner("llama", tokenizer)  # same init seed inside; weights from checkpoint
    with torch.no_grad():
        for p in resumed.parameters():
            p.add_(0.01)  # make sure the checkpoint, not the init, restores the weights
    r2 = fit_captioner(resumed, batches, steps=6, lr=3e-3, checkpoint_dir=tmp_path)
    full = fit_captioner(_captioner("llama", tokenizer), batches, steps=6, lr=3e-3)
    assert r2.losses[:3] == r1.losses and len(r2.losses) == 6
    assert torch.allclose(torch.tensor(r2.losses), torch.tensor(full.losses), atol=1e-4)


def _hf_greedy(cap: Captioner, emb: torch.Tensor, prompt: list[int], n: int) -> list[list[int]]:
    """Reference: Hugging Face ``generate`` (greedy) on the captioner's prefix + prompt."""
    eos = cap.tokenizer.eos_token_id
    with torch.inference_mode():
        inputs = cap._prefix(emb)
        if prompt:
            ids = torch.tensor(prompt)[None].expand(len(emb), -1)
            inputs = torch.cat([inputs, cap.lm.get_input_embeddings()(ids)], dim=1)
        out = cap.lm.generate(
            inputs_embeds=inputs,
            attention_mask=torch.ones(inputs.shape[:2], dtype=torch.long),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=eos,
        )
    rows = [r.tolist() for r in out]
    return [r[: r.index(eos)] if eos in r else r for r in rows]


def _default_captioner() -> tuple[Captioner, torch.Tensor, list[int]]:
    """The bundled model's captioner, inputs of two distinct fields and an area prompt."""
    from cytowords.model import get_bundle, resolve_model_path
    from cytowords.model.bundle.inference import caption_prompt

    b = get_bundle(resolve_model_path("default"), "cpu")
    g = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(2, b.embed_dim, generator=g), dim=1)
    feats = b.caption_features(emb, None)
    prompt = b.captioner.tokenizer(caption_prompt(b.area_ids[0]), add_special_tokens=False)
    return b.captioner, feats, prompt["input_ids"]


@pytest.mark.parametrize("which", ["default", "llama", "gpt2"])
def test_single_thread_decoding_equals_reference_greedy(which, tokenizer):
    """The captions decoded on one thread (the default for small LMs) equal, token for
    token, the same loop on torch's two threads and Hugging Face's greedy ``generate``."""
    if which == "default":
        cap, emb, prompt = _default_captioner()
    else:
        cap, emb, prompt = _captioner(which, tokenizer), torch.randn(2, EMB_DIM), [5, 9]
    assert cap.decode_threads == 1
    cap.eval()  # as generate() does: no dropout
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            fast = cap._greedy(emb, prompt, 32)
            assert torch.get_num_threads() == 2  # restored
            cap.decode_threads = None
            ambient = cap._greedy(emb, prompt, 32)
    finally:
        cap.decode_threads = 1
        torch.set_num_threads(old)
    assert fast == ambient
    assert fast == _hf_greedy(cap, emb, prompt, 32)
    assert any(len(r) > 5 for r in fast)


@pytest.mark.parametrize("which", ["default", "llama-mha", "llama", "gpt2"])
def test_llama_step_gives_the_lm_logits(which, tokenizer):
    """The captioner's own decoding step of a Llama LM with one key/value head per query
    head (``_llama_decoder``, which the greedy loop uses: the bundled LM, a tiny one) gives
    exactly the logits of the LM's own forward step, step after step; other LMs (grouped
    key/value heads, GPT-2) get none (the loop steps through the LM)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from cytowords.model.captioner import _cache_name, _llama_decoder

    if which == "default":
        cap, emb, prompt = _default_captioner()
    elif which == "llama-mha":
        torch.manual_seed(0)
        lm = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=len(tokenizer),
                hidden_size=48,
                intermediate_size=96,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=4,
                max_position_embeddings=128,
            )
        )
        proj = PrefixProjector(ProjectorConfig(EMB_DIM, 48, k=4))
        cap, emb, prompt = Captioner(lm, tokenizer, proj), torch.randn(2, EMB_DIM), [5, 9]
    else:
        cap, emb, prompt = _captioner(which, tokenizer), torch.randn(2, EMB_DIM), [5, 9]
    cap.eval()
    kw = _cache_name(cap.lm)
    with torch.inference_mode():
        inputs = cap._prefix(emb)
        ids = torch.tensor(prompt)[None].expand(len(emb), -1)
        inputs = torch.cat([inputs, cap.lm.get_input_embeddings()(ids)], dim=1)
        out = cap.lm(inputs_embeds=inputs, use_cache=True)
        past = getattr(out, kw)
        step = _llama_decoder(cap.lm, past, inputs.shape[1])
        if which in ("llama", "gpt2"):
            assert step is None
            return
        assert step is not None
        logits = out.logits[:, -1]
        for _ in range(6):
            nxt = logits.argmax(-1)
            mine = step(nxt[:, None])[:, -1]
            out = cap.lm(input_ids=nxt[:, None], use_cache=True, **{kw: past})
            past, logits = getattr(out, kw), out.logits[:, -1]
            assert torch.equal(mine, logits)


def test_llama_steps_feed_several_tokens_and_drop_them(tokenizer):
    """Several tokens fed in one call of the Llama steps give the logits of feeding them
    one at a time (each attends causally), and dropped positions are forgotten: feeding
    other tokens after a drop gives what feeding them there in the first place gives."""
    from cytowords.model.captioner import _cache_name, _llama_decoder

    cap, emb, prompt = _default_captioner()
    emb = emb[:1]
    kw = _cache_name(cap.lm)

    def steps():
        inputs = cap._prefix(emb)
        ids = torch.tensor(prompt)[None]
        inputs = torch.cat([inputs, cap.lm.get_input_embeddings()(ids)], dim=1)
        out = cap.lm(inputs_embeds=inputs, use_cache=True)
        return _llama_decoder(cap.lm, getattr(out, kw), inputs.shape[1])

    toks = torch.tensor([[17, 42, 5, 99, 3]])
    with torch.inference_mode():
        one = steps()
        each = torch.cat([one(toks[:, i : i + 1]) for i in range(toks.shape[1])], dim=1)
        many = steps()
        together = many(toks)
        assert together.shape == each.shape == (1, 5, len(cap.tokenizer))
        assert torch.allclose(together, each, atol=1e-5, rtol=1e-5)
        assert (together.argmax(-1) == each.argmax(-1)).all()
        many.drop(3)  # keep 17, 42; feed 7 instead of 5
        after = many(torch.tensor([[7]]))
        fresh = steps()
        fresh(toks[:, :2])
        assert torch.allclose(after, fresh(torch.tensor([[7]])), atol=1e-5, rtol=1e-5)
        assert many.pos == fresh.pos


def test_drafted_decoding_gives_the_greedy_captions_in_fewer_calls(monkeypatch):
    """One caption at a time (as ``describe`` makes them), the bundled captioner checks
    drafts from its training texts (the bundle's drafts.txt): its captions are, token for
    token, the greedy ones (the loop without drafts, and Hugging Face's ``generate``), in
    far fewer calls of the LM than tokens."""
    from cytowords.model import get_bundle, resolve_model_path
    from cytowords.model.bundle.inference import caption_prompt
    from cytowords.model.captioner import _LlamaSteps

    b = get_bundle(resolve_model_path("default"), "cpu")
    cap = b.captioner
    assert len(cap.draft_texts) > 500  # the default bundle's drafts.txt
    calls = []
    real = _LlamaSteps.__call__
    monkeypatch.setattr(_LlamaSteps, "__call__", lambda s, ids: calls.append(1) or real(s, ids))
    g = torch.Generator().manual_seed(1)
    emb = torch.nn.functional.normalize(torch.randn(6, b.embed_dim, generator=g), dim=1)
    feats = b.caption_features(emb, None)
    texts = cap.draft_texts
    tokens = drafted_calls = 0
    try:
        for i, area in enumerate(["hOc1", "4p", "44", "FG2", "Te1.0", None]):
            text = caption_prompt(area) if area else ""
            prompt = cap.tokenizer(text, add_special_tokens=False)["input_ids"] if area else []
            with torch.inference_mode():
                calls.clear()
                drafted = cap._greedy(feats[i : i + 1], prompt, 96)
                drafted_calls += len(calls)
                cap.draft_texts = []
                plain = cap._greedy(feats[i : i + 1], prompt, 96)
                cap.draft_texts = texts
            assert drafted == plain == _hf_greedy(cap, feats[i : i + 1], prompt, 96)
            tokens += len(plain[0])
    finally:
        cap.draft_texts = texts
    assert tokens > 100
    assert drafted_calls < 0.6 * tokens
