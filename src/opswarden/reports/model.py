"""What a report is, whatever renders it: headline metrics, sections of rows, chart data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opswarden.lake.query import QueryResult


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # JSON key
    label: str  # what people read
    value: Any


@dataclass(frozen=True, slots=True)
class Section:
    name: str  # JSON key, CSV file name
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    note: str | None = None  # how the numbers are defined, in one line
    group_by: str | None = None  # human formats show one sub-table per value of this column
    truncated: bool = False  # the query returned more rows than the row limit: the rest are missing

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def groups(self) -> list[tuple[Any, list[tuple[Any, ...]]]]:
        """Rows split by ``group_by`` (in their order), without that column."""
        if self.group_by is None:
            return [(None, self.rows)]
        index = self.columns.index(self.group_by)
        out: list[tuple[Any, list[tuple[Any, ...]]]] = []
        for row in self.rows:
            rest = row[:index] + row[index + 1 :]
            if out and out[-1][0] == row[index]:
                out[-1][1].append(rest)
            else:
                out.append((row[index], [rest]))
        return out

    def shown_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != self.group_by)


@dataclass(frozen=True, slots=True)
class Chart:
    """Bars over ``categories``; several series are stacked."""

    name: str  # file name of the chart (PNG and SVG)
    title: str
    categories: list[str]
    series: dict[str, list[float]]
    ylabel: str = "events"


@dataclass(frozen=True, slots=True)
class Report:
    kind: str  # digest, deadlines, event
    title: str
    generated_at: datetime
    params: dict[str, Any]
    metrics: list[Metric] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    def section(self, name: str) -> Section:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)

    def metric(self, key: str) -> Any:
        for metric in self.metrics:
            if metric.key == key:
                return metric.value
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.kind,
            "title": self.title,
            "generated_at": json_value(self.generated_at),
            "params": {k: json_value(v) for k, v in self.params.items()},
            "metrics": {m.key: json_value(m.value) for m in self.metrics},
            "sections": {
                s.name: {
                    "title": s.title,
                    "columns": list(s.columns),
                    "rows": [{k: json_value(v) for k, v in r.items()} for r in s.records()],
                    "truncated": s.truncated,
                    **({"note": s.note} if s.note else {}),
                }
                for s in self.sections
            },
            "charts": {
                c.name: {"title": c.title, "categories": c.categories, "series": c.series}
                for c in self.charts
            },
        }


def section_of(
    name: str,
    title: str,
    result: QueryResult,
    *,
    note: str | None = None,
    group_by: str | None = None,
    rows: list[tuple[Any, ...]] | None = None,
    columns: tuple[str, ...] | None = None,
) -> Section:
    """A section holding a query's rows (or rows derived from them, same truncation)."""
    return Section(
        name=name,
        title=title,
        columns=columns or tuple(result.columns),
        rows=rows if rows is not None else [tuple(number(v) for v in r) for r in result.rows],
        note=note,
        group_by=group_by,
        truncated=result.truncated,
    )


def number(value: Any) -> Any:
    """DuckDB's decimals as floats (averages, medians), everything else as it is."""
    return float(value) if isinstance(value, Decimal) else value


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def cell(value: Any) -> str:
    """A value as a table cell: UTC minutes for times, lists joined, one decimal for fractions."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | Decimal):
        return f"{float(value):,.1f}"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)
