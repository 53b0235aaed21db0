"""Loading documents from files and folders: Markdown, plain text, HTML and PDF.

A document's id is its path relative to the root (the current folder unless given), in POSIX form:
``runbooks/eks.md``, the same from one run to the next, so re-adding a folder re-indexes only what
changed and drops what was deleted from it. A file that cannot be read or has another suffix is
reported and skipped; the others are still indexed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opswarden.kb.chunk import Chunk, chunk_html, chunk_markdown, chunk_pdf_pages, chunk_text
from opswarden.kb.model import AddSummary, Document
from opswarden.kb.store import KnowledgeBase

SUFFIXES = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


@dataclass(slots=True)
class LoadReport:
    summary: AddSummary = field(default_factory=AddSummary)
    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            **self.summary.to_dict(),
            "skipped": [{"path": p, "reason": why} for p, why in self.skipped],
        }


def doc_id_for(path: Path, root: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def read_chunks(path: Path, doc_id: str) -> list[Chunk]:
    """One file's chunks (OSError, UnicodeDecodeError or a PDF error when it cannot be read)."""
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "pdf":
        from pypdf import PdfReader

        reader = PdfReader(str(path))
        return chunk_pdf_pages((page.extract_text() or "" for page in reader.pages), doc_id=doc_id)
    text = path.read_text(encoding="utf-8-sig")
    if kind == "markdown":
        return chunk_markdown(text, doc_id=doc_id)
    if kind == "html":
        return chunk_html(text, doc_id=doc_id)
    return chunk_text(text, doc_id=doc_id)


def walk(path: Path) -> Iterator[Path]:
    """The supported files under a folder (sorted; hidden files and folders skipped), or the file."""
    if path.is_file():
        yield path
        return
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                yield Path(folder) / name


def add_paths(kb: KnowledgeBase, paths: Iterable[str | Path], *, root: Path | None = None) -> LoadReport:
    """Index files and folders incrementally; documents deleted from an added folder are removed."""
    root = root or Path.cwd()
    report = LoadReport()
    for given in map(Path, paths):
        if not given.exists():
            report.skipped.append((str(given), "no such file or folder"))
            continue
        if given.is_file() and given.suffix.lower() not in SUFFIXES:
            report.skipped.append((str(given), f"unsupported type {given.suffix or '(none)'}"))
            continue
        seen: set[str] = set()
        summary = kb.add_many(_documents(given, root, seen, report))
        _merge(report.summary, summary)
        if given.is_dir():
            prefix = doc_id_for(given, root).rstrip("/") + "/"
            for gone in sorted(set(kb.doc_ids(kind="doc", prefix=prefix)) - seen):
                report.summary.removed += kb.remove(gone)
    return report


def _documents(given: Path, root: Path, seen: set[str], report: LoadReport) -> Iterator[Document]:
    for path in walk(given):
        doc_id = doc_id_for(path, root)
        seen.add(doc_id)  # an unreadable file keeps what was indexed from it before
        try:
            chunks = read_chunks(path, doc_id)
        except Exception as exc:  # a bad file is reported, never fatal for the others
            report.skipped.append((str(path), _reason(exc)))
            continue
        report.files += 1
        yield Document(doc_id, chunks, source=doc_id)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return f"cannot parse: {type(exc).__name__}: {exc}"


def _merge(total: AddSummary, part: AddSummary) -> None:
    total.added += part.added
    total.replaced += part.replaced
    total.unchanged += part.unchanged
    total.removed += part.removed
    total.chunks += part.chunks
    total.changed_ids.extend(part.changed_ids)
