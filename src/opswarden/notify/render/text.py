"""A compact plain-text rendering: the console / file sink and the text part of an e-mail."""

from __future__ import annotations

from opswarden.notify.message import Kind, Message
from opswarden.notify.render import _common as c
from opswarden.notify.render.links import ActionLinks

SHOW_RESOURCES = 5


def render_text(msg: Message, links: ActionLinks | None = None) -> str:
    """``msg`` as a few lines of plain text (no trailing newline).

    Single-line fields are flattened (a title cannot forge further lines); the description keeps its
    own line breaks, indented under the facts.
    """
    if msg.kind == Kind.DIGEST:
        from opswarden.notify.render.digest import digest_text

        return digest_text(msg)
    lines = [c.header(msg)]
    if msg.kind != Kind.CARD:
        lines.append(c.thread_headline(msg))
    if msg.kind == Kind.UPDATE:
        lines.extend(f"  - {line}" for line in c.change_lines(msg))
    if msg.kind == Kind.CARD:
        state = c.state_line(msg)
        if state:
            lines.append(state)

    source = c.source_text(msg)
    where = " · ".join(c.one_line(p) for p in (msg.service, msg.region) if p)
    lines.append(f"Source: {source}" + (f" · {where}" if where else ""))
    lines.append(f"Status: {c.one_line(msg.status)} · lifecycle {c.one_line(msg.lifecycle)}")
    if msg.accounts:
        lines.append(f"Accounts: {c.accounts_text(msg)}")
    deadline = c.deadline_text(msg)
    if deadline:
        lines.append(f"Deadline: {deadline}")
    if msg.start_at or msg.end_at:
        start = c.fmt_time(msg.start_at) if msg.start_at else "?"
        end = c.fmt_time(msg.end_at) if msg.end_at else "…"
        lines.append(f"When: {start} → {end}")
    resources = c.resources_text(msg, SHOW_RESOURCES)
    if resources:
        lines.append(f"Resources ({max(msg.resource_count, len(msg.resources))}): {resources}")
    if msg.teams:
        lines.append("Teams: " + ", ".join(c.one_line(t) for t in msg.teams))
    if msg.why and msg.kind == Kind.CARD:
        lines.append("Why:")
        lines.extend(f"  - {c.one_line(w)}" for w in msg.why)
    description = msg.description.strip()
    if description and msg.kind in (Kind.CARD, Kind.REOPENED):
        lines.append("")
        lines.extend(f"  {line}" if line else "" for line in c.clean_lines(description))
    source_links = c.source_links(msg)
    if source_links and msg.kind == Kind.CARD:
        lines.append("")
        lines.extend(f"{title}: {url}" if title != url else url for title, url in source_links)
    buttons = c.link_buttons(msg, links)
    if buttons:
        lines.append("")
        lines.extend(f"{b.label}: {b.url}" for b in buttons)
    return "\n".join(lines)
