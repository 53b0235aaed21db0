"""The statement guard of ``opswarden query``: exactly one SELECT, anything else named in the refusal."""

from __future__ import annotations

import pytest

from opswarden.errors import QueryError
from opswarden.lake.query import check_select, readable, split_root

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select count(*) from events;",
        "WITH recent AS (SELECT * FROM events WHERE dt >= DATE '2026-01-01') SELECT count(*) FROM recent",
        "FROM events LIMIT 3",
        "VALUES (1), (2)",
        "DESCRIBE events",
        "SHOW TABLES",
        "SUMMARIZE SELECT 1",
        "SELECT 1 UNION ALL SELECT 2",
        "-- a comment\nSELECT 1",
    ],
)
def test_one_select_is_allowed(sql: str) -> None:
    assert check_select(sql) == sql


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO events VALUES (1)", "INSERT"),
        ("UPDATE events SET title = 'x'", "UPDATE"),
        ("DELETE FROM events", "DELETE"),
        ("CREATE TABLE x AS SELECT 1", "CREATE"),
        ("DROP VIEW events", "DROP"),
        ("COPY (SELECT 1) TO '/tmp/out.csv'", "COPY"),
        ("EXPORT DATABASE '/tmp/out'", "EXPORT"),
        ("ATTACH '/tmp/other.db'", "ATTACH"),
        ("DETACH other", "DETACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA version", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
        ("CHECKPOINT", "CALL"),
    ],
)
def test_anything_else_is_refused_and_named(sql: str, kind: str) -> None:
    with pytest.raises(QueryError) as caught:
        check_select(sql)

    assert str(caught.value) == f"only one SELECT statement is allowed; got {kind}"


def test_two_statements_are_refused_even_if_both_select() -> None:
    with pytest.raises(QueryError, match=r"only one SELECT statement is allowed; got 2 \(SELECT, INSERT\)"):
        check_select("SELECT 1; INSERT INTO t VALUES (1)")


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment"])
def test_no_statement_is_refused(sql: str) -> None:
    with pytest.raises(QueryError, match="no SQL statement given"):
        check_select(sql)


def test_a_syntax_error_is_one_readable_line() -> None:
    with pytest.raises(QueryError) as caught:
        check_select("SELEC 1")

    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("Parser Error: syntax error")


def test_readable_keeps_the_hint_and_drops_the_query_excerpt() -> None:
    error = Exception(
        'Catalog Error: Table with name evnts does not exist!\nDid you mean "events"?\n\nLINE 1: …'
    )

    assert readable(error) == 'Catalog Error: Table with name evnts does not exist! Did you mean "events"?'


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("s3://bucket/lake/prefix/", ("s3", "bucket/lake/prefix")),
        ("s3://bucket", ("s3", "bucket")),
        ("/var/lib/opswarden/lake", ("file", "/var/lib/opswarden/lake")),
    ],
)
def test_lake_roots(root: str, expected: tuple[str, str]) -> None:
    assert split_root(root) == expected


@pytest.mark.parametrize("root", ["s3://", "s3:///", "gs://bucket/lake", "http://example.com/lake"])
def test_unusable_lake_roots_are_refused(root: str) -> None:
    with pytest.raises(QueryError, match="lake"):
        split_root(root)


def test_files_of_one_partition_overlapping_in_lake_seq_mean_copies() -> None:
    from opswarden.lake.query import has_copies

    apart = [
        "t/dt=1/part-000000000001-000000000010-aa.parquet",
        "t/dt=1/part-000000000011-000000000020-bb.parquet",
    ]
    repeated = [*apart, "t/dt=1/part-000000000005-000000000009-cc.parquet"]
    other_partition = [*apart, "t/dt=2/part-000000000005-000000000009-cc.parquet"]

    assert has_copies(apart) is False
    assert has_copies(repeated) is True
    assert has_copies(other_partition) is False  # batches interleave across partitions
    assert has_copies(["t/dt=1/renamed.parquet"]) is True  # unknown names: assume the worst
