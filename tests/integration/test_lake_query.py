"""``opswarden query`` over Parquet files written as the archive writes them (layout.py): the views keep
the latest row per key, the sandbox refuses every way out for real, rows and time are bounded."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from opswarden.cli.main import app
from opswarden.errors import QueryError
from opswarden.lake.layout import TABLES, partition_path
from opswarden.lake.query import LakeQuery, full_schema, run_query

pytestmark = pytest.mark.integration
DAY1 = datetime(2026, 1, 1, 9, tzinfo=UTC)
DAY2 = datetime(2026, 1, 2, 9, tzinfo=UTC)


def write(root: Path, table: str, partition: dict[str, str], rows: list[dict[str, Any]], name: str) -> Path:
    schema = TABLES[table].schema
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    folder = root / partition_path(table, partition)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), folder / name)
    return folder / name


def version(seq: int, event_id: str, key: str, title: str, when: datetime = DAY1) -> dict[str, Any]:
    return {
        "lake_seq": seq,
        "event_id": event_id,
        "key": f"key-{event_id}",
        "version_key": key,
        "title": title,
        "severity": "high",
        "accounts": ["111122223333"],
        "resource_count": 1,
        "received_at": when,
        "updated_at": when,
    }


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    health = {"source": "aws.health", "dt": "2026-01-01"}
    write(
        root,
        "event_versions",
        health,
        [
            version(1, "ev-1", "2026-01-01T09:00:00.000000Z", "first"),
            version(2, "ev-1", "2026-01-01T10:00:00.000000Z", "second"),
            version(3, "ev-2", "2026-01-01T09:00:00.000000Z", "before merge"),
        ],
        "part-1-3-a.parquet",
    )
    write(  # seq 2 archived again (a crash before its queue rows went), ev-2's version merged later
        root,
        "event_versions",
        health,
        [
            version(2, "ev-1", "2026-01-01T10:00:00.000000Z", "second"),
            version(5, "ev-2", "2026-01-01T09:00:00.000000Z", "merged"),
        ],
        "part-2-5-b.parquet",
    )
    write(
        root,
        "event_versions",
        {"source": "aws.guardduty", "dt": "2026-01-02"},
        [version(4, "ev-3", "2026-01-02T09:00:00.000000Z", "finding", DAY2)],
        "part-4-4-c.parquet",
    )
    # what the views must not read: a file being written, a hidden one, one outside any partition
    junk = root / "event_versions" / "source=aws.health" / "dt=2026-01-01"
    (junk / "part-9-9-d.parquet.tmp").write_bytes(b"not parquet")
    (junk / ".part-9-9-e.parquet").write_bytes(b"not parquet")
    (root / "event_versions" / "stray.parquet").write_bytes(b"not parquet")
    day1 = {"dt": "2026-01-01"}
    decision = {"event_id": "ev-1", "version_key": "v", "at": DAY1, "suppressed": False, "teams": ["ops"]}
    write(
        root,
        "decisions",
        day1,
        [{**decision, "lake_seq": 1, "decision_id": 1, "severity": "low"}],
        "part-1-1-a.parquet",
    )
    write(
        root,
        "decisions",
        day1,
        [
            {**decision, "lake_seq": 2, "decision_id": 1, "severity": "high"},
            {**decision, "lake_seq": 3, "decision_id": 2, "severity": "medium"},
            {**decision, "lake_seq": 3, "decision_id": 2, "severity": "medium"},
        ],
        "part-2-3-b.parquet",
    )
    audit = {"event_id": "ev-1", "at": DAY1, "actor": "alice", "action": "transition"}
    write(
        root,
        "transitions",
        day1,
        [{**audit, "lake_seq": 7, "audit_id": 10, "to_state": "acknowledged"}] * 2,
        "part-7-7-a.parquet",
    )
    return root


def query(root: Path, sql: str, **limits: Any) -> list[tuple[Any, ...]]:
    return run_query(str(root), sql, **{"max_rows": 1000, "timeout_s": 30, **limits}).rows


# -- the views ---------------------------------------------------------------------------------------


def test_event_versions_keep_the_latest_row_per_version(lake: Path) -> None:
    rows = query(lake, "SELECT event_id, lake_seq, title, source, dt FROM event_versions ORDER BY lake_seq")

    assert rows == [
        ("ev-1", 1, "first", "aws.health", DAY1.date()),
        ("ev-1", 2, "second", "aws.health", DAY1.date()),
        ("ev-3", 4, "finding", "aws.guardduty", DAY2.date()),
        ("ev-2", 5, "merged", "aws.health", DAY1.date()),
    ]


def test_events_show_each_events_current_version(lake: Path) -> None:
    rows = query(lake, "SELECT event_id, version_key, lake_seq, title FROM events ORDER BY event_id")

    assert rows == [
        ("ev-1", "2026-01-01T10:00:00.000000Z", 2, "second"),
        ("ev-2", "2026-01-01T09:00:00.000000Z", 5, "merged"),
        ("ev-3", "2026-01-02T09:00:00.000000Z", 4, "finding"),
    ]


def test_decisions_and_transitions_keep_the_latest_row_per_id(lake: Path) -> None:
    assert query(lake, "SELECT decision_id, lake_seq, severity, teams FROM decisions ORDER BY 1") == [
        (1, 2, "high", ["ops"]),
        (2, 3, "medium", ["ops"]),
    ]
    assert query(lake, 'SELECT audit_id, to_state, "at", dt FROM transitions') == [
        (10, "acknowledged", DAY1, DAY1.date())
    ]


def test_the_archived_tables_hold_every_row_written(lake: Path) -> None:
    assert query(lake, "SELECT count(*) FROM event_versions_archived") == [(6,)]
    assert query(lake, "SELECT count(*) FROM decisions_archived") == [(4,)]


@pytest.mark.parametrize("existing", [True, False])
def test_an_empty_lake_has_every_view_with_its_columns(tmp_path: Path, existing: bool) -> None:
    root = tmp_path / "lake"
    if existing:
        (root / "event_versions").mkdir(parents=True)

    with LakeQuery(str(root), max_rows=100, timeout_s=10) as lake:
        for view, table in [
            ("event_versions", "event_versions"),
            ("events", "event_versions"),
            ("decisions", "decisions"),
            ("transitions", "transitions"),
        ]:
            described = lake.run(f"DESCRIBE {view}").rows
            internal = ("supersedes", "key_hash")
            shown = [n for n in full_schema(TABLES[table]).names if n not in internal]
            assert [r[0] for r in described] == shown
            assert lake.run(f"SELECT count(*) FROM {view}").rows == [(0,)]


def test_column_types_follow_the_layout(lake: Path) -> None:
    types = dict(query(lake, "SELECT column_name, column_type FROM (DESCRIBE event_versions)"))

    assert types["lake_seq"] == "BIGINT"
    assert types["resource_count"] == "INTEGER"
    assert types["accounts"] == "VARCHAR[]"
    assert types["received_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["dt"] == "DATE"


# -- the sandbox -------------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"secret": ["leak"]}), path)
    return path


def refusals(tmp_path: Path, lake: Path, outside: Path) -> list[str]:
    lake_file = next((lake / "event_versions").rglob("part-1-3-a.parquet"))
    return [
        "INSERT INTO events SELECT * FROM events",
        "CREATE TABLE copy AS SELECT * FROM events",
        f"COPY (SELECT * FROM events) TO '{tmp_path / 'out.csv'}'",
        f"COPY (SELECT * FROM events) TO '{lake / 'out.parquet'}'",
        f"EXPORT DATABASE '{tmp_path / 'export'}'",
        f"ATTACH '{tmp_path / 'other.db'}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "PRAGMA enable_profiling",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        f"SELECT * FROM read_parquet('{outside}')",
        f"SELECT * FROM read_parquet('{lake_file}')",
        f"SELECT * FROM read_blob('{lake_file}')",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM glob('{lake}/**')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/data.csv')",
        "SELECT * FROM read_parquet('s3://bucket/lake/x.parquet')",
        "SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')",
    ]


def test_every_way_out_is_refused(tmp_path: Path, lake: Path, outside: Path) -> None:
    with LakeQuery(str(lake), max_rows=10, timeout_s=10) as lq:
        for sql in refusals(tmp_path, lake, outside):
            with pytest.raises(QueryError):
                lq.run(sql)
        assert lq.run("SELECT count(*) FROM events").rows == [(3,)]  # and the views still work

    assert not (tmp_path / "out.csv").exists()
    assert not (lake / "out.parquet").exists()
    assert not (tmp_path / "export").exists()
    assert not (tmp_path / "other.db").exists()


def test_the_sandbox_holds_without_the_statement_guard(tmp_path: Path, lake: Path, outside: Path) -> None:
    """The connection itself refuses, so a statement the guard let through by mistake could not escape."""
    allowed_in_memory = ("INSERT", "CREATE", "PRAGMA")  # touch only the in-memory catalog
    with LakeQuery(str(lake), max_rows=10, timeout_s=10) as lq:
        for sql in refusals(tmp_path, lake, outside):
            if sql.startswith(allowed_in_memory):
                continue
            with pytest.raises(duckdb.Error) as caught:
                lq.con.execute(sql).fetchall()
            assert isinstance(caught.value, duckdb.PermissionException | duckdb.InvalidInputException), sql

    assert not (tmp_path / "out.csv").exists()
    assert not (lake / "out.parquet").exists()


def test_refusals_say_what_was_found(lake: Path, outside: Path) -> None:
    with pytest.raises(QueryError, match="only one SELECT statement is allowed; got INSERT"):
        query(lake, "INSERT INTO events SELECT * FROM events")
    with pytest.raises(QueryError, match=r"Permission Error: .*queries read only the views"):
        query(lake, f"SELECT * FROM read_parquet('{outside}')")


def test_python_variables_are_not_tables(lake: Path) -> None:
    secret_table = pa.table({"secret": ["leak"]})  # DuckDB's replacement scan would find this name

    with pytest.raises(QueryError, match="secret_table does not exist"):
        query(lake, "SELECT * FROM secret_table")
    assert secret_table.num_rows == 1


# -- limits ------------------------------------------------------------------------------------------


def test_rows_are_capped_and_the_cap_reported(lake: Path) -> None:
    sql = "SELECT lake_seq FROM event_versions ORDER BY lake_seq"

    capped = run_query(str(lake), sql, max_rows=2, timeout_s=30)
    exact = run_query(str(lake), sql, max_rows=4, timeout_s=30)

    assert (capped.rows, capped.truncated) == ([(1,), (2,)], True)
    assert (exact.rows, exact.truncated) == ([(1,), (2,), (4,), (5,)], False)
    assert capped.columns == ["lake_seq"]


def test_a_slow_query_is_stopped_at_the_time_limit(lake: Path) -> None:
    started = time.perf_counter()

    with pytest.raises(QueryError, match=r"took longer than 0.5 s"):
        query(lake, "SELECT count(*) FROM range(1000000000) a, range(1000000000) b", timeout_s=0.5)

    assert time.perf_counter() - started < 10


def test_a_connection_serves_queries_after_a_timeout(lake: Path) -> None:
    with LakeQuery(str(lake), max_rows=10, timeout_s=0.3) as lq:
        with pytest.raises(QueryError, match="took longer"):
            lq.run("SELECT count(*) FROM range(1000000000) a, range(1000000000) b")
        assert lq.run("SELECT count(*) FROM events").rows == [(3,)]


# -- the command line --------------------------------------------------------------------------------


@pytest.fixture
def cli(lake: Path) -> Any:
    runner = CliRunner()
    env = {"OPSWARDEN_DATA_DIR": str(lake.parent), "COLUMNS": "200"}

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), env=env)

    return invoke


def test_query_prints_a_table(cli: Any) -> None:
    result = cli("query", "SELECT event_id, title, accounts FROM events ORDER BY event_id")

    assert result.exit_code == 0, result.output
    assert "3 row(s)" in result.stdout
    assert "merged" in result.stdout
    assert '["111122223333"]' in result.stdout


def test_query_prints_json(cli: Any) -> None:
    result = cli("query", "SELECT event_id, received_at, dt FROM events ORDER BY 1", "--format", "json")

    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["columns"] == ["event_id", "received_at", "dt"]
    assert data["rows"][0] == {
        "event_id": "ev-1",
        "received_at": "2026-01-01T09:00:00+00:00",
        "dt": "2026-01-01",
    }
    assert data["truncated"] is False


def test_query_prints_csv_and_says_when_rows_were_cut(cli: Any) -> None:
    result = cli("query", "SELECT event_id, accounts FROM events ORDER BY 1", "-f", "csv", "--max-rows", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "event_id,accounts",
        'ev-1,"[""111122223333""]"',
        'ev-2,"[""111122223333""]"',
    ]
    assert "truncated" in result.stderr


def test_lake_query_is_the_same_command(cli: Any) -> None:
    result = cli("lake", "query", "SELECT count(*) AS n FROM decisions", "-f", "json")

    assert orjson.loads(result.stdout)["rows"] == [{"n": 2}]


def test_a_refused_query_exits_1_with_the_reason(cli: Any) -> None:
    result = cli("query", "COPY (SELECT 1) TO 'x.csv'")

    assert result.exit_code == 1
    assert "only one SELECT statement is allowed; got COPY" in result.stderr


def test_athena_ddl(cli: Any) -> None:
    result = cli("lake", "ddl", "--athena", "--location", "s3://bucket/lake/", "--database", "ops")

    assert result.exit_code == 0, result.output
    ddl = result.stdout
    for table in ("event_versions", "decisions", "transitions"):
        assert f"CREATE EXTERNAL TABLE IF NOT EXISTS `ops`.`{table}_archived`" in ddl
        assert f"LOCATION 's3://bucket/lake/{table}/'" in ddl
        assert f'CREATE OR REPLACE VIEW "ops"."{table}" AS' in ddl
    assert 'CREATE OR REPLACE VIEW "ops"."events" AS' in ddl
    assert "PARTITIONED BY (`source` string, `dt` string)" in ddl
    assert ddl.count("PARTITIONED BY (`dt` string)") == 2
    assert "`accounts` array<string>" in ddl
    assert "`lake_seq` bigint" in ddl
    assert "`resource_count` int" in ddl
    assert "`received_at` timestamp" in ddl
    assert "`suppressed` boolean" in ddl
    assert "MSCK REPAIR TABLE `ops`.`event_versions_archived`;" in ddl
    assert "'projection.dt.type' = 'date'" in ddl


def test_athena_ddl_projects_the_sources_given(cli: Any) -> None:
    result = cli(
        "lake",
        "ddl",
        "--athena",
        "--location",
        "s3://b/l",
        "--source",
        "aws.health",
        "--source",
        "aws.guardduty",
    )

    assert "'projection.source.values' = 'aws.health,aws.guardduty'" in result.stdout
    assert "MSCK REPAIR" not in result.stdout


def test_athena_ddl_needs_an_s3_location(cli: Any) -> None:
    result = cli("lake", "ddl", "--athena")

    assert result.exit_code == 2
    assert "give --location s3://bucket/prefix" in result.stderr
