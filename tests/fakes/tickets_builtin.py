"""The contract harness of the built-in tracker: a real SQLite store in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opswarden.core.clock import FakeClock
from opswarden.store.sql import SqlStore
from opswarden.tickets.base import TicketRef
from opswarden.tickets.builtin import BuiltinTicketer
from tests.fakes.tickets_harness import Harness


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    store = SqlStore(f"sqlite:///{tmp_path / 'tickets.db'}")
    ticketer = BuiltinTicketer(store.engine, FakeClock(datetime(2026, 11, 26, tzinfo=UTC)))

    def stored(ref: TicketRef) -> dict[str, Any]:
        data = ticketer.details(ref)
        return {
            "title": data["title"],
            "description": data["description"],
            "priority": data["priority"],
            "status": data["status"],
            "comments": [c["body"] for c in data["comments"]],
        }

    try:
        yield Harness(ticketer=ticketer, stored=stored)
    finally:
        store.close()
