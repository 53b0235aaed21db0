"""Tickets as a channel: the event's ticket per owner team is its "thread" on the ``tickets`` channel.

The outbox drives ticket work like any other delivery, with the same retries, backoff, Retry-After and
dead letters: a ``card`` opens the ticket (after looking up its correlation key, so a retry after a
crash finds the ticket it opened instead of opening a second), an ``update`` comments what changed, a
``resolved`` closes it or comments (``OPSWARDEN_TICKET_ON_RESOLVED``), a ``reopened`` reopens it,
answers and reminders become comments. The target is the team id; the team's extra fields come from
``OPSWARDEN_TICKET_FIELDS``.
"""

from __future__ import annotations

from opswarden.notify.base import Delivered, Outgoing
from opswarden.notify.message import Kind, Message
from opswarden.notify.render import _common as c
from opswarden.notify.render.text import render_text
from opswarden.policy.org import Org
from opswarden.tickets.base import PRIORITY, NewTicket, Ticketer, TicketRef, correlation_key

CHANNEL = "tickets"


class TicketNotifier:
    channel = CHANNEL

    def __init__(
        self,
        ticketer: Ticketer,
        org: Org,
        *,
        fields: dict[str, dict[str, str]] | None = None,
        on_resolved: str = "close",
        public_url: str | None = None,
    ) -> None:
        self.ticketer = ticketer
        self.org = org
        self.fields = fields or {}
        self.on_resolved = on_resolved
        self.public_url = public_url.rstrip("/") if public_url else None

    def send(self, out: Outgoing) -> Delivered:
        msg = out.message
        if msg.kind is Kind.CARD or out.thread is None:
            ref = self._open(out)
            return Delivered(ref=ref.to_dict(), thread=ref.to_dict() if msg.kind is Kind.CARD else None)
        ref = TicketRef.of(out.thread)
        text = _comment(msg)
        if msg.kind is Kind.RESOLVED and self.on_resolved == "close":
            self.ticketer.close(ref, text)
        elif msg.kind is Kind.REOPENED:
            self.ticketer.reopen(ref, text)
        else:
            self.ticketer.comment(ref, text)
        return Delivered(ref=ref.to_dict())

    def confirm(self, out: Outgoing) -> Delivered | None:
        """A card interrupted mid-send: the ticket is found by its correlation key, or was not opened."""
        if out.message.kind is not Kind.CARD:
            return None
        found = self.ticketer.find(correlation_key(out.message.event_id, out.target))
        return None if found is None else Delivered(ref=found.to_dict(), thread=found.to_dict())

    def _open(self, out: Outgoing) -> TicketRef:
        ticket = self.new_ticket(out.message, out.target)
        found = self.ticketer.find(ticket.correlation)
        return found if found is not None else self.ticketer.create(ticket)

    def new_ticket(self, msg: Message, team: str) -> NewTicket:
        found = self.org.team(team)
        link = f"{self.public_url}/events/{msg.event_id}" if self.public_url else None
        return NewTicket(
            correlation=correlation_key(msg.event_id, team),
            title=c.one_line(msg.title),
            description=_description(msg, link),
            priority=PRIORITY[msg.severity],
            team=team,
            team_name=found.name if found else team,
            event_id=msg.event_id,
            accounts=msg.accounts,
            resources=msg.resources,
            labels=(msg.source, msg.category),
            link=link,
            fields=dict(self.fields.get(team, {})),
        )


def _description(msg: Message, link: str | None) -> str:
    """What the ticket says: the event as the console renders it, what to do, and where it came from."""
    parts = [render_text(msg)]
    if msg.resource_count:
        listed = "\n".join(f"- {r}" for r in msg.resources)
        more = msg.resource_count - len(msg.resources)
        parts.append(
            f"Affected resources ({msg.resource_count}):\n{listed}"
            + (f"\n- … and {more} more" if more else "")
        )
    parts.append(
        "Recommended action: follow the source's instructions above"
        + (f" before the deadline ({msg.deadline_at:%Y-%m-%d})" if msg.deadline_at else "")
        + "; acknowledge in opswarden when work starts, and close this ticket when done."
    )
    parts.append(f"opswarden event {msg.event_id}" + (f": {link}" if link else ""))
    return "\n\n".join(parts)


def _comment(msg: Message) -> str:
    headline = c.thread_headline(msg)
    if msg.kind is Kind.UPDATE:
        changes = "\n".join(f"- {line}" for line in c.change_lines(msg))
        return f"{headline}\n{changes}" if changes else headline
    return headline
