"""``opswarden report digest|deadlines|event`` (docs/reports.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from opswarden.cli.common import console, err_console, fail, get_app, parse_when
from opswarden.errors import NotFoundError, QueryError

if TYPE_CHECKING:
    from opswarden.reports.model import Report

report_app = typer.Typer(
    help="Reports over the event lake: weekly digest, deadlines calendar, one event's history.",
    no_args_is_help=True,
)


class ReportFormat(StrEnum):
    TABLE = "table"
    MARKDOWN = "markdown"
    HTML = "html"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[ReportFormat, typer.Option("--format", "-f")]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="write to this file instead of stdout (csv: a folder, one file per section)"
    ),
]
ChartsOption = Annotated[
    Path | None, typer.Option("--charts", help="also write the charts to this folder (PNG and SVG)")
]
SectionOption = Annotated[
    str | None, typer.Option("--section", help="csv to stdout: the one section to print (see --format json)")
]


@report_app.command("digest")
def digest(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="start of the window: 7d, 24h, or a date")] = "7d",
    fmt: FormatOption = ReportFormat.TABLE,
    output: OutputOption = None,
    charts: ChartsOption = None,
    section: SectionOption = None,
    items: Annotated[int, typer.Option(min=1, help="unacknowledged events listed (all are counted)")] = 100,
    send: Annotated[
        bool,
        typer.Option("--send", help="also send the digest to OPSWARDEN_DIGEST_TO (default: the console)"),
    ] = False,
) -> None:
    """What happened in the window: counts, new vs updated, noise, unanswered items, time to acknowledge."""
    from opswarden.reports import run

    app = get_app(ctx)
    start = parse_when(since, app.clock.now())
    assert start is not None  # since has a default
    report = _build(lambda: run.digest(app, start, items=items))
    emit(report, fmt, output=output, charts=charts, section=section)
    if send:
        from opswarden.reports.formats import to_markdown

        targets, notes = app.supervisor.send_digest(report.title, to_markdown(report))
        for note in notes:
            err_console.print(f"note: {note}", highlight=False, markup=False)
        err_console.print(f"digest sent to {', '.join(targets)}", highlight=False, markup=False)


@report_app.command("deadlines")
def deadlines(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, max=3650, help="how far ahead to look")] = 120,
    fmt: FormatOption = ReportFormat.TABLE,
    output: OutputOption = None,
    charts: ChartsOption = None,
    section: SectionOption = None,
) -> None:
    """Scheduled changes and end-of-support dates coming up, week by week, with owners and answers."""
    from opswarden.reports import run

    app = get_app(ctx)
    report = _build(lambda: run.deadlines(app, days))
    emit(report, fmt, output=output, charts=charts, section=section or "calendar")


@report_app.command("event")
def event(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="event id, id prefix or key")],
    fmt: FormatOption = ReportFormat.TABLE,
    output: OutputOption = None,
    section: SectionOption = None,
) -> None:
    """One event's history from the lake: versions and what changed, decisions, transitions."""
    from opswarden.reports import run

    app = get_app(ctx)
    report = _build(lambda: run.event(app, ref))
    emit(report, fmt, output=output, charts=None, section=section)


def _build(make: Callable[[], Report]) -> Report:
    try:
        return make()
    except ModuleNotFoundError as exc:
        fail(
            f"reports need the lake extra ({exc.name} is missing): pip install 'opswarden[lake,reports]'",
            code=2,
        )
    except (QueryError, NotFoundError) as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def emit(
    report: Report, fmt: ReportFormat, *, output: Path | None, charts: Path | None, section: str | None
) -> None:
    """Render ``report`` as ``fmt`` to ``output`` (or stdout); write the chart files if asked."""
    from opswarden.reports import formats

    if charts is not None:
        from opswarden.reports.charts import available, write_charts

        if not available():
            fail("charts need matplotlib: pip install 'opswarden[reports]'", code=2)
        for path in write_charts(report, charts):
            err_console.print(f"wrote {path}", highlight=False)
    if fmt is ReportFormat.CSV:
        _csv(report, output, section)
        return
    if fmt is ReportFormat.TABLE:
        from opswarden.reports.terminal import render

        if output is None:
            console.print(render(report))
            return
        with output.open("w", encoding="utf-8") as sink:
            Console(file=sink, width=160, color_system=None).print(render(report))
        return
    if fmt is ReportFormat.HTML:
        from opswarden.reports.html import to_html

        text = to_html(report)
    elif fmt is ReportFormat.MARKDOWN:
        text = formats.to_markdown(report)
    else:
        text = formats.to_json(report)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def _csv(report: Report, output: Path | None, section: str | None) -> None:
    """CSV is one table per section: all of them into a folder (``--output DIR``), or one (``--section``)
    to stdout."""
    from opswarden.reports.formats import section_csv, write_csv

    names = [s.name for s in report.sections]
    if output is not None:
        for path in write_csv(report, output):
            err_console.print(f"wrote {path}", highlight=False)
        return
    if section is None:
        fail(
            "csv writes one table per section: give --output DIR for all of them, or --section NAME for one "
            f"on stdout ({', '.join(names)})",
            code=2,
        )
        return
    if section not in names:
        fail(f"no section {section!r} in this report ({', '.join(names)})", code=2)
    sys.stdout.write(section_csv(report.section(section)))
