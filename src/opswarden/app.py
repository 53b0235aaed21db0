"""The application object: one place that holds settings, clock, store and pipeline.

Entry points (CLI, HTTP server, later Slack and Lambda) only translate their transport into calls on
:class:`Application` and back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from opswarden.act.answers import Action, Answered
from opswarden.core.clock import Clock, SystemClock
from opswarden.errors import ConfigurationError
from opswarden.ingest.pipeline import Ingestor, IngestSummary
from opswarden.ingest.reader import RawItem, parse_document, read_paths
from opswarden.settings import Settings
from opswarden.store import outbox
from opswarden.store import triage as triage_store
from opswarden.store.reader import DeadLetter, EventFilter, StoredEvent, StoredVersion
from opswarden.store.schema import threads
from opswarden.store.sql import SqlStore
from opswarden.supervisor import ProcessSummary, Supervisor
from opswarden.views import audit_view, event_detail, event_summary, outbox_view, ticket_view

if TYPE_CHECKING:
    from pathlib import Path

    from opswarden.assistant.deps import Answer
    from opswarden.assistant.retrieval import RetrievalAnswer
    from opswarden.kb.load import LoadReport
    from opswarden.kb.model import Hit
    from opswarden.kb.store import KnowledgeBase
    from opswarden.lake.archive import ArchiveSummary
    from opswarden.lake.fs import Lake
    from opswarden.lake.query import QueryResult
    from opswarden.lake.verify import Report as VerifyReport


class Application:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = SqlStore(settings.database)
        self.ingestor = Ingestor(
            self.store,
            self.clock,
            fingerprints=settings.fingerprints,
            batch_size=settings.batch_size,
            workers=settings.ingest_workers,
        )

        self._supervisor: Supervisor | None = None
        self._kb_filled = False
        self._kb: KnowledgeBase | None = None
        self.write_lock = threading.RLock()  # writers of this process take turns (SQLite: one writer)
        self.wakeup = threading.Event()  # set when there is work for the background supervisor

    @property
    def supervisor(self) -> Supervisor:
        """Policy, channels and the triage / reminder / delivery stages (built on first use: a bad
        policy file fails the commands that need it, not ``events list``)."""
        if self._supervisor is None:
            self._supervisor = Supervisor(self.settings, self.store, self.clock)
        return self._supervisor

    def wake(self) -> None:
        self.wakeup.set()

    def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.close()
        if self._kb is not None:
            self._kb.close()
        self.store.close()

    def process(self, *, deliver: bool = True) -> ProcessSummary:
        """Triage what was stored, queue due reminders, send what is due."""
        return self.supervisor.process(deliver=deliver)

    # -- answers and the outbox ------------------------------------------------------------------

    def answer(
        self, ref: str, action: Action, *, actor: str, channel: str, note: str | None = None
    ) -> Answered:
        """Acknowledge / approve / reject an event by id, prefix or key (LifecycleError if not allowed)."""
        event_id = self.store.get_event(ref).id
        return self.supervisor.answer(event_id, action, actor=actor, channel=channel, note=note)

    def outbox(
        self, *, status: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            rows = outbox.rows(conn, status=status, event_id=event_id, limit=limit)
        return [outbox_view(r) for r in rows]

    def retry_message(self, outbox_id: int) -> bool:
        with self.store.engine.begin() as conn:
            return outbox.retry(conn, outbox_id, self.clock.now())

    # -- ingest ----------------------------------------------------------------------------------

    def ingest_paths(self, paths: Iterable[str]) -> IngestSummary:
        return self.ingestor.ingest(read_paths(paths, lazy=self.ingestor.workers > 1))

    def ingest_items(self, items: Iterable[RawItem]) -> IngestSummary:
        return self.ingestor.ingest(items)

    def ingest_body(self, body: bytes, origin: str) -> IngestSummary:
        return self.ingestor.ingest(parse_document(body, origin))

    # -- read ------------------------------------------------------------------------------------

    def list_events(self, flt: EventFilter) -> list[StoredEvent]:
        return self.store.list_events(flt)

    def event(self, ref: str) -> tuple[StoredEvent, list[StoredVersion]]:
        stored = self.store.get_event(ref)
        return stored, self.store.get_versions(stored.id)

    def event_json(self, ref: str) -> dict[str, Any]:
        stored, versions = self.event(ref)
        data = event_detail(stored, versions)
        with self.store.engine.connect() as conn:
            decision = triage_store.latest_decision(conn, stored.id)
            messages = outbox.rows(conn, event_id=stored.id, limit=200)
        data["decision"] = decision
        data["history"] = [audit_view(a) for a in self.store.audit_entries(stored.id)]
        data["messages"] = [outbox_view(r) for r in reversed(messages)]
        data["tickets"] = self.tickets(event_id=stored.id)
        return data

    def tickets(self, *, event_id: str | None = None) -> list[dict[str, Any]]:
        """The tickets opened for events (all backends), with their last synced status."""
        query = sa.select(threads).where(threads.c.channel == "tickets").order_by(threads.c.created_at)
        if event_id is not None:
            query = query.where(threads.c.event_id == event_id)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ticket_view(r.event_id, r.target, dict(r.ref), r.created_at) for r in rows]

    def events_json(self, flt: EventFilter) -> list[dict[str, Any]]:
        return [event_summary(e) for e in self.list_events(flt)]

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return self.store.list_dead_letters(limit)

    # -- the lake --------------------------------------------------------------------------------

    def query(self, sql: str, max_rows: int | None = None) -> QueryResult:
        """One read-only SELECT over the lake's views (QueryError if refused, failed or too slow)."""
        from opswarden.lake.query import run_query  # DuckDB and pyarrow: the lake extra, loaded on use

        return run_query(
            self.settings.lake,
            sql,
            max_rows=max_rows or self.settings.query_max_rows,
            timeout_s=self.settings.query_timeout_seconds,
            s3_endpoint=self.settings.lake_s3_endpoint,
        )

    # -- the lake's upkeep -----------------------------------------------------------------------

    def lake(self) -> Lake:
        from opswarden.lake.fs import Lake

        return Lake.open(self.settings.lake, s3_endpoint=self.settings.lake_s3_endpoint)

    def lake_archive(self) -> ArchiveSummary:
        """Archive everything queued now (also part of every ``process()``)."""
        from opswarden.lake.archive import Archiver

        return Archiver(self.store.engine, self.lake(), batch_rows=self.settings.lake_batch_rows).run()

    def lake_verify(self) -> VerifyReport:
        """Store and lake agree, per partition (partitions deleted by retention are skipped)."""
        from opswarden.lake.maintain import retention_cutoff
        from opswarden.lake.verify import verify

        cutoff = retention_cutoff(self.settings.lake_retention_days, self.clock.now())
        return verify(self.store.engine, self.lake(), keep_since=cutoff)

    # -- the knowledge base (docs/kb.md) ---------------------------------------------------------

    def knowledge_base(self) -> KnowledgeBase:
        """The knowledge base with the configured embedder (the kb extra: numpy, onnxruntime …)."""
        if self._kb is None:
            from opswarden.kb.embed import build_embedder
            from opswarden.kb.store import KnowledgeBase

            self._kb = KnowledgeBase(self.settings.kb, build_embedder(self.settings))
        return self._kb

    def kb_add(self, paths: Iterable[str], root: Path | None = None) -> LoadReport:
        """Index files and folders (Markdown, text, HTML, PDF); only what changed is re-indexed."""
        from opswarden.kb.load import add_paths

        report = add_paths(self.knowledge_base(), paths, root=root)
        self.knowledge_base().fill_vectors()
        return report

    def ask(self, question: str, k: int = 6, *, user: str = "someone") -> RetrievalAnswer | Answer:
        """Answer a question. With a model (OPSWARDEN_MODEL): the assistant's agents answer with citations
        and proposals awaiting approval (assistant/agents.py). With none: retrieval mode — the ranked
        events and passages with citations, events enriched with their state, teams, tickets and history."""
        from opswarden.assistant.retrieval import answer
        from opswarden.policy.org import EMPTY_ORG

        if self.settings.model:
            from opswarden.assistant.agents import ask

            return ask(self, question, user=user)
        hits = self.kb_search(question, k)
        try:
            org = self.supervisor.org
        except ConfigurationError:  # a broken policy file must not stop questions
            org = EMPTY_ORG
        return answer(question, hits, self.event_json, org)

    def kb_search(self, query: str, k: int = 5) -> list[Hit]:
        """The k best passages with citations; events stored since the last processing run first."""
        from opswarden.kb.events import index_events

        kb = self.knowledge_base()
        try:
            names = {acc.id: acc.name for acc in self.supervisor.org.accounts if acc.name}
        except ConfigurationError:
            names = {}
        index_events(kb, self.store.engine, names=names)
        if not self._kb_filled:  # chunks indexed before an embedder was configured get their vectors
            kb.fill_vectors()
            self._kb_filled = True
        return kb.search(query, k)
