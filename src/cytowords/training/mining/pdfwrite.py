"""Write plain text as a minimal, valid PDF (Helvetica, A4, wrapped lines).

Used to build the PDF document of the shipped corpus and PDF fixtures in tests; the
output is text-extractable with pypdf. No third-party dependency.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

_PAGE_W, _PAGE_H = 595, 842  # A4 in PDF points (1/72 inch)
_MARGIN, _LEADING, _FONT_SIZE = 56, 14, 10
_WRAP = 95  # characters per line at 10 pt Helvetica on A4 with margins


def _escape(line: str) -> str:
    line = line.encode("latin-1", errors="replace").decode("latin-1")
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _layout(text: str) -> list[list[str]]:
    """Wrap paragraphs into lines and lines into pages (blank line between paragraphs)."""
    lines: list[str] = []
    for para in text.replace("\r\n", "\n").split("\n"):
        if not para.strip():
            lines.append("")
            continue
        lines.extend(textwrap.wrap(para, _WRAP, break_long_words=False, break_on_hyphens=False))
    per_page = (_PAGE_H - 2 * _MARGIN) // _LEADING
    pages = [lines[i : i + per_page] for i in range(0, max(len(lines), 1), per_page)]
    return pages or [[]]


def text_to_pdf_bytes(text: str, title: str = "") -> bytes:
    """Render ``text`` (paragraphs separated by newlines) as PDF bytes."""
    pages = _layout(text)
    n_pages = len(pages)
    # object numbers: 1 catalog, 2 pages, 3 font, 4 info, then (page, content) pairs
    objects: dict[int, bytes] = {}
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(n_pages))
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[2] = f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode()
    objects[3] = (
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    objects[4] = f"<< /Title ({_escape(title)}) /Producer (cytowords pdfwrite) >>".encode("latin-1")
    for i, page_lines in enumerate(pages):
        ops = [f"BT /F1 {_FONT_SIZE} Tf {_LEADING} TL {_MARGIN} {_PAGE_H - _MARGIN} Td"]
        for line in page_lines:
            ops.append(f"({_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        page_no, content_no = 5 + 2 * i, 6 + 2 * i
        objects[page_no] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_W} {_PAGE_H}] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_no} 0 R >>"
        ).encode()
        objects[content_no] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref_at = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        size,
        xref_at,
    )
    return bytes(out)


def write_text_pdf(text: str, path: str | Path, title: str = "") -> Path:
    """Write ``text`` as a PDF file at ``path`` (atomic: temp file then rename)."""
    from cytowords.atomic import atomic_write_bytes

    return atomic_write_bytes(path, text_to_pdf_bytes(text, title=title))
