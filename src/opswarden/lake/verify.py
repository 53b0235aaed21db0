"""``lake verify``: proves the store and the lake agree, partition by partition.

For every partition, both sides give a count and a fingerprint: the sum, modulo 2**64, of a hash of
each row's identity and content — (event id, version key, content hash) for versions, the id for
decisions and audit rows. The lake side first keeps one row per identity (the latest ``lake_seq``),
as the views do. Sums do not depend on order, so files and batches may split partitions any way.
Rows still in the archive queue are reported as pending, not as differences: run ``lake archive``
first for a clean bill. Retention (``OPSWARDEN_LAKE_RETENTION_DAYS``) is applied to the store side
too, so partitions deleted on purpose are not reported missing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.dataset as pads
import sqlalchemy as sa

from opswarden.lake.fs import Lake
from opswarden.lake.layout import TABLES, day
from opswarden.store.schema import audit_log, decisions, event_versions, events, lake_queue

_MASK = (1 << 64) - 1
Part = tuple[str, ...]  # partition values: (source, dt) or (dt,)


@dataclass(slots=True)
class Side:
    count: int = 0
    fingerprint: int = 0

    def add(self, *identity: Any) -> None:
        digest = hashlib.blake2b("\x1f".join(map(str, identity)).encode(), digest_size=8).digest()
        self.count += 1
        self.fingerprint = (self.fingerprint + int.from_bytes(digest, "big")) & _MASK


@dataclass(slots=True)
class Report:
    partitions: int = 0
    rows: int = 0
    pending: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "partitions": self.partitions,
            "rows": self.rows,
            "pending": self.pending,
            "differences": self.differences,
        }


def verify(engine: sa.Engine, lake: Lake, *, keep_since: str | None = None) -> Report:
    """Compare every partition of every table; ``keep_since`` (a ``dt``) skips older partitions."""
    report = Report()
    with engine.connect() as conn:
        report.pending = int(conn.execute(sa.select(sa.func.count()).select_from(lake_queue)).scalar_one())
        pending = _pending_ids(conn)
        stores = {
            "event_versions": _store_versions(conn, pending["version"] | pending["revision"]),
            "decisions": _store_by_id(conn, decisions, "at", pending["decision"]),
            "transitions": _store_by_id(conn, audit_log, "at", pending["audit"]),
        }
    for table, store_side in stores.items():
        lake_side = _lake_side(lake, table)
        for part in sorted(set(store_side) | set(lake_side)):
            if keep_since is not None and part[-1] < keep_since:
                continue
            ours, theirs = store_side.get(part, Side()), lake_side.get(part, Side())
            report.partitions += 1
            report.rows += theirs.count
            if (ours.count, ours.fingerprint) != (theirs.count, theirs.fingerprint):
                names = TABLES[table].partitions
                where = "/".join(f"{n}={v}" for n, v in zip(names, part, strict=True))
                report.differences.append(
                    f"{table} {where}: store {ours.count} row(s), lake {theirs.count}"
                    + ("" if ours.count != theirs.count else " (same count, different content)")
                )
    return report


def _pending_ids(conn: sa.Connection) -> dict[str, set[int]]:
    found: dict[str, set[int]] = defaultdict(set)
    for kind, ref in conn.execute(sa.select(lake_queue.c.kind, lake_queue.c.ref_id)):
        found[kind].add(int(ref))
    return found


def _store_versions(conn: sa.Connection, pending: set[int]) -> dict[Part, Side]:
    sides: dict[Part, Side] = defaultdict(Side)
    query = sa.select(
        event_versions.c.id,
        events.c.source,
        event_versions.c.received_at,
        event_versions.c.event_id,
        event_versions.c.version_key,
        event_versions.c.content_hash,
    ).join(events, events.c.id == event_versions.c.event_id)
    for row in conn.execution_options(yield_per=10_000).execute(query):
        if row.id not in pending:
            sides[(row.source, day(row.received_at))].add(row.event_id, row.version_key, row.content_hash)
    return sides


def _store_by_id(conn: sa.Connection, table: sa.Table, at: str, pending: set[int]) -> dict[Part, Side]:
    sides: dict[Part, Side] = defaultdict(Side)
    for row_id, moment in conn.execution_options(yield_per=10_000).execute(
        sa.select(table.c.id, table.c[at])
    ):
        if row_id not in pending:
            sides[(day(moment),)].add(row_id)
    return sides


def _lake_side(lake: Lake, table: str) -> dict[Part, Side]:
    files = lake.files(table)
    sides: dict[Part, Side] = defaultdict(Side)
    if not files:
        return sides
    columns = {
        "event_versions": ["source", "dt", "lake_seq", "event_id", "version_key", "content_hash"],
        "decisions": ["dt", "lake_seq", "decision_id"],
        "transitions": ["dt", "lake_seq", "audit_id"],
    }[table]
    dataset = pads.dataset(
        files, filesystem=lake.fs, format="parquet", partitioning="hive", partition_base_dir=lake.path(table)
    )
    latest: dict[tuple[Any, ...], tuple[int, Part, tuple[Any, ...]]] = {}
    for batch in dataset.to_batches(columns=columns):
        for row in batch.to_pylist():
            part, identity = _split(table, row)
            key = identity[:2] if table == "event_versions" else identity
            seen = latest.get(key)
            if seen is None or row["lake_seq"] > seen[0]:
                latest[key] = (row["lake_seq"], part, identity)
    for _, part, identity in latest.values():
        sides[part].add(*identity)
    return sides


def _split(table: str, row: dict[str, Any]) -> tuple[Part, tuple[Any, ...]]:
    if table == "event_versions":
        return (row["source"], str(row["dt"])), (row["event_id"], row["version_key"], row["content_hash"])
    key = "decision_id" if table == "decisions" else "audit_id"
    return (str(row["dt"]),), (row[key],)


def partitions_of(lake: Lake, table: str) -> Iterable[str]:
    """The partition folders of a table (relative to the lake root), sorted."""
    return sorted({f.removeprefix(lake.root + "/").rsplit("/", 1)[0] for f in lake.files(table)})
