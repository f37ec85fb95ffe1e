"""End-to-end evaluation on a tiny bundle: JSON keys, report files, test-set cache, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.cli import main
from cytowords.training.evaluate import build_patch_set, held_out_brains
from cytowords.training.evaluate.run import _check_brains
from tests.support.tiny_bundle import AREAS, PATCH_PX, PIXEL_UM, make_tiny_bundle

KEYS = (
    "label_match_accuracy",
    "masked_8way_accuracy",
    "masked_8way_nearest_accuracy",
    "classification_accuracy",
    "open_set_auroc",
    "fpr_at_95tpr",
    "unseen_rejection_rate",
    "in_scope_false_rejection_rate",
    "n_patches",
    "n_areas",
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    # its cortex detector reads every field as cortex
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny") / "bundle", cortex_logit=8.0)


def test_cli_json_and_report(bundle, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            "--model",
            str(bundle),
            "--patches-per-area",
            "3",
            "--caption-patches",
            "16",
            "--no-robustness",
            "--no-headline",
            "--out",
            str(out),
            "--json",
            "--no-progress",
        ]
    )
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    for k in KEYS:
        assert k in m, k
    n_unseen = len(load_atlas().unseen_ids)
    assert m["n_areas"] == len(AREAS)
    assert m["n_in_scope"] == 3 * len(AREAS) and m["n_unseen"] == 3 * n_unseen
    assert m["n_noncortex"] >= 3
    assert m["n_patches"] == m["n_in_scope"] + m["n_unseen"] + m["n_noncortex"]
    assert 0 < m["n_captioned"] < m["n_patches"]
    assert 0.0 <= m["open_set_auroc"] <= 1.0
    # which fields would vote on a drawn region: all, by this bundle's detector
    assert m["in_scope_read_as_cortex_rate"] == m["unseen_read_as_cortex_rate"] == 1.0
    assert m["noncortex_detection_rate"] == 0.0
    # captions anchored on the head's area are scored beside the free ones
    for k in ("label_match_accuracy_anchored", "masked_8way_accuracy_anchored"):
        assert 0.0 <= m[k] <= 1.0, k
    assert set(m["baselines"]) >= {"linear_head", "retrieval", "chance"}
    assert m["baselines"]["chance"]["masked_8way_accuracy"] == 0.125
    # the text ceiling: true-area training captions name their area
    assert m["baselines"]["oracle_text"]["label_match_accuracy"] > 0.9
    assert m["protocol"]["test_brains"] == [200, 201, 202]
    assert m["protocol"]["views"] == 1  # the tiny bundle is calibrated for 1 view only
    for name in (
        "metrics.json",
        "per_area.csv",
        "confusion.png",
        "per_area_accuracy.png",
        "examples.md",
        "summary.md",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "per_area.csv").open()))
    assert {r["area"] for r in rows if r["scope"] == "in_scope"} == set(AREAS)
    assert json.loads((out / "metrics.json").read_text())["n_patches"] == m["n_patches"]
    assert "## in-scope" in (out / "examples.md").read_text()
    assert "| label match |" in (out / "summary.md").read_text()


def test_cli_table_and_bad_args(bundle, tmp_path, capsys):
    assert main(["evaluate", "--model", str(bundle), "--brains", "0"]) == 2
    assert "--brains" in capsys.readouterr().err
    # the development range is seeds 200-299; the published range 500-599
    assert main(["evaluate", "--model", str(bundle), "--brains", "101"]) == 2
    assert "seeds 200..299, 1 to 100 brains" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(bundle), "--section-brains", "0"]) == 2
    assert "--section-brains must be at least 1" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(bundle), "--no-headline", "--no-sampler"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    with pytest.raises(ValueError, match="at most 800"):
        held_out_brains(801)
    assert held_out_brains(800)[-1] == 999
    assert main(["evaluate", "--model", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_defaults_are_the_python_api_defaults(tmp_path, monkeypatch):
    """`cytowords evaluate` without options runs exactly EvalOptions' defaults, so the
    documented numbers reproduce from either entry point (the readout baseline's fields
    per area were 1 in the CLI and 2 in the API before they shared one default)."""
    import cytowords.training.evaluate as ev

    seen = []
    monkeypatch.setattr(ev, "run_evaluation", lambda opts, *a: seen.append(opts) or {})
    out = str(tmp_path / "eval")
    assert main(["evaluate", "--model", "m", "--out", out, "--json", "--no-progress"]) == 0
    assert seen == [ev.EvalOptions(model="m", out=out)]
    # the published headline (docs/results.md: 700 readout fields = 70 areas x 10 brains)
    assert seen[0].readout_per_area == 1
    seen.clear()
    main(
        [
            "evaluate",
            "--model",
            "m",
            "--out",
            out,
            "--json",
            "--no-progress",
            "--readout-fields-per-area",
            "3",
        ]
    )
    assert seen[0].readout_per_area == 3


def test_patch_set_is_held_out_cached_and_shifted(tmp_path):
    brains = held_out_brains(3)
    assert brains == [200, 201, 202]
    kw = dict(
        patch_px=PATCH_PX,
        pixel_size_um=PIXEL_UM,
        per_area=3,
        in_scope=["hOc1", "44"],
        unseen=["hOc3v"] if "hOc3v" in load_atlas().unseen_ids else load_atlas().unseen_ids[:1],
        cache_dir=tmp_path,
    )
    ps = build_patch_set(brains, **kw)
    assert sorted(set(ps.brain.tolist())) == brains
    assert set(ps.kind.tolist()) == {"in_scope", "unseen", "none"}
    assert (ps.labels[ps.kind == "none"] == NONE_ID).all()
    assert ps.patches.dtype == np.uint8 and ps.patches.shape[1:] == (PATCH_PX, PATCH_PX)
    cached = list(tmp_path.glob("patches_none_*.npz"))
    assert len(cached) == 1
    again = build_patch_set(brains, **kw)
    assert np.array_equal(again.patches, ps.patches)
    stained = build_patch_set(brains, shift="stain", **kw)
    assert stained.patches.shape == ps.patches.shape
    assert not np.array_equal(stained.patches, ps.patches)
    with pytest.raises(ValueError, match="shift"):
        build_patch_set(brains, shift="sepia", **kw)


def test_training_brains_are_refused():
    _check_brains([200, 201], {})
    with pytest.raises(ValueError, match="training or calibration"):
        _check_brains([0, 200], {})
    with pytest.raises(ValueError, match=r"\[300\]"):
        _check_brains([300], {"training": {"train_brains": [300, 301]}})
    with pytest.raises(ValueError, match=r"\[250\]"):
        _check_brains([250, 251], {"metrics": {"splits": {"train": ["synth-250"]}}})
    with pytest.raises(ValueError, match=r"\[260\]"):  # fields rendered for training
        _check_brains([259, 260], {"preset": {"rendered_brains": [260]}})
