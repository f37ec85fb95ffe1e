"""The shipped corpus: captions from set A, reference descriptions from set R, CLI, rewrite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.cli import main
from cytowords.training.mining import (
    REJECTION_CAPTION,
    builtin_corpus_dir,
    find_mentions,
    load_captions,
    mask_aliases,
    mine_corpus,
    parse_area,
    read_document,
    reference_descriptions,
    write_captions,
)
from cytowords.training.mining.pdfwrite import text_to_pdf_bytes
from cytowords.training.mining.text import split_sentences


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


@pytest.fixture(scope="module")
def mined(atlas):
    return mine_corpus(None, atlas, split="train")


@pytest.fixture(scope="module")
def manifest():
    return yaml.safe_load((builtin_corpus_dir() / "manifest.yaml").read_text())["documents"]


def test_manifest_covers_every_area_in_both_sets(atlas, manifest):
    def covered(split):
        return {str(a) for d in manifest.values() if d["split"] == split for a in d["areas"]}

    assert covered("train") == set(atlas.areas)
    assert covered("reference") == set(atlas.in_scope_ids)  # the 8-way scores in-scope areas
    assert covered("legacy") == set(atlas.areas)  # circular set B, kept for the record
    suffixes = {Path(n).suffix for n, d in manifest.items() if d["split"] == "train"}
    assert {".pdf", ".xml", ".md", ".txt"} <= suffixes


def test_every_in_scope_area_has_20_distinct_captions(atlas, mined):
    counts = mined.captions_per_area()
    for area_id in atlas.in_scope_ids:
        caps = {c.caption for c in mined.captions if c.area == area_id}
        assert len(caps) >= 20, (area_id, len(caps))
    assert set(counts) <= {*atlas.in_scope_ids, NONE_ID}  # no captions of unseen areas
    assert [c.caption for c in mined.captions if c.area == NONE_ID] == [REJECTION_CAPTION]
    assert mined.warnings == []


def test_captions_name_their_area_first_and_no_other(atlas, mined):
    for c in mined.captions:
        if c.area == NONE_ID:
            continue
        assert c.caption.startswith(f"Area {c.area}"), c.caption
        assert parse_area(c.caption, atlas) == c.area, c.caption
        others = [m.text for m in find_mentions(c.caption, atlas) if c.area not in m.ids]
        assert others == [], (c.area, others, c.caption)
        assert len(c.caption.split()) <= 60
        assert not re.search(r"et al|\(\d{4}\)|Fig\.", c.caption)
        assert c.source.startswith("a") and c.passage


def _sentences(names):
    out = set()
    for name in names:
        for p in read_document(builtin_corpus_dir() / name).passages:
            out |= {s.lower() for s in split_sentences(p) if len(s.split()) > 6}
    return out


def test_sets_are_independent_and_reference_uses_set_r_only(atlas, manifest):
    set_a = _sentences(n for n, d in manifest.items() if d["split"] == "train")
    set_r = _sentences(n for n, d in manifest.items() if d["split"] == "reference")
    assert set_a.isdisjoint(set_r)
    refs = reference_descriptions(atlas)
    assert set(atlas.in_scope_ids) <= set(refs)
    text_r = " ".join(set_r)
    for area_id, desc in refs.items():
        first = split_sentences(desc)[0].lower()
        assert first[:60] in text_r, area_id
        masked = mask_aliases(desc, atlas)
        for m in find_mentions(masked, atlas):
            pytest.fail(f"{area_id}: alias {m.text!r} survived masking")


def test_shipped_pdf_matches_its_source():
    corpus = builtin_corpus_dir()
    text = (corpus / "pdf_sources" / "a04_somatosensory.txt").read_text(encoding="utf-8")
    expected = text_to_pdf_bytes(text, title="Cytoarchitecture of the human postcentral gyrus")
    assert (corpus / "a04_somatosensory.pdf").read_bytes() == expected


def test_write_and_load_captions(tmp_path, mined):
    path = write_captions(mined.captions[:50], tmp_path / "sub" / "c.jsonl")
    assert load_captions(path) == mined.captions[:50]
    (tmp_path / "bad.jsonl").write_text('{"area": "hOc1"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_captions(tmp_path / "bad.jsonl")


def test_cli_mine_builtin_and_empty(tmp_path, capsys):
    out = tmp_path / "captions.jsonl"
    assert main(["mine", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "areas covered: 60/60" in printed and "a04_somatosensory.pdf" in printed
    assert len(load_captions(out)) > 60 * 20
    empty = tmp_path / "docs"
    empty.mkdir()
    (empty / "note.txt").write_text("Nothing about any cortical area here.\n")
    assert main(["mine", str(empty), "--out", str(tmp_path / "x.jsonl"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "no area mentions" in err and not (tmp_path / "x.jsonl").exists()
    assert main(["mine", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_cli_mine_refuses_an_output_it_cannot_write_before_mining(tmp_path, capsys, monkeypatch):
    """``--out`` a folder (was a traceback after mining every document), ``--descriptions``
    under a file, or a ``--rewrite-model`` folder without a model (was found after mining)
    is refused in one line before any document is read; a missing folder of ``--out`` is
    made."""
    from cytowords.training import mining

    def never(*a, **k):
        raise AssertionError("mined before the output was checked")

    monkeypatch.setattr(mining, "mine_corpus", never)
    assert main(["mine", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path}: cannot write it, it is a folder" in err and err.count("\n") == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = tmp_path / "c.jsonl"
    argv = ["mine", "--out", str(out), "--descriptions", str(blocker / "d.json")]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--descriptions {blocker / 'd.json'}: cannot make folder {blocker}" in err
    assert err.count("\n") == 1
    empty = tmp_path / "no-model"
    empty.mkdir()
    assert main(["mine", "--out", str(out), "--rewrite-model", str(empty), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"language model folder {empty}" in err and err.count("\n") == 1
    monkeypatch.undo()
    deep = tmp_path / "new" / "deeper" / "c.jsonl"
    assert main(["mine", "--out", str(deep), "--no-progress"]) == 0
    assert load_captions(deep)


def test_rewrite_needs_explicit_local_model(tmp_path, atlas, mined):
    from cytowords.training.mining.rewrite import rewrite_captions

    with pytest.raises(ValueError, match="explicit local model"):
        rewrite_captions(mined.captions[:2], atlas, None)
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        rewrite_captions(mined.captions[:2], atlas, tmp_path / "missing")
    # the rewrite model is checked as the captioner's LM: PyTorch pickles are not loaded
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    pickled = tmp_path / "pickled"
    config = GPT2Config(vocab_size=50, n_layer=1, n_head=2, n_embd=16, n_positions=64)
    config.save_pretrained(pickled)
    torch.save(GPT2LMHeadModel(config).state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(ValueError, match=f"folder {pickled}: the weights are PyTorch pickles"):
        rewrite_captions(mined.captions[:2], atlas, pickled)


@pytest.mark.slow
def test_rewrite_with_tiny_local_model(tmp_path, atlas, mined):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from cytowords.training.mining.rewrite import rewrite_captions

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["[UNK]", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([c.caption for c in mined.captions[:200]], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="[UNK]")
    fast.save_pretrained(tmp_path)
    config = GPT2Config(vocab_size=len(fast), n_layer=1, n_head=2, n_embd=16, n_positions=512)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    out = rewrite_captions(mined.captions[:2], atlas, tmp_path, max_new_tokens=8)
    for rec in out:  # a random model rarely writes a valid caption; any kept one must be
        assert parse_area(rec.caption, atlas) == rec.area and rec.source.endswith("+rewrite")


def test_distinctive_statements_rank_rare_words_first():
    from cytowords.training.mining.captions import assemble_captions, distinctive_statements
    from cytowords.training.mining.statements import Statement

    def st(area, text):
        return Statement(area, text, ("layers",), text, "doc")

    common = ["layer II is dense", "layer IV is dense", "moderate lamination in layer III"]
    stmts = {
        "x": [st("x", t) for t in common] + [st("x", "stria of Gennari splits layer IV")],
        "y": [st("y", t) for t in common] + [st("y", "giant Betz cells in layer V")],
    }
    telling = distinctive_statements(stmts, share=0.25)
    assert telling == {
        "x": frozenset({"stria of gennari splits layer iv"}),
        "y": frozenset({"giant betz cells in layer v"}),
    }
    caps = assemble_captions("hOc1", "primary visual cortex", stmts["x"], distinctive=telling["x"])
    assert caps and all("stria of Gennari" in c for c, _ in caps)
