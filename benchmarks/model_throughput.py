"""CPU throughput of the default-size model parts (encoder, captioner, bundle size).

Usage: ``python benchmarks/model_throughput.py [--threads 1 2] [--seconds 4]``.
Prints patches/s of the default CytoEncoder (128 px) forward (inference) and training
(forward+backward), captioner training steps/s and batched greedy generation time with
the default-size language model, and the fp16 bundle size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from cytowords.model import (
    AreaHead,
    Captioner,
    CytoEncoder,
    EncoderConfig,
    HeadConfig,
    OpenSetScorer,
    PrefixProjector,
    ProjectorConfig,
    build_default_lm,
    save_bundle,
)

WORDS = (
    "area hOc1 V1 striate cortex granular layer IV pale band IVb dense small cells "
    "Betz giant pyramidal V agranular thick 4p 44 45 IIIc large columns thin broad "
    "dysgranular white matter border sharp gradual density lamination"
).split()


def _rate(fn, batch: int, seconds: float) -> float:
    fn()
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        fn()
        n += batch
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    caps = [
        " ".join(WORDS[int(i)] for i in torch.randint(0, len(WORDS), (30,), generator=g))
        for _ in range(2000)
    ]
    enc = CytoEncoder(EncoderConfig())
    lm, tok = build_default_lm(caps, vocab_size=3000)
    proj = PrefixProjector(ProjectorConfig(enc.embed_dim, lm.config.hidden_size, k=4))
    proj.match_lm(lm)
    cap = Captioner(lm, tok, proj)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    print(
        f"params: encoder {n(enc) / 1e6:.2f} M, LM {n(lm) / 1e6:.2f} M, projector {n(proj) / 1e6:.2f} M"
    )
    x = torch.rand(64, 1, 128, 128)
    emb = torch.randn(32, enc.embed_dim)
    batch_caps = caps[:32]
    opt_e = torch.optim.AdamW(enc.parameters())
    params = cap.set_train_mode("projector+lm")
    opt_c = torch.optim.AdamW(params, lr=1e-4)

    def enc_train() -> None:
        loss = enc(x).pow(2).mean()
        opt_e.zero_grad()
        loss.backward()
        opt_e.step()

    def cap_train() -> None:
        loss = cap.loss(emb, batch_caps)
        opt_c.zero_grad()
        loss.backward()
        opt_c.step()

    for t in args.threads:
        torch.set_num_threads(t)
        enc.eval()
        with torch.inference_mode():
            fwd = _rate(lambda: enc(x), 64, args.seconds)
            one = _rate(lambda: enc(x[:1]), 1, args.seconds)
        enc.train()
        trn = _rate(enc_train, 64, args.seconds)
        ctr = _rate(cap_train, 1, args.seconds)
        t0 = time.perf_counter()
        cap.generate(emb, max_new_tokens=48)
        gen = time.perf_counter() - t0
        print(
            f"threads {t}: encoder fwd {fwd:.0f} patches/s (batch 64), {one:.0f} patches/s "
            f"(batch 1); encoder train {trn:.0f} patches/s; captioner train "
            f"{ctr:.2f} steps/s (32 captions x ~{len(tok(caps[0])['input_ids'])} tokens); "
            f"generate 32 x 48 tokens {gen:.2f} s"
        )
    head = AreaHead(HeadConfig(embed_dim=enc.embed_dim, n_classes=58, hidden=256, none_class=True))
    scorer = OpenSetScorer(enc.embed_dim, 58)
    with tempfile.TemporaryDirectory() as d:
        p = save_bundle(
            Path(d) / "b",
            encoder=enc,
            head=head,
            scorer=scorer,
            area_ids=[f"a{i}" for i in range(57)],
            captioner=cap,
            fp16=True,
        )
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        print(f"fp16 bundle size: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
