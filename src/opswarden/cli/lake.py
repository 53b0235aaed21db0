"""``opswarden query "SQL"`` and ``opswarden lake ddl --athena`` (docs/lake.md#querying)."""

from __future__ import annotations

import csv
import sys
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from opswarden.cli.common import console, err_console, fail, get_app
from opswarden.errors import QueryError

lake_app = typer.Typer(help="The Parquet event lake: SQL over it, Athena/Glue DDL.", no_args_is_help=True)


class QueryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def query_command(
    ctx: typer.Context,
    sql: Annotated[
        str, typer.Argument(help="one SELECT over event_versions, events, decisions, transitions")
    ],
    fmt: Annotated[QueryFormat, typer.Option("--format", "-f")] = QueryFormat.TABLE,
    max_rows: Annotated[
        int | None, typer.Option(min=1, help="default: OPSWARDEN_QUERY_MAX_ROWS (10,000)")
    ] = None,
) -> None:
    """Run one read-only SELECT over the event lake (DuckDB SQL).

    Exits 1 if the query is refused or fails; the rows that did not fit --max-rows are dropped with a
    note on stderr (JSON: "truncated": true)."""
    try:
        result = get_app(ctx).query(sql, max_rows=max_rows)
    except QueryError as exc:
        fail(str(exc))
        return
    if fmt is QueryFormat.JSON:
        data = result.to_dict()
        data["rows"] = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        sys.stdout.write(
            orjson.dumps(
                data, default=_json_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
            ).decode()
            + "\n"
        )
    elif fmt is QueryFormat.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_text(v) for v in row] for row in result.rows)
    else:
        table = Table(title=f"{len(result.rows)} row(s) in {result.elapsed_s:.2f} s", title_justify="left")
        for column in result.columns:
            table.add_column(column, overflow="fold")
        for row in result.rows:
            table.add_row(*(_text(v) for v in row))
        console.print(table)
    if result.truncated and fmt is not QueryFormat.JSON:
        err_console.print(
            f"[yellow]truncated:[/] more than {len(result.rows)} rows; only the first {len(result.rows)} "
            "shown (--max-rows, or aggregate / LIMIT in the query)",
            highlight=False,
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _text(value: Any) -> str:
    """Cell text for table and CSV output: ISO times, JSON for lists and structs, empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    return str(value)


lake_app.command("query")(query_command)


@lake_app.command("ddl")
def ddl(
    ctx: typer.Context,
    athena: Annotated[
        bool, typer.Option("--athena", help="Athena / Glue SQL (the only dialect so far)")
    ] = False,
    database: Annotated[str, typer.Option(help="Glue database")] = "opswarden",
    location: Annotated[
        str | None, typer.Option(help="s3://bucket/prefix of the lake; default: OPSWARDEN_LAKE_URI")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(help="partition-project these sources (repeat); none: MSCK REPAIR instead"),
    ] = None,
    since: Annotated[str, typer.Option(help="first day of the dt projection range")] = "2020-01-01",
) -> None:
    """Print CREATE EXTERNAL TABLE and CREATE VIEW statements for the lake's tables."""
    from opswarden.lake.athena import athena_ddl

    if not athena:
        fail("give --athena (the only DDL dialect so far)", code=2)
    if location is None:
        lake = get_app(ctx).settings.lake
        if not lake.startswith("s3://"):
            fail(f"the lake ({lake}) is not on S3: give --location s3://bucket/prefix", code=2)
        location = lake
    try:
        datetime.strptime(since, "%Y-%m-%d")
        text = athena_ddl(database=database, location=location, sources=source or (), start=since)
    except ValueError as exc:
        fail(str(exc), code=2)
        return
    sys.stdout.write(text)


# -- upkeep: archive, verify, compact, expire -------------------------------------------------------


@lake_app.command("archive")
def archive(ctx: typer.Context) -> None:
    """Archive what is queued now (``serve`` and ``ingest`` do it as they go)."""
    summary = get_app(ctx).lake_archive().to_dict()
    rows = ", ".join(f"{n:,} {table}" for table, n in sorted(summary["rows"].items())) or "nothing"
    console.print(f"archived {rows} in {summary['files']} file(s)", highlight=False)


@lake_app.command("verify")
def verify_command(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> None:
    """Prove the store and the lake agree: counts and fingerprints per partition. Exit 1 if not."""
    report = get_app(ctx).lake_verify()
    if fmt == "json":
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        state = "[green]agree[/]" if report.ok else "[red]differ[/]"
        console.print(
            f"store and lake {state}: {report.partitions} partition(s), {report.rows:,} row(s) checked"
            + (
                f"; {report.pending:,} row(s) queued, not archived yet (lake archive)"
                if report.pending
                else ""
            )
        )
        for difference in report.differences:
            err_console.print(f"  [red]differs[/] {difference}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@lake_app.command("compact")
def compact_command(
    ctx: typer.Context,
    min_files: Annotated[
        int, typer.Option(min=2, help="compact partitions with at least this many files")
    ] = 2,
) -> None:
    """Rewrite partitions of many small files into one each (dropping copies left by a crash)."""
    from opswarden.lake.maintain import compact

    summary = compact(get_app(ctx).lake(), min_files=min_files)
    console.print(
        f"{summary.partitions} partition(s): {summary.files_before} file(s) → {summary.files_after}, "
        f"{summary.rows:,} row(s), {summary.copies_dropped:,} copies dropped",
        highlight=False,
    )


@lake_app.command("expire")
def expire_command(
    ctx: typer.Context,
    days: Annotated[int | None, typer.Option(min=1, help="default: OPSWARDEN_LAKE_RETENTION_DAYS")] = None,
) -> None:
    """Delete lake partitions older than the retention (nothing is deleted without one)."""
    from opswarden.lake.maintain import expire

    app = get_app(ctx)
    retention = days or app.settings.lake_retention_days
    if retention is None:
        fail("no retention: pass --days N or set OPSWARDEN_LAKE_RETENTION_DAYS (the lake keeps everything)")
        return
    gone = expire(app.lake(), retention, app.clock.now())
    console.print(f"{len(gone)} partition(s) older than {retention} days deleted", highlight=False)
    for partition in gone:
        console.print(f"  {partition}", highlight=False, markup=False)
