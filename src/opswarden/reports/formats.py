"""Text renderings of a report: Markdown, CSV (one file per section), JSON."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson

from opswarden.reports.model import Report, Section, cell

_EMPTY = "nothing in this period"


def to_json(report: Report) -> str:
    return (
        orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )


# -- Markdown ------------------------------------------------------------------------------------


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    if report.metrics:
        lines += [f"- **{m.label}**: {cell(m.value) or '-'}" for m in report.metrics]
        lines.append("")
    for section in report.sections:
        lines += markdown_section(section)
    return "\n".join(lines).rstrip() + "\n"


def markdown_section(section: Section) -> list[str]:
    lines = [f"## {section.title}", ""]
    if section.note:
        lines += [f"_{_escape(section.note)}_", ""]
    if not section.rows:
        return [*lines, f"{_EMPTY}.", ""]
    for value, rows in section.groups():
        if section.group_by is not None:
            lines += [f"### {section.group_by} {cell(value)} ({len(rows)})", ""]
        lines += _table(section.shown_columns(), rows)
        lines.append("")
    if section.truncated:
        lines += [f"_… more rows than the row limit: only the first {len(section.rows)} are shown_", ""]
    return lines


def _table(columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(_escape(cell(v)) for v in row) + " |" for row in rows]
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


# -- CSV -----------------------------------------------------------------------------------------


def section_csv(section: Section) -> str:
    """One section as CSV: a header row, then its rows (times as ``YYYY-MM-DD HH:MM`` UTC, lists
    joined with ``, ``, nothing for NULL)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(section.columns)
    writer.writerows([cell_csv(v) for v in row] for row in section.rows)
    return buffer.getvalue()


def cell_csv(value: object) -> str:
    if isinstance(value, float):
        return repr(value)  # full precision: spreadsheets do their own rounding
    return cell(value)


def write_csv(report: Report, folder: Path) -> list[Path]:
    """``<folder>/<report>_<section>.csv`` for each section."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for section in report.sections:
        path = folder / f"{report.kind}_{section.name}.csv"
        path.write_text(section_csv(section), encoding="utf-8")
        written.append(path)
    return written
