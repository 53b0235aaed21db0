"""``opswarden backfill health``: pull AWS Health history into the store (docs/backfill.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from opswarden.aws import health as aws_health
from opswarden.cli.common import Format, console, err_console, fail, get_app, parse_when, print_json
from opswarden.cli.notify import process_line
from opswarden.errors import ConfigurationError, OpswardenError

backfill_app = typer.Typer(help="Pull history from AWS APIs into the store.", no_args_is_help=True)

make_clients = aws_health.client_factory
"""(profile, region) → a client factory; tests replace it with one that returns stubbed clients."""


@backfill_app.command("health")
def health(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="events updated since: an age (90d, 12h) or a date; AWS keeps 90 days")
    ] = "90d",
    org: Annotated[
        bool, typer.Option("--org", help="the whole organisation (organizational view; management account)")
    ] = False,
    region: Annotated[
        str, typer.Option(help="the Health API endpoint: us-east-1 (global), us-east-2 to fail over")
    ] = aws_health.DEFAULT_REGION,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile (default: as boto3 finds credentials)")
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="events per DescribeEvents page")] = 100,
    restart: Annotated[bool, typer.Option("--restart", help="ignore a saved checkpoint; start over")] = False,
    triage: Annotated[
        bool, typer.Option(help="--no-triage: only store; decide and notify later (notify send)")
    ] = True,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Store AWS Health events (with details and affected entities) updated since --since.

    Resumable: progress is saved in backfill-health.json in the data dir after every page, and an
    interrupted run continues from there (--restart starts over). Throttling is retried by botocore
    (standard mode, 10 attempts). Exits 2 when AWS refuses (support plan, permissions), 1 if anything
    was rejected or the run stopped early."""
    application = get_app(ctx)
    path = application.settings.data_dir / aws_health.CHECKPOINT_FILE
    moment = parse_when(since, application.clock.now())
    assert moment is not None  # since has a default
    try:
        checkpoint, resumed = aws_health.open_checkpoint(
            path, org=org, region=region, since=moment, page_size=page_size, restart=restart
        )
        clients = make_clients(profile, region)
    except ConfigurationError as exc:
        fail(str(exc), code=2)
        raise
    if resumed:
        err_console.print(
            f"resuming the backfill begun with since {checkpoint.since.isoformat()}: "
            f"{checkpoint.pages} page(s), {checkpoint.events} event(s) already stored (--restart to start over)",
            highlight=False,
        )
    with _progress() as progress:
        task = progress.add_task("AWS Health backfill", events=0, total=None)
        backfill = aws_health.HealthBackfill(
            clients,
            checkpoint,
            path,
            on_page=lambda pages, events: progress.update(task, completed=pages, events=events),
        )
        try:
            result = backfill.run(application.ingest_items)
        except ConfigurationError as exc:
            fail(str(exc), code=2)
            raise
        except OpswardenError as exc:
            fail(str(exc), code=1)
            raise
        except KeyboardInterrupt:
            fail(f"interrupted: {checkpoint.pages} page(s) are stored; run the same command to resume", 130)
            raise
    processed = application.process().to_dict() if triage else None
    if fmt is Format.JSON:
        print_json({**result.to_dict(), **({"process": processed} if processed else {})})
    else:
        _print(result.to_dict())
        for note in result.notes:
            err_console.print(f"[dim]note:[/] {escape(note)}", highlight=False)
        if processed:
            console.print(process_line(processed), highlight=False)
    if result.rejected:
        raise typer.Exit(1)


def _progress() -> Progress:
    """Pages and events on stderr; nothing when stderr is not a terminal."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[events]} events fetched, {task.completed:.0f} pages"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


def _print(data: dict[str, object]) -> None:
    resumed = f" (resumed after page {data['resumed_from_page']})" if data["resumed_from_page"] else ""
    console.print(
        f"[bold]{data['events_fetched']}[/] event(s) fetched in {data['pages']} page(s){resumed}: "
        f"[green]{data['accepted']} accepted[/] ({data['new']} new, {data['updated']} updated, "
        f"{data['unchanged']} unchanged, {data['history']} history), "
        + (f"[red]{data['rejected']} rejected[/]" if data["rejected"] else "0 rejected"),
        highlight=False,
    )
    for rejection in data["rejections"]:  # type: ignore[attr-defined]
        err_console.print(
            f"  [red]rejected[/] {escape(rejection['origin'])}: {escape(rejection['reason'])}",
            highlight=False,
        )
    failed: list[str] = data["failed_details"]  # type: ignore[assignment]
    if failed:
        err_console.print(
            f"  [yellow]{len(failed)} event detail(s) AWS did not return[/] (stored from DescribeEvents "
            "and the entities alone): " + escape("; ".join(failed[:3])),
            highlight=False,
        )
