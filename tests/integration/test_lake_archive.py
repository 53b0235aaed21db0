"""The archive on a real store (SQLite and PostgreSQL) and a real Parquet lake in a temporary folder:
everything stored reaches the lake, a crash mid-batch loses nothing, verify proves it, compaction and
retention keep it so."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest

from opswarden.act.answers import Action
from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.lake.archive import Archiver
from opswarden.lake.fs import Lake
from opswarden.lake.maintain import compact, expire, retention_cutoff
from opswarden.lake.query import LakeQuery
from opswarden.lake.verify import verify
from opswarden.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Application]:
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, tmp_path / name)
    application = Application(Settings(data_dir=tmp_path, database_url=database_url), clock=FakeClock(T0))
    yield application
    application.close()


def count(lake: Lake, view: str) -> int:
    with LakeQuery(lake.uri, max_rows=10, timeout_s=30) as query:
        return int(query.run(f"SELECT count(*) FROM {view}").rows[0][0])


def lake_of(app: Application) -> Lake:
    return Lake.open(app.settings.lake)


def rows(lake: Lake, table: str, *columns: str) -> list[dict[str, Any]]:
    files = lake.files(table)
    if not files:
        return []
    dataset = pads.dataset(files, format="parquet", partitioning="hive", partition_base_dir=lake.path(table))
    return sorted(
        dataset.to_table(columns=list(columns)).to_pylist(), key=lambda r: tuple(map(str, r.values()))
    )


def test_ingest_and_triage_reach_the_lake_and_verify_agrees(app: Application) -> None:
    app.ingest_paths([str(EXAMPLES / "events")])
    summary = app.process()
    lake = lake_of(app)

    assert summary.archive is not None
    audited = len(app.store.audit_entries())
    assert summary.archive["rows"] == {"event_versions": 10, "decisions": 8, "transitions": audited}
    versions = rows(lake, "event_versions", "source", "event_id", "version_key")
    assert len(versions) == 10
    assert {r["source"] for r in versions} == {
        "aws.health",
        "aws.securityhub",
        "aws.guardduty",
        "aws.cloudwatch",
        "aws.config",
    }
    eks = [r for r in versions if r["event_id"] == "ev-7106f91ac59928da"]
    assert [r["version_key"] for r in eks] == ["2026-11-02T09:14:31.000000Z", "2026-11-20T16:39:12.000000Z"]
    moves = rows(lake, "transitions", "event_id", "from_state", "to_state")
    assert {"event_id": "ev-7106f91ac59928da", "from_state": "routed", "to_state": "notified"} in moves
    report = verify(app.store.engine, lake)
    assert report.to_dict() | {"partitions": 0} == {
        "ok": True,
        "partitions": 0,
        "rows": 18 + audited,
        "pending": 0,
        "differences": [],
    }


def test_answers_are_archived_with_who_and_how(app: Application) -> None:
    app.ingest_paths([str(EXAMPLES / "events" / "08_rds_issue_production.json")])
    app.process()
    app.answer("ev-e1a1b956e861fabb", Action.APPROVE, actor="carol", channel="cli", note="CAB-1")
    app.process()

    moves = rows(lake_of(app), "transitions", "actor", "channel", "to_state", "action")

    assert {"actor": "carol", "channel": "cli", "to_state": "approved", "action": "transition"} in moves


def test_a_crash_mid_batch_loses_nothing_and_copies_are_ignored_then_compacted(
    app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.ingest_paths([str(EXAMPLES / "events")])  # stored, not processed: only the versions are queued
    lake = lake_of(app)
    archiver = Archiver(app.store.engine, lake)
    real_write = Archiver._write
    written: list[str] = []

    def write_then_crash(
        self: Archiver, table: str, values: dict[str, str], batch: list[dict[str, Any]]
    ) -> None:
        real_write(self, table, values, batch)
        written.append(table)
        if len(written) == 3:  # some partitions are on disk, the queue rows not yet removed
            raise OSError("disk went away")

    monkeypatch.setattr(Archiver, "_write", write_then_crash)
    with pytest.raises(OSError, match="disk went away"):
        archiver.run()
    monkeypatch.setattr(Archiver, "_write", real_write)

    assert archiver.pending() == 10  # the batch rolled back: every version is still queued
    assert len(lake.files("")) == 3
    archiver.run()
    assert verify(app.store.engine, lake).ok
    assert count(lake, "event_versions") == 10  # the copies are there, and the views ignore them
    copies = compact(lake)
    assert copies.copies_dropped > 0
    after = verify(app.store.engine, lake)
    assert after.ok
    assert count(lake, "event_versions") == 10
    assert len(lake.files("event_versions")) == len(
        {r["source"] for r in rows(lake, "event_versions", "source")}
    )


def test_verify_names_the_partition_that_lost_a_file(app: Application) -> None:
    app.ingest_paths([str(EXAMPLES / "events")])
    app.process()
    lake = lake_of(app)
    [guardduty] = lake.files("event_versions/source=aws.guardduty")
    Path(guardduty).unlink()

    report = verify(app.store.engine, lake)

    assert not report.ok
    assert report.differences == ["event_versions source=aws.guardduty/dt=2026-11-26: store 1 row(s), lake 0"]


def test_rows_not_archived_yet_are_pending_not_differences(app: Application) -> None:
    app.ingest_paths([str(EXAMPLES / "events" / "05_guardduty_finding.json")])

    report = verify(app.store.engine, lake_of(app))

    assert report.ok
    assert report.pending == 1


def test_a_version_merged_after_it_was_archived_is_archived_again_and_the_latest_counts(
    app: Application,
) -> None:
    body = (EXAMPLES / "events" / "01_eks_end_of_support.json").read_text()
    app.ingest_body(body.encode(), "page1")
    app.process()
    # The same update time with one more affected entity: the store merges it into the version.
    merged = body.replace(
        '"affectedEntities": [',
        '"affectedEntities": [{"entityValue": "arn:aws:eks:eu-west-1:111111111111:cluster/extra"},',
    )
    app.ingest_body(merged.encode(), "page2")
    app.process()
    lake = lake_of(app)

    archived = rows(lake, "event_versions", "version_key", "resource_count", "lake_seq")

    assert len({r["lake_seq"] for r in archived}) == 2  # never reused, even after the queue emptied
    with LakeQuery(lake.uri, max_rows=10, timeout_s=10) as query:
        assert query.run("SELECT resource_count FROM event_versions").rows == [(2,)]
    assert [r["resource_count"] for r in sorted(archived, key=lambda r: r["lake_seq"])] == [1, 2]
    assert len({r["version_key"] for r in archived}) == 1
    assert verify(app.store.engine, lake).ok


def test_retention_deletes_old_partitions_only(app: Application) -> None:
    app.ingest_paths([str(EXAMPLES / "events")])
    app.process()
    lake = lake_of(app)

    partitions = {f.removeprefix(lake.root + "/").rsplit("/", 1)[0] for f in lake.files("")}

    kept = expire(lake, 30, T0)
    gone = expire(lake, 30, T0 + timedelta(days=31))

    assert kept == []
    assert sorted(gone) == sorted(partitions)
    assert len(partitions) == 7
    assert lake.files("") == []


# -- S3: pyarrow's own S3 client against moto's server on loopback ----------------------------------


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 endpoint on loopback with a bucket ``lake``; its URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="lake")
    try:
        yield endpoint
    finally:
        server.stop()


def test_an_s3_lake_archives_verifies_and_compacts(tmp_path: Path, s3: str) -> None:
    settings = Settings(data_dir=tmp_path, lake_uri="s3://lake/opswarden", lake_s3_endpoint=s3)
    app = Application(settings, clock=FakeClock(T0))
    try:
        app.ingest_paths([str(EXAMPLES / "events")])
        summary = app.process()
        lake = Lake.open(settings.lake, s3_endpoint=s3)
        report = verify(app.store.engine, lake)
        app.ingest_paths([str(EXAMPLES / "events" / "08_rds_issue_production.json")])
        app.answer("ev-7106f91ac59928da", Action.ACKNOWLEDGE, actor="alice", channel="cli")
        app.process()
        compacted = compact(lake)
        after = verify(app.store.engine, lake)
    finally:
        app.close()

    assert summary.archive is not None
    assert summary.archive["rows"]["event_versions"] == 10
    assert all(f.startswith("lake/opswarden/") for f in lake.files(""))
    assert report.ok
    assert compacted.partitions >= 1
    assert after.ok


def test_retention_runs_with_processing_and_verify_skips_what_it_deleted(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    app = Application(Settings(data_dir=tmp_path, lake_retention_days=30), clock=clock)
    try:
        app.ingest_paths([str(EXAMPLES / "events" / "05_guardduty_finding.json")])
        app.process()
        lake = lake_of(app)
        before = len(lake.files(""))
        clock.advance(timedelta(days=31))
        app.ingest_paths([str(EXAMPLES / "events" / "08_rds_issue_production.json")])
        app.process()
        cutoff = retention_cutoff(30, clock.now())
        report = verify(app.store.engine, lake, keep_since=cutoff)
        unfiltered = verify(app.store.engine, lake)
    finally:
        app.close()

    assert before > 0
    assert all("dt=2026-11-26" not in f for f in lake.files(""))  # the old day is gone
    assert any("dt=2026-12-27" in f for f in lake.files(""))  # the new day is there
    assert report.ok
    assert not unfiltered.ok  # without the cutoff, the deleted days are reported missing


def test_the_lake_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from opswarden.cli.main import app as cli

    monkeypatch.setenv("OPSWARDEN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    ingested = runner.invoke(cli, ["ingest", str(EXAMPLES / "events")])
    agree = runner.invoke(cli, ["lake", "verify"])
    [guardduty] = Lake.open(str(tmp_path / "lake")).files("event_versions/source=aws.guardduty")
    Path(guardduty).unlink()
    differ = runner.invoke(cli, ["lake", "verify", "--format", "json"])
    expire = runner.invoke(cli, ["lake", "expire"])

    assert ingested.exit_code == 0, ingested.output
    assert agree.exit_code == 0
    assert "store and lake agree: 7 partition(s)" in agree.output
    assert differ.exit_code == 1
    assert '"event_versions source=aws.guardduty/dt=' in differ.output
    assert expire.exit_code == 1
    assert "no retention" in expire.output
