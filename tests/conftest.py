"""Fixtures for the whole suite: ROI autosaves go to each test's own folder (never to
~/.cache), and one tiny model bundle is built per session."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _autosave_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CYTOWORDS_AUTOSAVE_DIR", str(tmp_path / "autosave"))


def _digest(folder: Path) -> str:
    """SHA-256 over the relative paths and contents of every file under ``folder``."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Iterator[Path]:
    """Folder of the tiny untrained bundle (``tests/support/tiny_bundle.py``: random weights,
    5 areas + none, 32 px fields at 16 µm/px), built once per session for tests that need
    a small working bundle. Read-only: a test that changes a bundle copies it first
    (``shutil.copytree``); the session fails at teardown if its files changed."""
    import torch

    from tests.support.tiny_bundle import make_tiny_bundle

    with torch.random.fork_rng():  # building seeds torch: leave the tests' stream as it was
        path = make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle") / "tiny")
    before = _digest(path)
    yield path
    if _digest(path) != before:
        pytest.fail(f"{path}: a test changed the shared tiny bundle (copy it first)")
