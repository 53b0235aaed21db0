"""SQL over the event lake: DuckDB reading Arrow datasets, read-only and bounded (docs/lake.md#querying).

How the data gets in: the lake's Parquet files are listed with a pyarrow filesystem (local, or S3
through pyarrow's own client: no DuckDB extension is needed, none can be installed offline), opened
as one pyarrow dataset per table (the layout's schema plus its hive partition columns) and
registered with an in-memory DuckDB connection as ``<table>_archived``. The views
(``event_versions``, ``events``, ``decisions``, ``transitions``) keep the latest row per key over
those. A table without files is an empty Arrow table of the same schema, so every view exists and
has its columns on an empty lake.

Why Arrow datasets and not ``read_parquet``: DuckDB then never opens a file itself, so the
connection is created with ``enable_external_access = false`` and *no* allowed directory. User SQL
cannot read a file (``read_csv('/etc/passwd')``, ``read_parquet``, ``glob``), write one
(``COPY … TO``, ``EXPORT``), ``ATTACH`` a database, ``INSTALL``/``LOAD`` an extension or reach a
URL, whatever the statement guard lets through; ``lock_configuration`` then stops it turning that
back on. (With ``read_parquet`` the lake folder would have to be in ``allowed_directories``, which
also lets ``COPY … TO`` write into it.) The price is speed: DuckDB's own Parquet reader is 1.3–2x
faster on the deduplicating views (docs/lake.md#querying gives the figures).

Before any of that runs, :func:`check_select` lets through exactly one ``SELECT`` (``WITH … SELECT``,
``FROM …``, ``VALUES``, ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE`` parse as one). Rows are capped at
``max_rows`` (one more is fetched to tell that there were more) and a watchdog interrupts the query
after ``timeout_s``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from opswarden.errors import QueryError
from opswarden.lake.layout import TABLES, Table

VIEWS = ("event_versions", "events", "decisions", "transitions")
PARTITION_TYPES = {"source": pa.string(), "dt": pa.date32()}

# The latest row per key: copies share a lake_seq, superseded rows have a lower one. This form is
# always right, and costs a window over every row (about 1.5 s per 10M rows on 2 cores).
_GENERAL_SQL = {
    "event_versions": "SELECT * EXCLUDE (supersedes, key_hash) FROM event_versions_archived "
    "QUALIFY row_number() OVER (PARTITION BY event_id, version_key ORDER BY lake_seq DESC) = 1",
    "events": "SELECT * EXCLUDE (supersedes, key_hash) FROM event_versions_archived "
    "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY version_key DESC, lake_seq DESC) = 1",
    "decisions": "SELECT * FROM decisions_archived "
    "QUALIFY row_number() OVER (PARTITION BY decision_id ORDER BY lake_seq DESC) = 1",
    "transitions": "SELECT * FROM transitions_archived "
    "QUALIFY row_number() OVER (PARTITION BY audit_id ORDER BY lake_seq DESC) = 1",
}
# When no table holds copies (files of one partition never overlap in lake_seq — only a batch
# repeated after a crash leaves copies, and compaction removes them), decisions and audit rows are
# unique as they are, and a version row is superseded only by a later row flagged ``supersedes``:
# an anti-join against those few rows replaces the window (10M rows: ~0.2 s instead of ~1.5 s).
_FAST_SQL = {
    "event_versions": "SELECT * EXCLUDE (supersedes, key_hash) FROM event_versions_archived a ANTI JOIN ("
    "SELECT key_hash, max(lake_seq) AS newest FROM event_versions_archived WHERE supersedes GROUP BY ALL) s "
    "ON a.key_hash = s.key_hash AND a.lake_seq < s.newest",
    "events": _GENERAL_SQL["events"],
    "decisions": "SELECT * FROM decisions_archived",
    "transitions": "SELECT * FROM transitions_archived",
}
_RANGE = re.compile(r"part-(\d+)-(\d+)-")


def has_copies(files: list[str]) -> bool:
    """Whether two files of one partition overlap in lake_seq (from their names: part-<first>-<last>):
    the sign of an archive batch written twice. Files named otherwise count as overlapping."""
    by_folder: dict[str, list[tuple[int, int]]] = {}
    for path in files:
        folder, _, name = path.rpartition("/")
        found = _RANGE.match(name)
        if found is None:
            return True
        by_folder.setdefault(folder, []).append((int(found.group(1)), int(found.group(2))))
    for ranges in by_folder.values():
        reach = -1
        for first, last in sorted(ranges):
            if first <= reach:
                return True
            reach = max(reach, last)
    return False


# Set when the connection is made: nothing outside the registered datasets, ever.
_SANDBOX: dict[str, Any] = {
    "enable_external_access": False,  # no file, URL, ATTACH, COPY, EXPORT, INSTALL, LOAD, secrets
    "autoinstall_known_extensions": False,  # no download when a query names an extension's function
    "autoload_known_extensions": False,
    "python_enable_replacements": False,  # `FROM some_name` never finds a Python variable
    "allow_community_extensions": False,
}

_SELECT = duckdb.StatementType.SELECT


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than max_rows: the rest were not fetched
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": [list(r) for r in self.rows],
            "truncated": self.truncated,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def check_select(sql: str) -> str:
    """The one SELECT statement in ``sql``, or a QueryError naming what was found instead."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(readable(exc)) from None
    if not statements:
        raise QueryError("no SQL statement given: write one SELECT statement")
    if len(statements) > 1:
        found = ", ".join(_kind(s) for s in statements)
        raise QueryError(f"only one SELECT statement is allowed; got {len(statements)} ({found})")
    statement = statements[0]
    if statement.type != _SELECT:
        raise QueryError(f"only one SELECT statement is allowed; got {_kind(statement)}")
    return sql


def _kind(statement: duckdb.Statement) -> str:
    """``INSERT``, ``COPY``, ``INSTALL`` … (INSTALL and LOAD share a type: the keyword tells them apart)."""
    if statement.type == duckdb.StatementType.LOAD:
        first = statement.query.lstrip().split(None, 1)
        return first[0].upper() if first else "LOAD"
    return str(statement.type.name)


def readable(exc: BaseException) -> str:
    """DuckDB's message on one line: its first line plus a "Did you mean" hint, no query excerpt."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [lines[0]] if lines else [type(exc).__name__]
    kept += [line for line in lines[1:] if line.startswith("Did you mean")]
    message = " ".join(kept)
    if isinstance(exc, duckdb.PermissionException):
        message += f" (queries read only the views: {', '.join(VIEWS)})"
    return message


# -- where the files are -----------------------------------------------------------------------------


def split_root(root: str) -> tuple[str, str]:
    """``("s3", "bucket/prefix")`` for ``s3://bucket/prefix/``; ``("file", "/abs/path")`` for a folder."""
    if root.startswith("s3://"):
        path = root.removeprefix("s3://").strip("/")
        if not path:
            raise QueryError(f"the lake {root!r} names no bucket: write s3://bucket[/prefix]")
        return "s3", path
    if "://" in root:
        raise QueryError(f"the lake {root!r} is neither a folder nor s3://bucket[/prefix]")
    return "file", os.path.abspath(os.path.expanduser(root))


def filesystem(root: str, s3_endpoint: str | None = None) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of the lake and the lake's path in it (S3: region and credentials from
    the usual AWS environment variables and profiles; ``s3_endpoint`` for S3-compatible stores)."""
    scheme, path = split_root(root)
    if scheme == "s3":
        return pafs.S3FileSystem(**({"endpoint_override": s3_endpoint} if s3_endpoint else {})), path
    return pafs.LocalFileSystem(), path


def table_files(fs: pafs.FileSystem, base: str, table: Table) -> list[str]:
    """The table's Parquet files under ``base``, in their partition folders; hidden and temporary
    files (``.x``, ``_x``, anything not ``*.parquet``) and stray folders are skipped."""
    folder = f"{base}/{table.name}"
    pattern = re.compile(
        "/".join(
            f"{name}=\\d{{4}}-\\d{{2}}-\\d{{2}}" if name == "dt" else f"{name}=[^/]+"
            for name in table.partitions
        )
        + r"/[^/._][^/]*\.parquet"
    )
    selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
    return sorted(
        info.path
        for info in fs.get_file_info(selector)
        if info.type == pafs.FileType.File and pattern.fullmatch(info.path[len(folder) + 1 :])
    )


def full_schema(table: Table) -> pa.Schema:
    """The table's columns as the views show them: the file schema plus the partition columns."""
    schema = table.schema
    for name in table.partitions:
        schema = schema.append(pa.field(name, PARTITION_TYPES[name]))
    return schema


def table_data(fs: pafs.FileSystem, base: str, table: Table, files: list[str]) -> ds.Dataset | pa.Table:
    schema = full_schema(table)
    if not files:
        return schema.empty_table()
    partitioning = ds.partitioning(pa.schema([schema.field(n) for n in table.partitions]), flavor="hive")
    return ds.dataset(
        files,
        schema=schema,  # files missing a column read it as NULL; extra columns are not shown
        format="parquet",
        filesystem=fs,
        partitioning=partitioning,
        partition_base_dir=f"{base}/{table.name}",
    )


# -- the connection ----------------------------------------------------------------------------------


class LakeQuery:
    """One sandboxed DuckDB connection over the lake at ``root`` (a folder or ``s3://bucket/prefix``).

    The files are listed when it opens: files written later are not seen by this object."""

    def __init__(self, root: str, *, max_rows: int, timeout_s: float, s3_endpoint: str | None = None) -> None:
        if max_rows < 1:
            raise QueryError("max_rows must be at least 1")
        self.root = root
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        fs, base = filesystem(root, s3_endpoint)
        try:
            files = {name: table_files(fs, base, table) for name, table in TABLES.items()}
            data = {name: table_data(fs, base, table, files[name]) for name, table in TABLES.items()}
        except OSError as exc:
            raise QueryError(f"cannot list the lake at {root}: {exc}") from None
        self.con = duckdb.connect(":memory:", config=_SANDBOX)
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            for name, relation in data.items():
                self.con.register(f"{name}_archived", relation)
            views = _GENERAL_SQL if any(has_copies(f) for f in files.values()) else _FAST_SQL
            for name, select in views.items():
                self.con.execute(f"CREATE VIEW {name} AS {select}")
            self.con.execute("SET lock_configuration = true")
        except BaseException:
            self.con.close()
            raise

    def __enter__(self) -> LakeQuery:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def materialize(self, name: str, select: str) -> int:
        """For opswarden's own reports, not user SQL: keep a SELECT's rows as an in-memory temporary
        table that later queries on this connection read (a part many queries share is computed
        once). The sandbox stays as it is; the rows come only from the views. Returns the row count."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise QueryError(f"bad temporary table name {name!r}")
        check_select(select)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")
            return int(self.con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])  # type: ignore[index]
        except (duckdb.Error, pa.ArrowException) as exc:
            raise QueryError(readable(exc)) from None

    def run(self, sql: str) -> QueryResult:
        """Run one SELECT: at most ``max_rows`` rows, within ``timeout_s`` seconds, or a QueryError."""
        check_select(sql)
        timed_out = threading.Event()

        def interrupt() -> None:
            timed_out.set()
            self.con.interrupt()

        watchdog = threading.Timer(self.timeout_s, interrupt)
        watchdog.daemon = True
        started = time.perf_counter()
        watchdog.start()
        try:
            cursor = self.con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(self.max_rows + 1)
        except duckdb.InterruptException:
            if timed_out.is_set():
                raise QueryError(
                    f"the query took longer than {self.timeout_s:g} s and was stopped "
                    "(OPSWARDEN_QUERY_TIMEOUT_SECONDS)"
                ) from None
            raise QueryError("the query was interrupted") from None
        except (duckdb.Error, pa.ArrowException) as exc:
            if timed_out.is_set():  # interrupted while Arrow was reading: any error, same cause
                raise QueryError(
                    f"the query took longer than {self.timeout_s:g} s and was stopped "
                    "(OPSWARDEN_QUERY_TIMEOUT_SECONDS)"
                ) from None
            raise QueryError(readable(exc)) from None
        finally:
            watchdog.cancel()
        elapsed = time.perf_counter() - started
        truncated = len(rows) > self.max_rows
        return QueryResult(columns, [tuple(r) for r in rows[: self.max_rows]], truncated, elapsed)


def run_query(
    root: str, sql: str, *, max_rows: int, timeout_s: float, s3_endpoint: str | None = None
) -> QueryResult:
    """Check ``sql``, open the lake, run it, close (the check comes first: a refused statement never
    lists the lake)."""
    check_select(sql)
    with LakeQuery(root, max_rows=max_rows, timeout_s=timeout_s, s3_endpoint=s3_endpoint) as lake:
        return lake.run(sql)
