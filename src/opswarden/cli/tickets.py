"""``opswarden tickets list|show|create|update|sync``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from opswarden.cli.common import Format, console, fail, get_app, print_json
from opswarden.errors import DeliveryError, NotFoundError
from opswarden.tickets.base import TicketRef, TicketStatus

tickets_app = typer.Typer(
    help="Tickets opened for events: list, show, create, update, sync.", no_args_is_help=True
)


@tickets_app.command("list")
def list_tickets(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="open, in_progress or closed (as last synced)")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Every ticket opswarden opened, with the event and team, as last synced."""
    rows = [t for t in get_app(ctx).tickets() if status is None or t["status"] == status]
    if fmt is Format.JSON:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} ticket(s)", title_justify="left")
    for name in ("key", "backend", "status", "team", "event", "assignee", "opened", "url"):
        table.add_column(name, overflow="fold")
    for t in rows:
        table.add_row(
            t["key"] or "",
            t["backend"] or "",
            t["status"],
            t["team"],
            t["event_id"],
            t["assignee"] or "",
            (t["opened_at"] or "")[:16],
            t["url"] or "",
        )
    console.print(table)


@tickets_app.command("show")
def show(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="ticket key: OW-3, OPS-12, INC0010001, #17")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """One ticket: its event, team and live state (and, for built-in tickets, the comments)."""
    app = get_app(ctx)
    found = _find(app, key)
    ref = TicketRef(found["backend"], found["key"], found["url"], None)
    supervisor = app.supervisor
    try:
        state = supervisor.ticketer.state(_with_id(app, found, ref))
    except (DeliveryError, NotFoundError) as exc:
        fail(f"{key}: {exc}")
        return
    data: dict[str, Any] = {**found, "status": state.status.value, "raw_status": state.raw_status}
    data["assignee"] = state.assignee
    details = getattr(supervisor.ticketer, "details", None)
    if details is not None:
        extra = details(_with_id(app, found, ref))
        data["title"], data["description"] = extra["title"], extra["description"]
        data["comments"] = [{**c, "at": c["at"].isoformat()} for c in extra["comments"]]
    if fmt is Format.JSON:
        print_json(data)
        return
    console.print(
        f"[bold]{key}[/] ({data['backend']}) · {data['status']} · team {data['team']} · event {data['event_id']}"
    )
    if data.get("title"):
        console.print(data["title"], highlight=False, markup=False)
    for comment in data.get("comments", []):
        console.print(
            f"  {comment['at'][:16]} {comment['author']}: {comment['body']}", highlight=False, markup=False
        )


@tickets_app.command("create")
def create(
    ctx: typer.Context,
    event: Annotated[str, typer.Argument(help="event id (or a unique prefix) or identity key")],
    team: Annotated[str, typer.Option(help="owner team id from org.yaml")],
) -> None:
    """Open a ticket for an event and team now (one per event and team: asking twice opens one)."""
    app = get_app(ctx)
    try:
        event_id = app.store.get_event(event).id
    except NotFoundError as exc:
        fail(str(exc))
        return
    if app.supervisor.org.team(team) is None and app.supervisor.org.teams:
        fail(f"unknown team {team!r}: use a team id from org.yaml")
    app.supervisor.open_ticket(event_id, team)
    opened = [t for t in app.tickets(event_id=event_id) if t["team"] == team]
    if not opened:
        fail("the ticket is queued but not opened yet: see opswarden notify outbox --event " + event_id)
        return
    console.print(
        f"{opened[0]['key']} ({opened[0]['backend']}) for event {event_id}, team {team}", highlight=False
    )


@tickets_app.command("update")
def update(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="ticket key")],
    status: Annotated[TicketStatus | None, typer.Option(help="open, in_progress or closed")] = None,
    assignee: Annotated[str | None, typer.Option(help="who works on it (built-in tickets)")] = None,
    comment: Annotated[str | None, typer.Option(help="a comment")] = None,
    by: Annotated[str, typer.Option("--by", help="who is updating")] = "opswarden",
) -> None:
    """Change a ticket: status, assignee (built-in), comment."""
    app = get_app(ctx)
    found = _find(app, key)
    ticketer = app.supervisor.ticketer
    ref = _with_id(app, found, TicketRef(found["backend"], found["key"], found["url"], None))
    try:
        builtin_update = getattr(ticketer, "update", None)
        if builtin_update is not None:
            builtin_update(ref, status=status, assignee=assignee, comment=comment, author=by)
        else:
            if assignee is not None:
                fail("--assignee works on built-in tickets only: assign in the tracker itself")
            text = comment or f"updated by {by}"
            if status is TicketStatus.CLOSED:
                ticketer.close(ref, text)
            elif status is not None:
                ticketer.reopen(ref, text)
            elif comment:
                ticketer.comment(ref, f"{by}: {comment}")
    except (DeliveryError, NotFoundError) as exc:
        fail(f"{key}: {exc}")
        return
    summary = app.supervisor.sync_tickets()
    console.print(f"{key} updated; {summary.checked} ticket(s) synced", highlight=False)


@tickets_app.command("sync")
def sync(ctx: typer.Context, fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE) -> None:
    """Pull every open ticket's status back and reconcile it with its event."""
    summary = get_app(ctx).supervisor.sync_tickets()
    if fmt is Format.JSON:
        print_json(summary.to_dict())
    else:
        console.print(
            f"{summary.checked} ticket(s) checked, {summary.changed} changed, {summary.resolved} event(s) "
            f"resolved, {summary.reopened} reopened, {summary.commented} commented",
            highlight=False,
        )
        for failure in summary.failed:
            console.print(f"  [red]failed[/] {failure}", highlight=False)
    if summary.failed:
        raise typer.Exit(1)


def _find(app: Any, key: str) -> dict[str, Any]:
    for ticket in app.tickets():
        if ticket["key"] == key:
            return dict(ticket)
    fail(f"no ticket {key} (opswarden tickets list shows them)")
    raise AssertionError("unreachable")


def _with_id(app: Any, found: dict[str, Any], ref: TicketRef) -> TicketRef:
    """The ref with the backend's internal id (ServiceNow's sys_id), from the stored thread."""
    import sqlalchemy as sa

    from opswarden.store.schema import threads

    with app.store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(threads.c.ref).where(
                threads.c.event_id == found["event_id"],
                threads.c.channel == "tickets",
                threads.c.target == found["team"],
            )
        ).scalar()
    return TicketRef.of(dict(stored)) if stored else ref
