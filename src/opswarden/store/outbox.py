"""The delivery outbox: messages to send, claimed, retried, and recorded with their result.

A row's life: ``pending`` → (claimed) ``sending`` → ``sent`` | back to ``pending`` with a later
``next_attempt_at`` (a recoverable failure) | ``dead`` (attempts exhausted, or not recoverable).
A row found ``sending`` after its claim expired belongs to a process that stopped mid-send: the
dispatcher asks the channel whether it arrived (Slack can tell) and otherwise marks it ``uncertain``
rather than send it twice. Messages to one target about one event go out in order: a row waits while
an earlier row of the same (event, channel, target) is pending or sending, so a thread reply never
overtakes the card that starts the thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from opswarden.store import bulk
from opswarden.store.schema import outbox, threads

PENDING, SENDING, SENT, DEAD, UNCERTAIN = "pending", "sending", "sent", "dead", "uncertain"


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    dedupe_key: str
    event_id: str
    channel: str
    target: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    result: dict[str, Any] | None


def dedupe_key(*parts: str) -> str:
    """A fixed-length key for one message: the same parts always give the same key."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def add(conn: sa.Connection, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Queue messages (``dedupe_key, event_id, channel, target, kind, payload``); a key seen before
    is skipped, so deciding the same thing twice never sends twice."""
    full = [{**r, "status": PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now} for r in rows]
    bulk.insert(conn, "outbox", full, ignore_conflicts=True)


def missing_keys(conn: sa.Connection, keys: Sequence[str]) -> set[str]:
    """The keys among ``keys`` that no outbox row has yet."""
    present = set(conn.execute(sa.select(outbox.c.dedupe_key).where(outbox.c.dedupe_key.in_(keys))).scalars())
    return set(keys) - present


def claim(conn: sa.Connection, now: datetime, lease: timedelta, limit: int) -> list[Row]:
    """Due rows whose predecessors for the same target are done, marked ``sending`` until the lease ends."""
    earlier = outbox.alias("earlier")
    blocked = sa.exists().where(
        earlier.c.event_id == outbox.c.event_id,
        earlier.c.channel == outbox.c.channel,
        earlier.c.target == outbox.c.target,
        earlier.c.id < outbox.c.id,
        earlier.c.status.in_((PENDING, SENDING)),
    )
    query = (
        sa.select(outbox)
        .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= now, ~blocked)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=outbox)
    rows = [_row(r) for r in conn.execute(query)]
    if rows:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_([r.id for r in rows]))
            .values(status=SENDING, attempts=outbox.c.attempts + 1, claimed_until=now + lease)
        )
    return [_replace(r, status=SENDING, attempts=r.attempts + 1) for r in rows]


def abandoned(conn: sa.Connection, now: datetime) -> list[Row]:
    """Rows left ``sending`` by a process that stopped before recording the result."""
    query = sa.select(outbox).where(outbox.c.status == SENDING, outbox.c.claimed_until < now)
    return [_row(r) for r in conn.execute(query.order_by(outbox.c.id))]


def release(conn: sa.Connection, row_ids: Sequence[int]) -> None:
    """Hand claimed rows that were never tried back to the queue (the run stopped before them)."""
    if row_ids:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(list(row_ids)), outbox.c.status == SENDING)
            .values(status=PENDING, attempts=outbox.c.attempts - 1, claimed_until=None)
        )


def mark_sent(conn: sa.Connection, row_id: int, now: datetime, result: dict[str, Any] | None) -> None:
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id)
        .values(status=SENT, sent_at=now, result=result, claimed_until=None, last_error=None)
    )


def mark_retry(conn: sa.Connection, row_id: int, at: datetime, error: str) -> None:
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id)
        .values(status=PENDING, next_attempt_at=at, claimed_until=None, last_error=error)
    )


def mark(conn: sa.Connection, row_id: int, status: str, error: str | None) -> None:
    conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id)
        .values(status=status, claimed_until=None, last_error=error)
    )


def retry(conn: sa.Connection, row_id: int, now: datetime) -> bool:
    """Put a dead or uncertain row back in the queue (an operator's decision); False if not found."""
    result = conn.execute(
        outbox.update()
        .where(outbox.c.id == row_id, outbox.c.status.in_((DEAD, UNCERTAIN)))
        .values(status=PENDING, next_attempt_at=now, attempts=0)
    )
    return result.rowcount == 1


def rows(
    conn: sa.Connection,
    *,
    event_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[Row]:
    query = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if event_id is not None:
        query = query.where(outbox.c.event_id == event_id)
    if status is not None:
        query = query.where(outbox.c.status == status)
    return [_row(r) for r in conn.execute(query)]


def counts(conn: sa.Connection) -> dict[str, int]:
    query = sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
    return {status: int(n) for status, n in conn.execute(query)}


def card_targets(conn: sa.Connection, event_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """For each event, the (channel, target) pairs that have a card (queued, sent or being sent)."""
    found: dict[str, list[tuple[str, str]]] = {}
    if not event_ids:
        return found
    query = (
        sa.select(outbox.c.event_id, outbox.c.channel, outbox.c.target)
        .where(outbox.c.event_id.in_(event_ids), outbox.c.kind == "card", outbox.c.status != DEAD)
        .distinct()
    )
    for event_id, channel, target in conn.execute(query):
        found.setdefault(event_id, []).append((channel, target))
    return found


def card_payload(conn: sa.Connection, event_id: str, channel: str, target: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(outbox.c.payload)
        .where(
            outbox.c.event_id == event_id,
            outbox.c.channel == channel,
            outbox.c.target == target,
            outbox.c.kind == "card",
        )
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row.payload)


def thread(conn: sa.Connection, event_id: str, channel: str, target: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(threads.c.ref).where(
            threads.c.event_id == event_id, threads.c.channel == channel, threads.c.target == target
        )
    ).first()
    return None if row is None else dict(row.ref)


def save_thread(
    conn: sa.Connection, event_id: str, channel: str, target: str, ref: dict[str, Any], now: datetime
) -> None:
    if thread(conn, event_id, channel, target) is None:
        conn.execute(
            threads.insert().values(
                event_id=event_id, channel=channel, target=target, ref=ref, created_at=now
            )
        )


def _row(r: Any) -> Row:
    m = r._mapping
    return Row(**{k: m[k] for k in Row.__slots__})


def _replace(row: Row, **changes: Any) -> Row:
    return Row(**{**{k: getattr(row, k) for k in Row.__slots__}, **changes})
