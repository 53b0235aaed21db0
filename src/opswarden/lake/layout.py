"""The event lake's layout: tables, their Parquet schemas, and where their files go.

::

    <lake>/event_versions/source=<source>/dt=<YYYY-MM-DD>/part-<first>-<last>-<uuid>.parquet
    <lake>/decisions/dt=<YYYY-MM-DD>/part-….parquet
    <lake>/transitions/dt=<YYYY-MM-DD>/part-….parquet

Hive-style partitions (``key=value`` folders) that DuckDB, Athena/Glue and Spark read as columns.
``dt`` is the UTC day the row was *received* (versions) or *made* (decisions, audit rows): a row's
partition never changes, so appending is all the archive ever does (compaction rewrites a partition
into fewer files with the same rows). Every row carries ``lake_seq``, the archive queue's sequence
number: the same row archived twice (a crash between writing a file and removing its queue rows)
has the same ``lake_seq``, and readers keep one (the views do; compaction drops the copies).

A version merged in the store after it was archived (a later page of the same update) is archived
again with its new content and ``supersedes`` set: the lake keeps both rows; the views show the
latest (highest ``lake_seq``) per (event_id, version_key). The flag lets the views find the few
superseded rows without grouping every row by its key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

EVENT_VERSIONS = pa.schema(
    [
        ("lake_seq", pa.int64()),
        ("event_id", pa.string()),
        ("key", pa.string()),
        ("version_key", pa.string()),
        ("content_hash", pa.string()),
        ("type_code", pa.string()),
        ("category", pa.string()),
        ("service", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("severity", pa.string()),
        ("status", pa.string()),
        ("upstream_status", pa.string()),
        ("region", pa.string()),
        ("accounts", pa.list_(pa.string())),
        ("resource_ids", pa.list_(pa.string())),
        ("resource_count", pa.int32()),
        ("start_at", TS),
        ("end_at", TS),
        ("updated_at", TS),
        ("deadline_at", TS),
        ("received_at", TS),
        ("first_seen_at", TS),  # when the event's first version was received (is it new in a window?)
        ("changes", pa.string()),  # JSON: what materially changed from the version before
        ("origin", pa.string()),
        ("raw_sha256", pa.string()),
        ("raw", pa.string()),  # the payload as received (JSON text), when the store kept it
        ("data", pa.string()),  # the whole normalised event (JSON)
        ("supersedes", pa.bool_()),  # a new row of a version archived before (merged, re-based)
        ("key_hash", pa.int64()),  # key_hash(event_id, version_key): the views' cheap join key
    ]
)

DECISIONS = pa.schema(
    [
        ("lake_seq", pa.int64()),
        ("decision_id", pa.int64()),
        ("event_id", pa.string()),
        ("version_key", pa.string()),
        ("at", TS),
        ("origin", pa.string()),
        ("suppressed", pa.bool_()),
        ("notify", pa.bool_()),
        ("severity", pa.string()),
        ("teams", pa.list_(pa.string())),
        ("routes", pa.list_(pa.string())),
        ("require_approval", pa.bool_()),
        ("open_ticket", pa.bool_()),
        ("data", pa.string()),  # JSON: the decision with its explanation
    ]
)

TRANSITIONS = pa.schema(
    [
        ("lake_seq", pa.int64()),
        ("audit_id", pa.int64()),
        ("event_id", pa.string()),
        ("at", TS),
        ("actor", pa.string()),
        ("action", pa.string()),  # transition, refused, delivery_failed, delivery_uncertain …
        ("channel", pa.string()),
        ("from_state", pa.string()),
        ("to_state", pa.string()),
        ("why", pa.string()),
        ("detail", pa.string()),  # JSON
    ]
)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    schema: pa.Schema
    partitions: tuple[str, ...]  # hive partition columns, outermost first (not stored in the files)
    key: tuple[str, ...]  # what identifies a row for the views and for verify


TABLES = {
    "event_versions": Table("event_versions", EVENT_VERSIONS, ("source", "dt"), ("event_id", "version_key")),
    "decisions": Table("decisions", DECISIONS, ("dt",), ("decision_id",)),
    "transitions": Table("transitions", TRANSITIONS, ("dt",), ("audit_id",)),
}


def key_hash(event_id: str, version_key: str) -> int:
    """A signed 64-bit hash of a version's identity. The views join on it instead of two strings
    (reading the strings of every row costs more than the join); a collision would need, on top,
    the colliding row to be an older copy of a superseded version."""
    digest = hashlib.blake2b(f"{event_id}\x1f{version_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def day(moment: datetime) -> str:
    """The ``dt`` partition value of a UTC moment."""
    return moment.strftime("%Y-%m-%d")


def partition_path(table: str, values: dict[str, str]) -> str:
    """``event_versions/source=aws.health/dt=2026-11-26`` (values are written as they are: sources
    and dates hold no path separators)."""
    parts = [table] + [f"{name}={values[name]}" for name in TABLES[table].partitions]
    return "/".join(parts)
