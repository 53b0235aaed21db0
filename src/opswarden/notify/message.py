"""What a notification says, independent of the channel that will say it.

A :class:`Message` is built once, when the triage stage (or an answer, or a reminder) decides that
someone is to be told, and stored as the outbox row's payload: a retry after a restart sends exactly
what was decided, even if the event has changed since (the change brings its own message). Each
channel renders it (``notify/render``): a Slack Block Kit card, a Teams Adaptive Card, an e-mail, a
line of text. Action links (approve / reject) are signed at render time and never stored here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opswarden.core.event import Event, Severity

MAX_RESOURCES = 10
MAX_DESCRIPTION = 1500


class Kind(StrEnum):
    CARD = "card"  # the first message about an event to a target: starts the thread
    UPDATE = "update"  # the event changed materially upstream: what changed, in the thread
    REMINDER = "reminder"  # a deadline approaches and nobody has answered
    ANSWER = "answer"  # someone acknowledged / approved / rejected: in the thread, card updated
    RESOLVED = "resolved"  # upstream closed it
    REOPENED = "reopened"  # upstream opened it again after it was resolved
    DIGEST = "digest"  # a report (not about one event): title and Markdown (notify/render/digest.py)


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str  # acknowledge | approve | reject
    actor: str
    at: datetime
    channel: str  # where the answer came from: slack, link, cli, api
    note: str | None = None


class Message(BaseModel):
    """Everything a renderer needs, JSON-serialisable."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    event_id: str
    key: str
    source: str
    type_code: str
    category: str
    service: str | None = None
    title: str
    description: str = ""
    severity: Severity  # as decided by the policy
    original_severity: Severity
    status: str
    region: str | None = None
    accounts: tuple[str, ...] = ()
    account_names: dict[str, str] = Field(default_factory=dict)
    resources: tuple[str, ...] = ()  # the first MAX_RESOURCES resource ids
    resource_count: int = 0
    start_at: datetime | None = None
    end_at: datetime | None = None
    deadline_at: datetime | None = None
    days_to_deadline: float | None = None
    links: tuple[tuple[str, str], ...] = ()  # (title, url) from the source
    lifecycle: str = "routed"
    teams: tuple[str, ...] = ()  # team display names
    routes: tuple[str, ...] = ()
    why: tuple[str, ...] = ()  # the decision's explanation, one line per step
    require_approval: bool = False
    open_ticket: bool = False
    changes: tuple[dict[str, Any], ...] = ()  # UPDATE: material changes since the last message
    reminder_days: int | None = None  # REMINDER: the offset that fell due
    answer: Answer | None = None  # ANSWER
    at: datetime  # when the message was decided

    @property
    def actionable(self) -> bool:
        """Whether the message carries buttons / links (the event still awaits an answer: nobody has
        answered, or it was acknowledged and still needs an approval)."""
        if self.kind not in (Kind.CARD, Kind.REMINDER, Kind.UPDATE):
            return False
        return self.lifecycle in ("routed", "notified") or (
            self.lifecycle == "acknowledged" and self.require_approval
        )


def message_for(
    event: Event,
    *,
    kind: Kind,
    at: datetime,
    severity: Severity | None = None,
    lifecycle: str = "routed",
    teams: tuple[str, ...] = (),
    routes: tuple[str, ...] = (),
    why: tuple[str, ...] = (),
    require_approval: bool = False,
    open_ticket: bool = False,
    account_names: dict[str, str] | None = None,
    changes: tuple[dict[str, Any], ...] = (),
    reminder_days: int | None = None,
    answer: Answer | None = None,
) -> Message:
    """The message about ``event`` (the description clipped, the first resources listed)."""
    description = event.description
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1] + "…"
    days = None
    if event.deadline_at is not None:
        days = round((event.deadline_at - at).total_seconds() / 86400, 1)
    return Message(
        kind=kind,
        event_id=event.id,
        key=event.key,
        source=event.source,
        type_code=event.type_code,
        category=event.category.value,
        service=event.service,
        title=event.title,
        description=description,
        severity=severity or event.severity,
        original_severity=event.severity,
        status=event.status.value,
        region=event.region,
        accounts=event.accounts,
        account_names={a: n for a, n in (account_names or {}).items() if a in event.accounts},
        resources=tuple(r.id for r in event.resources[:MAX_RESOURCES]),
        resource_count=len(event.resources),
        start_at=event.start_at,
        end_at=event.end_at,
        deadline_at=event.deadline_at,
        days_to_deadline=days,
        links=tuple((link.title or link.url, link.url) for link in event.links),
        lifecycle=lifecycle,
        teams=teams,
        routes=routes,
        why=why,
        require_approval=require_approval,
        open_ticket=open_ticket,
        changes=changes,
        reminder_days=reminder_days,
        answer=answer,
        at=at,
    )


DIGEST_EVENT = "digest"  # the outbox's event id for digests: they are about no one event


def digest_message(title: str, markdown: str, at: datetime) -> Message:
    """A report as a message: the title, and the Markdown as its description."""
    return Message(
        kind=Kind.DIGEST,
        event_id=DIGEST_EVENT,
        key=f"digest:{at.isoformat()}",
        source="opswarden",
        type_code="DIGEST",
        category="other",
        title=title,
        description=markdown,
        severity=Severity.INFORMATIONAL,
        original_severity=Severity.INFORMATIONAL,
        status="open",
        lifecycle="notified",
        at=at,
    )
