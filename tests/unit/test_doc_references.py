"""Every ``docs/….md`` a source file points to, and every relative link in the docs, leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parent.parent.parent
CODE_REFERENCE = re.compile(r"\b(docs/[\w./-]+\.md)(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([\w./-]+\.md)?(?:#([\w-]+))?\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.+)$", FENCE.sub("", page.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken(target: Path, anchor: str | None) -> bool:
    return not target.is_file() or (anchor is not None and anchor not in anchors(target))


def test_source_files_point_to_existing_doc_pages_and_sections() -> None:
    references = [
        (f"{path.relative_to(ROOT)}:{number}", page, anchor)
        for path in sorted((ROOT / "src").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for page, anchor in CODE_REFERENCE.findall(line)
    ]
    assert references

    dangling = [
        f"{where}: {page}#{anchor}"
        for where, page, anchor in references
        if broken(ROOT / page, anchor or None)
    ]

    assert dangling == []


def test_relative_links_in_the_docs_lead_to_existing_pages_and_sections() -> None:
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
    dangling = [
        f"{page.relative_to(ROOT)}: {target}#{anchor}"
        for page in pages
        for target, anchor in MARKDOWN_LINK.findall(FENCE.sub("", page.read_text()))
        if (target or anchor) and broken(page.parent / target if target else page, anchor or None)
    ]

    assert dangling == []
