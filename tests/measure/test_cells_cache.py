"""The cell benchmark's window cache (``benchmarks/measure_accuracy.py --cell-cache``): a
cached run draws and scores exactly what an uncached one does, brain after brain."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "measure_accuracy.py"


def _bench():
    spec = importlib.util.spec_from_file_location("measure_accuracy_cache_test", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cell_cache_reuses_windows_and_random_state(tmp_path, monkeypatch):
    mod = _bench()
    calls = []

    def fake_sample(seed, n, rng):
        # stands in for rendering: consumes the shared random state as the real one does
        calls.append(seed)
        draws = rng.random(n + seed % 3)
        return [{"seed": seed, "draws": draws}], float(seed)

    monkeypatch.setattr(mod, "sample_cell_windows", fake_sample)

    def run(folder):
        rng = np.random.default_rng(0)
        out = [mod.cached_cell_windows(s, 4, rng, folder) for s in (224, 226, 227)]
        return out, rng.random()

    plain, after_plain = run(None)
    assert calls == [224, 226, 227]
    first, after_first = run(str(tmp_path))
    assert calls == [224, 226, 227] * 2
    assert len(list(tmp_path.glob("cellwin_*.pkl"))) == 3
    cached, after_cached = run(str(tmp_path))
    assert calls == [224, 226, 227] * 2  # nothing rendered again
    for a, b in zip(plain, cached):
        assert a[1] == b[1]
        np.testing.assert_array_equal(a[0][0]["draws"], b[0][0]["draws"])
    # the random state after each cached brain is the one rendering left
    assert after_plain == after_first == after_cached
    # another window count or another random state is another file
    rng = np.random.default_rng(1)
    mod.cached_cell_windows(224, 4, rng, str(tmp_path))
    assert calls[-1] == 224 and len(calls) == 7
