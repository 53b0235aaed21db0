"""Small builders of normalised events for store and pipeline tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from opswarden.core.event import Category, Event, Page, Resource, Severity, Status

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_event(
    key: str = "test:one",
    *,
    minutes: int | None = 0,
    status: Status = Status.OPEN,
    severity: Severity = Severity.MEDIUM,
    description: str = "something happened",
    resources: tuple[tuple[str, str | None], ...] = (),
    page: tuple[int, int] | None = None,
    **extra: Any,
) -> Event:
    """An event version ``minutes`` after T0 (``None``: no update time)."""
    return Event(
        key=key,
        source="test",
        type_code="TEST_EVENT",
        category=Category.ISSUE,
        title=f"test event {key}",
        description=description,
        severity=severity,
        status=status,
        resources=tuple(Resource(id=rid, status=st) for rid, st in resources),
        updated_at=None if minutes is None else T0 + timedelta(minutes=minutes),
        page=Page(numbers=(page[0],), total=page[1]) if page else None,
        **{"accounts": ("111111111111",), **extra},
    ).canonical()
