"""The archive: queued rows of the store become Parquet files in the lake, in micro-batches.

Each batch, in one database transaction: take up to ``batch_rows`` entries off ``lake_queue``
(deleting them first, so the transaction writes from its first statement — SQLite then never has to
upgrade a read — and, on PostgreSQL, skipping rows another archiver holds), read the rows they point
to, write one Parquet file per partition (to a temporary name, then renamed), and commit. A crash
before the commit leaves the queue as it was: the rows are archived again with the same ``lake_seq``,
and readers keep one copy (:mod:`opswarden.lake.layout`). Nothing in the ingest path waits for this.
"""

from __future__ import annotations

import io
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
import sqlalchemy as sa

from opswarden.lake.fs import Lake
from opswarden.lake.layout import (
    DECISIONS,
    EVENT_VERSIONS,
    TABLES,
    TRANSITIONS,
    TS,
    day,
    key_hash,
    partition_path,
)
from opswarden.store.schema import audit_log, decisions, lake_queue

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
                for table, data in self._tables(conn, taken).items():
                    summary.files += self._write_partitions(table, data)
                    summary.rows[table] += data.num_rows
            summary.batches += 1
        return summary

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(lake_queue)).scalar_one())

    def _tables(self, conn: sa.Connection, taken: Sequence[tuple[int, str, int]]) -> dict[str, pa.Table]:
        """The rows to write, one Arrow table per lake table (partition columns included). A row
        queued twice in the batch is written once, with its latest sequence number."""
        latest: dict[str, dict[int, int]] = defaultdict(dict)
        revised: set[int] = set()
        for seq, queued, ref in taken:
            kind = "version" if queued == "revision" else queued
            if queued == "revision":
                revised.add(ref)
            latest[kind][ref] = max(seq, latest[kind].get(ref, 0))
        tables = {}
        for kind, refs in latest.items():
            if kind == "version":
                tables["event_versions"] = _versions(conn, refs, revised)
            else:
                name, data = {"decision": _decisions, "audit": _audits}[kind](conn, refs)
                tables[name] = data
        return tables

    def _write_partitions(self, table: str, data: pa.Table) -> int:
        """One file per partition of ``data``; the number of files. Rows arrive sorted by partition,
        so each partition is a slice (zero-copy); unsorted input is sorted first."""
        names = TABLES[table].partitions
        keys = list(zip(*(data.column(n).to_pylist() for n in names), strict=True))
        if keys != sorted(keys):
            data = data.sort_by([(n, "ascending") for n in names])
            keys = sorted(keys)
        stored = data.drop_columns(list(names))
        start = 0
        files = 0
        for index in range(1, len(keys) + 1):
            if index == len(keys) or keys[index] != keys[start]:
                self._write(
                    table, dict(zip(names, keys[start], strict=True)), stored.slice(start, index - start)
                )
                files += 1
                start = index
        return files

    def _write(self, table: str, values: dict[str, str], data: pa.Table) -> None:
        bounds = pc.min_max(data["lake_seq"]).as_py()
        first, last = bounds["min"], bounds["max"]
        folder = self.lake.path(partition_path(table, values))
        name = f"part-{first:012d}-{last:012d}-{uuid.uuid4().hex[:8]}.parquet"
        self.lake.fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/.{name}.tmp"
        pq.write_table(
            data.cast(TABLES[table].schema), temporary, filesystem=self.lake.fs, compression="zstd"
        )
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


def _chunks(refs: dict[int, int], size: int = _IN) -> Iterable[list[int]]:
    ids = sorted(refs)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


_FIELDS = (
    "type_code",
    "category",
    "service",
    "title",
    "description",
    "severity",
    "status",
    "upstream_status",
    "region",
    "start_at",
    "end_at",
    "deadline_at",
)
_SELECT = (
    "SELECT v.id, v.event_id, e.key, e.source, v.version_key, v.content_hash, v.updated_at, v.received_at, "
    "{changes}, v.origin, v.raw_sha256, {data}, r.body, e.first_seen_at "
    "FROM event_versions v JOIN events e ON e.id = v.event_id LEFT JOIN raw_payloads r ON r.sha256 = v.raw_sha256 "
    "WHERE {where}"
)
_RANGE = 5000  # ids per range query (a range, or an IN list where ids are sparse)


def _versions(conn: sa.Connection, refs: dict[int, int], revised: set[int]) -> pa.Table:
    """Versions as Arrow columns, sorted by partition (the writer then slices, never copies): rows
    read at the driver level, by id ranges where the queue's ids are dense, transposed in one go;
    the event JSON parsed by Arrow (the archive's hot path)."""
    sqlite = conn.dialect.name == "sqlite"
    mark, as_text = ("?", "v.{}") if sqlite else ("%s", "v.{}::text")
    rows: list[tuple[Any, ...]] = []
    params: tuple[int, ...]
    for ids in _chunks(refs, _RANGE):
        low, high = ids[0], ids[-1]
        if high - low + 1 <= 2 * len(ids):  # dense: one range scan, then keep the queued ids
            where, params = f"v.id BETWEEN {mark} AND {mark}", (low, high)
        else:
            where, params = f"v.id IN ({', '.join([mark] * len(ids))})", tuple(ids)
        sql = _SELECT.format(changes=as_text.format("changes"), data=as_text.format("data"), where=where)
        rows += [row for row in conn.exec_driver_sql(sql, params).fetchall() if row[0] in refs]
    rows.sort(key=lambda row: (row[3], _day_of(row[7])))  # by partition: source, day received
    if not rows:
        return _table([], EVENT_VERSIONS)
    ref, event_id, key, source, vk, digest, updated, received, changes, origin, sha, data, body, first = zip(
        *rows, strict=True
    )
    events = _parse(data)
    arrays: dict[str, Any] = {
        "source": source,
        "dt": [_day_of(r) for r in received],
        "lake_seq": [refs[r] for r in ref],
        "event_id": event_id,
        "key": key,
        "version_key": vk,
        "content_hash": digest,
        **{f: events.column(f) for f in _FIELDS if f not in _TIMES},
        "accounts": events.column("accounts"),
        "resource_ids": _ids(events.column("resources")),
        "resource_count": pc.list_value_length(events.column("resources")).fill_null(0).cast(pa.int32()),
        "start_at": _times(events.column("start_at")),
        "end_at": _times(events.column("end_at")),
        "updated_at": _times(updated),
        "deadline_at": _times(events.column("deadline_at")),
        "received_at": _times(received),
        "first_seen_at": _times(first),
        "changes": changes,
        "origin": origin,
        "raw_sha256": sha,
        "raw": body,
        "data": data,
        "supersedes": [r in revised for r in ref],
        "key_hash": [key_hash(e, v) for e, v in zip(event_id, vk, strict=True)],
    }
    schema = EVENT_VERSIONS.append(pa.field("source", pa.string())).append(pa.field("dt", pa.string()))
    return pa.table(
        {
            f.name: arrays[f.name]
            if isinstance(arrays[f.name], pa.Array | pa.ChunkedArray)
            else pa.array(arrays[f.name], f.type)
            for f in schema
        }
    )


_TIMES = frozenset({"start_at", "end_at", "updated_at", "deadline_at", "received_at", "first_seen_at"})


def _text_time(value: Any) -> str | None:
    """A driver's time as ISO text for Arrow: SQLite gives naive UTC text, PostgreSQL a datetime."""
    if value is None or isinstance(value, str):
        return value
    return str(value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" "))


_PARSED = pa.schema(
    [(f, pa.string()) for f in _FIELDS]
    + [("accounts", pa.list_(pa.string())), ("resources", pa.list_(pa.struct([("id", pa.string())])))]
)


def _parse(texts: Sequence[str]) -> pa.Table:
    """The fields the lake keeps in columns, parsed from the events' JSON by Arrow's JSON reader
    (C++, several threads) instead of one Python object per event."""
    body = "\n".join(texts).encode()
    options = pajson.ParseOptions(explicit_schema=_PARSED, unexpected_field_behavior="ignore")
    return pajson.read_json(io.BytesIO(body), parse_options=options).select(_PARSED.names)


def _ids(resources: pa.ChunkedArray) -> pa.Array:
    """list<struct<id>> → list<string>: the resource ids of each version."""
    combined = resources.combine_chunks()
    ids = pc.struct_field(combined.flatten(), "id")
    return pa.ListArray.from_arrays(combined.offsets, ids)  # a version without resources: []


def _times(values: Any) -> pa.Array:
    """Times as timestamp[us, UTC], from what the driver or the JSON gives: ISO text with a Z (the
    event's JSON), naive UTC text (SQLite), or aware datetimes (PostgreSQL). Arrow parses the text."""
    if isinstance(values, pa.ChunkedArray):  # from the JSON: "2026-11-26T09:15:00Z"
        return values.cast(TS)
    if any(isinstance(v, datetime) for v in values):
        return pa.array(values, TS)
    return pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(TS)


def _day_of(received: Any) -> str:
    return received[:10] if isinstance(received, str) else day(received)


def _decisions(conn: sa.Connection, refs: dict[int, int]) -> tuple[str, pa.Table]:
    rows: list[dict[str, Any]] = []
    for ids in _chunks(refs):
        for row in conn.execute(sa.select(decisions).where(decisions.c.id.in_(ids))):
            data = row.data
            rows.append(
                {
                    "dt": day(row.at),
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
    return "decisions", _table(rows, DECISIONS)


def _audits(conn: sa.Connection, refs: dict[int, int]) -> tuple[str, pa.Table]:
    rows: list[dict[str, Any]] = []
    for ids in _chunks(refs):
        for row in conn.execute(sa.select(audit_log).where(audit_log.c.id.in_(ids))):
            detail = row.detail or {}
            rows.append(
                {
                    "dt": day(row.at),
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
    return "transitions", _table(rows, TRANSITIONS)


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema.append(pa.field("dt", pa.string())))
