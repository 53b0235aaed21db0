"""Rich renderings of an event and its timeline for the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from opswarden.views import describe_changes


def event_panel(data: dict[str, Any]) -> Panel:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    for label, key in (
        ("id", "id"),
        ("key", "key"),
        ("source", "source"),
        ("type", "type"),
        ("category", "category"),
        ("service", "service"),
        ("severity", "severity"),
        ("status", "status"),
        ("upstream", "upstream_status"),
        ("lifecycle", "lifecycle"),
        ("region", "region"),
        ("start", "start_at"),
        ("end", "end_at"),
        ("deadline", "deadline_at"),
        ("updated", "updated_at"),
    ):
        if data.get(key):
            facts.add_row(label, str(data[key]))
    facts.add_row("accounts", ", ".join(data["accounts"]) or "-")
    resources = data["resources"]
    shown = ", ".join(f"{r['id']}" + (f" ({r['status']})" if r.get("status") else "") for r in resources[:10])
    facts.add_row("resources", (shown + (f" … +{len(resources) - 10}" if len(resources) > 10 else "")) or "-")
    for link in data["links"]:
        facts.add_row("link", f"{link['title']}: {link['url']}")
    body = Text(data["description"][:2000] + ("…" if len(data["description"]) > 2000 else ""))
    return Panel(Group(facts, Text(""), body), title=data["title"], title_align="left")


def versions_table(versions: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(versions)} version(s)", title_justify="left")
    for name in ("", "updated", "received", "status", "severity", "what changed"):
        table.add_column(name, overflow="fold")
    for v in versions:
        table.add_row(
            "●" if v["current"] else "",
            (v["updated_at"] or "-")[:19],
            (v["received_at"] or "")[:19],
            v["status"],
            v["severity"],
            describe_changes(v["changes"]) if v["changes"] else "first version" if v is versions[0] else "-",
        )
    return table


def decision_text(decision: dict[str, Any]) -> Text:
    """The latest policy decision and why, as ``policy test`` prints it."""
    if decision["suppressed"]:
        outcome = f"suppressed: {decision['reason']}"
    elif decision.get("silenced_by"):
        outcome = f"silenced by {decision['silenced_by']}"
    else:
        outcome = "notify " + (", ".join(decision["teams"]) or "no team")
    flags = [f"severity {decision['severity']}"]
    if decision["require_approval"]:
        flags.append("approval required")
    if decision["open_ticket"]:
        flags.append("ticket")
    if decision["reminders"]:
        flags.append("reminders " + ", ".join(f"{d}d" for d in decision["reminders"]))
    text = Text()
    text.append("decision ", style="bold")
    text.append(f"{outcome} · {' · '.join(flags)} · route {', '.join(decision['routes'])}\n")
    for step in decision["explanation"]:
        bits = [step["rule"], ", ".join(step["matched"]) if step["matched"] else "", step["note"] or ""]
        text.append("  " + ": ".join(b for b in bits if b) + "\n", style="dim")
    for note in decision.get("delivery_notes", []):
        text.append(f"  note: {note}\n", style="yellow")
    return text


def history_table(history: list[dict[str, Any]]) -> Table:
    """Lifecycle transitions, answers, refusals and delivery failures, oldest first."""
    table = Table(title="history", title_justify="left")
    for name in ("at", "who", "via", "what"):
        table.add_column(name, overflow="fold")
    for entry in history:
        detail = entry["detail"]
        if entry["action"] == "transition":
            what = f"{detail['from']} → {detail['to']}: {detail['why']}"
            if detail.get("note"):
                what += f" ({detail['note']})"
        else:
            what = f"{entry['action']}: {detail.get('why') or detail.get('error') or ''}"
        table.add_row((entry["at"] or "")[:19], entry["actor"], entry["channel"], what)
    return table


def tickets_line(tickets: list[dict[str, Any]]) -> Text:
    """``tickets OW-3 (builtin, sec01) in_progress, assigned to ann``, one per line."""
    text = Text()
    for t in tickets:
        text.append("ticket ", style="bold")
        text.append(f"{t['key']} ({t['backend']}, team {t['team']}) {t['status']}")
        if t.get("assignee"):
            text.append(f", assigned to {t['assignee']}")
        if t.get("url"):
            text.append(f" {t['url']}")
        text.append("\n")
    return text
