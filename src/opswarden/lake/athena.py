"""Athena / Glue DDL for the lake: external tables over the Parquet files, and the same deduplicating
views ``opswarden query`` has, so a query written for one runs on the other (docs/lake.md#athena-and-glue).

Partitions: ``dt`` is projected (``projection.dt.type = date``), so new days need no ``MSCK REPAIR``.
``source`` is open-ended (custom EventBridge sources), and an ``injected`` projection would refuse
every query without ``WHERE source = …`` (the ``events`` view among them). So ``event_versions``
gets an ``enum`` projection of the sources given (``--source``, repeatable; a source left out is not
seen), or, with none given, no projection and ``MSCK REPAIR TABLE`` to run after new partitions.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from opswarden.lake.layout import TABLES, Table

_PARTITION_SQL = {"source": "string", "dt": "string"}
_DEDUP = {
    "event_versions": ("event_id, version_key", "lake_seq DESC"),
    "events": ("event_id", "version_key DESC, lake_seq DESC"),
    "decisions": ("decision_id", "lake_seq DESC"),
    "transitions": ("audit_id", "lake_seq DESC"),
}
_VIEW_TABLE = {
    "event_versions": "event_versions",
    "events": "event_versions",
    "decisions": "decisions",
    "transitions": "transitions",
}


def athena_type(kind: pa.DataType) -> str:
    """The Hive/Athena type of an Arrow type from the layout."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_int64(kind):
        return "bigint"
    if pa.types.is_int32(kind):
        return "int"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_date32(kind):
        return "date"
    if pa.types.is_list(kind):
        return f"array<{athena_type(kind.value_type)}>"
    raise ValueError(f"no Athena type for {kind}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_ddl(table: Table, database: str, location: str, sources: Sequence[str], start: str) -> list[str]:
    name = f"{table.name}_archived"
    columns = ",\n".join(f"  `{f.name}` {athena_type(f.type)}" for f in table.schema)
    partitions = ", ".join(f"`{p}` {_PARTITION_SQL[p]}" for p in table.partitions)
    properties = {"parquet.compression": "ZSTD"}
    project = "source" not in table.partitions or bool(sources)
    if project:
        properties |= {
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": f"{start},NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
        }
        if "source" in table.partitions:
            properties |= {"projection.source.type": "enum", "projection.source.values": ",".join(sources)}
    props = ",\n".join(f"  {_quote(k)} = {_quote(v)}" for k, v in properties.items())
    statements = [
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{name}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        f"STORED AS PARQUET\n"
        f"LOCATION {_quote(location.rstrip('/') + '/' + table.name + '/')}\n"
        f"TBLPROPERTIES (\n{props}\n);"
    ]
    if not project:
        statements.append(
            f"-- no partition projection for source (give --source to have one): run this after new\n"
            f"-- days or sources are archived\nMSCK REPAIR TABLE `{database}`.`{name}`;"
        )
    return statements


def view_ddl(view: str, database: str) -> str:
    table = TABLES[_VIEW_TABLE[view]]
    columns = ", ".join(f'"{name}"' for name in [*table.schema.names, *table.partitions])
    keys, order = _DEDUP[view]
    return (
        f'CREATE OR REPLACE VIEW "{database}"."{view}" AS\n'
        f"SELECT {columns}\nFROM (\n"
        f"  SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS lake_row_rank\n"
        f'  FROM "{database}"."{table.name}_archived"\n'
        f")\nWHERE lake_row_rank = 1;"
    )


def athena_ddl(
    *, database: str, location: str, sources: Sequence[str] = (), start: str = "2020-01-01"
) -> str:
    """Every statement, in order, separated by blank lines (Athena runs one statement at a time)."""
    if not location.startswith("s3://"):
        raise ValueError(f"the location must be s3://bucket/prefix, not {location!r}")
    statements = [f"CREATE DATABASE IF NOT EXISTS `{database}`;"]
    for table in TABLES.values():
        statements += table_ddl(table, database, location, sources, start)
    statements += [view_ddl(view, database) for view in _DEDUP]
    return "\n\n".join(statements) + "\n"
