"""A report as Rich renderables for the terminal."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from opswarden.reports.model import Report, Section, cell

_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def render(report: Report) -> Group:
    parts: list[RenderableType] = [Text(report.title, style="bold")]
    if report.metrics:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for metric in report.metrics:
            grid.add_row(metric.label, cell(metric.value) or "-")
        parts += [grid, Text("")]
    for section in report.sections:
        parts.append(section_table(section))
    if report.charts:
        parts.append(Text("charts: --format html, or --charts DIR for PNG and SVG files", style="dim"))
    return Group(*parts)


def section_table(section: Section) -> RenderableType:
    if not section.rows:
        return Group(Text(section.title, style="bold"), Text("  nothing in this period\n", style="dim"))
    tables: list[RenderableType] = []
    for value, rows in section.groups():
        title = (
            section.title
            if section.group_by is None
            else f"{section.title}: {section.group_by} {cell(value)}"
        )
        table = Table(title=f"{title} ({len(rows)})", title_justify="left", caption=None)
        columns = section.shown_columns()
        for name in columns:
            table.add_column(
                name, overflow="fold", justify="right" if _numeric(rows, columns, name) else "left"
            )
        for row in rows:
            cells = [cell(v) for v in row]
            style = None
            if "severity" in columns:
                style = _SEVERITY_STYLE.get(str(row[columns.index("severity")]))
            table.add_row(*cells, style=style)
        tables.append(table)
    if section.note:
        tables.append(Text(f"  {section.note}", style="dim"))
    if section.truncated:
        tables.append(Text(f"  only the first {len(section.rows)} rows (row limit)", style="yellow"))
    tables.append(Text(""))
    return Group(*tables)


def _numeric(rows: list[tuple[object, ...]], columns: tuple[str, ...], name: str) -> bool:
    index = columns.index(name)
    values = [r[index] for r in rows if r[index] is not None]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
