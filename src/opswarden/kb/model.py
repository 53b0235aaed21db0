"""What the knowledge base takes and gives: documents to add, what adding did, search hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opswarden.kb.chunk import Chunk


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: Chunk
    score: float  # reciprocal-rank fusion score
    bm25_rank: int | None  # 1 = best keyword match; None: not in the keyword top 50
    dense_rank: int | None  # 1 = nearest vector; None: not in the dense top 50 (or no embedder)

    @property
    def citation(self) -> str:
        return self.chunk.citation

    def to_dict(self) -> dict[str, Any]:
        return {
            "citation": self.citation,
            "score": round(self.score, 6),
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
            "doc_id": self.chunk.doc_id,
            "source": self.chunk.source,
            "kind": self.chunk.kind,
            "heading": self.chunk.heading,
            "text": self.chunk.text,
        }


@dataclass(slots=True)
class AddSummary:
    added: int = 0  # new documents
    replaced: int = 0  # changed documents, their chunks replaced
    unchanged: int = 0  # same hash: skipped
    removed: int = 0
    chunks: int = 0  # chunks written
    changed_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks": self.chunks,
        }


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    chunks: Sequence[Chunk]
    hash: str | None = None  # default: the hash of the chunks
    source: str | None = None  # default: the first chunk's source, else the doc id
    kind: str = "doc"
