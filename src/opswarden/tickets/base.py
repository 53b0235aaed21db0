"""The one protocol every ticketing backend implements, and what it is handed.

A backend (``tickets/<name>.py``: builtin, jira, servicenow, github) creates, finds, comments on,
closes, reopens and reads tickets. Every ticket opswarden opens carries a *correlation key*
(``opswarden:<event id>:<team>``) in a field the backend can search (Jira: a label; ServiceNow:
``correlation_id``; GitHub: a label): creation first looks the key up, so a retry after a crash
between "created" and "recorded" finds the ticket instead of opening a second one. Failures raise
:class:`~opswarden.errors.DeliveryError` with ``recoverable`` and a reason, as notifiers do: the
outbox's retry stage decides. No backend puts a credential in an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from opswarden.core.event import Severity

# Severity 1 (highest) … 5, as ticketing systems count it.
PRIORITY = {
    Severity.CRITICAL: 1,
    Severity.HIGH: 2,
    Severity.MEDIUM: 3,
    Severity.LOW: 4,
    Severity.INFORMATIONAL: 5,
}


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class TicketRef:
    backend: str
    key: str  # OW-12, OPS-345, INC0010001, #17
    url: str | None = None
    id: str | None = None  # the backend's internal id where it differs from the key (ServiceNow sys_id)

    def to_dict(self) -> dict[str, str | None]:
        return {"backend": self.backend, "key": self.key, "url": self.url, "id": self.id}

    @classmethod
    def of(cls, data: dict[str, str | None]) -> TicketRef:
        return cls(str(data["backend"]), str(data["key"]), data.get("url"), data.get("id"))


@dataclass(frozen=True, slots=True)
class TicketState:
    ref: TicketRef
    status: TicketStatus
    raw_status: str  # the backend's own word: "In Progress", "6" (Resolved), "closed"
    assignee: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewTicket:
    correlation: str  # opswarden:<event id>:<team>
    title: str
    description: str  # plain text with line breaks (backends convert: Jira ADF, GitHub Markdown)
    priority: int  # 1 (highest) … 5
    team: str  # team id from org.yaml
    team_name: str
    event_id: str
    accounts: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    link: str | None = None  # the event's page on opswarden serve, when OPSWARDEN_PUBLIC_URL is set
    fields: dict[str, str] = field(default_factory=dict)  # per-team mapping from configuration


class Ticketer(Protocol):
    backend: str

    def find(self, correlation: str) -> TicketRef | None:
        """The ticket opened with this correlation key, if any (open or closed)."""
        ...

    def create(self, ticket: NewTicket) -> TicketRef: ...

    def comment(self, ref: TicketRef, text: str) -> None: ...

    def close(self, ref: TicketRef, text: str) -> None:
        """Close (resolve) the ticket with a closing comment."""
        ...

    def reopen(self, ref: TicketRef, text: str) -> None: ...

    def state(self, ref: TicketRef) -> TicketState: ...


def correlation_key(event_id: str, team: str) -> str:
    return f"opswarden:{event_id}:{team}"


def label_of(correlation: str) -> str:
    """The correlation key as a label (Jira and GitHub labels take no spaces; Jira no colons in JQL
    without quoting — the label form is safe in both)."""
    return correlation.replace(":", "-")
