"""The store's version rules, on SQLite and on PostgreSQL (same suite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from opswarden.core.event import Event, Status
from opswarden.errors import NotFoundError
from opswarden.store.reader import EventFilter
from opswarden.store.sql import Outcome, Prepared, Rejected, SqlStore
from tests.factories import make_event

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    store = SqlStore(database_url)
    yield store
    store.close()


def incoming(event: Event, raw: str = "{}") -> Prepared:
    import hashlib

    body = raw if raw != "{}" else event.model_dump_json()
    return Prepared.of(event, hashlib.sha256(body.encode()).hexdigest(), body, "test")


def apply(store: SqlStore, *events: Event) -> list[Outcome]:
    return store.apply([incoming(e) for e in events], NOW)


def test_identical_redelivery_adds_nothing(store: SqlStore) -> None:
    event = make_event()
    assert apply(store, event) == [Outcome.NEW]
    assert apply(store, event, event) == [Outcome.UNCHANGED, Outcome.UNCHANGED]
    stored = store.get_event(event.id)
    assert stored.version_count == 1
    assert len(store.get_versions(event.id)) == 1


def test_newer_version_becomes_current_with_its_changes(store: SqlStore) -> None:
    v1 = make_event(resources=(("i-1", "PENDING"),))
    v2 = make_event(minutes=10, status=Status.CLOSED, resources=(("i-1", "RESOLVED"),))
    assert apply(store, v1) == [Outcome.NEW]
    assert apply(store, v2) == [Outcome.UPDATED]
    stored = store.get_event(v1.id)
    assert stored.event.status is Status.CLOSED
    assert stored.version_count == 2
    versions = store.get_versions(v1.id)
    assert [v.event.status for v in versions] == [Status.OPEN, Status.CLOSED]
    fields = [c["field"] for c in versions[1].changes]
    assert fields == ["status", "resources"]


def test_late_older_version_is_history_and_never_overwrites(store: SqlStore) -> None:
    v1 = make_event(description="first")
    v2 = make_event(minutes=10, description="second")
    v3 = make_event(minutes=20, status=Status.CLOSED, description="third")
    assert apply(store, v1, v3) == [Outcome.NEW, Outcome.UPDATED]
    assert apply(store, v2) == [Outcome.HISTORY]
    stored = store.get_event(v1.id)
    assert stored.event.description == "third"
    assert stored.event.status is Status.CLOSED
    versions = store.get_versions(v1.id)
    assert [v.event.description for v in versions] == ["first", "second", "third"]
    # v3's changes are now measured against v2, which slotted in between.
    assert {c["field"] for c in versions[2].changes} == {"status", "description"}
    assert {c["field"] for c in versions[1].changes} == {"description"}


def test_pages_of_one_version_merge_into_one_record(store: SqlStore) -> None:
    p1 = make_event(resources=(("i-1", "PENDING"),), page=(1, 3))
    p2 = make_event(resources=(("i-2", "PENDING"),), page=(2, 3))
    p3 = make_event(resources=(("i-3", "PENDING"),), page=(3, 3))
    assert apply(store, p2) == [Outcome.NEW]
    assert apply(store, p1, p3) == [Outcome.UPDATED, Outcome.UPDATED]
    assert apply(store, p1) == [Outcome.UNCHANGED]
    stored = store.get_event(p1.id)
    assert [r.id for r in stored.event.resources] == ["i-1", "i-2", "i-3"]
    assert stored.version_count == 1


def test_one_batch_with_many_versions_of_one_event(store: SqlStore) -> None:
    versions = [make_event(minutes=m, description=f"d{m}") for m in (5, 1, 9, 5)]
    outcomes = apply(store, *versions)
    assert outcomes == [Outcome.NEW, Outcome.HISTORY, Outcome.UPDATED, Outcome.UNCHANGED]
    stored = store.get_event(versions[0].id)
    assert stored.event.description == "d9"
    assert stored.version_count == 3


def test_raw_payload_is_kept_once_per_distinct_body(store: SqlStore) -> None:
    import sqlalchemy as sa

    from opswarden.store.schema import raw_payloads

    a, b = make_event("k:a"), make_event("k:b")
    store.apply([incoming(a, '{"both": 1}'), incoming(b, '{"both": 1}')], NOW)
    with store.engine.connect() as conn:
        bodies = conn.execute(sa.select(raw_payloads.c.body)).scalars().all()
    assert bodies == ['{"both": 1}']
    (version,) = store.get_versions(a.id)
    assert version.raw_sha256 is not None


def test_filters_and_lookup_by_prefix_and_key(store: SqlStore) -> None:
    apply(
        store,
        make_event("k:1", minutes=1, status=Status.CLOSED),
        make_event("k:2", minutes=2, accounts=("222222222222",), region="eu-west-1"),
        make_event("k:3", minutes=3),
    )
    assert [e.key for e in store.list_events()] == ["k:3", "k:2", "k:1"]
    assert [e.key for e in store.list_events(EventFilter(status="closed"))] == ["k:1"]
    assert [e.key for e in store.list_events(EventFilter(account="222222222222"))] == ["k:2"]
    assert [e.key for e in store.list_events(EventFilter(account="22222"))] == []
    assert [e.key for e in store.list_events(EventFilter(region="eu-west-1"))] == ["k:2"]
    since = make_event(minutes=2).updated_at
    assert [e.key for e in store.list_events(EventFilter(since=since))] == ["k:3", "k:2"]
    assert [e.key for e in store.list_events(EventFilter(limit=1, offset=1))] == ["k:2"]
    event = make_event("k:2")
    assert store.get_event(event.id[:10]).key == "k:2"
    assert store.get_event("k:2").id == event.id
    with pytest.raises(NotFoundError, match="no event"):
        store.get_event("ev-nothing")


def test_dead_letters_and_audit(store: SqlStore) -> None:
    store.dead_letter([Rejected("file.json:3", "PayloadError", "missing eventArn", '{"x": 1}')], NOW)
    (letter,) = store.list_dead_letters()
    assert (letter.origin, letter.error, letter.body) == ("file.json:3", "missing eventArn", '{"x": 1}')
    store.audit(at=NOW, actor="alice", action="ingest", channel="cli", event_id="ev-1", detail={"n": 1})
    (entry,) = store.audit_entries("ev-1")
    assert entry["actor"] == "alice"
    assert entry["detail"] == {"n": 1}
    assert entry["at"] == NOW


def test_reopening_the_store_keeps_everything(database_url: str) -> None:
    first = SqlStore(database_url)
    apply(first, make_event())
    first.close()
    again = SqlStore(database_url)
    assert again.count_events() == 1
    again.close()
