"""The one model handle: a model reference resolved, loaded once per process and device,
cached (least recently used dropped, rewritten bundles reloaded), safe from threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cytowords.model import ModelBundle, get_bundle, resolve_model_path
from cytowords.model.bundle import handle
from tests.support.tiny_bundle import make_tiny_bundle


@pytest.fixture(autouse=True)
def empty_cache():
    handle.clear_cache()
    yield
    handle.clear_cache()


def test_references_resolve_or_say_why(tmp_path: Path, tiny_bundle: Path) -> None:
    assert resolve_model_path(str(tiny_bundle)) == tiny_bundle
    with pytest.raises(FileNotFoundError, match="no model bundle folder chosen"):
        resolve_model_path("  ")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model_path(tmp_path / "nope")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"folder .*config.json is a file; choose the"):
        resolve_model_path(tmp_path / "config.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty is not a model bundle \(no config.json\)"):
        get_bundle(tmp_path / "empty", "cpu")


def test_a_training_run_folder_given_as_the_model_names_its_bundle(
    tmp_path: Path, monkeypatch
) -> None:
    """``--model RUN`` (the folder given to ``cytowords train --out``) is not the bundle:
    the message names ``RUN/bundle``, or says the run has not finished; the default
    model's rebuild hint points at that folder too."""
    run = tmp_path / "run"
    (run / "bundle").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"run has not finished; its bundle will be"):
        resolve_model_path(run)
    (run / "bundle" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError) as err:
        resolve_model_path(run)
    assert str(err.value) == (
        f"{run} is the run folder of cytowords train, not a model bundle: its bundle is "
        f"{run / 'bundle'}"
    )
    monkeypatch.setattr(handle, "default_model_path", lambda: tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match=r"pass --model DIR/bundle$"):
        resolve_model_path("default")


def test_loaded_once_and_shared(tiny_bundle: Path) -> None:
    n = handle.load_count()
    vision = get_bundle(tiny_bundle, "cpu", captioner=False)
    assert isinstance(vision, ModelBundle) and vision.captioner is None
    assert get_bundle(str(tiny_bundle), "cpu", captioner=False) is vision  # str or Path alike
    assert handle.load_count() == n + 1
    full = get_bundle(tiny_bundle, "cpu")  # needs the language model: loaded once more
    assert full.captioner is not None and full is not vision
    assert get_bundle(tiny_bundle, "auto") is full  # "auto" is the CPU here
    assert get_bundle(tiny_bundle, "cpu", captioner=False) in (vision, full)
    assert handle.load_count() == n + 2


def test_rewritten_bundle_is_loaded_anew(tmp_path: Path) -> None:
    path = make_tiny_bundle(tmp_path / "b", reject_share=0.03)
    first = get_bundle(path, "cpu", captioner=False)
    make_tiny_bundle(path, reject_share=0.5)  # atomically replaced: other files
    second = get_bundle(path, "cpu", captioner=False)
    assert second is not first
    assert get_bundle(path, "cpu", captioner=False) is second
    assert first not in handle._CACHE.values()  # the stale one is dropped


def test_least_recently_used_dropped(tmp_path: Path) -> None:
    paths = [make_tiny_bundle(tmp_path / f"b{i}") for i in range(handle.CACHE_SIZE + 1)]
    first = get_bundle(paths[0], "cpu", captioner=False)
    for p in paths[1:-1]:
        get_bundle(p, "cpu", captioner=False)
    assert get_bundle(paths[0], "cpu", captioner=False) is first  # used again: kept
    get_bundle(paths[-1], "cpu", captioner=False)  # one too many: paths[1] goes
    assert len(handle._CACHE) == handle.CACHE_SIZE
    assert get_bundle(paths[0], "cpu", captioner=False) is first
    n = handle.load_count()
    get_bundle(paths[1], "cpu", captioner=False)
    assert handle.load_count() == n + 1


def test_threads_load_one_bundle_once(tiny_bundle: Path) -> None:
    n = handle.load_count()
    got: list = []
    start = threading.Barrier(4)

    def fetch() -> None:
        start.wait()
        got.append(get_bundle(tiny_bundle, "cpu", captioner=False))

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(b is got[0] for b in got)
    assert handle.load_count() == n + 1


def test_registered_bundle_stands_in_until_forgotten(tiny_bundle: Path, tmp_path: Path) -> None:
    other = get_bundle(make_tiny_bundle(tmp_path / "other"), "cpu", captioner=False)
    key = str(tiny_bundle.resolve())
    handle.register_bundle(key, "cpu", other)
    try:
        assert get_bundle(key, "cpu") is other
        with pytest.raises(FileNotFoundError, match="does not exist"):
            get_bundle("<in-memory 1>", "cpu")  # a name nobody registered
    finally:
        handle.forget_bundle(key, "cpu")
    assert get_bundle(key, "cpu", captioner=False) is not other


def test_shared_bundle_runs_channels_last_with_the_same_embeddings(tiny_bundle: Path) -> None:
    """The shared bundle's encoder runs channels-last on the CPU (the faster layout); its
    embeddings equal a private copy's (contiguous, as saved) to float precision."""
    import numpy as np
    import torch

    from cytowords.model import load_bundle

    shared, private = get_bundle(tiny_bundle, "cpu"), load_bundle(tiny_bundle, "cpu")

    def layouts(b) -> list[bool]:  # channels-last per convolution wider than 1 × 1
        return [
            m.weight.is_contiguous(memory_format=torch.channels_last)
            for m in b.encoder.modules()
            if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1
        ]

    assert layouts(shared) and all(layouts(shared))
    assert not any(layouts(private))
    n = shared.read_px
    patches = np.random.default_rng(0).integers(0, 256, size=(6, n, n), dtype=np.uint8)
    a, b = shared.embed(patches, views=2), private.embed(patches, views=2)
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
