"""The knowledge base on real SQLite files: incremental indexing, FTS5 with hostile queries, fusion,
the local ONNX model (skipped without it: OPSWARDEN_TEST_MODEL_DIR), embedding endpoints, loading
folders, events indexed by processing, and the ``opswarden kb`` commands."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from opswarden.app import Application
from opswarden.cli.main import app as cli
from opswarden.core.clock import FakeClock
from opswarden.errors import ConfigurationError
from opswarden.kb.chunk import Chunk, chunk_markdown, chunk_text
from opswarden.kb.embed import (
    BedrockEmbedder,
    OnnxEmbedder,
    OpenAIEmbedder,
    Vectors,
    build_embedder,
    embedder_note,
    normalise,
)
from opswarden.kb.events import index_events
from opswarden.kb.load import add_paths
from opswarden.kb.rank import RRF_K
from opswarden.kb.store import KnowledgeBase
from opswarden.settings import Settings
from opswarden.store.reader import EventFilter

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"
MODEL_DIR = Path(os.environ.get("OPSWARDEN_TEST_MODEL_DIR", "/work/shared/models/all-MiniLM-L6-v2-int8"))
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

# Labelled questions over examples/kb: the document (and section) that answers each.
LABELLED = [
    ("how do I roll back a failed kubernetes upgrade", "eks-upgrades.md", "Rolling back"),
    ("who gets paged when the primary on-call does not acknowledge", "escalation.md", "Who is on call"),
    ("an access key was leaked, what do I do", "security-findings.md", "Compromised credentials"),
    ("our NAT gateway bill suddenly went up", "cost-anomalies.md", "First look"),
    ("connections drop while the database is patched", "rds-maintenance.md", "Multi-AZ"),
    ("S3 bucket open to the internet", "security-findings.md", "Public exposure"),
    ("update the CA bundle before the certificate rotation", "rds-maintenance.md", "Certificate rotation"),
    ("when should we declare an incident", "escalation.md", "Declaring an incident"),
]


class Keywords:
    """A deterministic embedder for fusion tests: one dimension per keyword."""

    name = "test:keywords"
    words = ("alpha", "beta", "gamma", "delta")
    dim = len(words)

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = [[t.lower().count(w) + 1e-3 for w in self.words] for t in texts]
        return normalise(np.array(rows, dtype=np.float32))


@pytest.fixture(scope="module")
def onnx() -> OnnxEmbedder:
    """The local model, loaded once per module (the session takes a second to create)."""
    if not (MODEL_DIR / "model.onnx").is_file():
        pytest.skip(f"no embedding model in {MODEL_DIR} (set OPSWARDEN_TEST_MODEL_DIR)")
    embedder = OnnxEmbedder(MODEL_DIR)
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    with KnowledgeBase(tmp_path / "kb.db") as base:
        yield base


def md(doc_id: str, text: str) -> list[Chunk]:
    return chunk_markdown(text, doc_id=doc_id)


# -- incremental indexing -----------------------------------------------------------------------


def test_unchanged_documents_are_skipped_and_changed_ones_replaced(kb: KnowledgeBase) -> None:
    assert kb.add("a.md", md("a.md", "# A\n\nRotate the access keys.\n\n## B\n\nDrain the nodes."))
    assert not kb.add("a.md", md("a.md", "# A\n\nRotate the access keys.\n\n## B\n\nDrain the nodes."))
    assert kb.stats()["chunks"] == 2

    assert kb.add("a.md", md("a.md", "# A\n\nRotate the signing certificates."))

    assert kb.stats()["chunks"] == 1
    assert kb.search("access keys") == []
    assert [h.citation for h in kb.search("certificates")] == ["a.md › A"]
    assert kb.remove("a.md")
    assert not kb.remove("a.md")
    assert kb.stats()["chunks"] == 0
    assert kb.search("certificates") == []


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "AND", "OR OR", "NEAR(", "a NOT b", "col:umn", "^start", "x*", "(((", "-", '"', "é ü ß"],
)
def test_hostile_queries_never_break_the_match(kb: KnowledgeBase, query: str) -> None:
    kb.add("q.md", md("q.md", "# Query\n\nNEAR the AND gate, column start, a NOT b; éüß."))

    kb.search(query)  # no sqlite3.OperationalError


def test_operators_are_searched_as_words(kb: KnowledgeBase) -> None:
    kb.add("ops.md", md("ops.md", "# Logic\n\nThe NEAR function and the col:umn syntax."))
    kb.add("other.md", md("other.md", "# Other\n\nNothing to see."))

    assert [h.chunk.doc_id for h in kb.search("NEAR(col:umn)")] == ["ops.md"]


def test_porter_stemming_matches_word_forms(kb: KnowledgeBase) -> None:
    kb.add("s.md", md("s.md", "# Upgrading\n\nClusters are upgraded one version at a time."))

    assert len(kb.search("upgrade cluster")) == 1


def test_fusion_order_on_a_handcrafted_corpus(tmp_path: Path) -> None:
    """BM25 ranks by the rare query word; the keyword embedder by the others; RRF adds 1/(60+rank)."""
    texts = {
        "one": "alpha alpha alpha zebra",
        "two": "beta beta zebra zebra zebra",
        "three": "gamma delta",
        "four": "alpha beta",
    }
    with KnowledgeBase(tmp_path / "kb.db", Keywords()) as base:
        for doc_id, text in texts.items():
            base.add(doc_id, chunk_text(text, doc_id=doc_id))

        hits = base.search("zebra beta", k=4)

    ranks = {h.chunk.doc_id: (h.bm25_rank, h.dense_rank) for h in hits}
    for hit in hits:
        expected = sum(1 / (RRF_K + r) for r in (hit.bm25_rank, hit.dense_rank) if r is not None)
        assert hit.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].chunk.doc_id == "two"  # first in both rankings
    assert ranks["three"][0] is None  # found by its vector only
    assert ranks["two"] == (1, 1)


def test_a_different_model_asks_for_a_reindex(tmp_path: Path) -> None:
    class Other(Keywords):
        name = "test:other"

    with KnowledgeBase(tmp_path / "kb.db", Keywords()) as base:
        base.add("a", chunk_text("alpha", doc_id="a"))
    with KnowledgeBase(tmp_path / "kb.db", Other()) as base:
        with pytest.raises(ConfigurationError, match="opswarden kb reindex"):
            base.search("alpha")
        assert base.reindex() == 1
        assert base.stats()["vectors_from"] == "test:other"
        assert base.search("alpha")[0].dense_rank == 1


def test_documents_indexed_without_vectors_get_them_on_reindex(tmp_path: Path) -> None:
    with KnowledgeBase(tmp_path / "kb.db") as base:
        base.add("a", chunk_text("alpha beta", doc_id="a"))
        assert base.search("alpha")[0].dense_rank is None
    with KnowledgeBase(tmp_path / "kb.db", Keywords()) as base:
        assert base.stats()["vectors"] == 0
        base.reindex()
        assert base.search("beta")[0].dense_rank == 1


def test_a_search_sees_what_another_connection_wrote(tmp_path: Path) -> None:
    with KnowledgeBase(tmp_path / "kb.db", Keywords()) as reader:
        reader.add("a", chunk_text("alpha", doc_id="a"))
        assert len(reader.search("gamma delta", k=5)) == 1
        with KnowledgeBase(tmp_path / "kb.db", Keywords()) as writer:
            writer.add("b", chunk_text("gamma", doc_id="b"))
        assert reader.search("gamma", k=1)[0].chunk.doc_id == "b"
        assert reader.search("gamma", k=1)[0].dense_rank == 1


# -- the local ONNX model ------------------------------------------------------------------------


def test_onnx_vectors_are_384_dimensional_unit_vectors(onnx: OnnxEmbedder) -> None:
    vectors = onnx.embed(["The EKS cluster must be upgraded", "ok", "x " * 600])

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert onnx.embed([]).shape == (0, 384)


def test_onnx_puts_related_texts_closer_than_unrelated_ones(onnx: OnnxEmbedder) -> None:
    query, close, far = onnx.embed(
        [
            "the database failed over to the standby during maintenance",
            "RDS Multi-AZ failover while patching the primary instance",
            "the team lunch is on Friday at noon",
        ]
    )

    assert float(query @ close) > float(query @ far) + 0.1


def test_onnx_batches_give_the_same_vectors_as_single_texts(onnx: OnnxEmbedder) -> None:
    texts = [f"event number {n} about {'disk ' * (n % 7)}pressure" for n in range(70)]
    batched = onnx.embed(texts)
    single = np.vstack([onnx.embed([t]) for t in texts[:5]])

    assert np.all(np.sum(batched[:5] * single, axis=1) > 0.95)  # int8: batch-dependent, but close


def test_labelled_questions_find_their_runbook_section(tmp_path: Path, onnx: OnnxEmbedder) -> None:
    with KnowledgeBase(tmp_path / "kb.db", onnx) as base:
        add_paths(base, [EXAMPLES / "kb"], root=EXAMPLES)
        found = 0
        for question, doc, section in LABELLED:
            hits = base.search(question, k=5)
            found += any(h.chunk.doc_id.endswith(doc) and section in h.chunk.heading for h in hits)

    assert found / len(LABELLED) >= 0.9


# -- embedding endpoints and settings --------------------------------------------------------------


def test_openai_compatible_endpoint(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"url": str(request.url), "auth": request.headers.get("authorization"), **body})
        data = [{"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(body["input"])]
        return httpx.Response(200, json={"data": list(reversed(data))})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    embedder = OpenAIEmbedder("http://llm.internal/v1/", "nomic-embed", "sk-test", http)

    vectors = embedder.embed(["ab", "abcd"])

    assert seen[0]["url"] == "http://llm.internal/v1/embeddings"
    assert seen[0]["auth"] == "Bearer sk-test"
    assert seen[0]["model"] == "nomic-embed"
    assert vectors.shape == (2, 3)
    assert vectors[1][0] > vectors[0][0]  # order restored from "index"
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert embedder.dim == 3


def test_openai_errors_name_the_host_not_the_key() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(401, text="bad key")))
    embedder = OpenAIEmbedder("https://llm.internal/v1", "m", "sk-secret", http)

    with pytest.raises(ConfigurationError, match=r"llm\.internal answered 401") as error:
        embedder.embed(["x"])
    assert "sk-secret" not in str(error.value)


def test_bedrock_titan_with_an_injected_client() -> None:
    class Body:
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

        def read(self) -> bytes:
            return json.dumps(self.data).encode()

    class Client:
        calls: list[dict[str, Any]] = []  # noqa: RUF012

        def invoke_model(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return {"body": Body({"embedding": [3.0, 4.0]})}

    client = Client()
    vectors = BedrockEmbedder("amazon.titan-embed-text-v2:0", client).embed(["hello"])

    assert json.loads(client.calls[0]["body"]) == {"inputText": "hello"}
    assert client.calls[0]["modelId"] == "amazon.titan-embed-text-v2:0"
    assert np.allclose(vectors, [[0.6, 0.8]])


def test_build_embedder_from_settings(tmp_path: Path) -> None:
    assert build_embedder(Settings(data_dir=tmp_path, embeddings="none")) is None
    no_model = Settings(data_dir=tmp_path, embeddings="onnx", embeddings_model_dir=None)
    assert build_embedder(no_model) is None
    assert "OPSWARDEN_EMBEDDINGS_MODEL_DIR" in (embedder_note(no_model) or "")
    with pytest.raises(ConfigurationError, match=r"has no model\.onnx"):
        build_embedder(Settings(data_dir=tmp_path, embeddings_model_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="OPSWARDEN_EMBEDDINGS_URL"):
        build_embedder(Settings(data_dir=tmp_path, embeddings="openai"))
    bedrock = build_embedder(Settings(data_dir=tmp_path, embeddings="bedrock"))
    assert bedrock is not None
    assert bedrock.name == "bedrock:amazon.titan-embed-text-v2:0"  # no boto3 call until it embeds


# -- loading files and folders ---------------------------------------------------------------------


def tiny_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
            "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_folders_load_incrementally_and_bad_files_are_reported(tmp_path: Path, kb: KnowledgeBase) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(EXAMPLES / "kb", docs)
    (docs / "notes.txt").write_text("Plain notes about the backup window.\n\nSecond paragraph.")
    (docs / "page.html").write_text("<h1>Backups</h1><p>Snapshots are kept for 35 days.</p>")
    (docs / "guide.pdf").write_bytes(tiny_pdf(["Restore drills run quarterly.", "Contact the DBA team."]))
    (docs / "broken.md").write_bytes(b"\xff\xfe\xfa not utf-8")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    (docs / "image.png").write_bytes(b"\x89PNG")  # unsupported suffix in a folder: ignored
    (docs / ".hidden.md").write_text("# Hidden")

    first = add_paths(kb, [docs, tmp_path / "missing", tmp_path / "docs" / "image.png"], root=tmp_path)

    assert first.files == 8
    assert first.summary.added == 8
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in first.skipped) == [
        "broken.md",
        "broken.pdf",
        "image.png",
        "missing",
    ]
    assert "docs/runbooks/eks-upgrades.md" in kb.doc_ids()
    assert kb.search("restore drills")[0].citation == "docs/guide.pdf › page 1"
    assert kb.search("DBA team")[0].citation == "docs/guide.pdf › page 2"
    assert kb.search("snapshots kept")[0].citation == "docs/page.html › Backups"

    (docs / "notes.txt").write_text("Plain notes about the restore window.")
    (docs / "policies" / "cost-anomalies.md").unlink()
    second = add_paths(kb, [docs], root=tmp_path)

    assert (second.summary.added, second.summary.replaced, second.summary.removed) == (0, 1, 1)
    assert second.summary.unchanged == 6
    assert "docs/policies/cost-anomalies.md" not in kb.doc_ids()


# -- events, through processing ------------------------------------------------------------------------


@pytest.fixture
def application(tmp_path: Path) -> Iterator[Application]:
    settings = Settings(data_dir=tmp_path, database_url=None, embeddings="none")
    application = Application(settings, clock=FakeClock(T0))
    yield application
    application.close()


def test_events_are_indexed_as_they_arrive(application: Application) -> None:
    application.ingest_paths([str(EXAMPLES / "events" / "01_eks_end_of_support.json")])
    first = application.process()

    assert first.kb is not None
    assert first.kb["indexed"] >= 1
    hits = application.kb_search("EKS standard support", k=3)
    assert hits[0].chunk.kind == "event"
    assert hits[0].citation.startswith("event ev-")
    assert "(aws.health, " in hits[0].citation
    assert application.process().kb == {"indexed": 0, "pending": 0}  # nothing changed: nothing done

    clock = application.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(minutes=5))
    application.ingest_paths([str(EXAMPLES / "events" / "02_eks_end_of_support_update.json")])
    assert application.process().kb == {"indexed": 1, "pending": 0}
    assert application.knowledge_base().stats()["events"] == first.kb["indexed"]


def test_index_events_works_in_batches(application: Application) -> None:
    application.ingest_paths([str(EXAMPLES / "events")])
    with KnowledgeBase(application.settings.data_dir / "other.db") as base:
        done = index_events(base, application.store.engine, limit=2)
        assert done.indexed == 2
        assert done.pending > 0
        total = done.indexed
        while done.pending:
            done = index_events(base, application.store.engine, limit=2)
            total += done.indexed
        assert base.stats()["events"] == total == len(application.list_events(EventFilter(limit=1000)))


# -- the command line ----------------------------------------------------------------------------------


def test_kb_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.setenv("OPSWARDEN_EMBEDDINGS", "none")
    runner = CliRunner()
    root = ["--data-dir", str(tmp_path)]

    added = runner.invoke(cli, [*root, "kb", "add", "kb", "--format", "json"])
    assert added.exit_code == 0, added.output
    assert orjson.loads(added.stdout)["added"] == 5

    again = runner.invoke(cli, [*root, "kb", "add", "kb"])
    assert "0 added, 0 re-indexed, 5 unchanged" in again.stdout

    found = runner.invoke(cli, [*root, "kb", "search", "rotate the RDS certificate", "--format", "json"])
    assert found.exit_code == 0, found.output
    hits = orjson.loads(found.stdout)["hits"]
    assert hits[0]["citation"] == "kb/runbooks/rds-maintenance.md › RDS maintenance › Certificate rotation"
    assert {"citation", "score", "bm25_rank", "dense_rank", "text"} <= set(hits[0])

    table = runner.invoke(cli, [*root, "kb", "search", "NAT gateway", "--k", "2"])
    as_json = orjson.loads(
        runner.invoke(cli, [*root, "kb", "search", "NAT gateway", "--k", "2", "--format", "json"]).stdout
    )
    assert "passage(s)" in table.stdout  # (the table folds long citations on a narrow terminal)
    assert any("cost-anomalies.md" in hit["citation"] for hit in as_json["hits"])

    stats = orjson.loads(runner.invoke(cli, [*root, "kb", "stats", "--format", "json"]).stdout)
    assert (stats["documents"], stats["vectors"], stats["embedder"]) == (5, 0, None)

    reindex = runner.invoke(cli, [*root, "kb", "reindex"])
    assert reindex.exit_code != 0
    assert isinstance(reindex.exception, ConfigurationError)

    skipped = runner.invoke(cli, [*root, "kb", "add", "nowhere"])
    assert skipped.exit_code == 1
