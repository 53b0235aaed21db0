"""Lake benchmark: archive throughput, a group-by over millions of archived versions, the digest.

    python benchmarks/lake.py                                  # 1,000,000 archived, 10,000,000 queried
    python benchmarks/lake.py --archive 100000 --query 2000000

1. **Archive**: fills a fresh SQLite store with ``--archive`` synthetic event versions (realistic
   normalised JSON of ~1 KB, one in ten with a raw payload) straight through the store's bulk writer
   — the triggers queue them as ingest does — then times ``Archiver.run()`` draining the queue into
   Parquet: rows/s.
2. **Query**: writes ``--query`` synthetic versions straight into the lake's layout with pyarrow (the
   archive path is measured above; this only builds a big lake quickly), then times a GROUP BY over
   them through the ``event_versions`` view of ``opswarden query`` (DuckDB, read-only sandbox),
   best of three.
3. **Digest**: times the queries and building of ``opswarden report digest --since 7d`` over the
   same lake (its last week: 3,500,000 versions in the window, 10,000,000 in the lake).

Targets (issue 4): archive ≥ 100,000 rows/s; group-by over 10M < 1 s; digest < 2 s.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from opswarden.lake.archive import Archiver
from opswarden.lake.fs import Lake
from opswarden.lake.layout import EVENT_VERSIONS, key_hash, partition_path
from opswarden.store import bulk
from opswarden.store.sql import SqlStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SOURCES = ["aws.health", "aws.securityhub", "aws.guardduty", "aws.cloudwatch", "aws.config"]
CATEGORIES = ["issue", "scheduledChange", "accountNotification", "finding", "compliance", "alarm"]
SEVERITIES = ["critical", "high", "medium", "low", "informational"]
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]
ACCOUNTS = [f"{100000000000 + i * 7919:012d}" for i in range(200)]


def _event(i: int, rng: random.Random) -> dict[str, Any]:
    source = SOURCES[(i // 2) % len(SOURCES)]  # versions 2k and 2k+1 are two updates of one event
    updated = T0 + timedelta(seconds=i * 2)
    return {
        "key": f"{source}:bench-{i // 2}",
        "source": source,
        "type_code": f"BENCH_TYPE_{i % 37}",
        "category": CATEGORIES[i % len(CATEGORIES)],
        "service": ["EC2", "RDS", "EKS", "S3", "IAM"][i % 5],
        "title": f"benchmark event {i // 2} in {REGIONS[i % 4]}",
        "description": "An operational event generated for the lake benchmark. " * 8,
        "severity": SEVERITIES[rng.randrange(5)],
        "status": "closed" if i % 2 else "open",
        "region": REGIONS[i % 4],
        "accounts": [ACCOUNTS[i % len(ACCOUNTS)]],
        "resources": [{"id": f"arn:aws:ec2:{REGIONS[i % 4]}:{ACCOUNTS[i % 200]}:instance/i-{i:017x}"}],
        "start_at": updated.isoformat().replace("+00:00", "Z"),
        "updated_at": updated.isoformat().replace("+00:00", "Z"),
        "details": {"n": i},
    }


def fill_store(store: SqlStore, count: int) -> None:
    """``count`` versions of ``count // 2`` events through the bulk writer (triggers queue them)."""
    rng = random.Random(7)
    now = T0 + timedelta(days=25)
    chunk = 10_000
    for start in range(0, count, chunk):
        events, versions, raws = [], [], []
        for i in range(start, min(start + chunk, count)):
            data = _event(i, rng)
            text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
            event_id = "ev-" + hashlib.blake2b(data["key"].encode(), digest_size=8).hexdigest()
            updated = T0 + timedelta(seconds=i * 2)
            raw = hashlib.sha256(text.encode()).hexdigest() if i % 10 == 0 else None
            if i % 2 == 0:
                events.append(
                    {
                        "id": event_id,
                        "key": data["key"],
                        "source": data["source"],
                        "type_code": data["type_code"],
                        "category": data["category"],
                        "title": data["title"],
                        "severity": data["severity"],
                        "status": data["status"],
                        "accounts": data["accounts"][0],
                        "first_seen_at": now,
                        "last_seen_at": now,
                        "version_count": 2,
                        "current_version": "v",
                        "content_hash": "h",
                    }
                )
            versions.append(
                {
                    "event_id": event_id,
                    "version_key": updated.isoformat(),
                    "updated_at": updated,
                    "content_hash": hashlib.sha256(text.encode()).hexdigest(),
                    "received_at": now,
                    "changes": "[]",
                    "raw_sha256": raw,
                    "origin": "benchmark",
                    "data": text,
                }
            )
            if raw:
                raws.append({"sha256": raw, "received_at": now, "origin": "benchmark", "body": text})
        with store.engine.begin() as conn:
            bulk.insert(conn, "events", events)
            bulk.insert(conn, "raw_payloads", raws, ignore_conflicts=True)
            bulk.insert(conn, "event_versions", versions)


def build_lake(lake: Lake, count: int) -> None:
    """``count`` synthetic version rows written straight into the layout, in files of 500k rows."""
    per_file = 500_000
    seq = 0
    for start in range(0, count, per_file):
        n = min(per_file, count - start)
        # Row k is version k % 2 of event k // 2; one row in a thousand re-archives the version two
        # rows before it (a merged page), so that the views have superseded rows to drop.
        owner = [(start + k - 2 if (start + k) % 1000 == 999 else start + k) for k in range(n)]
        ids = pa.array([f"ev-{o // 2:016x}" for o in owner])
        day_of_file = start // per_file  # one day per file: 20 files, 1-20 November
        received = [T0 + timedelta(days=day_of_file, seconds=k % 86_400) for k in range(n)]
        columns: dict[str, Any] = {
            name: pa.nulls(n, field.type)
            for name, field in zip(EVENT_VERSIONS.names, EVENT_VERSIONS, strict=True)
        }
        columns |= {
            "lake_seq": pa.array(range(seq, seq + n), pa.int64()),
            "event_id": ids,
            "version_key": pa.array([str(o % 2) for o in owner]),
            "content_hash": pa.array([str(k) for k in range(n)]),
            "type_code": pa.array([f"BENCH_TYPE_{k % 37}" for k in range(n)]),
            "category": pa.array([CATEGORIES[k % 6] for k in range(n)]),
            "service": pa.array([["EC2", "RDS", "EKS", "S3", "IAM"][k % 5] for k in range(n)]),
            "severity": pa.array([SEVERITIES[(k * 7) % 5] for k in range(n)]),
            "status": pa.array(["closed" if k % 2 else "open" for k in range(n)]),
            "region": pa.array([REGIONS[k % 4] for k in range(n)]),
            "accounts": pa.array([[ACCOUNTS[k % 200]] for k in range(n)], pa.list_(pa.string())),
            "received_at": pa.array(received, EVENT_VERSIONS.field("received_at").type),
            "updated_at": pa.array(received, EVENT_VERSIONS.field("updated_at").type),
            # version 0 of each event arrived that day, version 1 updates an event first seen a day before
            "first_seen_at": pa.array(
                [r - timedelta(days=o % 2) for r, o in zip(received, owner, strict=True)],
                EVENT_VERSIONS.field("first_seen_at").type,
            ),
            "supersedes": pa.array([k % 1000 == 999 for k in range(n)]),
            "key_hash": pa.array(
                [key_hash(e, str(k % 2)) for k, e in enumerate(ids.to_pylist())], pa.int64()
            ),
        }
        seq += n
        table = pa.table(columns, schema=EVENT_VERSIONS)
        source = SOURCES[(start // per_file) % len(SOURCES)]
        dt = (T0 + timedelta(days=day_of_file)).strftime("%Y-%m-%d")
        folder = lake.path(partition_path("event_versions", {"source": source, "dt": dt}))
        lake.fs.create_dir(folder, recursive=True)
        name = f"part-{seq - n:012d}-{seq - 1:012d}-bench.parquet"
        pq.write_table(table, f"{folder}/{name}", compression="zstd")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archive", type=int, default=1_000_000)
    parser.add_argument("--query", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore(f"sqlite:///{tmp}/opswarden.db")
        started = time.perf_counter()
        fill_store(store, args.archive)
        print(
            f"store filled with {args.archive:,} versions in {time.perf_counter() - started:.1f} s (untimed)"
        )
        lake = Lake.open(str(Path(tmp) / "lake"))
        archiver = Archiver(store.engine, lake)
        started = time.perf_counter()
        summary = archiver.run()
        elapsed = time.perf_counter() - started
        archived = sum(summary.rows.values())
        print(
            f"archive: {archived:,} rows in {elapsed:.1f} s = {archived / elapsed:,.0f} rows/s "
            f"({summary.files} files, {summary.batches} batches)"
        )
        store.close()
        query_lake(Path(tmp) / "big", args.query)


def query_lake(root: Path, count: int) -> None:
    try:
        from opswarden.lake.query import LakeQuery
    except ImportError:
        print("query: opswarden.lake.query is not there yet")
        return
    lake = Lake.open(str(root))
    started = time.perf_counter()
    build_lake(lake, count)
    print(f"lake of {count:,} versions written in {time.perf_counter() - started:.1f} s (untimed)")
    query = LakeQuery(str(root), max_rows=10_000, timeout_s=120)
    sql = (
        "SELECT source, category, severity, count(*) AS versions FROM event_versions "
        "GROUP BY ALL ORDER BY versions DESC"
    )
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        result = query.run(sql)
        timings.append(time.perf_counter() - started)
    digest_s = time_digest(query)
    query.close()
    total = sum(row[-1] for row in result.rows)
    print(
        f"group-by over {count:,} archived versions: best {min(timings):.2f} s "
        f"({len(result.rows)} groups, {total:,} versions after dropping superseded rows)"
    )
    print(f"digest report (--since 7d) over the same lake: best {digest_s:.2f} s")


def time_digest(query: Any) -> float:
    """The digest's queries and its building, as `opswarden report digest` runs them (best of 3)."""
    from opswarden.policy.org import EMPTY_ORG
    from opswarden.reports.digest import build_digest, digest_prepare, digest_queries
    from opswarden.reports.run import run_queries

    now = T0 + timedelta(days=20)  # the lake's last week: 7 of its 20 days, 3.5M versions
    since = now - timedelta(days=7)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        for name, select in digest_prepare(since, now).items():
            query.materialize(name, select)
        results = run_queries(query, digest_queries(since, now))
        build_digest(results, since=since, now=now, org=EMPTY_ORG)
        timings.append(time.perf_counter() - started)
    return min(timings)


if __name__ == "__main__":
    main()
