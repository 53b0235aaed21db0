"""What the triage stage does with a decision: lifecycle transitions and messages. Pure.

``plan(state, event, decision, changes, ...)`` looks at where the event is in its lifecycle, what the
policy decided for its current version, and what materially changed since the last decision, and
returns the transitions to record and the messages to send:

* a new event the policy suppresses (or a silence mutes) becomes ``suppressed`` and nobody is told;
* a new event to notify becomes ``routed`` and each target gets a card (which starts its thread);
* an update with material changes posts "what changed" in every thread; one without is silent;
* a team newly routed to by the update gets a card of its own;
* upstream closure resolves the event (a ticketed event stays ticketed: its ticket is still open),
  and upstream re-opening of a resolved event routes it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opswarden.core.event import Event, Status
from opswarden.core.lifecycle import Lifecycle, can
from opswarden.notify.message import Kind
from opswarden.policy.evaluate import Decision
from opswarden.triage.targets import Target

L = Lifecycle
_ANSWERED_OR_ROUTED = frozenset({L.ROUTED, L.NOTIFIED, L.ACKNOWLEDGED, L.APPROVED, L.REJECTED, L.TICKETED})


@dataclass(frozen=True, slots=True)
class Step:
    """One lifecycle transition with its reason."""

    old: Lifecycle
    new: Lifecycle
    why: str


@dataclass(slots=True)
class Plan:
    steps: list[Step] = field(default_factory=list)
    messages: list[tuple[Kind, Target]] = field(default_factory=list)

    @property
    def final(self) -> Lifecycle | None:
        return self.steps[-1].new if self.steps else None

    def move(self, old: Lifecycle, new: Lifecycle, why: str) -> Lifecycle:
        assert can(old, new), f"{old} → {new}"
        self.steps.append(Step(old, new, why))
        return new

    def tell(self, kind: Kind, targets: list[Target]) -> None:
        self.messages += [(kind, t) for t in targets]


def plan(
    state: Lifecycle,
    event: Event,
    decision: Decision,
    changes: list[dict[str, Any]],
    targets: list[Target],
    carded: set[Target],
) -> Plan:
    """The transitions and messages for ``event`` now that ``decision`` holds.

    ``targets`` are where this decision sends; ``carded`` are the targets that already have a card
    (a thread) for this event.
    """
    result = Plan()
    closed = event.status is Status.CLOSED
    new_targets = [t for t in targets if t not in carded]
    threads = sorted(carded)
    if state in (L.NEW, L.SUPPRESSED):
        if closed:
            if state is L.NEW or can(state, L.RESOLVED):
                result.move(state, L.RESOLVED, "closed upstream before anyone was told")
        elif decision.notify:
            result.move(state, L.ROUTED, _routed_why(decision))
            result.tell(Kind.CARD, targets)
        elif state is L.NEW:
            result.move(state, L.SUPPRESSED, _quiet_why(decision))
        return result
    if state in (L.RESOLVED, L.CLOSED):
        if not closed:
            result.move(state, L.ROUTED, "opened again upstream")
            result.tell(Kind.REOPENED, threads)
            if decision.notify:
                result.tell(Kind.CARD, new_targets)
        return result
    assert state in _ANSWERED_OR_ROUTED
    if closed:
        if state is not L.TICKETED:
            result.move(state, L.RESOLVED, "closed upstream")
        result.tell(Kind.RESOLVED, threads)
        return result
    if decision.suppressed and can(state, L.SUPPRESSED):
        result.move(state, L.SUPPRESSED, _quiet_why(decision))
        return result
    if changes:
        result.tell(Kind.UPDATE, threads)
    if decision.notify:
        result.tell(Kind.CARD, new_targets)
    return result


def _routed_why(decision: Decision) -> str:
    teams = ", ".join(decision.teams) or "no team"
    return f"routed by {', '.join(decision.routes)} to {teams}"


def _quiet_why(decision: Decision) -> str:
    if decision.suppressed:
        return f"suppressed by {decision.routes[0]}: {decision.reason}"
    return f"silenced by {decision.silenced_by}"
