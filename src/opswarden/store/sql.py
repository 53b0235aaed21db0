"""The operational store on SQLAlchemy: SQLite by default, PostgreSQL for production.

One object for the application to hold; the work is in :mod:`writer` (batches of versions) and
:mod:`reader` (queries).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opswarden.core.event import Event
from opswarden.errors import StoreError
from opswarden.store import reader, triage, writer
from opswarden.store.db import make_engine, migrate, shown_url
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
    """Events, versions, raw payloads, dead letters and the audit log in one database.

    A database that cannot be reached or written (server down, SQLite file in a read-only folder …)
    raises :class:`StoreError` naming the database (password hidden) and what failed.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if create:
            with self._failures("opening the store"):
                migrate(self.engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            cause = "; ".join(line.strip() for line in str(exc.orig or exc).splitlines() if line.strip())
            raise StoreError(f"database {shown_url(self.url)}: {doing} failed: {cause}") from exc

    # -- writing ---------------------------------------------------------------------------------

    def apply(self, batch: Sequence[Prepared], now: datetime) -> list[Outcome]:
        """Store a batch of normalised events atomically; one outcome per event."""
        if not batch:
            return []
        with self._failures("storing events"):
            return writer.apply_batch(self.engine, batch, now)

    def dead_letter(self, rejected: Sequence[Rejected], now: datetime) -> None:
        if not rejected:
            return
        with self._failures("storing dead letters"), self.engine.begin() as conn:
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
        with self._failures("writing the audit log"), self.engine.begin() as conn:
            triage.audit(
                conn, at=at, actor=actor, action=action, channel=channel, event_id=event_id, detail=detail
            )

    # -- reading ---------------------------------------------------------------------------------

    def list_events(self, flt: EventFilter | None = None) -> list[StoredEvent]:
        with self._failures("listing events"), self.engine.connect() as conn:
            return reader.list_events(conn, flt or EventFilter())

    def current_events(self, flt: EventFilter) -> list[Event]:
        """The current version of every event the filter selects (no limit; see reader.current_events)."""
        with self._failures("reading events"), self.engine.connect() as conn:
            return reader.current_events(conn, flt)

    def get_event(self, ref: str) -> StoredEvent:
        with self._failures("reading an event"), self.engine.connect() as conn:
            return reader.get_event(conn, ref)

    def get_versions(self, event_id: str) -> list[StoredVersion]:
        with self._failures("reading versions"), self.engine.connect() as conn:
            return reader.get_versions(conn, event_id)

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._failures("listing dead letters"), self.engine.connect() as conn:
            return reader.list_dead_letters(conn, limit)

    def count_events(self) -> int:
        with self._failures("counting events"), self.engine.connect() as conn:
            return reader.count_events(conn)

    def audit_entries(self, event_id: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(audit_log).order_by(audit_log.c.id)
        if event_id is not None:
            query = query.where(audit_log.c.event_id == event_id)
        with self._failures("reading the audit log"), self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


__all__ = ["Outcome", "Prepared", "Rejected", "SqlStore"]
