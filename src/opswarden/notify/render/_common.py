"""Channel-independent wording shared by the renderers: plain, unescaped strings.

Every function here is pure. Each channel escapes what it takes from here (event text is untrusted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opswarden.core.event import Severity
from opswarden.notify.message import Answer, Kind, Message
from opswarden.notify.render.links import ActionLinks

SHOW_ACCOUNTS = 10
SHOW_CHANGED_IDS = 5

# Lifecycle states in which the event still awaits an answer (Message.actionable, core/lifecycle.py).
AWAITING = frozenset({"routed", "notified"})

_ANSWER_VERBS = {"acknowledge": "Acknowledged", "approve": "Approved", "reject": "Rejected"}
_FIELD_LABELS = {
    "end_at": "end",
    "start_at": "start",
    "deadline_at": "deadline",
    "upstream_status": "upstream status",
    "workflow_status": "workflow status",
    "compliance_status": "compliance status",
    "record_state": "record state",
}
_THREAD_HEADLINES = {
    Kind.UPDATE: "Updated upstream",
    Kind.RESOLVED: "Resolved upstream",
    Kind.REOPENED: "Reopened upstream",
}
# C0/C1 controls and the Unicode line/paragraph separators: anything that could break a line.
_LINE_BREAKERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """``text`` on one line: every control character (CR, LF, tab …) becomes one space."""
    return " ".join(_LINE_BREAKERS.sub(" ", text).split())


def clean_lines(text: str) -> list[str]:
    """The lines of a multi-line ``text``, control characters (ANSI escapes …) made spaces."""
    return [_LINE_BREAKERS.sub(" ", line).rstrip() for line in text.strip().splitlines()]


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def is_web_url(url: str | None) -> bool:
    """Whether ``url`` is an http(s) URL on one line (anything else is never made a link)."""
    if not url or not url.lower().startswith(("https://", "http://")):
        return False
    return _LINE_BREAKERS.search(url) is None and " " not in url


def fmt_time(value: datetime) -> str:
    """``2026-03-01 12:00 UTC``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _days(n: float) -> str:
    return f"{n:g} day" if n == 1 else f"{n:g} days"


def days_phrase(days: float) -> str:
    """``in 7 days`` / ``in 1 day`` / ``due now`` / ``overdue by 2 days``."""
    if days > 0:
        return f"in {_days(days)}"
    if days < 0:
        return f"overdue by {_days(-days)}"
    return "due now"


def severity_label(msg: Message) -> str:
    return msg.severity.value.upper()


def severity_note(msg: Message) -> str | None:
    """``severity raised from medium`` when the policy changed the source's severity."""
    if msg.severity == msg.original_severity:
        return None
    verb = "raised" if msg.severity.rank > msg.original_severity.rank else "lowered"
    return f"severity {verb} from {msg.original_severity.value}"


def is_urgent(msg: Message) -> bool:
    return msg.severity in (Severity.HIGH, Severity.CRITICAL)


def header(msg: Message) -> str:
    """``[HIGH] title (severity raised from medium)`` on one line."""
    note = severity_note(msg)
    return f"[{severity_label(msg)}] {one_line(msg.title)}" + (f" ({note})" if note else "")


def account_label(msg: Message, account: str) -> str:
    name = msg.account_names.get(account)
    return f"{account} {one_line(name)}" if name else account


def accounts_text(msg: Message, limit: int = SHOW_ACCOUNTS) -> str:
    shown = [account_label(msg, a) for a in msg.accounts[:limit]]
    more = len(msg.accounts) - len(shown)
    return ", ".join(shown) + (f" … and {more} more" if more > 0 else "")


def deadline_text(msg: Message) -> str | None:
    if msg.deadline_at is None:
        return None
    text = fmt_time(msg.deadline_at)
    if msg.days_to_deadline is not None:
        text += f" ({days_phrase(msg.days_to_deadline)})"
    return text


def source_text(msg: Message) -> str:
    return " · ".join(one_line(p) for p in (msg.source, msg.type_code) if p)


def resources(msg: Message) -> tuple[list[str], int]:
    """The resource ids the message lists (one line each) and how many more the event has."""
    shown = [one_line(r) for r in msg.resources]
    return shown, max(msg.resource_count - len(shown), 0)


def resources_text(msg: Message, limit: int) -> str | None:
    """``i-1, i-2, i-3 … and 9 more``; ``None`` when the event names no resource."""
    ids, more = resources(msg)
    if not ids:
        return None
    shown = ids[:limit]
    more += len(ids) - len(shown)
    return ", ".join(shown) + (f" … and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


def facts(msg: Message) -> list[Fact]:
    """The card's facts, in order, only those the event has."""
    sev = severity_label(msg)
    note = severity_note(msg)
    found = [
        Fact("Severity", f"{sev} ({note})" if note else sev),
        Fact("Status", one_line(msg.status) + ("" if msg.lifecycle in AWAITING else f" · {msg.lifecycle}")),
        Fact("Source", source_text(msg)),
    ]
    if msg.service:
        found.append(Fact("Service", one_line(msg.service)))
    if msg.region:
        found.append(Fact("Region", one_line(msg.region)))
    if msg.accounts:
        found.append(Fact("Accounts", accounts_text(msg)))
    deadline = deadline_text(msg)
    if deadline:
        found.append(Fact("Deadline", deadline))
    if msg.start_at:
        found.append(Fact("Start", fmt_time(msg.start_at)))
    if msg.end_at:
        found.append(Fact("End", fmt_time(msg.end_at)))
    if msg.teams:
        found.append(Fact("Teams", ", ".join(one_line(t) for t in msg.teams)))
    return found


def _value(value: Any) -> str:
    if value is None or value == "":
        return "–"
    return one_line(str(value))


def _ids(prefix: str, ids: list[Any]) -> str:
    shown = [prefix + one_line(str(i)) for i in ids[:SHOW_CHANGED_IDS]]
    more = len(ids) - len(shown)
    return " ".join(shown) + (f" … and {more} more" if more > 0 else "")


def change_line(change: dict[str, Any]) -> str:
    """One material change (core/versions.py: material_changes) as one line."""
    field = str(change.get("field", "?"))
    label = _FIELD_LABELS.get(field, field)
    if field in ("resources", "accounts"):
        parts = []
        if change.get("added"):
            parts.append(_ids("+", list(change["added"])))
        if change.get("removed"):
            parts.append(_ids("-", list(change["removed"])))
        for status in list(change.get("status_changed") or [])[:SHOW_CHANGED_IDS]:
            parts.append(
                f"{one_line(str(status.get('id')))}: {_value(status.get('old'))} → {_value(status.get('new'))}"
            )
        more = len(change.get("status_changed") or []) - SHOW_CHANGED_IDS
        if more > 0:
            parts.append(f"… and {more} more status changes")
        return f"{label}: " + ("; ".join(parts) or "changed")
    if field == "description":
        return f"description updated: {_value(change.get('new'))}"
    return f"{label}: {_value(change.get('old'))} → {_value(change.get('new'))}"


def change_lines(msg: Message) -> list[str]:
    return [change_line(c) for c in msg.changes]


def reminder_line(msg: Message) -> str:
    """``Reminder: deadline in 7 days, not acknowledged yet``."""
    days: float | None = msg.reminder_days
    if days is None and msg.days_to_deadline is not None:
        days = round(msg.days_to_deadline)
    if days is None:
        return "Reminder: not acknowledged yet"
    when = "today" if days == 0 else days_phrase(days)
    return f"Reminder: deadline {when}, not acknowledged yet"


def answer_line(answer: Answer, *, via: bool = True) -> str:
    """``Acknowledged by alice via slack at 2026-03-01 12:05 UTC: "note"``."""
    verb = _ANSWER_VERBS.get(answer.action, f"Answered ({one_line(answer.action)})")
    text = f"{verb} by {one_line(answer.actor)}"
    if via:
        text += f" via {one_line(answer.channel)}"
    text += f" at {fmt_time(answer.at)}"
    if answer.note:
        text += f': "{one_line(answer.note)}"'
    return text


def state_line(msg: Message) -> str | None:
    """Where a card's event stands once it no longer awaits an answer; ``None`` while it does."""
    if msg.answer is not None:
        return answer_line(msg.answer, via=False)
    if msg.lifecycle in AWAITING:
        return None
    return f"Now {one_line(msg.lifecycle)}"


def thread_headline(msg: Message) -> str:
    """The first line of a thread message (not a card)."""
    if msg.kind == Kind.REMINDER:
        return reminder_line(msg)
    if msg.kind == Kind.ANSWER:
        return answer_line(msg.answer) if msg.answer else "Answered"
    return _THREAD_HEADLINES.get(msg.kind, msg.kind.value.capitalize())


@dataclass(frozen=True)
class LinkButton:
    action: str  # acknowledge | approve | reject | event
    label: str
    url: str


def link_buttons(msg: Message, links: ActionLinks | None) -> list[LinkButton]:
    """The links a rendering offers: the answer links while the message is actionable (approve and
    reject only when the decision requires approval), the event's page whenever given. Only http(s)
    URLs are placed."""
    if links is None:
        return []
    found: list[LinkButton] = []
    if msg.actionable:
        if msg.lifecycle != "acknowledged":
            found.append(LinkButton("acknowledge", "Acknowledge", links.acknowledge or ""))
        if msg.require_approval:
            found.append(LinkButton("approve", "Approve", links.approve or ""))
            found.append(LinkButton("reject", "Reject", links.reject or ""))
    found.append(LinkButton("event", "View event", links.event or ""))
    return [b for b in found if is_web_url(b.url)]


def source_links(msg: Message) -> list[tuple[str, str]]:
    """The source's (title, url) links that are http(s) URLs, titles on one line."""
    return [(one_line(title) or url, url) for title, url in msg.links if is_web_url(url)]
