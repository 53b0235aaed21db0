"""Reminders before deadlines, for events nobody has answered yet.

An event whose decision lists reminder offsets (``reminders: [30, 7, 1]``: days before its
``deadline_at`` — a scheduled change's start, an end-of-support date) and which is still ``routed`` or
``notified`` (or ``acknowledged`` while the approval it needs has not come) gets a reminder in each of its threads when an offset falls due. Only the latest due
offset is sent: an opswarden that was down across the 30-day and 7-day marks sends the 7-day reminder
once, not both. Each (event, deadline, offset, target) is sent at most once (the outbox key), so running
this every minute is safe. Time comes from the clock handed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from opswarden.core.clock import Clock
from opswarden.core.lifecycle import AWAITING_ANSWER
from opswarden.notify.message import Kind
from opswarden.policy import Org
from opswarden.store import outbox
from opswarden.store import triage as work
from opswarden.store.schema import decisions, events
from opswarden.triage import messages

HORIZON = timedelta(days=400)  # reminders further out than this are not looked at yet


@dataclass(frozen=True, slots=True)
class Due:
    event_id: str
    days: int


def due_offset(deadline: datetime, offsets: list[int], now: datetime) -> int | None:
    """The latest offset (fewest days) whose moment has come, while the deadline is ahead."""
    if now >= deadline:
        return None
    due = [d for d in offsets if deadline - timedelta(days=d) <= now]
    return min(due) if due else None


class Reminders:
    def __init__(self, engine: sa.Engine, org: Org, clock: Clock) -> None:
        self.engine = engine
        self.org = org
        self.clock = clock

    def run(self) -> int:
        """Queue every reminder due now; how many messages were queued."""
        now = self.clock.now()
        queued = 0
        with self.engine.begin() as conn:
            for event_id, deadline, offsets in self._candidates(conn, now):
                days = due_offset(deadline, offsets, now)
                if days is None:
                    continue
                queued += self._queue(conn, event_id, deadline, days, now)
        return queued

    def _candidates(self, conn: sa.Connection, now: datetime) -> list[tuple[str, datetime, list[int]]]:
        query = (
            sa.select(events.c.id, events.c.deadline_at, decisions.c.data)
            .join(decisions, decisions.c.id == events.c.decision_id)
            .where(
                events.c.deadline_at > now,
                events.c.deadline_at <= now + HORIZON,
                sa.or_(
                    events.c.lifecycle.in_([s.value for s in AWAITING_ANSWER]),
                    # acknowledged, but the approval it needs has not come yet
                    sa.and_(events.c.lifecycle == "acknowledged", decisions.c.require_approval),
                ),
            )
        )
        found = []
        for row in conn.execute(query):
            offsets = [int(d) for d in (row.data or {}).get("reminders") or ()]
            if offsets:
                found.append((row.id, row.deadline_at, offsets))
        return found

    def _queue(self, conn: sa.Connection, event_id: str, deadline: datetime, days: int, now: datetime) -> int:
        targets = outbox.card_targets(conn, [event_id]).get(event_id, [])
        if not targets:
            return 0
        subject = work.load_subjects(conn, [event_id])[0]
        msg = messages.build(
            subject.event,
            subject.decision,
            self.org,
            kind=Kind.REMINDER,
            lifecycle=subject.lifecycle,
            now=now,
            reminder_days=days,
        )
        stamp = deadline.isoformat()
        rows: list[dict[str, Any]] = [
            {
                "dedupe_key": outbox.dedupe_key(event_id, "reminder", stamp, str(days), channel, address),
                "event_id": event_id,
                "channel": channel,
                "target": address,
                "kind": Kind.REMINDER.value,
                "payload": msg.model_dump(mode="json"),
            }
            for channel, address in targets
        ]
        fresh = outbox.missing_keys(conn, [str(r["dedupe_key"]) for r in rows])
        outbox.add(conn, [r for r in rows if r["dedupe_key"] in fresh], now)
        return len(fresh)
