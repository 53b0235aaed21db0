"""Knowledge-base chunking, the FTS5 query built from user text, and reciprocal-rank fusion (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from opswarden.core.event import Resource
from opswarden.kb.chunk import (
    MAX_WORDS,
    OVERLAP_WORDS,
    chunk_html,
    chunk_markdown,
    chunk_pdf_pages,
    chunk_text,
    doc_hash,
    event_chunk,
    pack,
    words,
)
from opswarden.kb.rank import fts_query, rrf
from tests.factories import make_event

pytestmark = pytest.mark.unit

RUNBOOK = """---
owner: platform
---
# Runbook

Who owns this runbook.

## EKS upgrades

Clusters need upgrading.

### Before you start

Scan for removed APIs.

```sh
# a shell comment, not a heading
kubectl get nodes
```

### After the upgrade

Update the add-ons.

Setext section
--------------

Under a setext heading.
"""


def paragraph(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def test_markdown_chunks_carry_their_heading_path() -> None:
    chunks = chunk_markdown(RUNBOOK, doc_id="runbooks/eks.md")

    assert [c.heading for c in chunks] == [
        "Runbook",
        "Runbook › EKS upgrades",
        "Runbook › EKS upgrades › Before you start",
        "Runbook › EKS upgrades › After the upgrade",
        "Runbook › Setext section",
    ]
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3, 4]
    assert "# a shell comment, not a heading" in chunks[2].text  # code fences are not headings
    assert "owner: platform" not in " ".join(c.text for c in chunks)  # front matter dropped
    assert chunks[2].citation == "runbooks/eks.md › Runbook › EKS upgrades › Before you start"
    assert {c.source for c in chunks} == {"runbooks/eks.md"}
    assert {c.kind for c in chunks} == {"doc"}


def test_a_long_section_is_split_by_paragraphs_with_overlap() -> None:
    body = "\n\n".join(paragraph(120, f"p{n}_") for n in range(8))  # 960 words
    chunks = chunk_markdown(f"# Title\n\n## Long\n\n{body}\n", doc_id="long.md")

    sizes = [words(c.text) for c in chunks]
    assert len(chunks) >= 3
    assert all(200 <= s <= MAX_WORDS for s in sizes[:-1]), sizes
    assert {c.heading for c in chunks} == {"Title › Long"}
    for before, after in itertools.pairwise(chunks):
        tail = before.text.split()[-OVERLAP_WORDS:]
        assert after.text.split()[1 : OVERLAP_WORDS + 1] == tail  # "… " then the overlap
    # every paragraph is kept whole in some chunk
    for n in range(8):
        assert any(paragraph(120, f"p{n}_") in c.text for c in chunks)


def test_a_paragraph_longer_than_a_chunk_is_cut_into_overlapping_windows() -> None:
    chunks = chunk_text(paragraph(1000, "w"), doc_id="big.txt")

    assert all(words(c.text) <= MAX_WORDS for c in chunks)
    assert chunks[0].text.split()[-OVERLAP_WORDS:] == chunks[1].text.split()[:OVERLAP_WORDS]
    assert chunks[-1].text.split()[-1] == "w999"


def test_pack_never_emits_an_overlap_alone_and_skips_empty_paragraphs() -> None:
    assert pack([]) == []
    assert pack(["", "  "]) == []
    assert pack([paragraph(350, "a")]) == [paragraph(350, "a")]
    assert len(pack([paragraph(300, "a"), paragraph(10, "b")])) == 2


def test_plain_text_is_split_by_paragraphs() -> None:
    chunks = chunk_text("First para.\n\n\nSecond para\ncontinues.\n", doc_id="notes.txt")

    assert len(chunks) == 1
    assert chunks[0].text == "First para.\n\nSecond para\ncontinues."
    assert chunks[0].heading == ""
    assert chunks[0].citation == "notes.txt"


def test_html_headings_make_the_path_and_scripts_are_dropped() -> None:
    html = """<html><head><title>Access policy</title><style>p {color: red}</style></head>
    <body><h2>Keys</h2><p>Access keys
       rotate every 90 days.</p><script>alert("x")</script>
    <ul><li>Deactivate first</li><li>then delete</li></ul>
    <h3>Exceptions</h3><pre># not a heading
  indented</pre><h4></h4><p>Approved by security.</p></body></html>"""

    chunks = chunk_html(html, doc_id="policies/access.html")

    assert [c.heading for c in chunks] == ["Access policy › Keys", "Access policy › Keys › Exceptions"]
    text = " ".join(c.text for c in chunks)
    assert "Access keys rotate every 90 days." in chunks[0].text
    assert "- Deactivate first" in chunks[0].text
    assert "alert" not in text
    assert "color" not in text
    assert "# not a heading\n  indented" in chunks[1].text


def test_pdf_pages_are_cited_by_page() -> None:
    chunks = chunk_pdf_pages(["Page one text.", "", "Page three\ntext."], doc_id="guide.pdf")

    assert [c.heading for c in chunks] == ["page 1", "page 3"]
    assert chunks[1].citation == "guide.pdf › page 3"


def test_the_hash_changes_with_the_text_and_the_heading() -> None:
    a = chunk_markdown("# A\n\ntext", doc_id="x.md")
    b = chunk_markdown("# B\n\ntext", doc_id="x.md")
    c = chunk_markdown("# A\n\ntext.", doc_id="x.md")

    assert doc_hash(a) == doc_hash(chunk_markdown("# A\n\ntext", doc_id="x.md"))
    assert len({doc_hash(a), doc_hash(b), doc_hash(c)}) == 3


def test_an_event_is_one_chunk_from_its_current_version() -> None:
    event = make_event(
        "test:eks",
        description="Kubernetes 1.29 reaches the end of standard support.",
        service="EKS",
        region="eu-west-1",
        resources=(("arn:aws:eks:eu-west-1:111111111111:cluster/prod", "IMPAIRED"),),
    ).model_copy(update={"updated_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC)})

    chunk = event_chunk("ev-123", event)

    assert chunk.kind == "event"
    assert chunk.source == chunk.doc_id == "event:ev-123"
    assert chunk.citation == "event ev-123 (test, 2026-11-02)"
    for needle in ("test event test:eks", "end of standard support", "TEST_EVENT", "EKS", "111111111111"):
        assert needle in chunk.text
    assert "cluster/prod (IMPAIRED)" in chunk.text


def test_an_event_with_many_resources_lists_the_first_ones() -> None:
    event = make_event("test:many").model_copy(
        update={"resources": tuple(Resource(id=f"i-{n:04d}") for n in range(120))}
    )

    text = event_chunk("ev-1", event).text

    assert "i-0049" in text
    assert "i-0050" not in text
    assert "… and 70 more" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eks upgrade", '"eks" OR "upgrade"'),
        ('say "hello', '"say" OR "hello"'),
        ('x"y', '"x" OR "y"'),
        ("cats AND dogs OR NEAR(x y)", '"cats" OR "dogs" OR "NEAR" OR "x" OR "y"'),  # operators: plain words
        ("AND OR NOT", '"AND" OR "OR" OR "NOT"'),
        ("-excluded col:umn prefix*", '"excluded" OR "col:umn" OR "prefix"'),
        ("how do I rotate the key?", '"rotate" OR "key"'),
        ("the", '"the"'),  # only common words: keep them rather than find nothing
        ("?!  ... ()", None),
        ("", None),
        ("i-0abc123 ev-9f, 10.0.0.1.", '"i-0abc123" OR "ev-9f" OR "10.0.0.1"'),
        ("(a:b)", '"a:b"'),
        ("eks eks EKS", '"eks" OR "EKS"'),
    ],
)
def test_user_text_becomes_a_quoted_fts_query(text: str, expected: str | None) -> None:
    assert fts_query(text) == expected


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = rrf([["a", "b", "c"], ["b", "d", "a"]], k=60)

    assert [item for item, _ in fused] == ["b", "a", "d", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[2][1] == pytest.approx(1 / 62)


def test_rrf_ties_go_to_the_first_ranking() -> None:
    assert [item for item, _ in rrf([["x"], ["y"]])] == ["x", "y"]
    assert rrf([[], []]) == []
