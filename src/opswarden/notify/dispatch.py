"""The dispatcher: takes due messages from the outbox, sends them through their channel, records.

Stages, in this order, for each claimed row: thread lookup → action links → send → record. A
recoverable failure (429, 5xx, network) is retried with exponential backoff, never sooner than the
channel's ``Retry-After``; after ``max_attempts`` tries, or at once for an unrecoverable one (bad
credentials, unknown channel), the row is dead and the failure audited. The first delivery about an
event moves it from ``routed`` to ``notified``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from opswarden.core.clock import Clock
from opswarden.core.lifecycle import Lifecycle
from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.notify.base import Delivered, Notifier, Outgoing
from opswarden.notify.message import Kind, Message
from opswarden.notify.render.links import ActionLinks
from opswarden.store import outbox
from opswarden.store import triage as work
from opswarden.store.outbox import Row
from opswarden.store.schema import events

LinkMaker = Callable[[Message, str], ActionLinks | None]
MAX_BACKOFF = timedelta(hours=1)


@dataclass(slots=True)
class DispatchSummary:
    sent: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    dead: int = 0
    uncertain: int = 0
    confirmed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": dict(self.sent),
            "retried": self.retried,
            "dead": self.dead,
            "uncertain": self.uncertain,
            "confirmed": self.confirmed,
        }


class Dispatcher:
    def __init__(
        self,
        engine: sa.Engine,
        channels: Mapping[str, Notifier],
        clock: Clock,
        *,
        max_attempts: int = 8,
        backoff: timedelta = timedelta(seconds=10),
        lease: timedelta = timedelta(minutes=5),
        links: LinkMaker | None = None,
        concurrency: int = 4,
    ) -> None:
        self.engine = engine
        self.channels = channels
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.lease = lease
        self.links = links
        self.concurrency = concurrency
        self._tally = threading.Lock()  # summaries are counted from the delivery threads

    def run(self, limit: int = 1000) -> DispatchSummary:
        """Send what is due now (and recover what a stopped process left mid-send)."""
        summary = DispatchSummary()
        self._recover(summary)
        done = 0
        while done < limit:
            with self.engine.begin() as conn:
                rows = outbox.claim(conn, self.clock.now(), self.lease, min(50, limit - done))
            if not rows:
                break
            self._deliver_batch(rows, summary)
            done += len(rows)
        return summary

    def _deliver_batch(self, rows: list[Row], summary: DispatchSummary) -> None:
        """Deliver claimed rows, in parallel: a claimed batch never holds two messages for one
        (event, target) (see ``outbox.claim``), so none can overtake another in its thread. If a
        delivery raises (a bug) or the run is stopped (Ctrl-C), the rows not yet started are handed
        back; the ones in flight are left to :meth:`_recover`."""
        workers = min(self.concurrency, len(rows))
        if workers <= 1:
            for i, row in enumerate(rows):
                try:
                    self._deliver(row, summary)
                except BaseException:
                    with self.engine.begin() as conn:
                        outbox.release(conn, [r.id for r in rows[i + 1 :]])
                    raise
            return
        with ThreadPoolExecutor(workers) as pool:
            futures = {pool.submit(self._deliver, row, summary): row for row in rows}
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                unstarted = [row.id for future, row in futures.items() if future.cancel()]
                with self.engine.begin() as conn:
                    outbox.release(conn, unstarted)
                raise

    def _outgoing(self, conn: sa.Connection, row: Row) -> Outgoing:
        message = Message.model_validate(row.payload)
        card = None
        if message.kind is not Kind.CARD:
            payload = outbox.card_payload(conn, row.event_id, row.channel, row.target)
            card = Message.model_validate(payload) if payload else None
        links = self.links(message, recipient(row)) if self.links and message.actionable else None
        return Outgoing(
            outbox_id=row.id,
            dedupe_key=row.dedupe_key,
            target=row.target,
            message=message,
            thread=outbox.thread(conn, row.event_id, row.channel, row.target),
            card=card,
            links=links,
        )

    def _deliver(self, row: Row, summary: DispatchSummary) -> None:
        with self.engine.connect() as conn:
            out = self._outgoing(conn, row)
        notifier = self.channels.get(row.channel)
        try:
            if notifier is None:
                raise DeliveryError(
                    f"channel {row.channel!r} is not configured",
                    reason=DeliveryReason.CLIENT,
                    recoverable=False,
                )
            delivered = notifier.send(out)
        except DeliveryError as exc:
            self._failed(row, exc, summary)
            return
        self._record(row, delivered)
        with self._tally:
            summary.sent[row.channel] += 1

    def _record(self, row: Row, delivered: Delivered) -> None:
        now = self.clock.now()
        with self.engine.begin() as conn:
            outbox.mark_sent(conn, row.id, now, delivered.ref)
            if delivered.thread is not None:
                outbox.save_thread(conn, row.event_id, row.channel, row.target, delivered.thread, now)
            state = conn.execute(sa.select(events.c.lifecycle).where(events.c.id == row.event_id)).scalar()
            if state is None:  # a digest: about no event
                return
            moved = None
            if row.channel == "tickets" and row.kind == "card":
                key = _ticket_key(delivered)
                work.audit(
                    conn,
                    at=now,
                    actor="opswarden",
                    action="ticket_opened",
                    channel=row.channel,
                    event_id=row.event_id,
                    detail={"team": row.target, **(delivered.ref or {})},
                )
                # Work taken on (acknowledged, approved) is now tracked in the ticket; an event nobody
                # has answered yet keeps waiting for its answer (and its reminders).
                if state in (Lifecycle.ACKNOWLEDGED.value, Lifecycle.APPROVED.value):
                    moved, why = Lifecycle.TICKETED.value, f"ticket {key} opened for {row.target}"
            if moved is None and state == Lifecycle.ROUTED.value:  # the first delivery (threads may race)
                moved, why = (
                    Lifecycle.NOTIFIED.value,
                    f"{row.kind} delivered to {_shown(row.channel, row.target)}",
                )
            if moved is not None:
                work.transition_if(
                    conn, row.event_id, state, moved, at=now, actor="opswarden", channel=row.channel, why=why
                )

    def _failed(self, row: Row, exc: DeliveryError, summary: DispatchSummary) -> None:
        now = self.clock.now()
        error = f"{exc.reason.value}: {exc}"
        with self.engine.begin() as conn:
            if exc.recoverable and row.attempts < self.max_attempts:
                delay = min(self.backoff * (2 ** (row.attempts - 1)), MAX_BACKOFF)
                if exc.retry_after is not None:
                    delay = max(delay, timedelta(seconds=exc.retry_after))
                outbox.mark_retry(conn, row.id, now + delay, error)
                with self._tally:
                    summary.retried += 1
                return
            outbox.mark(conn, row.id, outbox.DEAD, error)
            why = "not recoverable" if not exc.recoverable else f"gave up after {row.attempts} attempts"
            work.audit(
                conn,
                at=now,
                actor="opswarden",
                action="delivery_failed",
                channel=row.channel,
                event_id=row.event_id,
                detail={"outbox_id": row.id, "kind": row.kind, "error": error, "why": why},
            )
            with self._tally:
                summary.dead += 1

    def _recover(self, summary: DispatchSummary) -> None:
        now = self.clock.now()
        with self.engine.connect() as conn:
            stale = outbox.abandoned(conn, now)
            outgoing = [self._outgoing(conn, row) for row in stale]
        for row, out in zip(stale, outgoing, strict=True):
            notifier = self.channels.get(row.channel)
            delivered = None
            if notifier is not None:
                try:
                    delivered = notifier.confirm(out)
                except DeliveryError:
                    delivered = None
            if delivered is not None:
                self._record(row, delivered)
                summary.confirmed += 1
                continue
            with self.engine.begin() as conn:
                outbox.mark(conn, row.id, outbox.UNCERTAIN, "the sender stopped mid-send; not resent")
                work.audit(
                    conn,
                    at=now,
                    actor="opswarden",
                    action="delivery_uncertain",
                    channel=row.channel,
                    event_id=row.event_id,
                    detail={"outbox_id": row.id, "kind": row.kind},
                )
            summary.uncertain += 1


def _ticket_key(delivered: Delivered) -> str:
    return str((delivered.ref or {}).get("key", "?"))


def recipient(row: Row) -> str:
    """Who an answer link is signed for: an e-mail address names a person; a Teams or webhook URL is
    a credential and names nobody, so the link is signed for the channel and the person gives a name
    on the confirmation page."""
    if row.channel == "email":
        return row.target
    return row.channel


def _shown(channel: str, target: str) -> str:
    """A target as it may appear in the audit log: webhook URLs carry secrets in their path."""
    if channel in ("teams", "webhook"):
        return f"{channel} " + (target.split("/")[2] if "://" in target else "(webhook)")
    if channel == "console":
        return "the console"
    return f"{channel} {target}"
