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
from typing import Any

import sqlalchemy as sa

from opswarden.core.event import Severity
from opswarden.core.lifecycle import Lifecycle, can, check
from opswarden.errors import LifecycleError, LinkError, NotFoundError
from opswarden.notify.message import Answer, Kind
from opswarden.policy import Decision, Org
from opswarden.policy.model import Channel
from opswarden.store import outbox
from opswarden.store import triage as work
from opswarden.store.schema import decisions, events
from opswarden.triage import messages
from opswarden.triage.targets import TICKETS, Reach, resolve


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
    reach: Reach | None = None,
) -> Answered:
    """Record ``actor``'s answer; LifecycleError / LinkError (audited as refused) when it cannot be.

    ``reach`` is what the deployment can reach: where an approved AI proposal's cards go."""
    try:
        with engine.begin() as conn:
            return _answer(conn, org, event_id, action, actor, channel, now, note, nonce, reach or Reach())
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
    reach: Reach,
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
    ai = _ai_proposal(conn, event_id, decision) if action is not Action.ACKNOWLEDGE else None
    if ai is not None and action is Action.APPROVE and decision.get("suppressed"):
        # An approved AI proposal to suppress: the event is noise (an acknowledged one is just approved).
        target = Lifecycle.SUPPRESSED if can(state, Lifecycle.SUPPRESSED) else target
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
    rows: list[dict[str, Any]] = []
    if ai is not None:
        decision, rows = _ai_answer(
            conn, org, reach, subject, decision, ai, action, actor, channel, now, target
        )
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


# -- an AI triage proposal (assistant/triage.py) answered: approve applies it, reject keeps the policy's --


def _ai_proposal(conn: sa.Connection, event_id: str, decision: dict[str, Any]) -> dict[str, Any] | None:
    """The AI part of the event's latest decision when that decision is an AI proposal."""
    latest = work.latest_decision(conn, event_id)
    ai = decision.get("ai")
    return ai if latest is not None and latest["origin"] == "ai" and isinstance(ai, dict) else None


def _ai_answer(
    conn: sa.Connection,
    org: Org,
    reach: Reach,
    subject: work.Subject,
    decision: dict[str, Any],
    ai: dict[str, Any],
    action: Action,
    actor: str,
    channel: str,
    now: datetime,
    target: Lifecycle,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Approve: cards to the proposed teams' targets (a ticket follows below when it proposes one;
    suppression was the transition). Reject: the policy's decision is the event's again. Audited
    either way; (the decision the thread messages show, the rows to queue)."""
    approved = action is Action.APPROVE
    work.audit(
        conn,
        at=now,
        actor=actor,
        action="ai_approved" if approved else "ai_rejected",
        channel=channel,
        event_id=subject.id,
        detail={"proposal": ai.get("proposal"), "model": ai.get("model")},
    )
    if not approved:
        root_id = ai.get("root_decision")
        if root_id is None:
            return decision, []
        conn.execute(events.update().where(events.c.id == subject.id).values(decision_id=root_id))
        return conn.execute(sa.select(decisions.c.data).where(decisions.c.id == root_id)).scalar_one(), []
    if decision.get("suppressed"):
        return decision, []
    proposed = Decision(  # approval is given: tickets follow below, as for the policy's decisions
        matched=False,
        routes=tuple(decision.get("routes", ())),
        severity=Severity(decision["severity"]),
        original_severity=Severity(decision["original_severity"]),
        teams=tuple(decision.get("teams", ())),
        channels=tuple(Channel(c) for c in decision.get("channels", ())),
        require_approval=True,
    )
    card = messages.build(subject.event, decision, org, kind=Kind.CARD, lifecycle=target.value, now=now)
    rows = [
        {
            "dedupe_key": outbox.dedupe_key(subject.id, "card", t.channel, t.address),
            "event_id": subject.id,
            "channel": t.channel,
            "target": t.address,
            "kind": Kind.CARD.value,
            "payload": card.model_dump(mode="json"),
        }
        for t in resolve(proposed, org, reach)[0]
    ]
    return decision, rows
