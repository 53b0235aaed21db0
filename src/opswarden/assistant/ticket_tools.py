"""The assistant's ticket tools: read tickets, and *propose* changes for a person to approve.

``create_ticket`` and ``comment_ticket`` change nothing. Each records a proposal in the audit log
(action ``assistant_proposal``, channel ``assistant``) with the command a person runs to carry it
out, and tells the model it awaits approval. No tool here (or anywhere in the assistant) approves,
acknowledges or rejects an event, and none receives or returns an approval token or a signed link.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from opswarden.assistant.deps import Proposal, approve_command
from opswarden.assistant.fence import fence
from opswarden.assistant.tools import Ctx, _org, event_citation, tool
from opswarden.errors import DeliveryError, NotFoundError
from opswarden.store import triage as triage_store
from opswarden.store.schema import threads
from opswarden.tickets.base import TicketRef

PROPOSAL = "assistant_proposal"


def ticket_citation(key: str) -> str:
    return f"ticket {key}"


@tool
def list_tickets(ctx: Ctx, event: str | None = None, status: str | None = None) -> str:
    """The tickets opened for events, as last synced.

    Args:
        event: only this event's tickets (an id, a unique prefix or a key)
        status: open, in_progress or closed
    """
    event_id = ctx.deps.app.store.get_event(event).id if event else None
    rows = [t for t in ctx.deps.app.tickets(event_id=event_id) if status is None or t["status"] == status]
    if not rows:
        return "no tickets"
    return "\n".join(
        f"- {t['key']} ({t['backend']}) · {t['status']} · team {t['team']} · event {t['event_id']} · "
        f"assignee {t['assignee'] or '-'} · opened {t['opened_at']} · {ctx.deps.cite(ticket_citation(t['key']))}"
        for t in rows[:100]
    )


@tool
def ticket_status(ctx: Ctx, key: str) -> str:
    """One ticket's live status from its tracker (and, for built-in tickets, its comments).

    Args:
        key: the ticket key, e.g. OW-3, OPS-12, INC0010001, #17
    """
    found = _find(ctx, key)
    ref = _ref(ctx, found)
    ticketer = ctx.deps.app.supervisor.ticketer
    try:
        state = ticketer.state(ref)
        status, assignee = state.status.value, state.assignee
    except (DeliveryError, NotFoundError) as exc:
        status, assignee = f"{found['status']} (as last synced; the tracker did not answer: {exc})", None
    lines = [
        f"{key} ({found['backend']}) · {status} · team {found['team']} · event {found['event_id']} · "
        f"assignee {assignee or '-'} · {ctx.deps.cite(ticket_citation(key))}"
    ]
    details = getattr(ticketer, "details", None)
    if details is not None:
        extra = details(ref)
        lines.append("title: " + fence(f"ticket:{key}", str(extra["title"]), 300))
        for c in extra["comments"][-10:]:
            lines.append(
                f"  {c['at']:%Y-%m-%d %H:%M} " + fence(f"ticket:{key}", f"{c['author']}: {c['body']}", 500)
            )
    return "\n".join(lines)


@tool
def create_ticket(ctx: Ctx, event: str, team: str, reason: str) -> str:
    """Propose opening a ticket for a team on an event. This does NOT open it: it records a proposal a
    person approves; say so in your answer.

    Args:
        event: the event (an id, a unique prefix or a key)
        team: the owner team's id from org.yaml
        reason: why, in one sentence
    """
    event_id = ctx.deps.app.store.get_event(event).id
    org = _org(ctx)
    if org is not None and org.teams:
        if (found := org.team(team)) is None:
            return f"error: unknown team {team!r}; the teams are: {', '.join(t.id for t in org.teams)}"
        team = found.id
    existing = [t for t in ctx.deps.app.tickets(event_id=event_id) if t["team"] == team]
    if existing:
        t = existing[0]
        return f"event {event_id} already has ticket {t['key']} for team {team} ({t['status']}): nothing to propose"
    return _propose(
        ctx,
        action="create_ticket",
        event_id=event_id,
        team=team,
        reason=reason,
        approve_with=approve_command("tickets", "create", event_id, "--team", team),
    )


@tool
def comment_ticket(ctx: Ctx, key: str, comment: str, reason: str) -> str:
    """Propose a comment on a ticket. This does NOT post it: it records a proposal a person approves;
    say so in your answer.

    Args:
        key: the ticket key
        comment: the comment's text
        reason: why, in one sentence
    """
    found = _find(ctx, key)
    return _propose(
        ctx,
        action="comment_ticket",
        event_id=found["event_id"],
        ticket=key,
        comment=comment[:2000],
        reason=reason,
        approve_with=approve_command("tickets", "update", key, "--comment", comment[:2000]),
    )


def _propose(ctx: Ctx, **fields: Any) -> str:
    deps = ctx.deps
    for p in deps.proposals:
        if p.model_dump(include=set(fields) - {"reason"}) == {
            k: v for k, v in fields.items() if k != "reason"
        }:
            return f"already proposed in this conversation (proposal {p.id}): awaiting a person's approval"
    detail = {**fields, "proposed_for": deps.user, "status": "awaiting approval"}
    with deps.app.write_lock, deps.app.store.engine.begin() as conn:
        row = triage_store.audit(
            conn,
            at=deps.app.clock.now(),
            actor="assistant",
            action=PROPOSAL,
            channel="assistant",
            event_id=fields["event_id"],
            detail=detail,
        )
    proposal = Proposal(id=row, proposed_for=deps.user, **fields)
    deps.proposals.append(proposal)
    return (
        f"PROPOSED, NOT DONE: {proposal.summary()} (proposal {row}, recorded for a person's approval). "
        f"Nothing changed. A person carries it out with: {proposal.approve_with}\n"
        "Tell the user it awaits their approval; never say it was done.\n"
        + deps.cite(event_citation(proposal.event_id))
    )


def _find(ctx: Ctx, key: str) -> dict[str, Any]:
    for ticket in ctx.deps.app.tickets():
        if ticket["key"] == key:
            return ticket
    raise NotFoundError(f"no ticket {key!r}: list_tickets shows them")


def _ref(ctx: Ctx, found: dict[str, Any]) -> TicketRef:
    """The ticket's stored reference (with the backend's internal id, e.g. ServiceNow's sys_id)."""
    with ctx.deps.app.store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(threads.c.ref).where(
                threads.c.event_id == found["event_id"],
                threads.c.channel == "tickets",
                threads.c.target == found["team"],
            )
        ).scalar()
    return TicketRef.of(dict(stored)) if stored else TicketRef(found["backend"], found["key"], found["url"])


TICKET_TOOLS = (list_tickets, ticket_status, create_ticket, comment_ticket)
