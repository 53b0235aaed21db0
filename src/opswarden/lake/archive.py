"""The archive: queued rows of the store become Parquet files in the lake, in micro-batches.

Each batch, in one database transaction: take up to ``batch_rows`` entries off ``lake_queue``
(deleting them first, so the transaction writes from its first statement — SQLite then never has to
upgrade a read — and, on PostgreSQL, skipping rows another archiver holds), read the rows they point
to, write one Parquet file per partition (to a temporary name, then renamed), and commit. A crash
before the commit leaves the queue as it was: the rows are archived again with the same ``lake_seq``,
and readers keep one copy (:mod:`opswarden.lake.layout`). Nothing in the ingest path waits for this.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from opswarden.lake.fs import Lake
from opswarden.lake.layout import TABLES, day, partition_path
from opswarden.store.schema import audit_log, decisions, event_versions, events, lake_queue, raw_payloads

_IN = 500  # ids per IN (...) query


@dataclass(slots=True)
class ArchiveSummary:
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    files: int = 0
    batches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"rows": dict(self.rows), "files": self.files, "batches": self.batches}


class Archiver:
    def __init__(self, engine: sa.Engine, lake: Lake, *, batch_rows: int = 50_000) -> None:
        self.engine = engine
        self.lake = lake
        self.batch_rows = batch_rows

    def run(self, max_batches: int | None = None) -> ArchiveSummary:
        """Archive until the queue is empty (or ``max_batches`` batches are done)."""
        summary = ArchiveSummary()
        while max_batches is None or summary.batches < max_batches:
            with self.engine.begin() as conn:
                taken = _take(conn, self.batch_rows)
                if not taken:
                    break
                for table, partitions in self._tables(conn, taken).items():
                    for values, rows in partitions.items():
                        self._write(table, dict(values), rows)
                        summary.rows[table] += len(rows)
                        summary.files += 1
            summary.batches += 1
        return summary

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(lake_queue)).scalar_one())

    def _tables(
        self, conn: sa.Connection, taken: Sequence[tuple[int, str, int]]
    ) -> dict[str, dict[tuple[tuple[str, str], ...], list[dict[str, Any]]]]:
        """The rows to write, by table and partition. A row queued twice in the batch is written once,
        with its latest sequence number."""
        latest: dict[str, dict[int, int]] = defaultdict(dict)
        for seq, kind, ref in taken:
            latest[kind][ref] = max(seq, latest[kind].get(ref, 0))
        out: dict[str, dict[tuple[tuple[str, str], ...], list[dict[str, Any]]]] = {}
        readers = {"version": _versions, "decision": _decisions, "audit": _audits}
        for kind, refs in latest.items():
            table, rows = readers[kind](conn, refs)
            parts: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                values = tuple((name, row.pop(f"_{name}")) for name in TABLES[table].partitions)
                parts[values].append(row)
            out[table] = parts
        return out

    def _write(self, table: str, values: dict[str, str], rows: list[dict[str, Any]]) -> None:
        rows.sort(key=lambda r: r["lake_seq"])
        data = pa.Table.from_pylist(rows, schema=TABLES[table].schema)
        folder = self.lake.path(partition_path(table, values))
        name = f"part-{rows[0]['lake_seq']:012d}-{rows[-1]['lake_seq']:012d}-{uuid.uuid4().hex[:8]}.parquet"
        self.lake.fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/.{name}.tmp"
        pq.write_table(data, temporary, filesystem=self.lake.fs, compression="zstd")
        self.lake.fs.move(temporary, f"{folder}/{name}")


def _take(conn: sa.Connection, limit: int) -> list[tuple[int, str, int]]:
    """Remove up to ``limit`` queue entries, oldest first, and return them."""
    oldest = sa.select(lake_queue.c.seq).order_by(lake_queue.c.seq).limit(limit)
    if conn.dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    query = (
        lake_queue.delete()
        .where(lake_queue.c.seq.in_(oldest.scalar_subquery()))
        .returning(lake_queue.c.seq, lake_queue.c.kind, lake_queue.c.ref_id)
    )
    return [(int(s), str(k), int(r)) for s, k, r in conn.execute(query)]


def _chunks(refs: dict[int, int]) -> Iterable[list[int]]:
    ids = sorted(refs)
    for start in range(0, len(ids), _IN):
        yield ids[start : start + _IN]


def _versions(conn: sa.Connection, refs: dict[int, int]) -> tuple[str, list[dict[str, Any]]]:
    v, e, r = event_versions, events, raw_payloads
    rows: list[dict[str, Any]] = []
    for ids in _chunks(refs):
        query = (
            sa.select(
                v.c.id,
                v.c.event_id,
                e.c.key,
                e.c.source,
                v.c.version_key,
                v.c.content_hash,
                v.c.updated_at,
                v.c.received_at,
                v.c.changes,
                v.c.origin,
                v.c.raw_sha256,
                v.c.data,
                r.c.body,
            )
            .join(e, e.c.id == v.c.event_id)
            .outerjoin(r, r.c.sha256 == v.c.raw_sha256)
            .where(v.c.id.in_(ids))
        )
        for row in conn.execute(query):
            data = row.data
            rows.append(
                {
                    "_source": row.source,
                    "_dt": day(row.received_at),
                    "lake_seq": refs[row.id],
                    "event_id": row.event_id,
                    "key": row.key,
                    "version_key": row.version_key,
                    "content_hash": row.content_hash,
                    "type_code": data.get("type_code"),
                    "category": data.get("category"),
                    "service": data.get("service"),
                    "title": data.get("title"),
                    "description": data.get("description"),
                    "severity": data.get("severity"),
                    "status": data.get("status"),
                    "upstream_status": data.get("upstream_status"),
                    "region": data.get("region"),
                    "accounts": list(data.get("accounts") or ()),
                    "resource_ids": [res["id"] for res in data.get("resources") or ()],
                    "resource_count": len(data.get("resources") or ()),
                    "start_at": _time(data.get("start_at")),
                    "end_at": _time(data.get("end_at")),
                    "updated_at": row.updated_at,
                    "deadline_at": _time(data.get("deadline_at")),
                    "received_at": row.received_at,
                    "changes": orjson.dumps(row.changes).decode(),
                    "origin": row.origin,
                    "raw_sha256": row.raw_sha256,
                    "raw": row.body,
                    "data": orjson.dumps(data).decode(),
                }
            )
    return "event_versions", rows


def _decisions(conn: sa.Connection, refs: dict[int, int]) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for ids in _chunks(refs):
        for row in conn.execute(sa.select(decisions).where(decisions.c.id.in_(ids))):
            data = row.data
            rows.append(
                {
                    "_dt": day(row.at),
                    "lake_seq": refs[row.id],
                    "decision_id": row.id,
                    "event_id": row.event_id,
                    "version_key": row.version_key,
                    "at": row.at,
                    "origin": row.origin,
                    "suppressed": row.suppressed,
                    "notify": row.notify,
                    "severity": row.severity,
                    "teams": row.teams.split() if row.teams else [],
                    "routes": list(data.get("routes") or ()),
                    "require_approval": row.require_approval,
                    "open_ticket": row.open_ticket,
                    "data": orjson.dumps(data).decode(),
                }
            )
    return "decisions", rows


def _audits(conn: sa.Connection, refs: dict[int, int]) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for ids in _chunks(refs):
        for row in conn.execute(sa.select(audit_log).where(audit_log.c.id.in_(ids))):
            detail = row.detail or {}
            rows.append(
                {
                    "_dt": day(row.at),
                    "lake_seq": refs[row.id],
                    "audit_id": row.id,
                    "event_id": row.event_id,
                    "at": row.at,
                    "actor": row.actor,
                    "action": row.action,
                    "channel": row.channel,
                    "from_state": detail.get("from"),
                    "to_state": detail.get("to"),
                    "why": detail.get("why"),
                    "detail": orjson.dumps(detail).decode(),
                }
            )
    return "transitions", rows


def _time(value: str | None) -> Any:
    if value is None:
        return None
    from opswarden.core.timeparse import parse_time

    return parse_time(value)
