"""``opswarden notify send|outbox|retry|render`` and ``opswarden ack|approve|reject``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from opswarden.act.answers import Action
from opswarden.cli.common import Format, console, fail, get_app, print_json
from opswarden.errors import LifecycleError, NotFoundError
from opswarden.ingest.prepare import prepare_item
from opswarden.ingest.reader import read_paths
from opswarden.notify.message import Kind
from opswarden.policy import evaluate
from opswarden.triage import messages
from opswarden.triage.targets import resolve

notify_app = typer.Typer(
    help="Notifications: send what is due, inspect the outbox, render.", no_args_is_help=True
)


class RenderChannel(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    EMAIL = "email"
    TEXT = "text"


@notify_app.command("send")
def send(
    ctx: typer.Context,
    deliver: Annotated[bool, typer.Option(help="--no-deliver: decide and queue only")] = True,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Triage queued events, queue due reminders, and send every message that is due."""
    summary = get_app(ctx).process(deliver=deliver)
    if fmt is Format.JSON:
        print_json(summary.to_dict())
        return
    console.print(process_line(summary.to_dict()), highlight=False)


def process_line(data: dict[str, Any]) -> str:
    triage, dispatch = data["triage"], data["dispatch"]
    moved = ", ".join(f"{n} {state}" for state, n in sorted(triage["transitions"].items())) or "no changes"
    sent = ", ".join(f"{n} {channel}" for channel, n in sorted(dispatch["sent"].items())) or "none"
    line = f"triage: {triage['decided']} decided ({moved}); reminders: {data['reminders']}; sent: {sent}"
    for key in ("retried", "dead", "uncertain"):
        if dispatch[key]:
            line += f"; {dispatch[key]} {key}"
    return line


@notify_app.command("outbox")
def outbox(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, sending, sent, dead, uncertain")] = None,
    event: Annotated[str | None, typer.Option(help="an event id")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Messages in the outbox, newest first."""
    rows = get_app(ctx).outbox(status=status, event_id=event, limit=limit)
    if fmt is Format.JSON:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} message(s)", title_justify="left")
    for name in ("id", "event", "kind", "channel", "target", "status", "tries", "sent / next", "error"):
        table.add_column(name, overflow="fold")
    for r in rows:
        when = r["sent_at"] if r["status"] == "sent" else r["next_attempt_at"]
        table.add_row(
            str(r["id"]),
            r["event_id"],
            r["kind"],
            r["channel"],
            r["target"],
            r["status"],
            str(r["attempts"]),
            (when or "")[:19],
            r["last_error"] or "",
        )
    console.print(table)


@notify_app.command("retry")
def retry(ctx: typer.Context, outbox_id: Annotated[int, typer.Argument(help="an outbox message id")]) -> None:
    """Queue a dead or uncertain message again (sent at the next `notify send`)."""
    if not get_app(ctx).retry_message(outbox_id):
        fail(f"no dead or uncertain message {outbox_id} (see: opswarden notify outbox --status dead)")
    console.print(f"message {outbox_id} queued again")


@notify_app.command("render")
def render(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="an event payload (JSON)", exists=True, dir_okay=False)],
    channel: Annotated[RenderChannel, typer.Option(help="slack, teams, email or text")] = RenderChannel.TEXT,
) -> None:
    """Print the card an event would get, under the configured policy, without sending anything."""
    from opswarden.notify.render.email import render_email
    from opswarden.notify.render.slack import render_slack
    from opswarden.notify.render.teams import render_teams
    from opswarden.notify.render.text import render_text

    app = get_app(ctx)
    supervisor = app.supervisor
    now = app.clock.now()
    for item in read_paths([str(path)]):
        result = prepare_item(item, app.ingestor.registry)
        for rejected in result.rejected:
            fail(f"{rejected.origin}: {rejected.error}")
        for prepared in result.records:
            event = prepared.content.event
            decision = evaluate(event, supervisor.policy, supervisor.org, now)
            targets, notes = resolve(decision, supervisor.org, supervisor.triage.reach)
            msg = messages.build(
                event, decision.to_dict(), supervisor.org, kind=Kind.CARD, lifecycle="routed", now=now
            )
            links = supervisor.links(msg, "(recipient)")
            console.print(
                f"# {event.id}: {'suppressed' if not decision.notify else 'to ' + ', '.join(f'{t.channel} {t.address}' for t in targets)}",
                highlight=False,
                markup=False,
            )
            for note in notes:
                console.print(f"# note: {note}", highlight=False, markup=False)
            if channel is RenderChannel.SLACK:
                print_json(render_slack(msg))
            elif channel is RenderChannel.TEAMS:
                print_json(render_teams(msg, links))
            elif channel is RenderChannel.EMAIL:
                subject, text, html = render_email(msg, links)
                console.print(f"Subject: {subject}\n\n{text}\n\n{html}", highlight=False, markup=False)
            else:
                console.print(render_text(msg, links), highlight=False, markup=False)


def answer_command(action: Action) -> Any:
    def command(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(help="event id (or a unique prefix) or identity key")],
        by: Annotated[str, typer.Option("--by", help="who answers (recorded in the audit log)")],
        note: Annotated[str | None, typer.Option(help="a comment kept with the answer")] = None,
    ) -> None:
        app = get_app(ctx)
        try:
            done = app.answer(ref, action, actor=by, channel="cli", note=note)
        except (LifecycleError, NotFoundError) as exc:
            fail(str(exc))
            raise
        summary = app.process()
        console.print(
            f"event {done.event_id}: {done.old.value} → {done.new.value} by {done.actor} "
            f"at {done.at:%Y-%m-%d %H:%M:%S} UTC; {done.threads} thread message(s) queued, "
            f"{sum(summary.dispatch.sent.values())} sent",
            highlight=False,
        )

    command.__doc__ = (
        f"{action.value.capitalize()} an event (recorded with who and when; told in its threads)."
    )
    return command
