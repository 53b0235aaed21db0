"""`opswarden ask` without a model: retrieval mode answers with ranked, cited events and passages."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
MODEL = Path(os.environ.get("OPSWARDEN_TEST_MODEL_DIR", "/work/shared/models/all-MiniLM-L6-v2-int8"))
EKS = "ev-7106f91ac59928da"


@pytest.fixture(params=["keywords", "hybrid"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Application]:
    if request.param == "hybrid" and not (MODEL / "model.onnx").exists():
        pytest.skip("set OPSWARDEN_TEST_MODEL_DIR to the ONNX embedding model")
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, tmp_path / name)
    model = {"embeddings_model_dir": MODEL} if request.param == "hybrid" else {"embeddings": "none"}
    application = Application(
        Settings(data_dir=tmp_path, **model), clock=FakeClock(datetime(2026, 11, 26, tzinfo=UTC))
    )
    application.ingest_paths([str(EXAMPLES / "events")])
    application.process()
    application.kb_add([str(EXAMPLES / "kb")], root=EXAMPLES / "kb")
    yield application
    application.close()


def test_the_event_comes_with_its_state_owner_ticket_and_history(app: Application) -> None:
    answered = app.ask("EKS Kubernetes 1.30 end of standard support clusters", k=6)

    event = next(s for s in answered.sources if s.kind == "event" and s.event and s.event["id"] == EKS)
    assert answered.mode == "retrieval"
    assert "No model is configured" in answered.note
    assert event.citation.startswith(f"event {EKS} (aws.health")
    assert event.event is not None
    assert event.event["teams"] == ["Infra"]
    assert event.event["accounts"] == ["111111111111 core-repo"]
    assert event.event["versions"] == 2
    assert event.event["last_change"] == "description; resources +1"
    assert [t.split(" ")[1] for t in event.event["tickets"]] == ["(builtin,"]
    assert any(s.kind == "doc" and "eks-upgrades.md" in s.citation for s in answered.sources)


def test_the_answer_text_cites_every_source_and_carries_no_link_or_token(app: Application) -> None:
    text = app.ask("who do I escalate a production outage to?", k=4).text()

    assert "[1] " in text
    assert "escalation.md" in text
    assert "/answers/" not in text  # no signed answer link ever reaches an answer a model could read


def test_an_empty_knowledge_base_says_how_to_fill_it(tmp_path: Path) -> None:
    app = Application(Settings(data_dir=tmp_path, embeddings="none"))
    try:
        text = app.ask("anything?").text()
    finally:
        app.close()

    assert "opswarden kb add" in text


def test_chunks_indexed_before_a_model_was_configured_get_their_vectors(tmp_path: Path) -> None:
    if not (MODEL / "model.onnx").exists():
        pytest.skip("set OPSWARDEN_TEST_MODEL_DIR to the ONNX embedding model")
    first = Application(Settings(data_dir=tmp_path, embeddings="none"))
    first.ingest_paths([str(EXAMPLES / "events")])
    first.process()  # the events are indexed keyword-only
    first.close()

    second = Application(Settings(data_dir=tmp_path, embeddings_model_dir=MODEL))
    try:
        hits = second.kb_search("kubernetes control plane version going out of support", k=3)
        stats = second.knowledge_base().stats()
    finally:
        second.close()

    assert stats["vectors"] == stats["chunks"]
    assert hits[0].chunk.source == f"event:{EKS}"
    assert hits[0].dense_rank == 1  # the vectors now exist: the dense side ranks it first
