"""Fixtures shared by the model tests."""

from __future__ import annotations

import pytest


@pytest.fixture()
def text_bundle(tiny_bundle, monkeypatch):
    """The tiny bundle (its captioner reads the embedding only) whose language model writes
    its ``text`` attribute whatever it reads."""
    from cytowords.model import load_bundle

    b = load_bundle(tiny_bundle, device="cpu")
    b.text = ""

    def generate(feats, max_new_tokens=96, prompts=None):
        return [b.text] * len(feats)

    monkeypatch.setattr(b.captioner, "generate", generate)
    return b
