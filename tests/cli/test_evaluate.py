"""``cytowords evaluate``: the command's text (its runs are in tests/training/evaluate)."""

from __future__ import annotations

import pytest

from cytowords.cli import main


def test_help_prints_percent_signs_once(capsys):
    """argparse does not %-format a description: '95 %%' would be printed as it is."""
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "metrics with 95 % bootstrap intervals over brains" in out
    assert "%%" not in out


def test_out_that_the_report_would_damage_is_refused(tmp_path, capsys):
    """``--out`` may not be a file, a model bundle or a training run folder: refused in one
    line before any work, and nothing in it changes."""
    afile = tmp_path / "report.txt"
    afile.write_text("mine")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "hashes.json").write_text("{}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    (run / "metrics.json").write_text('{"val_accuracy": 0.9}')
    for out, why in (
        (afile, "this is a file"),
        (bundle, "this is a model bundle"),
        (run, "this is a run folder of cytowords train"),
    ):
        assert main(["evaluate", "--out", str(out), "--no-sampler", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"--out {out}: {why}" in err and err.count("\n") == 1
    assert afile.read_text() == "mine"
    assert sorted(p.name for p in bundle.iterdir()) == ["hashes.json"]
    assert sorted(p.name for p in run.iterdir()) == ["metrics.json", "run.json"]
    assert (run / "metrics.json").read_text() == '{"val_accuracy": 0.9}'
