"""Property: any delivery order of an event's versions, with duplicates and pages, in any batching,
ends in the same stored state (at-least-once delivery in, exactly one event with its history out)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opswarden.core.event import Event, Severity, Status
from opswarden.store.schema import event_versions, events
from opswarden.store.sql import Prepared, SqlStore
from tests.factories import make_event

pytestmark = pytest.mark.functional
NOW = datetime(2026, 11, 26, tzinfo=UTC)

version_spec = st.tuples(
    st.sampled_from(list(Status)),
    st.sampled_from([Severity.LOW, Severity.HIGH]),
    st.sampled_from(["planned", "in progress", "resolved"]),
    st.lists(st.sampled_from(["i-1", "i-2", "i-3", "i-4"]), min_size=1, max_size=4, unique=True),
    st.sampled_from(["PENDING", "RESOLVED"]),
    st.integers(min_value=1, max_value=3),  # pages
)


def deliveries(minutes: list[int], specs: list[tuple[Any, ...]]) -> list[Event]:
    out = []
    for minute, (status, severity, text, ids, entity_status, pages) in zip(minutes, specs, strict=True):
        for page in range(1, pages + 1):
            chunk = tuple((rid, entity_status) for i, rid in enumerate(ids) if i % pages == page - 1)
            out.append(
                make_event(
                    minutes=minute,
                    status=status,
                    severity=severity,
                    description=text,
                    resources=chunk,
                    page=(page, pages) if pages > 1 else None,
                )
            )
    return out


def final_state(order: list[Event], cuts: list[int]) -> tuple[Any, ...]:
    store = SqlStore("sqlite://")
    bounds = sorted({c % (len(order) + 1) for c in cuts} | {0, len(order)})
    for start, end in itertools.pairwise(bounds):
        batch = [
            Prepared.of(e, hashlib.sha256(e.model_dump_json().encode()).hexdigest(), e.model_dump_json(), "t")
            for e in order[start:end]
        ]
        store.apply(batch, NOW)
    with store.engine.connect() as conn:
        event_rows = conn.execute(
            sa.select(events.c.id, events.c.version_count, events.c.current_version, events.c.content_hash)
        ).all()
        version_rows = conn.execute(
            sa.select(
                event_versions.c.version_key, event_versions.c.content_hash, event_versions.c.changes
            ).order_by(event_versions.c.version_key)
        ).all()
    store.close()
    return tuple(map(tuple, event_rows)), tuple((k, h, repr(c)) for k, h, c in version_rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    minutes=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=5, unique=True),
)
def test_any_order_with_duplicates_gives_the_same_final_state(
    data: st.DataObject, minutes: list[int]
) -> None:
    specs = data.draw(st.lists(version_spec, min_size=len(minutes), max_size=len(minutes)))
    all_deliveries = deliveries(minutes, specs)
    duplicates = data.draw(st.lists(st.sampled_from(all_deliveries), max_size=4))
    shuffled = data.draw(st.permutations(all_deliveries + duplicates))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=50), max_size=3))

    in_order = sorted(all_deliveries, key=lambda e: e.updated_at or NOW)
    expected = final_state(in_order, [])
    assert final_state(list(shuffled), cuts) == expected
    ((_, version_count, _, _),), versions = expected
    assert version_count == len(minutes) == len(versions)
