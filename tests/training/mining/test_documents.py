"""Reading documents (PDF, JATS XML, txt, md) and mining them end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from cytowords.atlas import load_atlas
from cytowords.training.mining import mine_corpus, parse_area, read_document
from cytowords.training.mining.pdfwrite import write_text_pdf

PARAGRAPH = (
    "Area 45 (BA 45, pars triangularis) is a granular isocortex. "
    "In area 45, layer IV is distinct and uniformly granular and separates layer III from layer V. "
    "Area 45 has large pyramids in layer IIIc (Amunts et al., 1999; Fig. 2). "
    "Layers V and VI of area 45 are of medium width with medium-sized cells. "
    "Unlike area 44, area 45 has a continuous granular layer IV."
)

JATS = """<?xml version="1.0" encoding="UTF-8"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta><title-group>
<article-title>Area 45 test</article-title></title-group></article-meta></front>
<body><sec><title>Results</title><p>{text}</p></sec></body>
<back><ref-list><ref><mixed-citation>Amunts K (1999) area 44 paper.</mixed-citation></ref>
</ref-list></back></article>"""


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


def _check_area45(result, atlas):
    caps = [c for c in result.captions if c.area == "45"]
    assert len(caps) >= 4
    assert {c.area for c in result.captions} <= {"45", "__none__"}
    for c in caps:
        assert c.caption.startswith("Area 45")
        assert parse_area(c.caption, atlas) == "45"
        assert "44" not in c.caption
        assert "Amunts" not in c.caption and "Fig" not in c.caption


def test_pdf_round_trip(tmp_path: Path, atlas):
    pdf = write_text_pdf("Broca's region\n\n" + PARAGRAPH, tmp_path / "broca.pdf", title="t")
    text = " ".join(p.extract_text() for p in PdfReader(str(pdf)).pages)
    assert "uniformly granular" in text
    doc = read_document(pdf)
    assert any("layer IIIc" in p for p in doc.passages)
    result = mine_corpus(tmp_path, atlas, min_captions=4)
    _check_area45(result, atlas)
    assert result.captions[0].source == "broca.pdf"


def test_jats_round_trip(tmp_path: Path, atlas):
    (tmp_path / "paper.xml").write_text(JATS.format(text=PARAGRAPH), encoding="utf-8")
    doc = read_document(tmp_path / "paper.xml")
    assert len(doc.passages) == 1 and "mixed-citation" not in doc.passages[0]
    assert "area 44 paper" not in " ".join(doc.passages)  # reference list dropped
    _check_area45(mine_corpus(tmp_path, atlas, min_captions=4), atlas)


def test_markdown_and_text(tmp_path: Path, atlas):
    (tmp_path / "a.md").write_text(f"# Title\n\n{PARAGRAPH}\n\n## References\n\nArea 17 paper.\n")
    (tmp_path / "b.txt").write_text("Methods\nSections of 44 subjects were cut at 20 um.\n")
    result = mine_corpus(tmp_path, atlas, min_captions=4)
    _check_area45(result, atlas)
    assert result.stats["documents"] == {"a.md": result.stats["documents"]["a.md"], "b.txt": 0}


def test_document_without_area_mentions_yields_nothing(tmp_path: Path, atlas):
    (tmp_path / "plain.txt").write_text(
        "The cortex of 44 subjects was cut into sections. Layer 1 was thin and layer 2 dense.\n"
    )
    result = mine_corpus(tmp_path, atlas)
    assert result.captions == []
    assert result.descriptions == {}
    assert any("plain.txt" in w and "no area mentions" in w for w in result.warnings)


def test_bad_inputs(tmp_path: Path, atlas):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mine_corpus(tmp_path / "missing", atlas)
    (tmp_path / "x.txt").write_text("Area 45 is granular.")
    with pytest.raises(ValueError, match="manifest.yaml"):
        mine_corpus(tmp_path, atlas, split="train")
    (tmp_path / "broken.pdf").write_bytes(b"not a pdf")
    with pytest.raises(ValueError, match="broken.pdf"):
        read_document(tmp_path / "broken.pdf")
    (tmp_path / "doc.docx").write_bytes(b"")
    with pytest.raises(ValueError, match="unsupported document type"):
        read_document(tmp_path / "doc.docx")


def test_folder_and_text_problems_are_named(tmp_path: Path, atlas):
    """A file given as the folder, a folder without documents and a text file that is not
    UTF-8 are refused naming them; a document that names an area but says nothing
    cytoarchitectonic about it is reported."""
    named = tmp_path / "named.txt"
    named.write_text("Area hOc1 is the primary visual cortex, with a broad granular layer IV.\n")
    with pytest.raises(ValueError, match=f"documents folder {named}: this is a file"):
        mine_corpus(named, atlas)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.docx").write_bytes(b"")
    with pytest.raises(ValueError, match=f"documents folder {empty}: no documents"):
        mine_corpus(empty, atlas)
    result = mine_corpus(tmp_path, atlas)
    assert result.captions == []
    assert "named.txt: areas are named but no cytoarchitectonic statement found" in (
        result.warnings
    )
    (tmp_path / "latin1.txt").write_bytes(
        "Area 45 is granular (Zilles, Düsseldorf).\n".encode("latin-1")
    )
    with pytest.raises(ValueError, match=r"latin1.txt: not UTF-8 text \(byte 0xfc at offset 30\)"):
        mine_corpus(tmp_path, atlas, strict=True)


def test_a_broken_pdf_is_one_message(tmp_path: Path, caplog):
    """pypdf's own repair notes ("EOF marker not found") are not printed beside the one
    line that names the file."""
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(ValueError, match="broken.pdf: not a readable PDF"):
        read_document(tmp_path / "broken.pdf")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []


def _folder_with_unreadable_documents(folder: Path) -> Path:
    """A readable paper on area 45 among a broken PDF, a text file that is not UTF-8 and
    XML that is not well-formed (sorted: bad.xml, broken.pdf, latin1.txt, paper.md)."""
    folder.mkdir()
    (folder / "paper.md").write_text(f"# Broca\n\n{PARAGRAPH}\n", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (folder / "latin1.txt").write_bytes("Area 45 (Düsseldorf) is granular.\n".encode("latin-1"))
    (folder / "bad.xml").write_text("<article><p>Area 45 is</article>", encoding="utf-8")
    return folder


def test_unreadable_documents_are_skipped_one_line_each(tmp_path: Path, atlas):
    """A folder with one readable paper and three unreadable files: the paper is mined, each
    unreadable file is one line naming it and its problem; ``strict`` stops at the first."""
    docs = _folder_with_unreadable_documents(tmp_path / "papers")
    result = mine_corpus(docs, atlas, min_captions=4)
    _check_area45(result, atlas)
    skipped = result.stats["skipped"]
    assert [line.split(": ")[0] for line in skipped] == [
        f"skipped {docs / name}" for name in ("bad.xml", "broken.pdf", "latin1.txt")
    ]
    assert "not well-formed XML" in skipped[0] and "not a readable PDF" in skipped[1]
    assert "not UTF-8 text (byte 0xfc" in skipped[2]
    assert all("\n" not in line for line in skipped)
    assert result.warnings[:3] == skipped and result.stats["listed"] == 4
    assert set(result.stats["documents"]) == {"paper.md"}
    with pytest.raises(ValueError, match=r"bad.xml: not well-formed XML"):
        mine_corpus(docs, atlas, strict=True)


def test_a_folder_without_a_readable_document_is_refused_naming_the_first(tmp_path, atlas):
    docs = _folder_with_unreadable_documents(tmp_path / "papers")
    (docs / "paper.md").unlink()
    with pytest.raises(ValueError, match=r"none of its 3 document\(s\) is readable \(first: .*bad"):
        mine_corpus(docs, atlas)


def test_cli_mine_skips_unreadable_documents_with_a_count(tmp_path, capsys):
    from cytowords.cli import main
    from cytowords.training.mining import load_captions

    docs = _folder_with_unreadable_documents(tmp_path / "papers")
    out = tmp_path / "c.jsonl"
    assert main(["mine", str(docs), "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("warning: skipped ")]
    assert len(lines) == 3 and "broken.pdf: not a readable PDF" in lines[1]
    assert err.strip().endswith(
        "warning: 3 of 4 document(s) skipped as unreadable (named above); the others were used"
    )
    assert "Traceback" not in err
    assert {c.area for c in load_captions(out)} == {"45", "__none__"}
    strict = tmp_path / "s.jsonl"
    assert main(["mine", str(docs), "--out", str(strict), "--no-progress", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "bad.xml: not well-formed XML" in err and err.count("\n") == 1
    assert not strict.exists()
