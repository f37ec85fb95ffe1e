"""``cytowords train``: argument handling and clear errors (the runs are in test_training_*)."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def test_a_tiny_run_fits_the_scale_head_into_the_bundle(tmp_path, capsys, monkeypatch):
    """``cytowords train`` on three hand-made sections (the smoke preset cut down): the
    ``scale_head`` stage runs (its progress bar), and the bundle carries a scale head that
    loads, fitted on the train sections' cortex fields with the preset's sizes."""
    from cytowords.model import load_bundle
    from cytowords.sections import write_section
    from cytowords.training.presets import PRESETS
    from tests.support.training_sections import PX, make_section

    fast = PRESETS["smoke"].with_(
        pretrain_steps=10, head_steps=20, caption_steps=5, tta_views=1, threads=1
    )
    monkeypatch.setitem(PRESETS, "smoke", fast)
    lines = ["areas: [hOc1, 4a, 44]", "label_names: atlas", "sections:"]
    for brain, split in ((0, "train"), (1, "train"), (2, "val")):
        img, lab = make_section(brain)
        name = f"b{brain}.ome.zarr"
        write_section(tmp_path / name, img, pixel_size_um=PX, labels={"areas": lab}, chunk_px=1024)
        lines.append(f"  - {{path: {name}, brain: B{brain}, split: {split}}}")
    spec = tmp_path / "spec.yaml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    argv = ["train", "--preset", "smoke", "--data", str(spec), "--out", str(out)]
    assert main([*argv, "--device", "cpu"]) == 0
    printed = capsys.readouterr()
    assert "scale_head" in printed.err  # its progress bar
    # stdout holds the metrics and the bundle, not the stages' own progress lines
    assert "train_brain" not in printed.out and "scale_head_calibration" not in printed.out
    assert printed.out.splitlines()[-1] == f"bundle: {out / 'bundle'}"
    head = load_bundle(out / "bundle", captioner=False).scale_head
    assert head is not None and head.embed_dim == fast.embed_dim
    assert head.info["train_brains"] == ["B0", "B1"] and head.info["val_brains"] == ["B2"]
    assert head.info["train_fields"] == 2 * fast.scale_head_fields
    assert head.band[0] <= head.band[1]
    assert 1 <= head.info["band_sections"] <= fast.scale_head_draws  # one val section


def test_out_that_is_a_file_or_holds_other_files_is_refused(tmp_path, capsys):
    """``--out`` must be a new or empty folder, or an earlier run folder: a file, a folder
    that cannot be made, and a folder holding other files (here a model bundle, which the
    run's files would break) are refused in one line, and nothing is written there."""
    argv = ["train", "--preset", "smoke", "--quiet", "--device", "cpu", "--out"]
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    assert main([*argv, str(afile)]) == 2
    err = capsys.readouterr().err
    assert f"run folder {afile}: this is a file" in err and err.count("\n") == 1
    assert afile.read_text() == "mine"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text("{}")
    assert main([*argv, str(bundle)]) == 2
    err = capsys.readouterr().err
    assert f"run folder {bundle}: the folder holds other files" in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in bundle.iterdir()) == ["config.json"]
    assert main([*argv, "/proc/cytowords-run"]) == 2
    err = capsys.readouterr().err
    assert "run folder /proc/cytowords-run: cannot be made" in err and err.count("\n") == 1


def test_a_bad_documents_folder_is_refused_before_any_training(tmp_path, capsys):
    """``--docs`` is read before the first stage: a missing folder and a text file that is
    not UTF-8 stop the run in one line, and no run folder is made."""
    out = tmp_path / "run"
    argv = ["train", "--preset", "smoke", "--quiet", "--device", "cpu", "--out", str(out)]
    assert main([*argv, "--docs", str(tmp_path / "papers")]) == 2
    err = capsys.readouterr().err
    assert f"documents folder {tmp_path / 'papers'} does not exist" in err
    assert err.count("\n") == 1 and not out.exists()
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "old.txt").write_bytes(b"Area 45 \xe9tait granulaire.\n")
    assert main([*argv, "--docs", str(tmp_path / "papers")]) == 2
    err = capsys.readouterr().err
    assert "old.txt: not UTF-8 text (byte 0xe9 at offset 8)" in err
    assert err.count("\n") == 1 and not out.exists()


def test_unreadable_documents_are_skipped_before_training_unless_strict(
    tmp_path, capsys, monkeypatch
):
    """``--docs`` with a readable paper and a broken PDF: the PDF is skipped in one line
    naming it, then a count, before the first stage (the run folder is stopped there);
    ``--strict-docs`` stops at the PDF in one line and makes no run folder."""
    from cytowords.training import pipeline

    class Reached(Exception):
        pass

    def stop(*a, **k):
        raise Reached

    monkeypatch.setattr(pipeline, "Run", stop)
    docs = tmp_path / "papers"
    docs.mkdir()
    (docs / "a.md").write_text("Area 45 is a granular isocortex with a broad layer IV.\n")
    (docs / "b.pdf").write_bytes(b"%PDF-1.4 garbage")
    out = tmp_path / "run"
    argv = ["train", "--preset", "smoke", "--quiet", "--device", "cpu", "--out", str(out)]
    with pytest.raises(Reached):
        main([*argv, "--docs", str(docs)])
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"warning: skipped {docs / 'b.pdf'}: not a readable PDF")
    assert err[1:] == [
        "warning: 1 of 2 document(s) skipped as unreadable (named above); the others were used"
    ]
    assert main([*argv, "--docs", str(docs), "--strict-docs"]) == 2
    err = capsys.readouterr().err
    assert "b.pdf: not a readable PDF" in err and err.count("\n") == 1 and not out.exists()
    assert main([*argv, "--strict-docs"]) == 2  # the builtin corpus: nothing to be strict on
    assert "--strict-docs only applies with --docs DIR" in capsys.readouterr().err
    lines: list[str] = []
    with pytest.raises(Reached):
        pipeline.train("smoke", out, docs=docs, device="cpu", on_warning=lines.append)
    assert len(lines) == 2 and "b.pdf" in lines[0]


def test_a_damaged_run_json_is_named(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"preset": {"name": "smo')
    argv = ["train", "--preset", "smoke", "--quiet", "--device", "cpu", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{out / 'run.json'}: not readable JSON" in err and "--no-resume" in err
    assert err.count("\n") == 1


def test_an_interrupted_run_says_how_to_go_on(tmp_path, capsys, monkeypatch):
    """Ctrl-C (or SIGTERM, handled as Ctrl-C) during training: exit status 130, and the
    message says that the same command continues from the run folder's checkpoints."""
    import cytowords.training.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "train", interrupted)
    out = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--quiet", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"run the same command again to go on from the checkpoints in {out}" in err
    assert err.strip().endswith("cytowords train: interrupted")


@pytest.mark.skipif(sys.platform == "win32", reason="the holder process locks with fcntl")
def test_a_run_folder_in_use_by_another_process_is_refused(tmp_path, capsys):
    """A second ``cytowords train`` on a folder another process is training in is refused
    in one line naming that process, and the folder is left as it was."""
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"f = open({str(out / '.run.lock')!r}, 'a+')\n"
            "fcntl.flock(f.fileno(), fcntl.LOCK_EX)\n"
            "f.write(str(os.getpid())); f.flush(); print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        argv = ["train", "--preset", "smoke", "--quiet", "--device", "cpu", "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"run folder {out}: another cytowords train (process {holder.pid})" in err
        assert err.count("\n") == 1
        assert [f.name for f in out.iterdir()] == [".run.lock"]
    finally:
        holder.communicate("")
