"""Chunks: the passages the knowledge base indexes, and the chunkers that cut documents into them.

A chunk keeps the path of headings it sits under ("Runbook › EKS upgrades › Before you start"), so a
passage is searchable and citable by its section. Long sections are cut at paragraph boundaries into
passages of about ``TARGET_WORDS`` (at most ``MAX_WORDS``) words, each repeating a little of the
previous one (``OVERLAP_WORDS``) so that a sentence split across two passages is found in either.
Events are one chunk each, from their current version (docs/kb.md#what-is-indexed).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from opswarden.core.event import Event

Kind = Literal["doc", "event"]
SEPARATOR = " › "
TARGET_WORDS = 300
MAX_WORDS = 400
OVERLAP_WORDS = 40
_MAX_RESOURCES = 50  # an event with thousands of resources lists the first ones
_MAX_DESCRIPTION = 4000  # characters of an event's description that are indexed


@dataclass(frozen=True, slots=True)
class Chunk:
    doc_id: str
    ordinal: int
    heading: str  # heading path joined with " › "; for events: "<source>, <date>"
    text: str
    source: str  # the file (relative to the folder it was added from), or "event:<id>"
    kind: Kind = "doc"

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.heading}\0{self.text}".encode()).hexdigest()

    @property
    def citation(self) -> str:
        """``runbooks/eks.md › EKS upgrades``, ``guide.pdf › page 3``, ``event ev-… (aws.health, 2026-11-02)``."""
        if self.kind == "event":
            return f"event {self.source.removeprefix('event:')} ({self.heading})"
        return f"{self.source}{SEPARATOR}{self.heading}" if self.heading else self.source


def doc_hash(chunks: Iterable[Chunk]) -> str:
    """The hash of a whole document: equal chunks, equal hash (what makes re-adding it a no-op)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk.hash.encode())
    return digest.hexdigest()


def words(text: str) -> int:
    return len(text.split())


# -- packing paragraphs into passages ---------------------------------------------------------------


def pack(paragraphs: Iterable[str]) -> list[str]:
    """Paragraphs → passages of about TARGET_WORDS words (never above MAX_WORDS), cut only between
    paragraphs unless one paragraph alone is too long; each passage after the first starts with the
    last OVERLAP_WORDS words of the one before."""
    passages: list[str] = []
    current: list[str] = []
    count = 0
    fresh = False  # the current passage holds more than the carried overlap

    def flush() -> None:
        nonlocal current, count, fresh
        if fresh:
            passages.append("\n\n".join(current))
            carry = _tail(current[-1], OVERLAP_WORDS)
            current, count, fresh = [carry], words(carry), False

    for paragraph in paragraphs:
        n = words(paragraph)
        if n == 0:
            continue
        if n > MAX_WORDS:
            flush()
            for window in _windows(paragraph):
                current, count, fresh = [window], words(window), True
                flush()
            continue
        if count + n > MAX_WORDS:
            flush()
        current.append(paragraph)
        count += n
        fresh = True
        if count >= TARGET_WORDS:
            flush()
    flush()
    return passages


def _tail(text: str, n: int) -> str:
    tokens = text.split()
    return text if len(tokens) <= n else "… " + " ".join(tokens[-n:])


def _windows(text: str) -> Iterator[str]:
    """A paragraph too long for one passage: windows of TARGET_WORDS words, overlapping."""
    tokens = text.split()
    step = TARGET_WORDS - OVERLAP_WORDS
    for start in range(0, max(len(tokens) - OVERLAP_WORDS, 1), step):
        yield " ".join(tokens[start : start + TARGET_WORDS])


# -- Markdown ---------------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def chunk_markdown(text: str, *, doc_id: str, source: str | None = None) -> list[Chunk]:
    """Markdown cut by headings (ATX and setext; none inside code fences), then by paragraphs."""
    sections = _markdown_sections(text.splitlines())
    return _chunks(doc_id, source or doc_id, ((SEPARATOR.join(p), body) for p, body in sections))


def _markdown_sections(lines: list[str]) -> list[tuple[tuple[str, ...], list[str]]]:
    """(heading path, paragraphs) per section, in order; the lines before any heading have path ()."""
    lines = _skip_front_matter(lines)
    sections: list[tuple[tuple[str, ...], list[str]]] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    in_code = False
    i = 0

    def close() -> None:
        paragraphs = _paragraphs(body)
        if paragraphs:
            sections.append((tuple(title for _, title in stack), paragraphs))
        body.clear()

    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            in_code = not in_code
        heading = None if in_code else _heading(line, lines[i + 1] if i + 1 < len(lines) else None, body)
        if heading is None:
            body.append(line)
            i += 1
            continue
        level, title, used = heading
        close()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        i += used
    close()
    return sections


def _heading(line: str, following: str | None, body: list[str]) -> tuple[int, str, int] | None:
    """(level, title, lines used) if ``line`` starts a heading."""
    match = _ATX.match(line)
    if match:
        title = match.group(2).strip()
        return (len(match.group(1)), title, 1) if title else None
    starts_paragraph = not body or not body[-1].strip()
    if following is not None and line.strip() and starts_paragraph:
        setext = _SETEXT.match(following)
        if setext:
            return (1 if setext.group(1)[0] == "=" else 2, line.strip(), 2)
    return None


def _skip_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                return lines[i + 1 :]
    return lines


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs; a fenced code block stays one paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []
    in_code = False
    for line in lines:
        if _FENCE.match(line):
            in_code = not in_code
        if not in_code and not line.strip():
            if current:
                paragraphs.append("\n".join(current).strip())
                current = []
            continue
        current.append(line.rstrip())
    if current:
        paragraphs.append("\n".join(current).strip())
    return [p for p in paragraphs if p]


# -- plain text, HTML, PDF pages --------------------------------------------------------------------


def chunk_text(text: str, *, doc_id: str, source: str | None = None, heading: str = "") -> list[Chunk]:
    """Plain text: paragraphs (blank-line separated), packed into passages under one heading."""
    return _chunks(doc_id, source or doc_id, [(heading, _paragraphs(text.splitlines()))])


def chunk_html(html: str, *, doc_id: str, source: str | None = None) -> list[Chunk]:
    """HTML: h1–h4 make the heading path (the page's <title> when it has no h1); scripts, styles and
    templates are dropped; block elements separate paragraphs; <pre> stays whole."""
    return chunk_markdown(html_to_markdown(html), doc_id=doc_id, source=source)


_BLOCKS = (
    "p", "div", "section", "article", "main", "aside", "header", "footer", "ul", "ol", "table", "tr",
    "blockquote", "dl", "dt", "dd", "h5", "h6", "figure", "figcaption", "br", "hr", "form",
)  # fmt: skip


def html_to_markdown(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.decompose()
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else ""
    if soup.head:
        soup.head.decompose()
    has_h1 = soup.find("h1") is not None
    for tag in soup.find_all(["h1", "h2", "h3", "h4"]):
        text = " ".join(tag.get_text(" ").split())
        tag.replace_with(f"\n\n{'#' * int(tag.name[1])} {text}\n\n" if text else "")
    for tag in soup.find_all("pre"):
        tag.replace_with(f"\n\n```\n{tag.get_text()}\n```\n\n")
    for tag in soup.find_all("li"):
        tag.insert_before("\n\n- ")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    markdown = _collapse(soup.get_text().splitlines())
    return f"# {title}\n\n{markdown}" if title and not has_h1 else markdown


def _collapse(lines: list[str]) -> str:
    """One line per paragraph (HTML source wraps anywhere); code fences kept verbatim."""
    out: list[str] = []
    paragraph: list[str] = []
    in_code = False
    for line in lines:
        if _FENCE.match(line) or in_code:
            if paragraph:
                out.extend([" ".join(paragraph), ""])
                paragraph = []
            in_code = in_code != bool(_FENCE.match(line))
            out.append(line)
        elif line.strip():
            paragraph.append(" ".join(line.split()))
        elif paragraph:
            out.extend([" ".join(paragraph), ""])
            paragraph = []
    if paragraph:
        out.append(" ".join(paragraph))
    return "\n".join(out)


def chunk_pdf_pages(pages: Iterable[str], *, doc_id: str, source: str | None = None) -> list[Chunk]:
    """PDF page texts: each page's paragraphs (or lines, PDFs rarely keep blank lines) under ``page N``."""
    sections = []
    for number, text in enumerate(pages, 1):
        paragraphs = _paragraphs(text.splitlines())
        if len(paragraphs) == 1 and words(paragraphs[0]) > MAX_WORDS:
            paragraphs = [line for line in paragraphs[0].splitlines() if line.strip()]
        sections.append((f"page {number}", paragraphs))
    return _chunks(doc_id, source or doc_id, sections)


def _chunks(doc_id: str, source: str, sections: Iterable[tuple[str, list[str]]]) -> list[Chunk]:
    out: list[Chunk] = []
    for heading, paragraphs in sections:
        for passage in pack(paragraphs):
            out.append(Chunk(doc_id, len(out), heading, passage, source))
    return out


# -- events -----------------------------------------------------------------------------------------


def event_chunk(event_id: str, event: Event, names: Mapping[str, str] | None = None) -> Chunk:
    """One chunk per event, from its current version; cited ``event <id> (<source>, <date>)``.
    ``names`` (account id → name, from org.yaml) lets questions name accounts ("sandpit")."""
    when = event.updated_at or event.start_at
    heading = f"{event.source}, {when:%Y-%m-%d}" if when else event.source
    resources = [r.id + (f" ({r.status})" if r.status else "") for r in event.resources[:_MAX_RESOURCES]]
    if len(event.resources) > _MAX_RESOURCES:
        resources.append(f"… and {len(event.resources) - _MAX_RESOURCES} more")
    lines = [
        event.title,
        event.description[:_MAX_DESCRIPTION],
        f"Type: {event.type_code} ({event.category.value})",
        f"Service: {event.service}" if event.service else "",
        f"Severity: {event.severity.value}. Status: {event.status.value}"
        + (f" ({event.upstream_status})" if event.upstream_status else ""),
        f"Region: {event.region}" if event.region else "",
        "Accounts: " + ", ".join(f"{a} {names[a]}" if names and a in names else a for a in event.accounts)
        if event.accounts
        else "",
        f"Resources: {', '.join(resources)}" if resources else "",
    ]
    text = "\n".join(line for line in lines if line)
    return Chunk(f"event:{event_id}", 0, heading, text, f"event:{event_id}", "event")
