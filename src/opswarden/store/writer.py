"""Writing batches of normalised events: versions, merges, late arrivals — in one transaction.

The rules (see :mod:`opswarden.core.versions`): an identical redelivery writes nothing; a delivery for
an existing version time merges into that version; a newer version becomes current; an older one is
kept as history and never overwrites newer state. Each version stores what materially changed from
the version before it, recomputed when a late version slots in between.

Most batches only append newer versions, so only the current version of each touched event is read;
the full history of an event is loaded only when a delivery lands at or before its current version.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from opswarden.core.event import union_resources
from opswarden.core.versions import material_changes, merge
from opswarden.store import bulk
from opswarden.store.records import Content, Prepared
from opswarden.store.schema import event_versions, events

_RETRIES = 3
_CHUNK = 500  # ids per IN (...) query


class Outcome(StrEnum):
    NEW = "new"  # first version of a new event
    UPDATED = "updated"  # a newer version became current, or the current version gained content
    UNCHANGED = "unchanged"  # identical redelivery: nothing written
    HISTORY = "history"  # a late, older version: kept as history only


@dataclass(slots=True)
class _Version:
    content: Content
    changes: list[dict[str, Any]]
    raw_sha256: str | None
    origin: str | None
    received_at: datetime
    stored: bool  # exists in the database
    dirty: bool = False


@dataclass(slots=True)
class _History:
    """The versions of one event that this batch needs, ordered by version key."""

    id: str
    key: str
    exists: bool
    first_seen_at: datetime
    version_count: int
    current: str  # version key of the current version
    versions: dict[str, _Version] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    touched: bool = False

    def add(self, vk: str, version: _Version) -> None:
        bisect.insort(self.order, vk)
        self.versions[vk] = version

    def neighbours(self, vk: str) -> tuple[_Version | None, _Version | None]:
        i = self.order.index(vk)
        before = self.versions[self.order[i - 1]] if i > 0 else None
        after = self.versions[self.order[i + 1]] if i + 1 < len(self.order) else None
        return before, after


def apply_batch(engine: sa.Engine, batch: Sequence[Prepared], now: datetime) -> list[Outcome]:
    """Store a batch; returns one outcome per incoming event, in order. Retries lost races."""
    for attempt in range(_RETRIES):
        try:
            with engine.begin() as conn:
                return _apply(conn, batch, now)
        except sa.exc.IntegrityError:
            # Another worker created one of these events at the same time: read again and redo.
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _apply(conn: sa.Connection, batch: Sequence[Prepared], now: datetime) -> list[Outcome]:
    histories = _load_current(conn, {item.id for item in batch})
    # Events whose deliveries land at or before their current version need their whole history.
    deep = {
        item.id
        for item in batch
        if (h := histories.get(item.id)) is not None and (item.partial or item.version_key <= h.current)
    }
    if deep:
        _load_history(conn, histories, deep)
    outcomes = [_add(histories, item, now) for item in batch]
    _write(conn, histories.values(), batch, now)
    return outcomes


def _add(histories: dict[str, _History], item: Prepared, now: datetime) -> Outcome:
    vk = item.version_key
    history = histories.get(item.id)
    if history is None:
        history = histories[item.id] = _History(item.id, item.key, False, now, 1, vk)
        history.add(vk, _new_version(item.content, item, now))
        history.touched = True
        return Outcome.NEW
    content = item.content
    current = history.versions[history.current].content
    if item.partial:
        # A fragment (e.g. DescribeAffectedEntities alone) adds to whatever version is current.
        vk = history.current
    elif vk > history.current and current.event.details.get("partial"):
        # The first full version after fragments keeps the entities the fragments reported.
        event, fragment = content.event, current.event
        content = Content.of(
            event.model_copy(
                update={
                    "resources": union_resources(event.resources, fragment.resources),
                    "accounts": tuple(sorted(set(event.accounts) | set(fragment.accounts))),
                }
            )
        )
    held = history.versions.get(vk)
    if held is not None:
        if content.hash == held.content.hash:
            return Outcome.UNCHANGED
        merged = Content.of(merge(held.content.event, content.event))
        if merged.hash == held.content.hash:
            return Outcome.UNCHANGED
        held.content, held.dirty = merged, True
        held.raw_sha256, held.origin = item.raw_sha256, item.origin
    else:
        history.add(vk, _new_version(content, item, now))
        history.version_count += 1
    history.touched = True
    _recompute_changes(history, vk)
    if vk >= history.current:
        history.current = vk
        return Outcome.UPDATED
    return Outcome.HISTORY


def _new_version(content: Content, item: Prepared, now: datetime) -> _Version:
    return _Version(content, [], item.raw_sha256, item.origin, now, False, True)


def _recompute_changes(history: _History, vk: str) -> None:
    before, after = history.neighbours(vk)
    version = history.versions[vk]
    for prev, this in ((before, version), (version, after)):
        if this is None:
            continue
        changes = material_changes(prev.content.event if prev else None, this.content.event)
        if changes != this.changes:
            this.changes, this.dirty = changes, True


def _load_current(conn: sa.Connection, ids: Iterable[str]) -> dict[str, _History]:
    histories: dict[str, _History] = {}
    id_list = sorted(ids)
    for start in range(0, len(id_list), _CHUNK):
        chunk = id_list[start : start + _CHUNK]
        query = (
            sa.select(
                events.c.id,
                events.c.key,
                events.c.first_seen_at,
                events.c.version_count,
                events.c.current_version,
                event_versions.c.content_hash,
                event_versions.c.changes,
                event_versions.c.received_at,
                event_versions.c.data,
            )
            .join(
                event_versions,
                sa.and_(
                    event_versions.c.event_id == events.c.id,
                    event_versions.c.version_key == events.c.current_version,
                ),
            )
            .where(events.c.id.in_(chunk))
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=events)
        for row in conn.execute(query):
            history = _History(
                row.id, row.key, True, row.first_seen_at, row.version_count, row.current_version
            )
            history.add(row.current_version, _stored_version(row))
            histories[row.id] = history
    return histories


def _stored_version(row: Any) -> _Version:
    return _Version(
        Content.stored(row.data, row.content_hash), row.changes, None, None, row.received_at, True
    )


def _load_history(conn: sa.Connection, histories: dict[str, _History], ids: set[str]) -> None:
    query = sa.select(
        event_versions.c.event_id,
        event_versions.c.version_key,
        event_versions.c.content_hash,
        event_versions.c.changes,
        event_versions.c.received_at,
        event_versions.c.data,
    ).where(event_versions.c.event_id.in_(sorted(ids)))
    for row in conn.execute(query):
        history = histories[row.event_id]
        if row.version_key not in history.versions:
            history.add(row.version_key, _stored_version(row))


def _write(
    conn: sa.Connection, histories: Iterable[_History], batch: Sequence[Prepared], now: datetime
) -> None:
    raw_needed: set[str] = set()
    new_versions: list[dict[str, Any]] = []
    changed_versions: list[dict[str, Any]] = []
    new_events: list[dict[str, Any]] = []
    changed_events: list[dict[str, Any]] = []
    to_triage: list[dict[str, Any]] = []
    for history in histories:
        if not history.touched:
            continue
        if history.versions[history.current].dirty:  # the current state changed: decide again
            to_triage.append({"event_id": history.id, "enqueued_at": now})
        for vk, version in history.versions.items():
            if not version.dirty:
                continue
            if version.raw_sha256:
                raw_needed.add(version.raw_sha256)
            row = {
                "event_id": history.id,
                "version_key": vk,
                "updated_at": version.content.columns()["updated_at"],
                "content_hash": version.content.hash,
                "received_at": version.received_at,
                "changes": version.changes,
                "raw_sha256": version.raw_sha256,
                "origin": version.origin,
                "data": version.content.text(),
            }
            (changed_versions if version.stored else new_versions).append(row)
        current = history.versions[history.current]
        row = _event_row(history, current, now)
        (changed_events if history.exists else new_events).append(row)
    if raw_needed:
        bodies = {i.raw_sha256: i for i in batch if i.raw_sha256 in raw_needed}
        bulk.insert(
            conn,
            "raw_payloads",
            [
                {"sha256": sha, "received_at": now, "origin": i.origin, "body": i.raw_body}
                for sha, i in bodies.items()
            ],
            ignore_conflicts=True,
        )
    bulk.insert(conn, "events", new_events)
    bulk.update(conn, "events", changed_events, key=("id",))
    bulk.insert(conn, "event_versions", new_versions)
    bulk.update(conn, "event_versions", changed_versions, key=("event_id", "version_key"))
    bulk.insert(conn, "triage_queue", to_triage, ignore_conflicts=True)


def _event_row(history: _History, current: _Version, now: datetime) -> dict[str, Any]:
    return {
        "id": history.id,
        "key": history.key,
        **current.content.columns(),
        "first_seen_at": history.first_seen_at,
        "last_seen_at": now,
        "version_count": history.version_count,
        "current_version": history.current,
        "content_hash": current.content.hash,
    }
