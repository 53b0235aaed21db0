"""Reconciliation: pull each open ticket's status back, and act where ticket and event disagree.

For every ticket opswarden opened (the ``tickets`` threads), :class:`TicketSync` reads the ticket's
state from its backend and keeps it with the thread (``status``, ``raw_status``, ``assignee``,
``synced_at``: shown by ``events show`` and ``tickets list``). Then:

* ticket closed, event closed upstream: the event's work is done — a ``ticketed`` event becomes
  ``resolved``;
* ticket closed by hand while the event is still open upstream: ``OPSWARDEN_TICKET_ON_MANUAL_CLOSE``
  decides — ``reopen`` the ticket (with a comment saying why) or only ``comment`` (the default) — once
  per closing, audited either way;
* anything else: nothing to do.

A backend that cannot be reached is reported and the other tickets go on. Time from the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from opswarden.core.clock import Clock
from opswarden.core.event import Status
from opswarden.core.lifecycle import Lifecycle
from opswarden.errors import DeliveryError, NotFoundError
from opswarden.store import triage as work
from opswarden.store.schema import events, threads
from opswarden.tickets.base import Ticketer, TicketRef, TicketState, TicketStatus

CHANNEL = "tickets"


@dataclass(slots=True)
class SyncSummary:
    checked: int = 0
    changed: int = 0
    resolved: int = 0
    reopened: int = 0
    commented: int = 0
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "changed": self.changed,
            "resolved": self.resolved,
            "reopened": self.reopened,
            "commented": self.commented,
            "failed": self.failed,
        }


class TicketSync:
    def __init__(
        self, engine: sa.Engine, ticketer: Ticketer, clock: Clock, on_manual_close: str = "comment"
    ) -> None:
        self.engine = engine
        self.ticketer = ticketer
        self.clock = clock
        self.on_manual_close = on_manual_close

    def run(self, *, include_closed: bool = False) -> SyncSummary:
        summary = SyncSummary()
        for event_id, team, ref_data, lifecycle, upstream in self._tickets(include_closed):
            ref = TicketRef.of(ref_data)
            try:
                state = self.ticketer.state(ref)
            except (DeliveryError, NotFoundError) as exc:
                summary.failed.append(f"{ref.backend} {ref.key}: {exc}")
                continue
            summary.checked += 1
            if self._record(event_id, team, ref_data, state):
                summary.changed += 1
            if state.status is TicketStatus.CLOSED:
                self._closed(event_id, team, ref, ref_data, lifecycle, upstream, summary)
        return summary

    def _tickets(self, include_closed: bool) -> list[tuple[str, str, dict[str, Any], str, str]]:
        query = (
            sa.select(
                threads.c.event_id, threads.c.target, threads.c.ref, events.c.lifecycle, events.c.status
            )
            .join(events, events.c.id == threads.c.event_id)
            .where(threads.c.channel == CHANNEL)
            .order_by(threads.c.created_at)
        )
        with self.engine.connect() as conn:
            rows = [(r[0], r[1], dict(r[2]), r[3], r[4]) for r in conn.execute(query)]
        if include_closed:
            return rows
        return [r for r in rows if not (r[2].get("status") == "closed" and r[3] in ("resolved", "closed"))]

    def _record(self, event_id: str, team: str, ref_data: dict[str, Any], state: TicketState) -> bool:
        fresh = {
            **ref_data,
            "status": state.status.value,
            "raw_status": state.raw_status,
            "assignee": state.assignee,
            "synced_at": self.clock.now().isoformat(),
        }
        if state.status is not TicketStatus.CLOSED:
            fresh.pop("handled_close", None)  # closed again later: that closing is news again
        changed = (ref_data.get("status"), ref_data.get("raw_status")) != (
            state.status.value,
            state.raw_status,
        )
        with self.engine.begin() as conn:
            conn.execute(
                threads.update()
                .where(threads.c.event_id == event_id, threads.c.channel == CHANNEL, threads.c.target == team)
                .values(ref=fresh)
            )
            if changed:
                work.audit(
                    conn,
                    at=self.clock.now(),
                    actor=f"{state.ref.backend}",
                    action="ticket_status",
                    channel=CHANNEL,
                    event_id=event_id,
                    detail={
                        "key": state.ref.key,
                        "status": state.status.value,
                        "raw_status": state.raw_status,
                    },
                )
        ref_data.update(fresh)
        return changed

    def _closed(
        self,
        event_id: str,
        team: str,
        ref: TicketRef,
        ref_data: dict[str, Any],
        lifecycle: str,
        upstream: str,
        summary: SyncSummary,
    ) -> None:
        now = self.clock.now()
        if upstream == Status.CLOSED.value:
            if lifecycle == Lifecycle.TICKETED.value:
                with self.engine.begin() as conn:
                    moved = work.transition_if(
                        conn,
                        event_id,
                        lifecycle,
                        Lifecycle.RESOLVED.value,
                        at=now,
                        actor=ref.backend,
                        channel=CHANNEL,
                        why=f"ticket {ref.key} closed and the event closed upstream",
                    )
                summary.resolved += int(moved)
            return
        if ref_data.get("handled_close"):
            return  # this closing was dealt with at an earlier sync
        text = (
            "opswarden: this ticket was closed while its event is still open upstream "
            f"(event {event_id}, lifecycle {lifecycle})."
        )
        try:
            if self.on_manual_close == "reopen":
                self.ticketer.reopen(ref, text + " Reopened; close the event's work first.")
                summary.reopened += 1
                action = "ticket_reopened"
            else:
                self.ticketer.comment(ref, text)
                summary.commented += 1
                action = "ticket_closed_while_open"
        except DeliveryError as exc:
            summary.failed.append(f"{ref.backend} {ref.key}: {exc}")
            return
        marker = {**ref_data, "handled_close": True}
        if action == "ticket_reopened":
            marker["status"] = TicketStatus.OPEN.value
        with self.engine.begin() as conn:
            conn.execute(
                threads.update()
                .where(threads.c.event_id == event_id, threads.c.channel == CHANNEL, threads.c.target == team)
                .values(ref=marker)
            )
            work.audit(
                conn,
                at=now,
                actor="opswarden",
                action=action,
                channel=CHANNEL,
                event_id=event_id,
                detail={"key": ref.key, "team": team, "mode": self.on_manual_close},
            )
