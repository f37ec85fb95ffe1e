"""The scale head: the closed-form ridge fit, its file (round trip, hash-checked, optional,
embedding size checked) and the bundled one on a synthetic section read at two wrong
pixel sizes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cytowords.model import BundleError, load_bundle
from cytowords.model.bundle.files import write_hashes
from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead, fit_ridge


def test_ridge_recovers_a_linear_map_and_shrinks_with_its_strength():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)) * np.array([1.0, 2.0, 0.5, 3.0, 1.0, 0.1]) + 5.0
    w_true = np.array([0.3, -0.2, 0.0, 0.1, 0.05, 1.0])
    y = x @ w_true - 1.0 + rng.normal(scale=0.01, size=2000)
    w, b = fit_ridge(x, y, 1e-3)
    np.testing.assert_allclose(w, w_true, atol=0.02)
    assert b == pytest.approx(-1.0, abs=0.1)
    head = ScaleHead(w, b)
    assert np.abs(head.predict(x) - y).max() < 0.1
    # a huge penalty leaves only the intercept: every field predicted the mean
    w_big, b_big = fit_ridge(x, y, 1e9)
    assert np.abs(w_big).max() < 1e-3 and b_big + (x.mean(0) @ w_big) == pytest.approx(y.mean())


def test_file_round_trip_and_a_bundle_loads_it_checked(tiny_bundle, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle, folder)
    plain = load_bundle(folder, captioner=False)
    assert plain.scale_head is None  # bundles without the file: no scale head
    d = plain.embed_dim
    head = ScaleHead(torch.linspace(-1, 1, d), 0.25, (-0.1, 0.2), {"ridge": 10.0})
    head.save(folder / SCALE_HEAD_FILE)
    with pytest.raises(BundleError, match="not listed"):  # an added file must be hashed
        load_bundle(folder, captioner=False)
    write_hashes(folder)
    b = load_bundle(folder, captioner=False)
    got = b.scale_head
    assert got is not None and got.band == (-0.1, 0.2) and got.info == {"ridge": 10.0}
    emb = torch.randn(5, d)
    np.testing.assert_allclose(got.predict(emb), head.predict(emb), rtol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        got.predict(np.zeros((2, d + 1)))
    other = ScaleHead(np.ones(3), 0.0)
    other.save(folder / SCALE_HEAD_FILE)
    write_hashes(folder)
    with pytest.raises(BundleError, match="fitted on 3-d"):
        load_bundle(folder, captioner=False)
    assert json.loads((folder / "hashes.json").read_text())["files"][SCALE_HEAD_FILE]


def test_calibration_recovers_a_known_slope_and_undoes_the_shrinkage():
    from cytowords.model.scale_head import fit_calibration

    rng = np.random.default_rng(1)
    log_s = np.log(np.repeat([0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4], 6))
    # a head shrunk to 0.6 of the truth with an offset of +0.03, section medians noisy
    raw = 0.03 + 0.6 * log_s + rng.normal(scale=0.005, size=len(log_s))
    a, b = fit_calibration(raw, log_s)
    assert b == pytest.approx(1 / 0.6, rel=0.05) and a == pytest.approx(-0.03 / 0.6, abs=0.01)
    # a head whose raw output is exactly that line: calibrated, it says the truth
    d = 4
    x = np.zeros((len(log_s), d))
    x[:, 0] = raw
    head = ScaleHead(np.array([1.0, 0.0, 0.0, 0.0]), 0.0).with_calibration(a, b)
    np.testing.assert_allclose(head.predict(x), log_s, atol=0.03)
    np.testing.assert_allclose(head.predict_raw(x), raw)
    with pytest.raises(ValueError, match="two or more"):
        fit_calibration(raw[:3], np.zeros(3))
    with pytest.raises(ValueError, match="do not rise"):
        fit_calibration(-raw, log_s)
    with pytest.raises(ValueError, match="calibration"):
        ScaleHead(np.ones(2), 0.0, calibration=(0.0, -1.0))


def test_a_calibrated_head_round_trips_and_an_old_file_without_one_loads_as_identity(tmp_path):
    from cytowords.model.tensor_file import save_tensor_file

    w = np.linspace(-1, 1, 8)
    head = ScaleHead(w, 0.1, (-0.2, 0.3), {"ridge": 1.0}, calibration=(0.02, 1.5))
    got = ScaleHead.load(head.save(tmp_path / "new.safetensors"))
    assert got.calibration == (0.02, 1.5) and got.band == (-0.2, 0.3)
    e = np.random.default_rng(0).normal(size=(3, 8))
    np.testing.assert_allclose(got.predict(e), 0.02 + 1.5 * (e @ w + 0.1))
    # the metadata an earlier version wrote: no calibration entry
    old_meta = {"bias": repr(0.1), "band": json.dumps([-0.1, 0.1]), "info": json.dumps({})}
    save_tensor_file(tmp_path / "old.safetensors", {"weight": torch.from_numpy(w)}, old_meta)
    old = ScaleHead.load(tmp_path / "old.safetensors")
    assert old.calibration == (0.0, 1.0) and old.band == (-0.1, 0.1)
    np.testing.assert_allclose(old.predict(e), e @ w + 0.1)
    bad = {**old_meta, "calibration": "[1.0]"}
    save_tensor_file(tmp_path / "bad.safetensors", {"weight": torch.from_numpy(w)}, bad)
    with pytest.raises(ValueError, match="bad.safetensors: cannot read it"):
        ScaleHead.load(tmp_path / "bad.safetensors")


def test_the_bundled_head_is_calibrated_on_validation_brains():
    from cytowords.model import resolve_model_path

    head = ScaleHead.load(resolve_model_path("default") / SCALE_HEAD_FILE)
    a, slope = head.calibration
    assert slope > 1.0  # the ridge shrinks: the calibration stretches
    info = head.info
    assert info["val_brains"] == [100, 101] and info["calibration"] == [
        pytest.approx(a, abs=1e-4),
        pytest.approx(slope, abs=1e-4),
    ]
    # the band is the calibrated validation medians' range at the true size
    assert head.band[0] < 0 < head.band[1]
    assert info["band_log"] == [pytest.approx(v, abs=1e-4) for v in head.band]


def test_the_stage_calibrates_on_section_medians_and_sets_the_band_on_the_calibrated_scale(
    monkeypatch,
):
    """``calibrate`` with the sections' medians given (a head that says 0.6 of the log
    factor, +0.02): the calibration undoes the shrinkage, the band is the calibrated ×1
    medians' range; medians that do not rise leave the head uncalibrated, saying why."""
    import math

    from cytowords.training.stages import scale_head as stage

    rng = np.random.default_rng(0)

    def medians(bundle, sections, factor, draws):
        return list(0.02 + 0.6 * math.log(factor) + rng.normal(scale=0.01, size=draws))

    monkeypatch.setattr(stage, "section_medians", medians)

    class Bundle:
        scale_head = None

    head, fig = stage.calibrate(Bundle(), ScaleHead(np.ones(3), 0.0), [], draws=10)
    a, b = head.calibration
    assert b == pytest.approx(1 / 0.6, rel=0.05) and a == pytest.approx(-0.02 / 0.6, abs=0.01)
    assert head.band[0] < 0 < head.band[1] and head.band[1] - head.band[0] < 0.15
    assert fig["val_estimate_by_factor"]["1.25"]["calibrated"] == pytest.approx(1.25, rel=0.03)
    assert fig["val_estimate_by_factor"]["1.25"]["raw"] < 1.2 and "calibration_failed" not in fig
    monkeypatch.setattr(stage, "section_medians", lambda *a: [0.01, -0.01, 0.0])
    flat, fig = stage.calibrate(Bundle(), ScaleHead(np.ones(3), 0.0), [], draws=3)
    assert flat.calibration == (0.0, 1.0) and "do not rise" in fig["calibration_failed"]
