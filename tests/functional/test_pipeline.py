"""The ingest pipeline end to end: files → reader → envelopes → sources → a real store (SQLite, PostgreSQL).

Every test reads real-shaped deliveries from tests/fixtures/pipeline and checks what the store holds
afterwards: events, versions, raw payloads and dead letters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from opswarden.core.clock import FakeClock
from opswarden.core.event import Status
from opswarden.ingest.pipeline import Ingestor, IngestSummary
from opswarden.ingest.reader import read_paths
from opswarden.sources.base import Payload, Source
from opswarden.sources.registry import build_registry
from opswarden.store.schema import dead_letters, event_versions, events, raw_payloads
from opswarden.store.sql import SqlStore
from tests.functional.batch import (
    ACCOUNT,
    ALARM_KEY,
    BATCH,
    BATCH_ORIGINS,
    BATCH_REJECTIONS,
    HEALTH_ISSUE_KEY,
    PIPELINE,
)

pytestmark = pytest.mark.functional
T0 = datetime(2026, 3, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    store = SqlStore(database_url)
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def ingest(
    store: SqlStore,
    clock: FakeClock,
    *paths: Path,
    registry: Sequence[Source] | None = None,
    batch_size: int = 1000,
) -> IngestSummary:
    ingestor = Ingestor(store, clock, registry=registry or build_registry(), batch_size=batch_size)
    return ingestor.ingest(read_paths(str(p) for p in paths))


def counts(summary: IngestSummary) -> dict[str, Any]:
    data = summary.to_dict()
    return {
        k: data[k] for k in ("payloads", "accepted", "new", "updated", "unchanged", "history", "rejected")
    }


def rows(store: SqlStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (events, event_versions, raw_payloads, dead_letters)
        }


def by_key(store: SqlStore) -> dict[str, Any]:
    return {e.key: e for e in store.list_events()}


# ----------------------------------------------------------------------------------------------------
# A mixed delivery


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_a_mixed_delivery_stores_every_good_event_and_dead_letters_every_bad_one(
    store: SqlStore, clock: FakeClock, batch_size: int
) -> None:
    summary = ingest(store, clock, BATCH, batch_size=batch_size)

    assert counts(summary) == {
        "payloads": 10,
        "accepted": 7,
        "new": 7,
        "updated": 0,
        "unchanged": 0,
        "history": 0,
        "rejected": 4,
    }
    assert summary.by_source == {
        "aws.health": 2,
        "aws.ec2": 2,
        "aws.cloudwatch": 1,
        "aws.guardduty": 1,
        "com.example.payments": 1,
    }
    assert {r.origin for r in summary.rejections} == set(BATCH_REJECTIONS)
    # Every good event is stored, each version remembering where in the delivery it was found.
    stored = by_key(store)
    assert set(stored) == set(BATCH_ORIGINS)
    for key, origin in BATCH_ORIGINS.items():
        (version,) = store.get_versions(stored[key].id)
        assert version.origin == origin, key
        assert version.received_at == T0
    assert rows(store) == {"events": 7, "event_versions": 7, "raw_payloads": 7, "dead_letters": 4}


def test_each_dead_letter_keeps_its_raw_body_a_clear_reason_and_its_origin(
    store: SqlStore, clock: FakeClock
) -> None:
    ingest(store, clock, BATCH)

    letters = {d.origin: d for d in store.list_dead_letters()}
    assert set(letters) == set(BATCH_REJECTIONS)
    for origin, (error_type, reason) in BATCH_REJECTIONS.items():
        assert letters[origin].error_type == error_type, origin
        assert letters[origin].error.startswith(reason), (origin, letters[origin].error)
        assert letters[origin].received_at == T0
    ndjson = (BATCH / "mixed.ndjson").read_text().splitlines()
    assert letters[f"{BATCH / 'mixed.ndjson'}:2"].body == ndjson[1]  # broken JSON, as received
    assert letters[f"{BATCH / 'mixed.ndjson'}:4"].body == ndjson[3]  # line 3 is blank
    array = orjson.loads((BATCH / "array.json").read_bytes())
    assert orjson.loads(letters[f"{BATCH / 'array.json'}[2]"].body) == array[2]
    # A bad SQS record keeps the whole delivery, so it can be redriven once fixed.
    sqs = letters[f"{BATCH / 'sqs_batch.json'} Records[1].body"]
    assert orjson.loads(sqs.body) == orjson.loads((BATCH / "sqs_batch.json").read_bytes())


def test_redelivering_the_same_files_changes_no_event(store: SqlStore, clock: FakeClock) -> None:
    ingest(store, clock, BATCH)
    before = rows(store)
    clock.advance(timedelta(hours=1))

    again = ingest(store, clock, BATCH)

    assert counts(again) == {
        "payloads": 10,
        "accepted": 7,
        "new": 0,
        "updated": 0,
        "unchanged": 7,
        "history": 0,
        "rejected": 4,
    }
    after = rows(store)
    assert {k: after[k] for k in ("events", "event_versions", "raw_payloads")} == {
        "events": 7,
        "event_versions": 7,
        "raw_payloads": 7,
    }
    # Each delivery of a bad payload is recorded (a poison message redelivered shows up again).
    assert after["dead_letters"] == before["dead_letters"] + 4
    assert {e.last_seen_at for e in store.list_events()} == {T0}  # nothing was rewritten


# ----------------------------------------------------------------------------------------------------
# Versions of one AWS Health event


def test_a_resolved_update_becomes_the_second_version_with_what_changed(
    store: SqlStore, clock: FakeClock
) -> None:
    first = ingest(store, clock, BATCH / "health_issue_open.json")
    clock.advance(timedelta(hours=2, minutes=30))
    second = ingest(store, clock, PIPELINE / "health_issue_resolved.json")

    assert (first.to_dict()["new"], second.to_dict()["updated"]) == (1, 1)
    (stored,) = store.list_events()
    assert stored.key == HEALTH_ISSUE_KEY
    assert stored.version_count == 2
    assert stored.event.status is Status.CLOSED
    assert stored.event.end_at == datetime(2026, 3, 5, 11, 35, tzinfo=UTC)
    assert (stored.first_seen_at, stored.last_seen_at) == (T0, clock.now())
    opened, resolved = store.get_versions(stored.id)
    assert [opened.event.status, resolved.event.status] == [Status.OPEN, Status.CLOSED]
    assert opened.changes == []
    changes = {c["field"]: c for c in resolved.changes}
    assert changes["status"] == {"field": "status", "old": "open", "new": "closed"}
    assert {"end_at", "description", "resources"} <= set(changes)
    assert changes["resources"]["status_changed"] == [
        {"id": "i-0a2c4e6f8b1d3f5a7", "old": "IMPAIRED", "new": "RESOLVED"}
    ]


def test_the_open_version_arriving_after_the_resolved_one_is_history(
    store: SqlStore, clock: FakeClock
) -> None:
    ingest(store, clock, PIPELINE / "health_issue_resolved.json")
    late = ingest(store, clock, BATCH / "health_issue_open.json")

    assert counts(late)["history"] == 1
    (stored,) = store.list_events()
    assert stored.version_count == 2
    assert stored.event.status is Status.CLOSED  # the late, older version never overwrites
    assert [v.event.status for v in store.get_versions(stored.id)] == [Status.OPEN, Status.CLOSED]


def test_two_pages_of_one_health_event_make_one_event_with_all_entities(
    store: SqlStore, clock: FakeClock
) -> None:
    # Out of order, and in separate deliveries: page "2" of "2", then page "1".
    second = ingest(store, clock, PIPELINE / "health_maintenance_page2.json")
    first = ingest(store, clock, PIPELINE / "health_maintenance_page1.json")

    assert (counts(second)["new"], counts(first)["updated"]) == (1, 1)
    (stored,) = store.list_events()
    assert stored.version_count == 1
    assert {r.id for r in stored.event.resources} == {
        f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:billing-primary",
        f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:billing-replica-1",
    }
    assert stored.event.accounts == (ACCOUNT,)
    assert stored.event.status is Status.UPCOMING
    # Both pages share one communication id once the "-<page>" suffix is gone.
    assert stored.event.details["communicationId"] == "c3e5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1"
    assert rows(store)["event_versions"] == 1


def test_a_health_api_entities_fragment_adds_its_entities_to_the_current_version(
    store: SqlStore, clock: FakeClock
) -> None:
    ingest(store, clock, BATCH / "health_issue_open.json")
    clock.advance(timedelta(minutes=5))
    fragment = ingest(store, clock, PIPELINE / "health_api_entities.json")

    assert counts(fragment)["updated"] == 1
    assert fragment.by_source == {"aws.health": 1}
    (stored,) = store.list_events()
    assert stored.key == HEALTH_ISSUE_KEY
    assert stored.version_count == 1  # a fragment is no new version: it has no update time of its own
    assert {r.id for r in stored.event.resources} == {
        "i-0a2c4e6f8b1d3f5a7",
        "i-0b3d5f7a9c1e3b5d7",
        "i-0c4e6a8b0d2f4a6c8",
    }
    # The full event's fields win; the fragment only added entities.
    assert stored.event.title == "EC2 · Operational issue"
    assert stored.event.status is Status.OPEN
    assert "partial" not in stored.event.details
    assert stored.event.updated_at == datetime(2026, 3, 5, 9, 20, tzinfo=UTC)


# ----------------------------------------------------------------------------------------------------
# A bug in one normaliser


def _broken(payload: Payload) -> list[Any]:
    return [payload["alarmName"]]  # a bug: the name is in payload["detail"]


def test_a_normaliser_bug_dead_letters_its_payload_and_the_batch_goes_on(
    store: SqlStore, clock: FakeClock
) -> None:
    registry = tuple(
        dataclasses.replace(s, normalise=_broken) if s.name == "cloudwatch" else s for s in build_registry()
    )

    summary = ingest(store, clock, BATCH, registry=registry)

    assert (summary.accepted, summary.rejected) == (6, 5)
    origin = BATCH_ORIGINS[ALARM_KEY]
    letter = next(d for d in store.list_dead_letters() if d.origin == origin)
    assert letter.error == "could not normalise (KeyError: 'alarmName')"
    assert orjson.loads(letter.body) == orjson.loads((BATCH / "cloudwatch_alarm.json").read_bytes())
    assert set(by_key(store)) == set(BATCH_ORIGINS) - {ALARM_KEY}
