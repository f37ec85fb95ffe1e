"""A tiny, untrained but complete model bundle for fast tests of the inference plumbing."""

from __future__ import annotations

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
from cytowords.model.cortex import CortexConfig, CortexDetector

AREAS = ["hOc1", "hOc2", "4a", "4p", "44"]
PATCH_PX = 32
PIXEL_UM = 16.0


def make_tiny_bundle(
    path: Path,
    *,
    reject_share: float = 0.03,
    views: int = 1,
    thresholds: dict | None = None,
    cortex_logit: float | None = None,
    scorer_mode: str = "mahalanobis",
    pixel_size_um: float = PIXEL_UM,
    noncortex: dict | None = None,
) -> Path:
    """Save a random-weight bundle (32 px patches at 16 µm/px, 5 areas + none class);
    ``views``/``thresholds`` as in :func:`cytowords.model.save_bundle`; cortex_logit: add a
    cortex detector that gives every field this logit of showing cortex; pixel_size_um:
    the encoder's µm per pixel; noncortex: non-cortex level per view count."""
    torch.manual_seed(0)
    enc = CytoEncoder(
        EncoderConfig(pixel_size_um=pixel_size_um, patch_px=PATCH_PX, width=8, embed_dim=16)
    )
    d = enc.embed_dim
    n = len(AREAS) + 1
    head = AreaHead(HeadConfig(embed_dim=d, n_classes=n, hidden=8, none_class=True))
    with torch.no_grad():
        emb = enc.embed(torch.rand(120, 1, PATCH_PX, PATCH_PX))
    lab = torch.arange(len(emb)) % n
    head.set_input_stats(emb)
    head.eval()
    scorer = OpenSetScorer(d, n, scorer_mode)  # a novelty MLP stays untrained here
    with torch.no_grad():
        scorer.fit(emb, lab, in_scope=torch.tensor([True] * len(AREAS) + [False]), logits=head(emb))
        scorer.calibrate(scorer.score(emb, head(emb)), reject_share)
    captions = [f"Area {a}: a cortical area with six layers." for a in AREAS] * 3
    lm, tok = build_default_lm(captions, vocab_size=300, n_layer=1, n_embd=32, n_head=2)
    proj = PrefixProjector(ProjectorConfig(d, 32, k=2))
    proj.match_lm(lm)
    cortex = None
    if cortex_logit is not None:
        cortex = CortexDetector(CortexConfig(d, hidden=4))
        with torch.no_grad():
            cortex.net[2].weight.zero_()
            cortex.net[2].bias.fill_(cortex_logit)
    return save_bundle(
        path,
        cortex=cortex,
        encoder=enc,
        head=head,
        scorer=scorer,
        area_ids=AREAS,
        captioner=Captioner(lm, tok, proj),
        atlas_version="test",
        views=views,
        thresholds=thresholds,
        noncortex=noncortex,
    )
