"""``evaluate(event, policy, org, now)``: the decision for one event, and why. Pure and deterministic.

Routing follows Alertmanager: an event enters at the root; among a route's children the first that
matches takes it, unless that child says ``continue: true``, in which case the next matching sibling
takes it too. The routes where it stops (the deepest matching ones) decide, with every decision field
they do not set inherited from their ancestors. With several (``continue``), the first decides
suppression, and the others add teams, channels, reminders, approval and ticket, and can only raise
the severity. See docs/policy.md#how-an-event-is-routed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opswarden.core.event import Event, Severity
from opswarden.policy.match import Facts, Hit
from opswarden.policy.model import OWNER, ByDeadline, Channel, Node, Policy, Silences
from opswarden.policy.org import Org


@dataclass(frozen=True, slots=True)
class Step:
    """One line of an explanation: a rule (route path, silence) or a derived choice, and what it saw."""

    rule: str
    matched: tuple[str, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "matched": list(self.matched), "note": self.note}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decides for one event, with the rules and values that decided it."""

    matched: bool  # False: only the root matched; no rule decides (the AI triage may propose one)
    routes: tuple[str, ...]
    severity: Severity
    original_severity: Severity
    suppressed: bool = False
    reason: str | None = None
    teams: tuple[str, ...] = ()
    channels: tuple[Channel, ...] = ()
    require_approval: bool = False
    open_ticket: bool = False
    reminders: tuple[int, ...] = ()
    silenced_by: str | None = None
    explanation: tuple[Step, ...] = ()

    @property
    def notify(self) -> bool:
        """Whether anyone is to be told: not suppressed, not silenced."""
        return not self.suppressed and self.silenced_by is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``policy test --format json`` prints it (docs/policy.md#the-dry-run)."""
        return {
            "matched": self.matched,
            "routes": list(self.routes),
            "suppressed": self.suppressed,
            "reason": self.reason,
            "teams": list(self.teams),
            "channels": [c.value for c in self.channels],
            "severity": self.severity.value,
            "original_severity": self.original_severity.value,
            "require_approval": self.require_approval,
            "open_ticket": self.open_ticket,
            "reminders": list(self.reminders),
            "silenced_by": self.silenced_by,
            "notify": self.notify,
            "explanation": [step.to_dict() for step in self.explanation],
        }


@dataclass(slots=True)
class _Leaf:
    """A route where the event stopped, with the decision fields in force there."""

    path: str
    fields: dict[str, Any]
    account: str | None
    steps: tuple[Step, ...]


def evaluate(event: Event, policy: Policy, org: Org, now: datetime) -> Decision:
    """The decision for ``event`` under ``policy`` at ``now`` (days to deadlines count from it)."""
    facts = Facts(event, org, now)
    root = policy.tree
    root_hit = root.test.hit(facts)
    assert root_hit is not None, "the root route matches every event"
    leaves: list[_Leaf] = []
    _walk(root, root_hit, facts, None, (), leaves)
    first = leaves[0]
    if len(leaves) == 1:
        explanation = list(first.steps)
    else:
        explanation = []
        for leaf in leaves:
            explanation += [s for s in leaf.steps if s not in explanation]
    matched = not (len(leaves) == 1 and first.path == root.path)
    if not matched:
        explanation.append(_step(root.path, (), "no rule matched: root defaults only"))

    severity = event.severity
    teams: list[str] = []
    channels: list[Channel] = []
    reminders: set[int] = set()
    approval = ticket = False
    for i, leaf in enumerate(leaves):
        fields = leaf.fields
        chosen, note = _severity(fields.get("severity"), event, facts)
        if note:
            explanation.append(_step(f"{leaf.path}: severity", (), note))
        severity = chosen if i == 0 or chosen.rank > severity.rank else severity
        if fields.get("teams"):
            for team in _teams(leaf, org, facts, explanation):
                if team not in teams:
                    teams.append(team)
        channels += [c for c in fields.get("channels") or () if c not in channels]
        reminders.update(fields.get("reminders") or ())
        approval = approval or bool(fields.get("require_approval"))
        ticket = ticket or bool(fields.get("open_ticket"))

    silence = _silence(policy.compiled_silences, facts, now)
    if silence is not None:
        name, hit = silence
        explanation.append(_step(f"silence {name}", hit.matched))
    suppressed = bool(first.fields.get("suppress"))
    return Decision(
        matched=matched,
        routes=(first.path,) if len(leaves) == 1 else tuple(leaf.path for leaf in leaves),
        suppressed=suppressed,
        reason=first.fields.get("reason") if suppressed else None,
        teams=tuple(teams),
        channels=_same(tuple(channels), first.fields.get("channels")),
        severity=severity,
        original_severity=event.severity,
        require_approval=approval,
        open_ticket=ticket,
        reminders=tuple(sorted(reminders, reverse=True)),
        silenced_by=silence[0] if silence else None,
        explanation=tuple(explanation),
    )


_STEPS: dict[tuple[str, tuple[str, ...], str | None], Step] = {}
STEPS_KEPT = 20_000


def _step(rule: str, matched: tuple[str, ...], note: str | None = None) -> Step:
    """``Step(rule, matched, note)``, shared with earlier decisions that explained the same thing.

    Steps are immutable values, so sharing them changes nothing a caller sees; it saves building one
    object per route per decision, which a caller that keeps many decisions (a backtest) would
    otherwise carry and the garbage collector would keep walking. The table is emptied when full.
    """
    key = (rule, matched, note)
    step = _STEPS.get(key)
    if step is None:
        if len(_STEPS) >= STEPS_KEPT:
            _STEPS.clear()
        step = _STEPS[key] = Step(rule, matched, note)
    return step


def _same(value: tuple[Channel, ...], known: tuple[Channel, ...] | None) -> tuple[Channel, ...]:
    """``known`` when equal: the route's own tuple, not one more object per decision to collect."""
    return known if known is not None and value == known else value


def _walk(
    node: Node, hit: Hit, facts: Facts, account: str | None, trail: tuple[Step, ...], leaves: list[_Leaf]
) -> None:
    """Add the leaves below ``node``, which matched (``hit``), to ``leaves``, in routing order.

    ``trail`` is the steps of the ancestors that explain something (those with matchers).
    """
    account = hit.account or account
    children: Sequence[Node] = node.children
    if children:
        before = len(leaves)
        # The root and catch-alls explain nothing on the way.
        below = (*trail, _step(node.path, hit.matched)) if hit.matched else trail
        if node.index is not None:  # only the children that can match, in order
            children = node.index.select(children, facts)
        for child in children:
            child_hit = child.test.hit(facts)
            if child_hit is None:
                continue
            _walk(child, child_hit, facts, account, below, leaves)
            if not child.continue_:
                break
        if len(leaves) > before:
            return
    leaves.append(_Leaf(node.path, node.fields, account, (*trail, _step(node.path, hit.matched))))


def _severity(spec: Severity | ByDeadline | None, event: Event, facts: Facts) -> tuple[Severity, str | None]:
    if spec is None:
        return event.severity, None
    if isinstance(spec, Severity):
        return spec, None if spec is event.severity else f"set to {spec.value}"
    days = facts.days_to_deadline
    if days is None:
        return event.severity, None  # no deadline: the event's own severity, nothing to explain
    band = spec.pick(days)
    when = f"deadline in {days:.1f} days" if days >= 0 else f"deadline passed {-days:.1f} days ago"
    if band is None:
        return event.severity, f"by_deadline: {when}, beyond every band; kept {event.severity.value}"
    if band.otherwise is not None:
        return band.otherwise, f"by_deadline: {when} (otherwise) → {band.otherwise.value}"
    assert band.severity is not None
    return band.severity, f"by_deadline: {when} (< {band.within_days:g}) → {band.severity.value}"


def _teams(leaf: _Leaf, org: Org, facts: Facts, explanation: list[Step]) -> list[str]:
    """Team ids; ``owner`` is the owner of the account a route matched on, else of every account."""
    found: list[str] = []
    for ref in leaf.fields.get("teams") or ():
        if ref != OWNER:
            team = org.team(ref)
            found.append(team.id if team else ref)
            continue
        accounts = [leaf.account] if leaf.account else [a for a, _ in facts.accounts if a]
        owners = [(a, org.owner(a)) for a in accounts]
        seen = [f"{a} → {t.id}" if t else f"{a} → (no owner in org)" for a, t in owners]
        explanation.append(_step(f"{leaf.path}: teams owner", tuple(seen)))
        found += [t.id for _, t in owners if t is not None]
    return found


def _silence(silences: Silences, facts: Facts, now: datetime) -> tuple[str, Hit] | None:
    rules = silences.rules if silences.index is None else silences.index.select(silences.rules, facts)
    for name, silence, test in rules:
        if not silence.active(now):
            continue
        hit = test.hit(facts)
        if hit is not None:
            return name, hit
    return None
