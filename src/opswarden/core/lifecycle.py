"""opswarden's own lifecycle of an event, distinct from the upstream status (docs/concepts.md#lifecycle).

::

    new ──► suppressed ◄──────────────┐
     │          │ (decision changes)  │
     └────► routed ──► notified ──► acknowledged ──► approved ──► ticketed ──► resolved ──► closed
                 │         │             │       └─► rejected        │            ▲
                 └─────────┴─────────────┴───────────────────────────┴────────────┘
                                  upstream closure (unless a ticket is open)

An approval or a rejection acknowledges too, so both are allowed straight from ``routed`` or
``notified``. An event that reopens upstream goes back to ``routed``. Every transition is checked here
and recorded by the caller as an audit row; an illegal one raises :class:`LifecycleError` naming the
state the event is in and what it may do from there.
"""

from __future__ import annotations

from enum import StrEnum

from opswarden.errors import LifecycleError


class Lifecycle(StrEnum):
    NEW = "new"
    SUPPRESSED = "suppressed"
    ROUTED = "routed"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    APPROVED = "approved"
    REJECTED = "rejected"
    TICKETED = "ticketed"
    RESOLVED = "resolved"
    CLOSED = "closed"


L = Lifecycle
_OPEN_FOR_ANSWERS = frozenset({L.ROUTED, L.NOTIFIED})
ALLOWED: dict[Lifecycle, frozenset[Lifecycle]] = {
    L.NEW: frozenset({L.SUPPRESSED, L.ROUTED, L.RESOLVED}),
    L.SUPPRESSED: frozenset({L.ROUTED, L.RESOLVED}),
    L.ROUTED: frozenset({L.NOTIFIED, L.ACKNOWLEDGED, L.APPROVED, L.REJECTED, L.SUPPRESSED, L.RESOLVED}),
    L.NOTIFIED: frozenset({L.ACKNOWLEDGED, L.APPROVED, L.REJECTED, L.SUPPRESSED, L.TICKETED, L.RESOLVED}),
    L.ACKNOWLEDGED: frozenset({L.APPROVED, L.REJECTED, L.TICKETED, L.RESOLVED}),
    L.APPROVED: frozenset({L.TICKETED, L.RESOLVED}),
    L.REJECTED: frozenset({L.RESOLVED, L.CLOSED}),
    L.TICKETED: frozenset({L.RESOLVED}),
    L.RESOLVED: frozenset({L.CLOSED, L.ROUTED}),
    L.CLOSED: frozenset({L.ROUTED}),
}
# States in which nobody has answered yet: reminders go out, buttons are live.
AWAITING_ANSWER = _OPEN_FOR_ANSWERS
# States an upstream update may move back to "routed" (reopened) or on to "resolved".
FINISHED = frozenset({L.RESOLVED, L.CLOSED})


def check(current: Lifecycle, target: Lifecycle, event: str = "event") -> None:
    """Raise :class:`LifecycleError` unless ``current → target`` is allowed."""
    if target in ALLOWED[current]:
        return
    if current == target:
        raise LifecycleError(f"{event} is already {current.value}")
    allowed = ", ".join(sorted(s.value for s in ALLOWED[current])) or "nothing"
    raise LifecycleError(
        f"{event} is {current.value}: it cannot become {target.value} (from {current.value}: {allowed})"
    )


def can(current: Lifecycle, target: Lifecycle) -> bool:
    return target in ALLOWED[current]
