"""``policy backtest``: what a candidate policy would decide differently from the current one.

Both policies decide every event at the same ``now``; the report lists, event by event, what would
change: suppressed or silenced ↔ notified, teams told, severity, approval, ticket, channels, reminders,
and whether any rule matches at all. Pure. Reference: docs/policy.md#backtesting-a-policy-change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opswarden.core.event import Event
from opswarden.policy.evaluate import Decision, evaluate
from opswarden.policy.model import Policy
from opswarden.policy.org import Org

KINDS = ("notify", "matched", "teams", "severity", "approval", "ticket", "channels", "reminders")
"""The kinds of change, in the order they are reported."""


@dataclass(frozen=True, slots=True)
class Change:
    """One kind of difference between the two decisions of an event."""

    kind: str
    before: Any
    after: Any

    @property
    def added(self) -> tuple[str, ...]:
        """For list kinds (teams, channels, reminders): what the candidate adds."""
        if not isinstance(self.before, tuple):
            return ()
        return tuple(str(v) for v in self.after if v not in self.before)

    @property
    def removed(self) -> tuple[str, ...]:
        if not isinstance(self.before, tuple):
            return ()
        return tuple(str(v) for v in self.before if v not in self.after)

    def describe(self) -> str:
        """``notify: suppressed → notify``, ``teams: +sec01 -inf01``."""
        if isinstance(self.before, tuple):
            said = " ".join([*(f"+{v}" for v in self.added), *(f"-{v}" for v in self.removed)])
            return f"{self.kind}: {said}"
        return f"{self.kind}: {_word(self.before)} → {_word(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "before": _plain(self.before), "after": _plain(self.after)}
        if isinstance(self.before, tuple):
            data |= {"added": list(self.added), "removed": list(self.removed)}
        return data


@dataclass(frozen=True, slots=True)
class EventChange:
    """An event whose decision the candidate changes, with both decisions."""

    event: Event
    before: Decision
    after: Decision
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.event.id,
            "key": self.event.key,
            "source": self.event.source,
            "type": self.event.type_code,
            "title": self.event.title,
            "accounts": list(self.event.accounts),
            "routes_before": list(self.before.routes),
            "routes_after": list(self.after.routes),
            "changes": [change.to_dict() for change in self.changes],
        }


@dataclass(frozen=True, slots=True)
class BacktestReport:
    now: datetime
    replayed: int
    changed: tuple[EventChange, ...]

    @property
    def unchanged(self) -> int:
        return self.replayed - len(self.changed)

    @property
    def by_kind(self) -> dict[str, int]:
        """How many events change in each kind (an event can count under several)."""
        counts = Counter(change.kind for event in self.changed for change in event.changes)
        return {kind: counts[kind] for kind in KINDS if counts[kind]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat().replace("+00:00", "Z"),
            "replayed": self.replayed,
            "unchanged": self.unchanged,
            "changed": len(self.changed),
            "by_kind": self.by_kind,
            "events": [event.to_dict() for event in self.changed],
        }


def outcome(decision: Decision) -> str:
    """``notify``, ``suppressed`` or ``silenced``: what happens to the event."""
    if decision.suppressed:
        return "suppressed"
    return "notify" if decision.silenced_by is None else "silenced"


def compare(before: Decision, after: Decision) -> tuple[Change, ...]:
    """The differences that matter between two decisions of one event, in the order of :data:`KINDS`."""
    pairs: dict[str, tuple[Any, Any]] = {
        "notify": (outcome(before), outcome(after)),
        "matched": (before.matched, after.matched),
        "teams": (before.teams, after.teams),
        "severity": (before.severity.value, after.severity.value),
        "approval": (before.require_approval, after.require_approval),
        "ticket": (before.open_ticket, after.open_ticket),
        "channels": (tuple(c.value for c in before.channels), tuple(c.value for c in after.channels)),
        "reminders": (before.reminders, after.reminders),
    }
    return tuple(Change(kind, old, new) for kind, (old, new) in pairs.items() if _differs(old, new))


def backtest(
    events: Iterable[Event], current: Policy, candidate: Policy, org: Org, now: datetime
) -> BacktestReport:
    """Every event decided by ``current`` and by ``candidate`` at ``now``; the events that differ."""
    replayed = 0
    changed: list[EventChange] = []
    for event in events:
        replayed += 1
        before, after = evaluate(event, current, org, now), evaluate(event, candidate, org, now)
        changes = compare(before, after)
        if changes:
            changed.append(EventChange(event, before, after, changes))
    return BacktestReport(now=now, replayed=replayed, changed=tuple(changed))


def _differs(old: Any, new: Any) -> bool:
    """Teams and channels are sets for this purpose (their order changes nothing anyone receives)."""
    if isinstance(old, tuple) and isinstance(new, tuple):
        return set(old) != set(new)
    return bool(old != new)


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
