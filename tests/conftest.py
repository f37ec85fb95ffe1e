"""Test-wide isolation: ROI autosaves go to each test's own folder, never to ~/.cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _autosave_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CYTOWORDS_AUTOSAVE_DIR", str(tmp_path / "autosave"))
