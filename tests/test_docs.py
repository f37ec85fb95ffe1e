"""The user guide holds together: every relative link and #anchor in README.md, CHANGELOG.md and
docs/ resolves, every screenshot in docs/images is shown on some page, docs/index.md lists every
page, and every ``cytowords COMMAND --option`` the pages show exists."""

from __future__ import annotations

import argparse
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


_COMMAND = re.compile(r"cytowords[ \t]+([a-z][a-z-]*)((?:[ \t]+[^\s`|;&)]+)*)")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-parsers of ``parser`` by name (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def unknown_options(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """``cytowords COMMAND [SUB] … --option`` spans in ``text`` (backslash continuations
    joined) whose option the command's parser does not have."""
    text = re.sub(r"\\\n[ \t]*", " ", text)
    bad = []
    for m in _COMMAND.finditer(text):
        sub = _subcommands(parser).get(m.group(1))
        if sub is None:
            continue
        words = m.group(2).split()
        nested = _subcommands(sub)
        if words and words[0] in nested:
            sub = nested[words[0]]
        known = {s for a in sub._actions for s in a.option_strings}
        bad += [
            f"{m.group(0).split()[1]} {o}"
            for o in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", " ".join(words))
            if o not in known
        ]
    return bad


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.name != "CHANGELOG.md"], ids=lambda p: p.name
)
def test_every_command_line_option_shown_exists(page: Path) -> None:
    from cytowords.cli import build_parser

    assert unknown_options(page.read_text(encoding="utf-8"), build_parser()) == []


def test_the_option_checker_finds_a_misspelt_option() -> None:
    from cytowords.cli import build_parser

    text = (
        "`cytowords map S --out m.zarr --strde-um 512` and\n"
        "cytowords synth section OUT --seed 1 \\\n    --size-mm 4 3 --pixel-size 2\n"
        "`cytowords describe S --roi 1,2,3,4 --json` | `--nothing` outside a command\n"
        "cytowords synth section OUT --seed 1\ncytowords describe OUT --roi 1,2,3,4\n"
    )
    assert unknown_options(text, build_parser()) == ["map --strde-um", "synth --pixel-size"]
