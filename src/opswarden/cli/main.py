"""The ``opswarden`` command line (Typer). Commands translate arguments into Application calls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opswarden import __version__
from opswarden.act.answers import Action
from opswarden.cli.backfill import backfill_app
from opswarden.cli.chat import chat_command
from opswarden.cli.common import Format, console, err_console, fail, get_app, print_error, print_json
from opswarden.cli.events import deadletters_app, events_app
from opswarden.cli.kb import kb_app
from opswarden.cli.lake import lake_app, query_command
from opswarden.cli.notify import answer_command, notify_app, process_line
from opswarden.cli.org import org_app
from opswarden.cli.policy import policy_app
from opswarden.cli.report import report_app
from opswarden.cli.tickets import tickets_app
from opswarden.errors import ConfigurationError, OpswardenError
from opswarden.settings import load_settings

app = typer.Typer(
    name="opswarden",
    help="A virtual operations supervisor for AWS organisations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(events_app, name="events")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(policy_app, name="policy")
app.add_typer(org_app, name="org")
app.add_typer(notify_app, name="notify")
app.add_typer(tickets_app, name="tickets")
app.add_typer(lake_app, name="lake")
app.command("query")(query_command)
app.add_typer(backfill_app, name="backfill")
app.add_typer(kb_app, name="kb")
app.add_typer(report_app, name="report")
app.command("ack")(answer_command(Action.ACKNOWLEDGE))
app.command("approve")(answer_command(Action.APPROVE))
app.command("reject")(answer_command(Action.REJECT))
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.callback()
def root(
    data_dir: Annotated[
        Path | None, typer.Option(envvar="OPSWARDEN_DATA_DIR", help="All local state lives here.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(envvar="OPSWARDEN_DATABASE_URL", help="Default: SQLite in the data dir.")
    ] = None,
) -> None:
    """opswarden: ingest, triage, notify and ask about AWS operational events."""


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="files, directories (recursive) or - for stdin")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
    triage: Annotated[
        bool, typer.Option(help="--no-triage: only store; decide and notify later (notify send)")
    ] = True,
) -> None:
    """Ingest JSON events (one value, an array, or NDJSON per file), triage them and send what is due.

    Exits 1 if anything was rejected (after storing and triaging the rest)."""
    application = get_app(ctx)
    summary = application.ingest_paths(paths)
    processed = application.process().to_dict() if triage else None
    if fmt is Format.JSON:
        print_json({**summary.to_dict(), **({"process": processed} if processed else {})})
    else:
        data = summary.to_dict()
        console.print(
            f"[bold]{data['payloads']}[/] payload(s): [green]{data['accepted']} accepted[/] "
            f"({data['new']} new, {data['updated']} updated, {data['unchanged']} unchanged, "
            f"{data['history']} history), "
            + (f"[red]{data['rejected']} rejected[/]" if data["rejected"] else "0 rejected")
        )
        for rejection in summary.rejections:
            err_console.print(f"  [red]rejected[/] {rejection.origin}: {rejection.reason}", highlight=False)
        if summary.rejected > len(summary.rejections):
            err_console.print(f"  … and {summary.rejected - len(summary.rejections)} more (deadletters list)")
        if processed:
            console.print(process_line(processed), highlight=False)
    if summary.rejected:
        raise typer.Exit(1)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="default: OPSWARDEN_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default: OPSWARDEN_PORT or 8080")] = None,
) -> None:
    """Run the HTTP API (POST /events, GET /healthz, GET /events …)."""
    try:
        import uvicorn

        from opswarden.server.api import create_api
    except ModuleNotFoundError:
        fail("the server needs its extra: pip install 'opswarden[server]'", code=2)
    application = get_app(ctx)
    settings = application.settings
    try:
        application.supervisor  # noqa: B018 - load policy, org and channels now: fail at start, not later
    except ConfigurationError as exc:
        fail(str(exc), code=2)
    uvicorn.run(
        create_api(application),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """The effective settings, secrets masked."""
    options = ctx.find_root().params
    try:
        settings = load_settings(data_dir=options.get("data_dir"), database_url=options.get("database_url"))
    except ConfigurationError as exc:
        fail(str(exc), code=2)
    print_json(settings.redacted())


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[
        str, typer.Argument(help="a question about your events, their history, your runbooks")
    ],
    k: Annotated[int, typer.Option(min=1, max=50, help="how many sources")] = 6,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Ask the assistant: with a model (OPSWARDEN_MODEL) an answer with its sources and any proposals
    awaiting approval; without one, the ranked events and passages, cited."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # no login name (a container): proposals are recorded for "cli"
        user = "cli"
    answered = get_app(ctx).ask(question, k, user=user)
    if fmt is Format.JSON:
        print_json(answered.to_dict())
        return
    console.print(answered.text(), highlight=False, markup=False, soft_wrap=True)


app.command("chat")(chat_command)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


def main() -> None:
    try:
        app()
    except OpswardenError as exc:
        print_error(str(exc))
        raise SystemExit(2) from None
