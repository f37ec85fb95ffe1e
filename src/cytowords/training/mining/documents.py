"""Read documents (txt, md, PDF, PubMed Central JATS XML) into passages of plain text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .text import clean_markdown_line, is_reference_heading, looks_like_heading

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".xml", ".nxml")
MANIFEST_NAME = "manifest.yaml"


@dataclass(frozen=True)
class Document:
    """A document as a list of passages (paragraphs) of plain text."""

    name: str
    passages: tuple[str, ...]
    split: str | None = None
    title: str = ""


def _passages_from_lines(lines: list[str], markdown: bool) -> list[str]:
    """Group lines into paragraphs; headings, tables and references end a paragraph."""
    passages: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            passages.append(" ".join(current))
            current.clear()

    for raw in lines:
        line = raw.rstrip()
        if is_reference_heading(line.lstrip("#").strip()):
            break
        if not line.strip() or "|" in line:
            flush()
            continue
        if markdown and line.lstrip().startswith("#"):
            flush()
            continue
        if not markdown and looks_like_heading(line) and not current:
            flush()
            continue
        text = clean_markdown_line(line) if markdown else line.strip()
        if current and current[-1].endswith("-") and text[:1].islower():
            current[-1] = current[-1][:-1] + text
        else:
            current.append(text)
    flush()
    return passages


def _read_pdf(path: Path) -> list[str]:
    import logging

    from pypdf import PdfReader

    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)  # its repair notes ("EOF marker not found"): the
    try:  # outcome is what counts, one line when the file cannot be read
        reader = PdfReader(str(path))
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:  # pypdf raises many types for broken files
        raise ValueError(f"{path}: not a readable PDF ({exc})") from exc
    finally:
        pypdf_log.setLevel(level)
    lines: list[str] = []
    for line in text.splitlines():
        if looks_like_heading(line):
            lines.extend(["", line, ""])  # a heading separates passages
        else:
            lines.append(line)
    return _passages_from_lines(lines, markdown=False)


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _read_jats(path: Path) -> list[str]:
    from defusedxml import ElementTree

    try:
        root = ElementTree.parse(str(path)).getroot()
    except Exception as exc:
        raise ValueError(f"{path}: not well-formed XML ({exc})") from exc
    passages: list[str] = []
    skip = {"ref-list", "back", "journal-meta", "contrib-group", "table-wrap", "disp-formula"}

    def walk(el) -> None:
        name = _local(el.tag)
        if name in skip:
            return
        if name in ("p", "article-title"):
            text = re.sub(r"\s+", " ", "".join(el.itertext())).strip()
            if text and name == "p":
                passages.append(text)
            return
        for child in el:
            walk(child)

    walk(root)
    if not passages and _local(root.tag) != "article":
        raise ValueError(f"{path}: XML is not a JATS article (no <p> paragraphs found)")
    return passages


def _read_utf8(path: Path) -> str:
    """The text of a txt/md document, which must be UTF-8 (a replacement character would
    otherwise end up in the captions)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def read_document(path: str | Path, split: str | None = None, title: str = "") -> Document:
    """Read one document into passages; raises ValueError for unsupported or broken files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"document {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            passages = _read_pdf(path)
        elif suffix in (".xml", ".nxml"):
            passages = _read_jats(path)
        elif suffix in (".txt", ".md"):
            text = _read_utf8(path)
            passages = _passages_from_lines(text.splitlines(), markdown=suffix == ".md")
        else:
            raise ValueError(
                f"{path}: unsupported document type {suffix!r}; expected one of "
                f"{', '.join(SUPPORTED_SUFFIXES)}"
            )
    except OSError as exc:  # a file that cannot be opened (permissions, a vanished mount)
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return Document(path.name, tuple(passages), split, title)


def read_documents(
    entries: list[tuple[Path, dict]], *, strict: bool = False
) -> tuple[list[Document], list[str]]:
    """``(documents, skipped)``: the readable documents of ``entries`` (as
    :func:`list_documents` gives them) and one line per unreadable one, naming the file and
    the problem. ``strict``: the first unreadable document raises its ValueError instead.
    ValueError too when no document is readable."""
    docs: list[Document] = []
    skipped: list[str] = []
    for path, entry in entries:
        try:
            docs.append(read_document(path, entry.get("split"), entry.get("title", "")))
        except ValueError as exc:
            if strict:
                raise
            skipped.append(f"skipped {exc}")
    if entries and not docs:
        folder = entries[0][0].parent
        raise ValueError(
            f"documents folder {folder}: none of its {len(entries)} document(s) is readable "
            f"(first: {skipped[0].removeprefix('skipped ')})"
        )
    return docs, skipped


def skipped_summary(skipped: list[str], total: int) -> str:
    """The closing line after the skipped documents' lines ("" when none was skipped)."""
    if not skipped:
        return ""
    return (
        f"{len(skipped)} of {total} document(s) skipped as unreadable (named above); "
        "the others were used"
    )


def read_manifest(docs_dir: Path) -> dict[str, dict]:
    """The ``manifest.yaml`` entries of a corpus folder (empty when there is none)."""
    path = docs_dir / MANIFEST_NAME
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    docs = data.get("documents")
    if not isinstance(docs, dict):
        raise ValueError(f"{path}: expected a 'documents' mapping of file name -> entry")
    return {str(k): dict(v or {}) for k, v in docs.items()}


def list_documents(docs_dir: str | Path, split: str | None = None) -> list[tuple[Path, dict]]:
    """Documents of a folder (non-recursive) with their manifest entries, filtered by split.

    With a manifest, only the listed files are used; without one, every supported file is
    used and asking for a ``split`` is an error (there is nothing to split by)."""
    docs_dir = Path(docs_dir)
    if docs_dir.is_file():
        raise ValueError(f"documents folder {docs_dir}: this is a file; give the folder it is in")
    if not docs_dir.is_dir():
        raise FileNotFoundError(f"documents folder {docs_dir} does not exist")
    manifest = read_manifest(docs_dir)
    if manifest:
        out = []
        for name, entry in manifest.items():
            if split is not None and entry.get("split") != split:
                continue
            path = docs_dir / name
            if not path.is_file():
                raise FileNotFoundError(
                    f"{docs_dir / MANIFEST_NAME}: listed document {name} is missing"
                )
            out.append((path, entry))
        if split is not None and not out:
            raise ValueError(f"{docs_dir / MANIFEST_NAME}: no document has split {split!r}")
        return out
    if split is not None:
        raise ValueError(
            f"{docs_dir}: --split {split} needs a {MANIFEST_NAME} that assigns documents to splits"
        )
    files = sorted(p for p in docs_dir.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
    out = [(p, {}) for p in files if p.is_file()]
    if not out:
        raise ValueError(
            f"documents folder {docs_dir}: no documents ({', '.join(SUPPORTED_SUFFIXES)}) in it"
        )
    return out


def check_documents(docs_dir: str | Path, *, strict: bool = False) -> tuple[list[str], int]:
    """Read every document of a folder as mining will (:func:`list_documents`,
    :func:`read_documents`), so that a missing or empty folder, or one without a readable
    document, is refused before any training, naming the folder. Returns ``(skipped,
    total)``: one line per unreadable document (a broken PDF or XML file, a text file that
    is not UTF-8, ...) and the number of documents; ``strict``: the first unreadable one
    raises instead."""
    entries = list_documents(docs_dir)
    _docs, skipped = read_documents(entries, strict=strict)
    return skipped, len(entries)
