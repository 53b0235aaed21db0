"""``opswarden events list|show`` and ``opswarden deadletters list``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from opswarden.cli.common import Format, console, fail, get_app, parse_when, print_json
from opswarden.cli.render import decision_text, event_panel, history_table, tickets_line, versions_table
from opswarden.core.timeparse import format_time
from opswarden.errors import NotFoundError
from opswarden.store.reader import EventFilter

events_app = typer.Typer(help="List and show events.", no_args_is_help=True)
deadletters_app = typer.Typer(help="Payloads that could not be ingested.", no_args_is_help=True)

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


@events_app.command("list")
def list_events(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="e.g. aws.health")] = None,
    type_code: Annotated[
        str | None, typer.Option("--type", help="e.g. AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED")
    ] = None,
    category: Annotated[str | None, typer.Option(help="issue, scheduledChange, finding …")] = None,
    status: Annotated[str | None, typer.Option(help="open, upcoming or closed")] = None,
    severity: Annotated[str | None, typer.Option(help="critical, high, medium, low, informational")] = None,
    account: Annotated[str | None, typer.Option(help="an AWS account id")] = None,
    region: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="updated since: 7d, 12h, or a date")] = None,
    until: Annotated[str | None, typer.Option(help="updated before: 1d, or a date")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Current events, newest update first."""
    app = get_app(ctx)
    now = app.clock.now()
    flt = EventFilter(
        source=source,
        type_code=type_code,
        category=category,
        status=status,
        severity=severity,
        account=account,
        region=region,
        since=parse_when(since, now),
        until=parse_when(until, now),
        limit=limit,
    )
    rows = app.events_json(flt)
    if fmt is Format.JSON:
        print_json(rows)
        return
    console.print(events_table(rows, wide=console.width >= 120))


def events_table(rows: list[dict[str, Any]], *, wide: bool) -> Table:
    """Ids are never cut (they are what ``events show`` takes); narrow terminals drop minor columns."""
    table = Table(title=f"{len(rows)} event(s)", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=19)
    if wide:
        table.add_column("source", no_wrap=True, max_width=14)
    table.add_column("sev", no_wrap=True)
    table.add_column("status", no_wrap=True)
    if wide:
        table.add_column("state", no_wrap=True)
    table.add_column("title", ratio=1, overflow="fold", min_width=20)
    if wide:
        table.add_column("account", no_wrap=True, max_width=14)
        table.add_column("updated", no_wrap=True)
        table.add_column("v", justify="right", no_wrap=True)
    for row in rows:
        sev = row["severity"]
        style = _SEVERITY_STYLE.get(sev)
        accounts = row["accounts"]
        cells = [row["id"]]
        if wide:
            cells.append(row["source"].removeprefix("aws."))
        cells += [f"[{style}]{sev[:4]}[/]" if style else sev[:4], row["status"]]
        if wide:
            cells.append(row["lifecycle"])
        cells.append(row["title"])
        if wide:
            cells += [
                accounts[0] + (f" +{len(accounts) - 1}" if len(accounts) > 1 else "") if accounts else "",
                (row["updated_at"] or "")[:10],
                str(row["version_count"]),
            ]
        table.add_row(*cells)
    return table


@events_app.command("show")
def show_event(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="event id (or a unique prefix of it) or identity key")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """One event: its current state and its version timeline with what changed."""
    app = get_app(ctx)
    try:
        data = app.event_json(ref)
    except NotFoundError as exc:
        fail(str(exc))
    if fmt is Format.JSON:
        print_json(data)
        return
    console.print(event_panel(data))
    console.print(versions_table(data["versions"]))
    if data.get("decision"):
        console.print(decision_text(data["decision"]), highlight=False)
    if data.get("tickets"):
        console.print(tickets_line(data["tickets"]), highlight=False)
    if data.get("history"):
        console.print(history_table(data["history"]))


@deadletters_app.command("list")
def list_dead_letters(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Rejected payloads, newest first, with the reason and where they came from."""
    letters = get_app(ctx).dead_letters(limit)
    if fmt is Format.JSON:
        print_json(
            [
                {
                    "id": d.id,
                    "received_at": format_time(d.received_at),
                    "origin": d.origin,
                    "error_type": d.error_type,
                    "error": d.error,
                    "body": d.body,
                }
                for d in letters
            ]
        )
        return
    table = Table(title=f"{len(letters)} dead letter(s)", title_justify="left")
    for name in ("id", "received", "origin", "error"):
        table.add_column(name, overflow="fold")
    for d in letters:
        table.add_row(str(d.id), (format_time(d.received_at) or "")[:19], d.origin, d.error)
    console.print(table)
