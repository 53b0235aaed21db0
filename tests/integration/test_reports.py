"""Reports over a real store and lake: a two-week history built with a FakeClock (events ingested on
known days, answered at known minutes), then the digest, the deadlines calendar and one event's history
checked number by number, in every format, and through the CLI."""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from opswarden.act.answers import Action
from opswarden.app import Application
from opswarden.cli.main import app as cli
from opswarden.core.clock import FakeClock
from opswarden.reports import formats, html, run
from opswarden.reports.model import Report
from opswarden.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=14)  # the reports run two weeks in; the digest's window starts at T0 + 7d
SECURITYHUB_MFA = "ev-5d6a831215ba9ded"  # examples/events/04: two findings, accounts 777… and 333…
SECURITYHUB_S3 = "ev-e6be1231596cdd2f"


def rfc1123(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


def health(
    name: str,
    account: str,
    *,
    updated: datetime,
    category: str = "issue",
    type_code: str = "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
    service: str = "EC2",
    start: datetime | None = None,
    resources: tuple[str, ...] = ("i-0a1b2c3d4e5f60718",),
    text: str = "The instance is degraded.",
) -> dict[str, Any]:
    """An EventBridge AWS Health event; the same ``name`` and account make versions of one event."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS Health Event",
        "source": "aws.health",
        "account": account,
        "time": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1",
        "resources": list(resources),
        "detail": {
            "eventArn": f"arn:aws:health:eu-west-1::event/{service}/{type_code}/{type_code}_{name}",
            "service": service,
            "eventTypeCode": type_code,
            "eventTypeCategory": category,
            "eventScopeCode": "ACCOUNT_SPECIFIC",
            "startTime": rfc1123(start or updated),
            "lastUpdatedTime": rfc1123(updated),
            "statusCode": "upcoming" if category == "scheduledChange" else "open",
            "eventRegion": "eu-west-1",
            "eventDescription": [{"language": "en_US", "latestDescription": text}],
            "affectedEntities": [{"entityValue": r, "status": "PENDING"} for r in resources],
            "affectedAccount": account,
        },
    }


RETIREMENT = {
    "category": "scheduledChange",
    "type_code": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
    "service": "EC2",
}


class History:
    """Day 0 (before the window): A (issue, 444… → App) and B (retirement in 60 days, 111… → Infra).
    Day 9: A updated; C (issue in the non-production 666… → suppressed); the two Security Hub findings
    (→ SecOps), acknowledged 90 and 30 minutes after their notification. Day 11: D (retirement in 9
    days, 111… → Infra); A approved, 11 days after its notification. Day 12: C updated (suppressed
    again). Nobody answers B or D."""

    def __init__(self, app: Application, clock: FakeClock, folder: Path) -> None:
        self.app, self.clock, self.folder = app, clock, folder
        self.ids: dict[str, str] = {}

    def ingest(self, day: float, **payloads: dict[str, Any]) -> None:
        self.clock.set(T0 + timedelta(days=day))
        paths = []
        for label, payload in payloads.items():
            path = self.folder / f"{label}-{day}.json"
            path.write_bytes(orjson.dumps(payload))
            paths.append(str(path))
        summary = self.app.ingest_paths(paths)
        assert summary.rejected == 0
        self.app.process()

    def answer(self, at: datetime, event_id: str, action: Action) -> None:
        self.clock.set(at)
        self.app.answer(event_id, action, actor="alice", channel="cli")
        self.app.process()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Application]:
    folder = tmp_path_factory.mktemp("reports")
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, folder / name)
    clock = FakeClock(T0)
    application = Application(Settings(data_dir=folder), clock=clock)
    history = History(application, clock, folder)
    day0 = T0 - timedelta(hours=1)
    history.ingest(
        0,
        a=health("a", "444444444444", updated=day0),
        b=health("b", "111111111111", updated=day0, start=T0 + timedelta(days=60), **RETIREMENT),
    )
    history.ingest(
        9,
        a=health("a", "444444444444", updated=T0 + timedelta(days=9), text="Still degraded."),
        c=health("c", "666666666666", updated=T0 + timedelta(days=9)),
    )
    history.clock.set(T0 + timedelta(days=9))
    application.ingest_paths([str(EXAMPLES / "events" / "04_securityhub_findings.json")])
    application.process()
    day9 = T0 + timedelta(days=9)
    history.answer(day9 + timedelta(minutes=90), SECURITYHUB_MFA, Action.ACKNOWLEDGE)
    history.answer(day9 + timedelta(minutes=30), SECURITYHUB_S3, Action.ACKNOWLEDGE)
    history.ingest(
        11,
        d=health(
            "d",
            "111111111111",
            updated=T0 + timedelta(days=11),
            start=T0 + timedelta(days=20),
            resources=("i-1", "i-2", "i-3", "i-4"),
            **RETIREMENT,
        ),
    )
    events = {e.key.split("_")[-1].split(":")[0]: e.id for e in application.store.list_events(_all())}
    history.answer(T0 + timedelta(days=11), events["a"], Action.APPROVE)
    history.ingest(12, c=health("c", "666666666666", updated=T0 + timedelta(days=12), text="Worse."))
    clock.set(NOW)
    application.ids = events  # type: ignore[attr-defined]
    yield application
    application.close()


def _all() -> Any:
    from opswarden.store.reader import EventFilter

    return EventFilter(limit=100)


@pytest.fixture(scope="module")
def digest(app: Application) -> Report:
    return run.digest(app, NOW - timedelta(days=7))


def rows(report: Report, section: str) -> list[tuple[Any, ...]]:
    return report.section(section).rows


def test_digest_counts_new_and_updated_events_in_the_window(digest: Report) -> None:
    assert {m.key: m.value for m in digest.metrics} | {} == {
        "events": 5,  # A (updated), C, D and the two findings (new); B had nothing in the window
        "new": 4,
        "updated": 1,
        "versions": 6,
        "noise_decisions": 2,  # C twice
        "noise_events": 1,
        "unacknowledged": 2,
        "answered": 3,
        "mtta_minutes": 5320.0,  # (90 + 30 + 11 days) / 3
        "mtta_median_minutes": 90.0,
    }
    assert rows(digest, "by_source") == [("aws.health", 3, 2, 1), ("aws.securityhub", 2, 2, 0)]
    assert rows(digest, "by_category") == [("compliance", 2), ("issue", 2), ("scheduledChange", 1)]
    assert rows(digest, "by_account") == [
        ("111111111111", "core-repo", 1),
        ("333333333333", "core-infrastructure", 1),
        ("444444444444", "sandpit", 1),
        ("666666666666", "primary", 1),
        ("777777777777", "Audit", 1),
    ]
    assert rows(digest, "by_team") == [("SecOps", 2), ("App", 1), ("Infra", 1), ("(no team)", 1)]
    assert sum(n for _, n in rows(digest, "by_severity")) == 5


def test_digest_noise_events_per_day_and_time_to_acknowledge(digest: Report) -> None:
    assert rows(digest, "noise_reasons") == [
        ("suppressed", "OheroACT: non-production account and no cost impact", 2, 1)
    ]
    assert rows(digest, "noise_routes") == [("root/non-production", 2, 1)]
    per_day = {r[0]: r[1:] for r in rows(digest, "per_day")}
    assert digest.section("per_day").columns == ("day", "aws.health", "aws.securityhub", "total")
    assert per_day["2026-11-10"] == (2, 2, 4)
    assert per_day["2026-11-12"] == (1, 0, 1)
    assert per_day["2026-11-13"] == (1, 0, 1)
    assert sum(r[-1] for r in rows(digest, "per_day")) == 6
    assert len(per_day) == 8  # 11-08 … 11-15, empty days included
    assert rows(digest, "mtta_by_team") == [("SecOps", 2, 2, 60.0, 60.0), ("App", 1, 1, 15840.0, 15840.0)]


def test_digest_lists_what_still_waits_for_an_answer(app: Application, digest: Report) -> None:
    waiting = [r[:8] for r in rows(digest, "unacknowledged")]
    ids: dict[str, str] = app.ids  # type: ignore[attr-defined]
    assert waiting == [
        (ids["d"], "aws.health", "EC2 · Instance retirement scheduled", "high", ("Infra",), "notified",
         T0 + timedelta(days=11), 72.0),
        (ids["b"], "aws.health", "EC2 · Instance retirement scheduled", "medium", ("Infra",), "notified",
         T0, 336.0),
    ]  # fmt: skip
    assert rows(digest, "unacknowledged")[0][8] == T0 + timedelta(days=20)  # the deadline


def test_deadlines_calendar_by_week_with_owner_and_state(app: Application) -> None:
    report = run.deadlines(app, 120)
    ids: dict[str, str] = app.ids  # type: ignore[attr-defined]
    calendar = report.section("calendar")
    picked = [(r[0].isoformat(), r[1], r[2], r[3], r[9], r[10], r[11], r[12], r[13]) for r in calendar.rows]
    assert picked == [
        ("2026-11-16", T0 + timedelta(days=20), 6.0, ids["d"], 4, ("i-1", "i-2", "i-3"),
         ("111111111111 (core-repo)",), ("Infra",), "notified"),
        ("2026-12-28", T0 + timedelta(days=60), 46.0, ids["b"], 1, ("i-0a1b2c3d4e5f60718",),
         ("111111111111 (core-repo)",), ("Infra",), "notified"),
    ]  # fmt: skip
    assert [tuple(r) for r in report.section("weeks").rows] == [
        (T0.date().replace(day=16), 1, 4, 1),
        (T0.date().replace(month=12, day=28), 1, 1, 1),
    ]
    assert report.metric("deadlines") == 2
    assert run.deadlines(app, 10).metric("deadlines") == 1  # B is 46 days away


def test_event_report_shows_versions_changes_decisions_and_transitions(app: Application) -> None:
    ids: dict[str, str] = app.ids  # type: ignore[attr-defined]
    report = run.event(app, ids["a"][:10])
    assert [r[-1] for r in rows(report, "versions")] == [
        "first version",
        "start_at: 2026-11-01T08:00:00Z→2026-11-10T09:00:00Z; description",
    ]
    assert [r[3] for r in rows(report, "decisions")] == ["notify", "notify"]
    moves = [(r[4], r[5]) for r in rows(report, "transitions") if r[3] == "transition"]
    assert moves == [("new", "routed"), ("routed", "notified"), ("notified", "approved")]
    assert report.metric("lifecycle") == "approved"


def test_markdown_csv_json_and_html_shapes(digest: Report, tmp_path: Path) -> None:
    markdown = formats.to_markdown(digest)
    assert markdown.startswith("# opswarden digest 2026-11-08 09:00 → 2026-11-15 09:00 UTC\n")
    assert "- **new events**: 4\n" in markdown
    assert (
        "## By source\n\n| source | events | new | updated |\n|---|---|---|---|\n| aws.health | 3 | 2 | 1 |"
        in markdown
    )

    written = formats.write_csv(digest, tmp_path)
    assert len(written) == len(digest.sections)
    by_source = list(csv.reader(io.StringIO((tmp_path / "digest_by_source.csv").read_text())))
    assert by_source == [["source", "events", "new", "updated"], ["aws.health", "3", "2", "1"],
                         ["aws.securityhub", "2", "2", "0"]]  # fmt: skip

    data = orjson.loads(formats.to_json(digest))
    assert data["metrics"]["mtta_minutes"] == 5320.0
    assert data["sections"]["unacknowledged"]["rows"][1]["waiting_since"] == "2026-11-01T09:00:00Z"

    page = html.to_html(digest)
    assert page.count('<img src="data:image/png;base64,iVBOR') == 2  # per day by source, by severity
    assert "<style>" in page
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org", "")


def test_cli_digest_formats_charts_and_send(app: Application, tmp_path: Path) -> None:
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, ["report", *args], obj=app)
        assert result.exit_code == 0, result.output
        return result.stdout

    data = orjson.loads(invoke("digest", "--since", "7d", "--format", "json"))
    assert data["metrics"]["new"] == 4
    one = orjson.loads(invoke("digest", "--format", "json", "--items", "1"))
    assert one["metrics"]["unacknowledged"] == 2
    assert [r["event_id"] for r in one["sections"]["unacknowledged"]["rows"]] == [app.ids["d"]]  # type: ignore[attr-defined]
    assert "the first 1 of 2" in one["sections"]["unacknowledged"]["note"]
    assert "Unacknowledged action items" in invoke("digest")

    page = tmp_path / "digest.html"
    invoke("digest", "--format", "html", "--output", str(page), "--charts", str(tmp_path / "charts"))
    assert "data:image/png;base64," in page.read_text()
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == [
        "events_by_severity.png",
        "events_by_severity.svg",
        "events_per_day.png",
        "events_per_day.svg",
    ]
    assert (tmp_path / "charts" / "events_per_day.svg").read_text().lstrip().startswith("<?xml")

    calendar = list(csv.reader(io.StringIO(invoke("deadlines", "--format", "csv"))))
    assert calendar[0][:3] == ["week", "deadline", "days_left"]
    assert [r[0] for r in calendar[1:]] == ["2026-11-16", "2026-12-28"]

    refused = runner.invoke(cli, ["report", "digest", "--format", "csv"], obj=app)
    assert refused.exit_code == 2
    assert "--section NAME" in refused.output

    assert "description" in invoke("event", app.ids["a"], "--format", "markdown")  # type: ignore[attr-defined]
    missing = runner.invoke(cli, ["report", "event", "ev-nope"], obj=app)
    assert missing.exit_code == 1

    sink = app.settings.data_dir / "notifications.log"
    before = sink.read_text()
    invoke("digest", "--format", "json", "--send")
    added = sink.read_text()[len(before) :]
    assert "digest · opswarden digest 2026-11-08 09:00" in added
    assert "- **unacknowledged" not in added
    assert "- **action items awaiting an answer (now)**: 2" in added
