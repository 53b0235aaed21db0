"""The operational store on SQLAlchemy: SQLite by default, PostgreSQL for production.

One object for the application to hold; the work is in :mod:`writer` (batches of versions) and
:mod:`reader` (queries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opswarden.store import reader, writer
from opswarden.store.db import make_engine, migrate
from opswarden.store.reader import DeadLetter, EventFilter, StoredEvent, StoredVersion
from opswarden.store.records import Prepared
from opswarden.store.schema import audit_log, dead_letters
from opswarden.store.writer import Outcome


@dataclass(frozen=True)
class Rejected:
    """A payload that could not be ingested, as it goes to the dead-letter table."""

    origin: str
    error_type: str
    error: str
    body: str


class SqlStore:
    """Events, versions, raw payloads, dead letters and the audit log in one database."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if create:
            migrate(self.engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------------

    def apply(self, batch: Sequence[Prepared], now: datetime) -> list[Outcome]:
        """Store a batch of normalised events atomically; one outcome per event."""
        if not batch:
            return []
        return writer.apply_batch(self.engine, batch, now)

    def dead_letter(self, rejected: Sequence[Rejected], now: datetime) -> None:
        if not rejected:
            return
        with self.engine.begin() as conn:
            conn.execute(
                dead_letters.insert(),
                [
                    {
                        "received_at": now,
                        "origin": r.origin,
                        "error_type": r.error_type,
                        "error": r.error,
                        "body": r.body,
                    }
                    for r in rejected
                ],
            )

    def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        channel: str,
        event_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert(),
                {
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "channel": channel,
                    "event_id": event_id,
                    "detail": detail or {},
                },
            )

    # -- reading ---------------------------------------------------------------------------------

    def list_events(self, flt: EventFilter | None = None) -> list[StoredEvent]:
        with self.engine.connect() as conn:
            return reader.list_events(conn, flt or EventFilter())

    def get_event(self, ref: str) -> StoredEvent:
        with self.engine.connect() as conn:
            return reader.get_event(conn, ref)

    def get_versions(self, event_id: str) -> list[StoredVersion]:
        with self.engine.connect() as conn:
            return reader.get_versions(conn, event_id)

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self.engine.connect() as conn:
            return reader.list_dead_letters(conn, limit)

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return reader.count_events(conn)

    def audit_entries(self, event_id: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(audit_log).order_by(audit_log.c.id)
        if event_id is not None:
            query = query.where(audit_log.c.event_id == event_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


__all__ = ["Outcome", "Prepared", "Rejected", "SqlStore"]
