"""Reading the store: event lists with filters, one event with its version timeline, dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opswarden.core.event import Event, event_id
from opswarden.errors import NotFoundError
from opswarden.store.schema import dead_letters, event_versions, events


@dataclass(frozen=True)
class EventFilter:
    """Filters of ``events list``; ``None`` means "any". Times compare with the source's update time."""

    source: str | None = None
    type_code: str | None = None
    category: str | None = None
    status: str | None = None
    severity: str | None = None
    account: str | None = None
    region: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class StoredEvent:
    """The current state of one event as the store holds it."""

    id: str
    key: str
    event: Event
    version_count: int
    current_version: str
    lifecycle: str
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class StoredVersion:
    version_key: str
    updated_at: datetime | None
    received_at: datetime
    content_hash: str
    changes: list[dict[str, Any]]
    origin: str | None
    raw_sha256: str | None
    event: Event


@dataclass(frozen=True)
class DeadLetter:
    id: int
    received_at: datetime
    origin: str
    error_type: str
    error: str
    body: str


_CURRENT_JOIN = sa.and_(
    event_versions.c.event_id == events.c.id,
    event_versions.c.version_key == events.c.current_version,
)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fields(query: sa.Select[Any], flt: EventFilter) -> sa.Select[Any]:
    """The filter's conditions on event fields and accounts (not on time)."""
    exact = {
        events.c.source: flt.source,
        events.c.type_code: flt.type_code,
        events.c.category: flt.category,
        events.c.status: flt.status,
        events.c.severity: flt.severity,
        events.c.region: flt.region,
    }
    for column, value in exact.items():
        if value is not None:
            query = query.where(column == value)
    if flt.account is not None:
        query = query.where(
            (" " + events.c.accounts + " ").like(f"% {_like_escape(flt.account)} %", escape="\\")
        )
    return query


def list_events(conn: sa.Connection, flt: EventFilter) -> list[StoredEvent]:
    query = sa.select(events, event_versions.c.data).join(event_versions, _CURRENT_JOIN)
    query = _fields(query, flt)
    if flt.since is not None:
        query = query.where(events.c.updated_at >= flt.since)
    if flt.until is not None:
        query = query.where(events.c.updated_at < flt.until)
    query = (
        query.order_by(events.c.updated_at.desc().nulls_last(), events.c.id)
        .limit(flt.limit)
        .offset(flt.offset)
    )
    return [_stored_event(row) for row in conn.execute(query)]


def _stored_event(row: Any) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        key=row.key,
        event=Event.model_validate(row.data),
        version_count=row.version_count,
        current_version=row.current_version,
        lifecycle=row.lifecycle,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
    )


def get_event(conn: sa.Connection, ref: str) -> StoredEvent:
    """An event by id, by a unique id prefix (at least 6 characters), or by identity key."""
    query = sa.select(events, event_versions.c.data).join(event_versions, _CURRENT_JOIN)
    row = conn.execute(query.where(events.c.id.in_([ref, event_id(ref)]))).first()
    if row is None and len(ref) >= 6:
        prefix = ref if ref.startswith("ev-") else f"ev-{ref}"
        rows = conn.execute(
            query.where(events.c.id.like(f"{_like_escape(prefix)}%", escape="\\")).limit(2)
        ).all()
        if len(rows) > 1:
            raise NotFoundError(f"event id prefix {ref!r} is ambiguous: give more characters")
        row = rows[0] if rows else None
    if row is None:
        raise NotFoundError(f"no event with id or key {ref!r} (try 'opswarden events list')")
    return _stored_event(row)


def get_versions(conn: sa.Connection, event_id: str) -> list[StoredVersion]:
    """Every version of an event, oldest first."""
    query = (
        sa.select(event_versions)
        .where(event_versions.c.event_id == event_id)
        .order_by(event_versions.c.version_key)
    )
    return [
        StoredVersion(
            version_key=row.version_key,
            updated_at=row.updated_at,
            received_at=row.received_at,
            content_hash=row.content_hash,
            changes=row.changes,
            origin=row.origin,
            raw_sha256=row.raw_sha256,
            event=Event.model_validate(row.data),
        )
        for row in conn.execute(query)
    ]


def list_dead_letters(conn: sa.Connection, limit: int = 100) -> list[DeadLetter]:
    query = sa.select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    return [
        DeadLetter(row.id, row.received_at, row.origin, row.error_type, row.error, row.body)
        for row in conn.execute(query)
    ]


def count_events(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def current_events(conn: sa.Connection, flt: EventFilter) -> list[Event]:
    """The current version of every event the filter selects (``policy backtest``), newest first.

    Unlike :func:`list_events`, ``since`` and ``until`` select an event when either its source update
    time or the time it was last received falls in the window (so a long-lived event delivered again
    recently counts), and ``limit`` and ``offset`` do not apply: every matching event is returned.
    """
    seen = sa.func.coalesce(events.c.updated_at, events.c.last_seen_at)
    query = sa.select(event_versions.c.data).join(events, _CURRENT_JOIN)
    query = _fields(query, flt)
    if flt.since is not None:
        query = query.where(sa.or_(events.c.updated_at >= flt.since, events.c.last_seen_at >= flt.since))
    if flt.until is not None:
        query = query.where(seen < flt.until)
    query = query.order_by(events.c.updated_at.desc().nulls_last(), events.c.id)
    return [Event.model_validate(row.data) for row in conn.execute(query)]
