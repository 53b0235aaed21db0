"""Store operations of the triage stage: the queue, decisions, lifecycle transitions, spent tokens.

Every function takes an open connection, so a caller composes them in one transaction: the triage
stage decides a chunk of events, and their decisions, transitions, audit rows, outbox messages and the
removal of their queue rows commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opswarden.core.event import Event
from opswarden.core.timeparse import format_time
from opswarden.errors import StaleStateError
from opswarden.store import bulk
from opswarden.store.schema import audit_log, decisions, event_versions, events, triage_queue, used_tokens


@dataclass(frozen=True, slots=True)
class Subject:
    """An event as the triage stage needs it: current content, lifecycle, and the last decision."""

    id: str
    event: Event
    version_key: str
    lifecycle: str
    decision_id: int | None
    decision_version: str | None  # version key the last decision was made on
    decision: dict[str, Any] | None  # the last decision (Decision.to_dict()) or None


def claim_queue(conn: sa.Connection, limit: int) -> list[str]:
    """Up to ``limit`` queued event ids, oldest first, locked for this transaction on PostgreSQL."""
    query = sa.select(triage_queue.c.event_id).order_by(triage_queue.c.enqueued_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).scalars())


def queue_length(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(triage_queue)).scalar_one())


def dequeue(conn: sa.Connection, ids: Sequence[str]) -> None:
    if ids:
        conn.execute(triage_queue.delete().where(triage_queue.c.event_id.in_(ids)))


def enqueue(conn: sa.Connection, ids: Iterable[str], now: datetime) -> None:
    bulk.insert(
        conn, "triage_queue", [{"event_id": i, "enqueued_at": now} for i in ids], ignore_conflicts=True
    )


def load_subjects(conn: sa.Connection, ids: Sequence[str], *, lock: bool = False) -> list[Subject]:
    """The events with their current content and last decision (rows locked on PostgreSQL if asked)."""
    if not ids:
        return []
    query = (
        sa.select(
            events.c.id,
            events.c.lifecycle,
            events.c.decision_id,
            events.c.current_version,
            event_versions.c.data,
            decisions.c.version_key.label("decision_version"),
            decisions.c.data.label("decision"),
        )
        .join(
            event_versions,
            sa.and_(
                event_versions.c.event_id == events.c.id,
                event_versions.c.version_key == events.c.current_version,
            ),
        )
        .outerjoin(decisions, decisions.c.id == events.c.decision_id)
        .where(events.c.id.in_(ids))
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=events)
    return [
        Subject(
            id=row.id,
            event=Event.model_validate(row.data),
            version_key=row.current_version,
            lifecycle=row.lifecycle,
            decision_id=row.decision_id,
            decision_version=row.decision_version,
            decision=row.decision,
        )
        for row in conn.execute(query)
    ]


def changes_since(conn: sa.Connection, subjects: Sequence[Subject]) -> dict[str, list[dict[str, Any]]]:
    """What changed materially in each event since the version its last decision saw (in order)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for subject in subjects:
        if subject.decision_version is None or subject.decision_version == subject.version_key:
            continue
        rows = conn.execute(
            sa.select(event_versions.c.changes)
            .where(
                event_versions.c.event_id == subject.id,
                event_versions.c.version_key > subject.decision_version,
                event_versions.c.version_key <= subject.version_key,
            )
            .order_by(event_versions.c.version_key)
        )
        found[subject.id] = [change for (changes,) in rows for change in changes]
    return found


def latest_decision(conn: sa.Connection, event_id: str) -> dict[str, Any] | None:
    """The event's latest decision as stored: when, on which version, by what, and the decision."""
    row = conn.execute(
        sa.select(decisions.c.at, decisions.c.version_key, decisions.c.origin, decisions.c.data)
        .join(events, events.c.decision_id == decisions.c.id)
        .where(events.c.id == event_id)
    ).first()
    if row is None:
        return None
    return {"at": format_time(row.at), "version": row.version_key, "origin": row.origin, **row.data}


def insert_decisions(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store decisions (one per event) and make each its event's latest."""
    if not rows:
        return
    bulk.insert(conn, "decisions", rows)
    latest = (
        sa.select(sa.func.max(decisions.c.id)).where(decisions.c.event_id == events.c.id).scalar_subquery()
    )
    ids = [r["event_id"] for r in rows]
    conn.execute(events.update().where(events.c.id.in_(ids)).values(decision_id=latest))


@dataclass(frozen=True, slots=True)
class Move:
    """A lifecycle transition the triage stage decided (its events are locked by the stage)."""

    event_id: str
    old: str
    new: str
    why: str


def apply_moves(
    conn: sa.Connection, moves: Sequence[Move], *, at: datetime, actor: str, channel: str
) -> None:
    """Apply transitions in bulk, each with its audit row (an event's moves in order)."""
    if not moves:
        return
    final = {m.event_id: m.new for m in moves}
    bulk.update(conn, "events", [{"lifecycle": s, "id": i} for i, s in final.items()], key=("id",))
    bulk.insert(
        conn,
        "audit_log",
        [
            {
                "at": at,
                "actor": actor,
                "action": "transition",
                "channel": channel,
                "event_id": m.event_id,
                "detail": {"from": str(m.old), "to": str(m.new), "why": m.why},
            }
            for m in moves
        ],
    )


def transition_if(conn: sa.Connection, event_id: str, old: str, new: str, **audited: Any) -> bool:
    """Like :func:`transition`, but a no-op (False) when the event is no longer ``old`` — for moves
    that several workers may race to make (the first delivery about an event: routed → notified)."""
    try:
        with conn.begin_nested():
            transition(conn, event_id, old, new, **audited)
    except StaleStateError:
        return False
    return True


def transition(
    conn: sa.Connection,
    event_id: str,
    old: str,
    new: str,
    *,
    at: datetime,
    actor: str,
    channel: str,
    why: str,
    detail: dict[str, Any] | None = None,
) -> int:
    """Move an event from ``old`` to ``new`` (only if it is still ``old``) and audit it; the audit id.

    The caller has checked that the transition is allowed (:mod:`opswarden.core.lifecycle`). A
    concurrent change (the event is no longer ``old``) raises :class:`StaleStateError`.
    """
    result = conn.execute(
        events.update().where(events.c.id == event_id, events.c.lifecycle == old).values(lifecycle=new)
    )
    if result.rowcount != 1:
        raise StaleStateError(f"event {event_id} is no longer {old}: it changed meanwhile")
    return audit(
        conn,
        at=at,
        actor=actor,
        action="transition",
        channel=channel,
        event_id=event_id,
        detail={"from": old, "to": new, "why": why, **(detail or {})},
    )


def audit(
    conn: sa.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    channel: str,
    event_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    result = conn.execute(
        audit_log.insert().values(
            at=at, actor=actor, action=action, channel=channel, event_id=event_id, detail=detail or {}
        )
    )
    return int(_key(result))


def spend_token(conn: sa.Connection, key: str, kind: str, at: datetime, event_id: str | None = None) -> bool:
    """Record a single-use key; False if it was spent before (a replay)."""
    exists = conn.execute(sa.select(used_tokens.c.key).where(used_tokens.c.key == key)).first()
    if exists is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(used_tokens.insert().values(key=key, kind=kind, at=at, event_id=event_id))
    except sa.exc.IntegrityError:
        return False  # spent concurrently
    return True


def last_answer(conn: sa.Connection, event_id: str) -> dict[str, Any] | None:
    """The latest transition made by a person (ack / approve / reject), for "already acknowledged by"."""
    row = conn.execute(
        sa.select(audit_log.c.actor, audit_log.c.at, audit_log.c.channel, audit_log.c.detail)
        .where(
            audit_log.c.event_id == event_id,
            audit_log.c.action == "transition",
            audit_log.c.actor != "opswarden",
        )
        .order_by(audit_log.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


def _key(result: sa.CursorResult[Any]) -> Any:
    key = result.inserted_primary_key
    assert key is not None
    return key[0]
