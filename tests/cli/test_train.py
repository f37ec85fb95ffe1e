"""``cytowords train``: argument handling and clear errors (the runs are in test_training_*)."""

from __future__ import annotations

from cytowords.cli import main


def test_train_help_lists_presets(capsys):
    try:
        main(["train", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for word in ("--preset", "smoke", "default", "gpu-large", "llm", "--resume", "--data", "--lm"):
        assert word in out


def test_cli_offers_every_preset():
    """The CLI's written-out preset names (kept so that `--help` does not import torch)
    are the presets the pipeline knows, in the same order."""
    from cytowords.cli.train import PRESET_NAMES
    from cytowords.training.presets import PRESETS

    assert PRESET_NAMES == tuple(PRESETS)


def test_llm_preset_needs_a_model_folder(tmp_path, capsys):
    assert main(["train", "--preset", "llm", "--out", str(tmp_path / "r")]) == 2
    assert "--preset llm needs --lm PATH" in capsys.readouterr().err
    assert main(["train", "--lm", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_missing_data_spec_is_a_clear_error(tmp_path, capsys):
    rc = main(
        [
            "train",
            "--preset",
            "smoke",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
            "--data",
            str(tmp_path / "spec.yaml"),
        ]
    )
    assert rc == 2
    assert "data spec" in capsys.readouterr().err
