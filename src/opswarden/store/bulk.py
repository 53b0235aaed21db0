"""Bulk statements on the driver's own ``executemany``: the store's hot path.

SQLAlchemy Core spends more per row (bind processors, parameter construction) than the database does
on the insert itself, so the batch writer sends plain tuples in the driver's paramstyle instead. Values
are converted here exactly as the schema's types would (timestamps in SQLAlchemy's SQLite text format,
JSON as text cast to JSONB on PostgreSQL), so everything written reads back through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa

from opswarden.store.schema import JSONData, UTCDateTime, metadata

Convert = Callable[[Any], Any]


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # the common case: all opswarden times are UTC
        return value.isoformat(" ", "microseconds")[:26]
    # SQLAlchemy's SQLite DATETIME text; isoformat because strftime consults the C locale/timezone.
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _postgres_time(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _json(value: Any) -> str | None:
    if value is None or isinstance(value, str):  # None, or JSON text serialised by the caller
        return value
    return orjson.dumps(value).decode()


def _same(value: Any) -> Any:
    return value


@lru_cache(maxsize=64)
def _plan(
    dialect: str, table: str, columns: tuple[str, ...], where: tuple[str, ...], upsert_ignore: bool
) -> tuple[str, tuple[Convert, ...]]:
    """SQL text and per-column converters for one statement shape."""
    t = metadata.tables[table]
    mark = "?" if dialect == "sqlite" else "%s"
    converters: list[Convert] = []
    placeholders: list[str] = []
    for name in (*columns, *where):
        kind = t.c[name].type
        if isinstance(kind, UTCDateTime):
            converters.append(_sqlite_time if dialect == "sqlite" else _postgres_time)
            placeholders.append(mark)
        elif isinstance(kind, JSONData):
            converters.append(_json)
            placeholders.append(mark if dialect == "sqlite" else f"CAST({mark} AS jsonb)")
        else:
            converters.append(_same)
            placeholders.append(mark)
    if where:
        sets = ", ".join(f"{c} = {p}" for c, p in zip(columns, placeholders, strict=False))
        conds = " AND ".join(f"{c} = {p}" for c, p in zip(where, placeholders[len(columns) :], strict=True))
        sql = f"UPDATE {table} SET {sets} WHERE {conds}"
    else:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(placeholders)})"
        if upsert_ignore:
            sql += " ON CONFLICT DO NOTHING"
    return sql, tuple(converters)


def insert(
    conn: sa.Connection, table: str, rows: Sequence[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """INSERT many rows (all with the same keys); ``ignore_conflicts`` skips existing primary keys."""
    if not rows:
        return
    columns = tuple(rows[0])
    sql, convert = _plan(conn.dialect.name, table, columns, (), ignore_conflicts)
    conn.exec_driver_sql(sql, _tuples(rows, columns, convert))


def update(conn: sa.Connection, table: str, rows: Sequence[dict[str, Any]], key: tuple[str, ...]) -> None:
    """UPDATE many rows by their ``key`` columns; the other keys of each row are the new values."""
    if not rows:
        return
    columns = tuple(c for c in rows[0] if c not in key)
    sql, convert = _plan(conn.dialect.name, table, columns, key, False)
    conn.exec_driver_sql(sql, _tuples(rows, (*columns, *key), convert))


def _tuples(
    rows: Sequence[dict[str, Any]], columns: tuple[str, ...], convert: tuple[Convert, ...]
) -> list[tuple[Any, ...]]:
    """Rows as parameter tuples; only the columns that need converting are converted."""
    converted = [(i, f) for i, f in enumerate(convert) if f is not _same]
    out = []
    for row in rows:
        values = [row[c] for c in columns]
        for i, f in converted:
            values[i] = f(values[i])
        out.append(tuple(values))
    return out
