"""Mine a folder of documents into per-area descriptions and captions (jsonl)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cytowords.atlas import NONE_ID, Atlas

from .aliases import alias_index, expand_lists
from .captions import REJECTION_CAPTION, assemble_captions, distinctive_statements
from .documents import Document, list_documents, read_documents
from .statements import Statement, attributes_of, cyto_score, extract_statements, resolve_subjects
from .text import split_sentences, strip_citations

MIN_SCORE = 1.0  # cytoarchitectonic score a sentence needs to describe its area


@dataclass(frozen=True)
class CaptionRecord:
    """One training caption: area id, caption text, source document(s), source passage."""

    area: str
    caption: str
    source: str
    passage: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "area": self.area,
                "caption": self.caption,
                "source": self.source,
                "passage": self.passage,
            },
            ensure_ascii=False,
        )


@dataclass
class MiningResult:
    """Captions, per-area descriptions (descriptive sentences joined) and statistics."""

    captions: list[CaptionRecord]
    descriptions: dict[str, str]
    stats: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def captions_per_area(self) -> dict[str, int]:
        return dict(Counter(c.area for c in self.captions))


def builtin_corpus_dir() -> Path:
    """Folder of the description corpus shipped with the package (with ``manifest.yaml``)."""
    return Path(str(resources.files("cytowords.training").joinpath("corpus")))


def _mine_document(doc: Document, atlas: Atlas, index) -> tuple[dict, dict, int]:
    """Statements and descriptive sentences per area in one document; mentions count."""
    statements: dict[str, list[Statement]] = defaultdict(list)
    sentences: dict[str, list[str]] = defaultdict(list)
    n_mentions = 0
    for passage in doc.passages:
        topic: str | None = None
        for raw in split_sentences(passage):
            sentence = expand_lists(strip_citations(raw).replace("\u2019", "'"))
            mentions = index.find(sentence)
            n_mentions += len(mentions)
            subjects = resolve_subjects(sentence, mentions)
            if subjects:
                topic = subjects[0]
            elif topic:  # no area, only group names or comparisons: the passage topic
                subjects = [topic]
            if not subjects:
                continue
            area, score = subjects[0], cyto_score(sentence)
            if score >= MIN_SCORE:
                statements[area].extend(extract_statements(sentence, mentions, area, doc.name))
            if score >= MIN_SCORE - 1.5 and attributes_of(sentence) and len(sentence.split()) >= 6:
                sentences[area].append(sentence)
    return statements, sentences, n_mentions


def mine_documents(
    docs: list[Document],
    atlas: Atlas,
    *,
    min_captions: int = 20,
    on_progress: Callable[[int, int], None] | None = None,
    include_rejection: bool = True,
) -> MiningResult:
    """Mine already-read documents (see :func:`mine_corpus`)."""
    index = alias_index(atlas)
    statements: dict[str, list[Statement]] = defaultdict(list)
    sentences: dict[str, list[str]] = defaultdict(list)
    warnings: list[str] = []
    per_doc: dict[str, int] = {}
    for i, doc in enumerate(docs):
        st, se, n_mentions = _mine_document(doc, atlas, index)
        per_doc[doc.name] = sum(len(v) for v in st.values())
        if n_mentions == 0:
            warnings.append(f"{doc.name}: no area mentions found; nothing mined from it")
        elif not per_doc[doc.name]:
            warnings.append(f"{doc.name}: areas are named but no cytoarchitectonic statement found")
        for area, items in st.items():
            statements[area].extend(items)
        for area, items in se.items():
            sentences[area].extend(items)
        if on_progress:
            on_progress(i + 1, len(docs))
    shared = Counter(t for items in statements.values() for t in {s.text.lower() for s in items})
    generic = frozenset(t for t, n in shared.items() if n > 1)
    telling = distinctive_statements(dict(statements))
    records: list[CaptionRecord] = []
    for area_id in atlas.in_scope_ids:
        if area_id not in statements:
            continue
        area = atlas.areas[area_id]
        caps = assemble_captions(
            area_id,
            area.name,
            statements[area_id],
            min_captions=min_captions,
            generic=generic,
            distinctive=telling[area_id],
        )
        for caption, used in caps:
            source = ";".join(sorted({s.source for s in used}))
            passage = " ".join(dict.fromkeys(s.sentence for s in used))
            records.append(CaptionRecord(area_id, caption, source, passage))
        if len(caps) < min_captions:
            warnings.append(f"area {area_id}: only {len(caps)} captions (wanted {min_captions})")
    if include_rejection and records:
        records.append(CaptionRecord(NONE_ID, REJECTION_CAPTION, "fixed", ""))
    descriptions = {a: " ".join(dict.fromkeys(s)) for a, s in sentences.items()}
    stats = {
        "documents": per_doc,
        "areas_described": sorted(descriptions),
        "areas_captioned": sorted({r.area for r in records if r.area != NONE_ID}),
        "statements_per_area": {a: len(v) for a, v in statements.items()},
    }
    return MiningResult(records, descriptions, stats, warnings)


def mine_corpus(
    docs_dir: str | Path | None,
    atlas: Atlas,
    *,
    split: str | None = None,
    min_captions: int = 20,
    on_progress: Callable[[int, int], None] | None = None,
    strict: bool = False,
) -> MiningResult:
    """Mine every document of ``docs_dir`` (None or "builtin": the shipped corpus).

    ``split`` ("train" or "reference") selects documents by the folder's ``manifest.yaml``;
    for the builtin corpus it defaults to "train" (set R is for evaluation only; "legacy"
    holds the retired set B).
    Captions are made for in-scope areas only; descriptions cover every area found.
    An unreadable document (a broken PDF, a text file that is not UTF-8, ...) is skipped:
    its line ("skipped FILE: problem") leads ``warnings`` and ``stats["skipped"]`` lists
    them; ValueError when no document is readable, or with ``strict`` at the first
    unreadable one."""
    if docs_dir is None or str(docs_dir) == "builtin":
        docs_dir = builtin_corpus_dir()
        split = split or "train"  # never mix the reference set into training by default
    entries = list_documents(docs_dir, split)
    docs, skipped = read_documents(entries, strict=strict)
    result = mine_documents(docs, atlas, min_captions=min_captions, on_progress=on_progress)
    result.warnings[:0] = skipped
    result.stats["split"] = split
    result.stats["skipped"] = skipped
    result.stats["listed"] = len(entries)
    return result


def reference_descriptions(
    atlas: Atlas, split: str = "reference", docs_dir: str | Path | None = None
) -> dict[str, str]:
    """Area id -> description text built only from the documents of ``split`` (set R)."""
    return mine_corpus(docs_dir, atlas, split=split).descriptions


def write_captions(records: list[CaptionRecord], path: str | Path) -> Path:
    """Write caption records as jsonl (one object per line), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from cytowords.atomic import atomic_file

    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(rec.to_json() + "\n")
    return path


def load_captions(path: str | Path) -> list[CaptionRecord]:
    """Read a captions jsonl file; ValueError naming the line for malformed records."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"captions file {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append(
                CaptionRecord(
                    str(obj["area"]),
                    str(obj["caption"]),
                    str(obj.get("source", "")),
                    str(obj.get("passage", "")),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}:{n}: expected a JSON object with 'area' and 'caption' ({exc})"
            ) from None
    return out
