"""Events into the knowledge base as they arrive (docs/kb.md#events).

Each run reads, from the store, the events touched since the last run (``events.last_seen_at`` at or
after the mark kept in the knowledge base's ``kb_marks`` table, less a minute for writers that
committed late), compares their content hash with the one indexed, and indexes only the events whose
current version changed, at most ``limit`` per run (the rest on the next). Nothing changed: one query
of ids and hashes, no embedding, no write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from opswarden.core.event import Event
from opswarden.kb.chunk import event_chunk
from opswarden.kb.embed import build_embedder
from opswarden.kb.model import Document
from opswarden.kb.store import KnowledgeBase
from opswarden.settings import Settings
from opswarden.store.schema import event_versions, events

log = logging.getLogger("opswarden.kb")
MARK = "events"
MARGIN = timedelta(minutes=1)
LIMIT = 2000


@dataclass(slots=True)
class EventIndexSummary:
    indexed: int = 0  # events (re)indexed now
    pending: int = 0  # changed events left for the next run (over the limit)

    def to_dict(self) -> dict[str, Any]:
        return {"indexed": self.indexed, "pending": self.pending}


def index_events(
    kb: KnowledgeBase, engine: sa.Engine, *, limit: int = LIMIT, names: Mapping[str, str] | None = None
) -> EventIndexSummary:
    """Index the events whose current version changed since the last run (see the module's doc);
    ``names`` are the org's account names, written beside the ids."""
    mark = kb.mark(MARK)
    query = sa.select(events.c.id, events.c.content_hash, events.c.last_seen_at)
    if mark is not None:
        query = query.where(events.c.last_seen_at >= datetime.fromisoformat(mark) - MARGIN)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(events.c.last_seen_at, events.c.id)).all()
    if not rows:
        return EventIndexSummary()
    indexed = kb.hashes(f"event:{r.id}" for r in rows)
    changed = [r for r in rows if indexed.get(f"event:{r.id}") != r.content_hash]
    now, later = changed[:limit], changed[limit:]
    if now:
        hashes = {r.id: r.content_hash for r in now}
        kb.add_many(_documents(engine, hashes, names))
    # The next run starts where this one stopped: after everything seen, or at the first event left.
    newest = now[-1].last_seen_at if later else rows[-1].last_seen_at
    if mark is None or newest > datetime.fromisoformat(mark):
        kb.set_mark(MARK, newest.isoformat())
    return EventIndexSummary(indexed=len(now), pending=len(later))


def _documents(engine: sa.Engine, hashes: dict[str, str], names: Mapping[str, str] | None) -> list[Document]:
    """The current versions of these events as one-chunk documents, with the store's content hash."""
    ids = sorted(hashes)
    docs: list[Document] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            query = (
                sa.select(events.c.id, event_versions.c.data)
                .join(
                    event_versions,
                    sa.and_(
                        event_versions.c.event_id == events.c.id,
                        event_versions.c.version_key == events.c.current_version,
                    ),
                )
                .where(events.c.id.in_(part))
            )
            for row in conn.execute(query):
                chunk = event_chunk(row.id, Event.model_validate(row.data), names)
                docs.append(Document(chunk.doc_id, [chunk], hashes[row.id], chunk.source, "event"))
    return docs


class EventIndexer:
    """What ``Supervisor.process()`` runs: the knowledge base opened on first use and kept open, and
    a failure logged and reported, never raised (the knowledge base must not stop notifications)."""

    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        http: httpx.Client | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.names = names
        self.engine = engine
        self.http = http
        self.kb: KnowledgeBase | None = None

    def run(self) -> dict[str, Any]:
        try:
            if self.kb is None:
                self.kb = KnowledgeBase(self.settings.kb, build_embedder(self.settings, self.http))
            return index_events(self.kb, self.engine, names=self.names).to_dict()
        except Exception as exc:
            log.warning("knowledge base: events not indexed: %s", exc)
            return {"indexed": 0, "pending": 0, "error": str(exc)}

    def close(self) -> None:
        if self.kb is not None:
            self.kb.close()
            self.kb = None
