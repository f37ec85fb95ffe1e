"""The domain stage fits on training brains, calibrates on validation brains, refuses
test brains and leaves a bundle that loads with its domain model (tiny bundle, small
virtual sections)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cytowords.model import load_bundle
from cytowords.model.domain import DOMAIN_FILE
from cytowords.training.stages.domain import fit_bundle_domain, main

SMALL_MM = (12, 9)


def test_the_stage_adds_a_calibrated_domain_model_to_the_bundle(tiny_bundle, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle, folder)
    with pytest.raises(ValueError, match="test brains"):
        fit_bundle_domain(folder, (0, 200), (100,), n_fields=20, size_mm=SMALL_MM)
    with pytest.raises(ValueError, match="test brains"):
        fit_bundle_domain(folder, (0,), (500,), n_fields=20, size_mm=SMALL_MM)
    m = fit_bundle_domain(folder, (0, 1), (100,), n_fields=60, draws=2, size_mm=SMALL_MM)
    assert np.isfinite(m.cutoff) and m.cutoff > 0
    assert m.info["train_brains"] == [0, 1] and m.info["val_brains"] == [100]
    assert m.info["quantile"] == 0.99 and m.info["val_fields"] == 2 * 96  # per field
    b = load_bundle(folder, captioner=False)  # hashes rewritten: it verifies
    assert b.domain is not None and b.domain.cutoff == pytest.approx(m.cutoff)
    # --out writes the file elsewhere and leaves the bundle alone
    out = tmp_path / "d.safetensors"
    before = (folder / DOMAIN_FILE).read_bytes()
    args = [str(folder), "--train", "0", "--val", "101", "--fields", "30", "--draws", "1"]
    assert main([*args, "--size-mm", "12", "9", "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "domain_validation.npy").is_file()
    assert (folder / DOMAIN_FILE).read_bytes() == before
