"""Answers from people: acknowledge, approve, reject — from Slack buttons, signed links, the CLI, the API.

One function records an answer for every surface: in one transaction it checks the lifecycle allows
it (approve and reject only for events the policy sent for approval), spends a link's nonce if the
answer came by link, moves the lifecycle with an audit row naming who, when and through which channel,
and queues an "answer" message into every thread the event has, which also refreshes the cards. A
refused answer (not allowed, replayed, expired, forged) raises and is audited as ``refused``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from opswarden.core.lifecycle import Lifecycle, check
from opswarden.errors import LifecycleError, LinkError, NotFoundError
from opswarden.notify.message import Answer, Kind
from opswarden.policy import Org
from opswarden.store import outbox
from opswarden.store import triage as work
from opswarden.triage import messages
from opswarden.triage.targets import TICKETS


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    APPROVE = "approve"
    REJECT = "reject"


RESULT = {
    Action.ACKNOWLEDGE: Lifecycle.ACKNOWLEDGED,
    Action.APPROVE: Lifecycle.APPROVED,
    Action.REJECT: Lifecycle.REJECTED,
}
_PAST = {Action.ACKNOWLEDGE: "acknowledged", Action.APPROVE: "approved", Action.REJECT: "rejected"}


@dataclass(frozen=True, slots=True)
class Answered:
    event_id: str
    action: Action
    actor: str
    old: Lifecycle
    new: Lifecycle
    at: datetime
    threads: int  # messages queued into the event's threads


def answer(
    engine: sa.Engine,
    org: Org,
    event_id: str,
    action: Action,
    *,
    actor: str,
    channel: str,
    now: datetime,
    note: str | None = None,
    nonce: str | None = None,
) -> Answered:
    """Record ``actor``'s answer; LifecycleError / LinkError (audited as refused) when it cannot be."""
    try:
        with engine.begin() as conn:
            return _answer(conn, org, event_id, action, actor, channel, now, note, nonce)
    except (LifecycleError, LinkError) as exc:
        refuse(engine, event_id, actor=actor, channel=channel, now=now, why=str(exc), action=action.value)
        raise


def refuse(
    engine: sa.Engine,
    event_id: str | None,
    *,
    actor: str,
    channel: str,
    now: datetime,
    why: str,
    action: str | None = None,
) -> None:
    """Audit a refused answer or request (forged, replayed, expired, not allowed)."""
    with engine.begin() as conn:
        work.audit(
            conn,
            at=now,
            actor=actor,
            action="refused",
            channel=channel,
            event_id=event_id,
            detail={"why": why, "action": action},
        )


def _answer(
    conn: sa.Connection,
    org: Org,
    event_id: str,
    action: Action,
    actor: str,
    channel: str,
    now: datetime,
    note: str | None,
    nonce: str | None,
) -> Answered:
    found = work.load_subjects(conn, [event_id], lock=True)
    if not found:
        raise NotFoundError(f"no event {event_id}")
    subject = found[0]
    if nonce is not None and not work.spend_token(conn, f"link:{nonce}", "link", now, event_id):
        raise LinkError("this link was already used")
    state, target = Lifecycle(subject.lifecycle), RESULT[action]
    decision = subject.decision or {}
    if action is not Action.ACKNOWLEDGE and not decision.get("require_approval"):
        raise LifecycleError(
            f"event {event_id} does not need approval (the policy did not ask for it); acknowledge it instead"
        )
    decided = state in (Lifecycle.APPROVED, Lifecycle.REJECTED)
    if state is target or (action is Action.ACKNOWLEDGE and state in _ANSWERED) or decided:
        last = work.last_answer(conn, event_id)
        who = f" by {last['actor']} at {last['at']:%Y-%m-%d %H:%M} UTC" if last else ""
        raise LifecycleError(f"event {event_id} is already {state.value}{who}")
    check(state, target, f"event {event_id}")
    audit_id = work.transition(
        conn,
        event_id,
        state,
        target,
        at=now,
        actor=actor,
        channel=channel,
        why=f"{_PAST[action]} by {actor}",
        detail={"note": note} if note else None,
    )
    said = Answer(action=action.value, actor=actor, at=now, channel=channel, note=note)
    rows = []
    for ch, address in outbox.card_targets(conn, [event_id]).get(event_id, []):
        msg = messages.build(
            subject.event, decision, org, kind=Kind.ANSWER, lifecycle=target.value, now=now, answer=said
        )
        rows.append(
            {
                "dedupe_key": outbox.dedupe_key(event_id, "answer", str(audit_id), ch, address),
                "event_id": event_id,
                "channel": ch,
                "target": address,
                "kind": Kind.ANSWER.value,
                "payload": msg.model_dump(mode="json"),
            }
        )
    if action is Action.APPROVE and decision.get("open_ticket"):
        # The policy asked for a ticket once approved: one per owner team (the same key as triage's,
        # so an approval repeated after a crash, or a later decision, never opens a second).
        ticket = messages.build(subject.event, decision, org, kind=Kind.CARD, lifecycle=target.value, now=now)
        rows += [
            {
                "dedupe_key": outbox.dedupe_key(event_id, "card", TICKETS, team),
                "event_id": event_id,
                "channel": TICKETS,
                "target": team,
                "kind": Kind.CARD.value,
                "payload": ticket.model_dump(mode="json"),
            }
            for team in decision.get("teams", ())
        ]
    outbox.add(conn, rows, now)
    return Answered(event_id, action, actor, state, target, now, len(rows))


_ANSWERED = frozenset({Lifecycle.ACKNOWLEDGED, Lifecycle.APPROVED, Lifecycle.REJECTED, Lifecycle.TICKETED})
