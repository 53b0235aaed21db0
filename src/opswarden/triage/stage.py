"""The triage stage: decide every queued event by the policy, record why, and queue its messages.

The ingest transaction queues each event whose current version changed (``triage_queue``). This
stage takes them in chunks and, per chunk in one transaction: evaluates the policy, stores each
decision with its explanation, moves the lifecycle (an audit row per transition), queues the messages
in the outbox and removes the queue rows. A crash anywhere leaves either all of that or none of it, and
the next run picks the events up again; the outbox's keys make a repeated decision send nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opswarden.core.clock import Clock
from opswarden.core.lifecycle import Lifecycle
from opswarden.notify.message import Kind, Message
from opswarden.policy import Decision, Org, Policy, evaluate
from opswarden.store import outbox
from opswarden.store import triage as work
from opswarden.store.triage import Subject
from opswarden.triage import messages
from opswarden.triage.plan import plan
from opswarden.triage.targets import Reach, Target, resolve

ACTOR = "opswarden"
CHUNK = 200


@dataclass(slots=True)
class TriageSummary:
    decided: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)

    def add(self, other: TriageSummary) -> None:
        self.decided += other.decided
        self.transitions.update(other.transitions)
        self.messages.update(other.messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decided": self.decided,
            "transitions": dict(self.transitions),
            "messages": dict(self.messages),
        }


class TriageStage:
    def __init__(
        self, engine: sa.Engine, policy: Policy, org: Org, reach: Reach, clock: Clock, policy_text: str = ""
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.org = org
        self.reach = reach
        self.clock = clock
        self.policy_hash = hashlib.sha256(policy_text.encode()).hexdigest() if policy_text else None

    def run(self, limit: int | None = None) -> TriageSummary:
        """Decide queued events until the queue is empty (or ``limit`` events are decided)."""
        total = TriageSummary()
        while limit is None or total.decided < limit:
            size = CHUNK if limit is None else min(CHUNK, limit - total.decided)
            with self.engine.begin() as conn:
                ids = work.claim_queue(conn, size)
                if not ids:
                    break
                total.add(self._decide(conn, ids))
                work.dequeue(conn, ids)
        return total

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return work.queue_length(conn)

    def _decide(self, conn: sa.Connection, ids: list[str]) -> TriageSummary:
        """Decide one chunk; its rows are written in bulk (a few statements per chunk, not per event)."""
        now = self.clock.now()
        summary = TriageSummary()
        subjects = work.load_subjects(conn, ids, lock=True)
        changes = work.changes_since(conn, subjects)
        carded = outbox.card_targets(conn, [s.id for s in subjects])
        decided: list[dict[str, Any]] = []
        moves: list[work.Move] = []
        queued: list[dict[str, Any]] = []
        for subject in subjects:
            decision = evaluate(subject.event, self.policy, self.org, now)
            targets, notes = resolve(decision, self.org, self.reach)
            here = {Target(c, t) for c, t in carded.get(subject.id, [])}
            result = plan(
                Lifecycle(subject.lifecycle),
                subject.event,
                decision,
                changes.get(subject.id, []),
                targets,
                here,
            )
            data = decision.to_dict()
            if notes and decision.notify:
                data["delivery_notes"] = notes
            decided.append(self._decision_row(subject, decision, data, now))
            state = subject.lifecycle
            for step in result.steps:
                moves.append(work.Move(subject.id, step.old, step.new, step.why))
                summary.transitions[step.new.value] += 1
                state = step.new
            for kind, target in result.messages:
                msg = self._message(subject, data, kind, state, changes.get(subject.id, []), now)
                queued.append(_outbox_row(subject, msg, target))
                summary.messages[target.channel] += 1
            summary.decided += 1
        work.insert_decisions(conn, decided)
        work.apply_moves(conn, moves, at=now, actor=ACTOR, channel="policy")
        outbox.add(conn, queued, now)
        return summary

    def _decision_row(
        self, subject: Subject, decision: Decision, data: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        return {
            "event_id": subject.id,
            "version_key": subject.version_key,
            "at": now,
            "origin": "policy",
            "policy_hash": self.policy_hash,
            "suppressed": decision.suppressed,
            "notify": decision.notify,
            "severity": decision.severity.value,
            "teams": " ".join(decision.teams),
            "require_approval": decision.require_approval,
            "open_ticket": decision.open_ticket,
            "data": data,
        }

    def _message(
        self,
        subject: Subject,
        decision: dict[str, Any],
        kind: Kind,
        state: str,
        changes: list[dict[str, Any]],
        now: datetime,
    ) -> Message:
        return messages.build(
            subject.event,
            decision,
            self.org,
            kind=kind,
            lifecycle=state,
            now=now,
            changes=tuple(changes) if kind is Kind.UPDATE else (),
        )


def _outbox_row(subject: Subject, msg: Message, target: Target) -> dict[str, Any]:
    if msg.kind is Kind.CARD:  # one card per event and target, ever
        key = outbox.dedupe_key(subject.id, "card", target.channel, target.address)
    else:
        key = outbox.dedupe_key(
            subject.id, subject.version_key, msg.kind.value, target.channel, target.address
        )
    return {
        "dedupe_key": key,
        "event_id": subject.id,
        "channel": target.channel,
        "target": target.address,
        "kind": msg.kind.value,
        "payload": msg.model_dump(mode="json"),
    }
