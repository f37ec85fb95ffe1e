"""The user guide's links: every relative link and #anchor in README.md, CHANGELOG.md and docs/
resolves, and every screenshot in docs/images is shown on some page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_IMG = re.compile(r'<img[^>]*\bsrc="([^"]+)"')


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: links and code marks dropped, lower case, punctuation
    removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The #anchors a Markdown page defines (headings, numbered when repeated, and <a id>)."""
    out: set[str] = set()
    seen: dict[str, int] = {}
    for line in _FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            s = _slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
        out.update(re.findall(r'<a (?:name|id)="([^"]+)"', line))
    return out


def links(page: Path) -> list[str]:
    """Relative link targets on a page, outside code blocks (URLs with a scheme left out)."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    found = _LINK.findall(text) + _IMG.findall(text)
    return [t for t in found if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def dead_links(page: Path) -> list[str]:
    """Links on ``page`` whose file is missing or whose #anchor that file does not define."""
    dead = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            dead.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            dead.append(f"{target} (no such anchor)")
    return dead


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert dead_links(page) == [], f"{page.relative_to(ROOT)}: dead links"


def test_the_checker_finds_a_dead_file_and_a_dead_anchor(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# Is my scan familiar? (µm)\n\n## Results\n## Results\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md#is-my-scan-familiar-µm) [ok2](b.md#results-1) [x](b.md#results-2)\n"
        "[gone](c.md) ![img](images/none.png)\n```\n[in code](nowhere.md)\n```\n"
    )
    assert dead_links(page) == [
        "b.md#results-2 (no such anchor)",
        "c.md (no such file)",
        "images/none.png (no such file)",
    ]


def test_every_screenshot_is_shown_and_every_shown_one_exists() -> None:
    shown = {
        (page.parent / t.partition("#")[0]).resolve()
        for page in PAGES
        for t in links(page)
        if t.partition("#")[0].endswith((".png", ".jpg", ".gif", ".svg"))
    }
    files = {p.resolve() for p in (ROOT / "docs" / "images").rglob("*") if p.is_file()}
    assert sorted(str(p.relative_to(ROOT)) for p in files - shown) == []
    assert all(p.exists() for p in shown)


def test_the_guide_index_lists_every_page() -> None:
    listed = {t.partition("#")[0] for t in links(ROOT / "docs" / "index.md")}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages - listed == set()
