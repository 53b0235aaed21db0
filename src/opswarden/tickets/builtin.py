"""The built-in tracker: tickets in opswarden's own store (the embedded default).

Tickets are numbered ``OW-<n>``; the correlation key is a unique column, so two attempts to open the
same ticket cannot both succeed. Comments are kept in ``ticket_comments``. People work them with
``opswarden tickets update OW-3 --status in_progress --assignee alice --comment "…"``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opswarden.core.clock import Clock
from opswarden.errors import DeliveryError, DeliveryReason, NotFoundError
from opswarden.store.schema import ticket_comments, tickets
from opswarden.tickets.base import NewTicket, TicketRef, TicketState, TicketStatus

BACKEND = "builtin"
PREFIX = "OW-"


class BuiltinTicketer:
    backend = BACKEND

    def __init__(self, engine: sa.Engine, clock: Clock, public_url: str | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.public_url = public_url.rstrip("/") if public_url else None

    def _ref(self, ticket_id: int) -> TicketRef:
        key = f"{PREFIX}{ticket_id}"
        url = f"{self.public_url}/tickets/{key}" if self.public_url else None
        return TicketRef(BACKEND, key, url, str(ticket_id))

    def find(self, correlation: str) -> TicketRef | None:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(tickets.c.id).where(tickets.c.correlation == correlation)).scalar()
        return None if found is None else self._ref(int(found))

    def create(self, ticket: NewTicket) -> TicketRef:
        now = self.clock.now()
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    tickets.insert().values(
                        correlation=ticket.correlation,
                        event_id=ticket.event_id,
                        team=ticket.team,
                        title=ticket.title,
                        description=ticket.description,
                        priority=ticket.priority,
                        status=TicketStatus.OPEN.value,
                        created_at=now,
                        updated_at=now,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                return self._ref(int(key[0]))
        except sa.exc.IntegrityError:  # opened meanwhile by another worker: that one is the ticket
            found = self.find(ticket.correlation)
            if found is None:
                raise DeliveryError(
                    "built-in tickets: could not create or find the ticket",
                    reason=DeliveryReason.SERVER,
                    recoverable=True,
                ) from None
            return found

    def comment(self, ref: TicketRef, text: str, author: str = "opswarden") -> None:
        ticket_id = self._id(ref)
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                ticket_comments.insert().values(ticket_id=ticket_id, at=now, author=author, body=text)
            )
            conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(updated_at=now))

    def close(self, ref: TicketRef, text: str) -> None:
        self._set(ref, TicketStatus.CLOSED, text)

    def reopen(self, ref: TicketRef, text: str) -> None:
        self._set(ref, TicketStatus.OPEN, text)

    def update(
        self,
        ref: TicketRef,
        *,
        status: TicketStatus | None = None,
        assignee: str | None = None,
        comment: str | None = None,
        author: str = "opswarden",
    ) -> None:
        """A person working the ticket (``opswarden tickets update``)."""
        if status is not None:
            self._set(ref, status, None)
        if assignee is not None:
            with self.engine.begin() as conn:
                conn.execute(
                    tickets.update()
                    .where(tickets.c.id == self._id(ref))
                    .values(assignee=assignee, updated_at=self.clock.now())
                )
        if comment:
            self.comment(ref, comment, author)

    def state(self, ref: TicketRef) -> TicketState:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tickets).where(tickets.c.id == self._id(ref))).first()
        if row is None:
            raise NotFoundError(f"no built-in ticket {ref.key}")
        return TicketState(ref, TicketStatus(row.status), row.status, row.assignee, row.updated_at)

    def details(self, ref: TicketRef) -> dict[str, Any]:
        """The ticket with its comments (``opswarden tickets show``)."""
        ticket_id = self._id(ref)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).first()
            if row is None:
                raise NotFoundError(f"no built-in ticket {ref.key}")
            notes = conn.execute(
                sa.select(ticket_comments)
                .where(ticket_comments.c.ticket_id == ticket_id)
                .order_by(ticket_comments.c.id)
            ).all()
        data = dict(row._mapping)
        data["key"] = ref.key
        data["comments"] = [{"at": n.at, "author": n.author, "body": n.body} for n in notes]
        return data

    def _set(self, ref: TicketRef, status: TicketStatus, text: str | None) -> None:
        now = self.clock.now()
        closed_at: datetime | None = now if status is TicketStatus.CLOSED else None
        with self.engine.begin() as conn:
            conn.execute(
                tickets.update()
                .where(tickets.c.id == self._id(ref))
                .values(status=status.value, updated_at=now, closed_at=closed_at)
            )
        if text:
            self.comment(ref, text)

    @staticmethod
    def _id(ref: TicketRef) -> int:
        raw = ref.id or ref.key.removeprefix(PREFIX)
        if not raw.isdigit():
            raise NotFoundError(f"{ref.key} is not a built-in ticket (they are numbered OW-1, OW-2 …)")
        return int(raw)
