"""Messages about an event from its stored decision (the dict form of ``Decision.to_dict()``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opswarden.core.event import Event, Severity
from opswarden.notify.message import Answer, Kind, Message, message_for
from opswarden.policy import Org


def build(
    event: Event,
    decision: dict[str, Any] | None,
    org: Org,
    *,
    kind: Kind,
    lifecycle: str,
    now: datetime,
    changes: tuple[dict[str, Any], ...] = (),
    reminder_days: int | None = None,
    answer: Answer | None = None,
) -> Message:
    d = decision or {}
    return message_for(
        event,
        kind=kind,
        at=now,
        severity=Severity(d["severity"]) if d.get("severity") else None,
        lifecycle=lifecycle,
        teams=tuple(_team_name(org, t) for t in d.get("teams", ())),
        routes=tuple(d.get("routes", ())),
        why=tuple(why_line(step) for step in d.get("explanation", ())),
        require_approval=bool(d.get("require_approval")),
        open_ticket=bool(d.get("open_ticket")),
        account_names={a: acc.name for a in event.accounts if (acc := org.account(a)) and acc.name},
        changes=changes,
        reminder_days=reminder_days,
        answer=answer,
    )


def why_line(step: dict[str, Any]) -> str:
    parts = [step["rule"]]
    if step.get("matched"):
        parts.append(", ".join(step["matched"]))
    if step.get("note"):
        parts.append(step["note"])
    return ": ".join(parts)


def _team_name(org: Org, ref: str) -> str:
    team = org.team(ref)
    return team.name if team else ref
