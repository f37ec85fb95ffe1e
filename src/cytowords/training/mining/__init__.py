"""Mine area descriptions and captions from documents (txt, md, PDF, JATS XML).

Public API::

    from cytowords.training.mining import (mine_corpus, load_captions, write_captions,
        mask_aliases, parse_area, reference_descriptions, REJECTION_CAPTION, builtin_corpus_dir)
"""

from cytowords.atlas import NONE_ID

from .aliases import MASK_TOKEN, Mention, find_mentions, mask_aliases
from .captions import REJECTION_CAPTION, assemble_captions, parse_area
from .documents import Document, read_document
from .pipeline import (
    CaptionRecord,
    MiningResult,
    builtin_corpus_dir,
    load_captions,
    mine_corpus,
    mine_documents,
    reference_descriptions,
    write_captions,
)

__all__ = [
    "MASK_TOKEN",
    "NONE_ID",
    "REJECTION_CAPTION",
    "CaptionRecord",
    "Document",
    "Mention",
    "MiningResult",
    "assemble_captions",
    "builtin_corpus_dir",
    "find_mentions",
    "load_captions",
    "mask_aliases",
    "mine_corpus",
    "mine_documents",
    "parse_area",
    "read_document",
    "reference_descriptions",
    "write_captions",
]
