"""E-mail: subject, text part (:func:`render_text`) and HTML part (a Jinja2 template, autoescaped,
inline CSS only, answer links as buttons)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from opswarden.core.event import Severity
from opswarden.notify.message import Kind, Message
from opswarden.notify.render import _common as c
from opswarden.notify.render.links import ActionLinks
from opswarden.notify.render.text import render_text

SUBJECT_LIMIT = 200
TEMPLATE = "email.html.j2"

_SUBJECT_PREFIXES = {
    Kind.UPDATE: "Update: ",
    Kind.REMINDER: "Reminder: ",
    Kind.RESOLVED: "Resolved: ",
    Kind.REOPENED: "Reopened: ",
}
_ANSWER_PREFIXES = {"acknowledge": "Acknowledged: ", "approve": "Approved: ", "reject": "Rejected: "}
_SEVERITY_COLOURS = {
    Severity.CRITICAL: "#8b0000",
    Severity.HIGH: "#d1242f",
    Severity.MEDIUM: "#bf8700",
    Severity.LOW: "#0969da",
    Severity.INFORMATIONAL: "#57606a",
}
_BUTTON_COLOURS = {"acknowledge": "#0969da", "approve": "#1a7f37", "reject": "#d1242f", "event": "#57606a"}


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("opswarden.notify.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def email_subject(msg: Message) -> str:
    """``[opswarden] [HIGH] Update: <title>`` on one line (no CR/LF: no header injection)."""
    prefix = _SUBJECT_PREFIXES.get(msg.kind, "")
    if msg.kind == Kind.ANSWER:
        prefix = _ANSWER_PREFIXES.get(msg.answer.action, "Answered: ") if msg.answer else "Answered: "
    subject = f"[opswarden] [{c.severity_label(msg)}] {prefix}{c.one_line(msg.title)}"
    return c.clip(c.one_line(subject), SUBJECT_LIMIT)


def render_email(msg: Message, links: ActionLinks | None) -> tuple[str, str, str]:
    """``(subject, text, html)`` for ``msg``."""
    if msg.kind == Kind.DIGEST:
        from opswarden.notify.render.digest import digest_email

        return digest_email(msg)
    html = _environment().get_template(TEMPLATE).render(**_context(msg, links))
    return email_subject(msg), render_text(msg, links), html


def _context(msg: Message, links: ActionLinks | None) -> dict[str, Any]:
    is_card = msg.kind == Kind.CARD
    ids, more = c.resources(msg)
    return {
        "subject": email_subject(msg),
        "title": c.one_line(msg.title),
        "severity": c.severity_label(msg),
        "severity_colour": _SEVERITY_COLOURS.get(msg.severity, "#57606a"),
        "headline": None if is_card else c.thread_headline(msg),
        "changes": c.change_lines(msg) if msg.kind == Kind.UPDATE else [],
        "state": c.state_line(msg) if is_card else None,
        "facts": [(f.label, f.value) for f in c.facts(msg)],
        "paragraphs": _paragraphs(msg.description) if msg.kind in (Kind.CARD, Kind.REOPENED) else [],
        "resources": ids if is_card else [],
        "resource_total": max(msg.resource_count, len(ids)),
        "resources_more": more,
        "why": [c.one_line(w) for w in msg.why] if is_card else [],
        "source_links": c.source_links(msg) if is_card else [],
        "buttons": [
            {"label": b.label, "url": b.url, "colour": _BUTTON_COLOURS.get(b.action, "#57606a")}
            for b in c.link_buttons(msg, links)
        ],
        "footer": f"{c.source_text(msg)} · {msg.key}",
    }


def _paragraphs(text: str) -> list[list[str]]:
    """The description as paragraphs of lines (blank lines separate paragraphs)."""
    paragraphs: list[list[str]] = [[]]
    for line in c.clean_lines(text):
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]
