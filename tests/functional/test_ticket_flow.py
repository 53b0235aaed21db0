"""Tickets end to end on the embedded default (the built-in tracker): opened by policy or by approval,
never twice, updated and closed with their event, reconciled when people close them by hand."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from opswarden.act.answers import Action
from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.notify.channels.tickets import TicketNotifier
from opswarden.notify.message import Kind
from opswarden.settings import Settings
from opswarden.tickets.base import TicketRef, TicketStatus
from opswarden.triage import messages

pytestmark = pytest.mark.functional

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FINDINGS = EXAMPLES / "events" / "04_securityhub_findings.json"
S3_FINDING = "ev-e6be1231596cdd2f"  # S3.8 in 333333333333: the security route opens a ticket for SecOps


def make_app(tmp_path: Path, clock: FakeClock, policy: str | None = None, **settings: Any) -> Application:
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, tmp_path / name)
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(policy)
    return Application(Settings(data_dir=tmp_path, **settings), clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Application]:
    application = make_app(tmp_path, clock)
    yield application
    application.close()


def finding(workflow: str, minutes: int, record_state: str = "ACTIVE", compliance: str = "FAILED") -> bytes:
    """The S3.8 finding of the example, as Security Hub sends it again ``minutes`` later."""
    payload = orjson.loads(FINDINGS.read_bytes())
    found = payload["detail"]["findings"][0]
    found["Workflow"] = {"Status": workflow}
    found["RecordState"] = record_state
    found["Compliance"]["Status"] = compliance
    found["UpdatedAt"] = (datetime(2026, 11, 24, 11, 58, tzinfo=UTC) + timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    payload["detail"]["findings"] = [found]
    return orjson.dumps(payload)


def comments(app: Application, key: str) -> list[str]:
    ticketer = app.supervisor.ticketer
    ref = TicketRef("builtin", key, None, key.removeprefix("OW-"))
    return [c["body"] for c in ticketer.details(ref)["comments"]]  # type: ignore[attr-defined]


def history(app: Application, event_id: str) -> list[str]:
    return [h["action"] for h in app.event_json(event_id)["history"]]


def test_the_policy_opens_one_ticket_per_owner_team_shown_with_the_event(app: Application) -> None:
    app.ingest_body(finding("NEW", 0), "first")
    app.process()

    detail = app.event_json(S3_FINDING)
    [ticket] = detail["tickets"]

    assert (ticket["backend"], ticket["key"], ticket["team"], ticket["status"]) == (
        "builtin",
        "OW-1",
        "sec01",
        "open",
    )
    assert detail["lifecycle"] == "notified"  # nobody has answered yet: it still waits (and is reminded)
    assert "ticket_opened" in history(app, S3_FINDING)
    stored = app.supervisor.ticketer.details(TicketRef("builtin", "OW-1", None, "1"))  # type: ignore[attr-defined]
    assert stored["priority"] == 2  # high
    assert "S3 general purpose buckets should block public access" in stored["title"]
    assert "333333333333 core-infrastructure" in stored["description"]


def test_security_hub_resetting_the_workflow_to_new_comments_and_never_opens_a_second_ticket(
    app: Application,
) -> None:
    app.ingest_body(finding("NEW", 0), "first")
    app.process()
    app.ingest_body(finding("NOTIFIED", 30), "notified")
    app.process()
    app.ingest_body(finding("NEW", 60), "reset to NEW")  # the Findings Manager bug: it looks new again
    app.process()

    assert [t["key"] for t in app.tickets()] == ["OW-1"]
    notes = comments(app, "OW-1")
    assert len(notes) == 2
    assert all("workflow status:" in note for note in notes)
    assert notes[-1].endswith("workflow status: NOTIFIED → NEW")


def test_upstream_closure_closes_the_ticket_and_sync_resolves_the_event(app: Application) -> None:
    app.ingest_body(finding("NEW", 0), "first")
    app.process()
    app.answer(S3_FINDING, Action.ACKNOWLEDGE, actor="sam", channel="cli")
    app.process()
    app.ingest_body(finding("RESOLVED", 90, record_state="ARCHIVED", compliance="PASSED"), "fixed")
    app.process()
    summary = app.supervisor.sync_tickets()

    [ticket] = app.tickets()
    assert ticket["status"] == "closed"
    assert summary.checked == 1
    assert app.event_json(S3_FINDING)["lifecycle"] == "resolved"


def test_a_ticket_closed_by_hand_while_the_event_is_open_gets_one_comment(app: Application) -> None:
    app.ingest_body(finding("NEW", 0), "first")
    app.process()
    ticketer = app.supervisor.ticketer
    ref = TicketRef("builtin", "OW-1", None, "1")
    ticketer.close(ref, "closed by someone")

    first = app.supervisor.sync_tickets()
    second = app.supervisor.sync_tickets()

    assert (first.commented, second.commented) == (1, 0)
    assert comments(app, "OW-1")[-1].startswith(
        "opswarden: this ticket was closed while its event is still open"
    )
    assert ticketer.state(ref).status is TicketStatus.CLOSED
    assert "ticket_closed_while_open" in history(app, S3_FINDING)


def test_or_is_reopened_when_so_configured(tmp_path: Path, clock: FakeClock) -> None:
    app = make_app(tmp_path, clock, ticket_on_manual_close="reopen")
    try:
        app.ingest_body(finding("NEW", 0), "first")
        app.process()
        ref = TicketRef("builtin", "OW-1", None, "1")
        app.supervisor.ticketer.close(ref, "closed by someone")
        summary = app.supervisor.sync_tickets()
        state = app.supervisor.ticketer.state(ref)
    finally:
        app.close()

    assert summary.reopened == 1
    assert state.status is TicketStatus.OPEN


APPROVAL_POLICY = """
route:
  name: root
  channels: [console]
  routes:
    - name: findings
      match: {category: [finding, compliance]}
      teams: [SecOps]
      require_approval: true
      open_ticket: true
"""


def test_with_approval_required_the_ticket_waits_for_the_approval(tmp_path: Path, clock: FakeClock) -> None:
    app = make_app(tmp_path, clock, policy=APPROVAL_POLICY)
    try:
        app.ingest_body(finding("NEW", 0), "first")
        app.process()
        before = app.tickets()
        notes = app.event_json(S3_FINDING)["decision"]["delivery_notes"]
        app.answer(S3_FINDING, Action.APPROVE, actor="carol", channel="cli")
        app.process()
        after = app.tickets()
        lifecycle = app.event_json(S3_FINDING)["lifecycle"]
    finally:
        app.close()

    assert before == []
    assert notes == ["open_ticket waits for the approval: the ticket is opened when someone approves"]
    assert [(t["key"], t["team"]) for t in after] == [("OW-1", "sec01")]
    assert lifecycle == "ticketed"  # approved, and now tracked in the ticket


def test_a_crash_between_creating_and_recording_the_ticket_opens_no_second(app: Application) -> None:
    app.ingest_body(finding("NEW", 0), "first")
    app.process(deliver=False)  # decided and queued; nothing sent
    # The previous run opened the ticket in the tracker and stopped before recording it.
    notifier = app.supervisor.channels["tickets"]
    assert isinstance(notifier, TicketNotifier)
    with app.store.engine.connect() as conn:
        from opswarden.store import triage as work

        [subject] = work.load_subjects(conn, [S3_FINDING])
    msg = messages.build(
        subject.event, subject.decision, app.supervisor.org, kind=Kind.CARD, lifecycle="routed", now=T0
    )
    opened = app.supervisor.ticketer.create(notifier.new_ticket(msg, "sec01"))

    app.process()

    assert [t["key"] for t in app.tickets()] == [opened.key]  # found by its correlation key, linked
    assert app.supervisor.ticketer.find(f"opswarden:{S3_FINDING}:sec01") == opened


def test_the_tickets_commands(app: Application, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from opswarden.cli.main import app as cli

    monkeypatch.setenv("OPSWARDEN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    runner.invoke(cli, ["ingest", str(EXAMPLES / "events" / "08_rds_issue_production.json")])
    created = runner.invoke(cli, ["tickets", "create", "ev-e1a1b956e861fabb", "--team", "app01"])
    again = runner.invoke(cli, ["tickets", "create", "ev-e1a1b956e861fabb", "--team", "app01"])
    updated = runner.invoke(
        cli,
        ["tickets", "update", "OW-1", "--status", "in_progress", "--assignee", "ann", "--comment", "on it"],
    )
    listed = runner.invoke(cli, ["tickets", "list", "--format", "json"])
    shown = runner.invoke(cli, ["tickets", "show", "OW-1", "--format", "json"])

    assert created.exit_code == 0, created.output
    assert "OW-1 (builtin) for event ev-e1a1b956e861fabb, team app01" in created.output
    assert "OW-1" in again.output  # the same ticket: one per event and team
    assert updated.exit_code == 0, updated.output
    [row] = orjson.loads(listed.output)
    assert (row["key"], row["status"], row["assignee"]) == ("OW-1", "in_progress", "ann")
    assert orjson.loads(shown.output)["comments"][-1]["body"] == "on it"


def test_the_whole_flow_on_jira(tmp_path: Path, clock: FakeClock) -> None:
    """The same pipeline with OPSWARDEN_TICKETS_BACKEND=jira against the loopback Jira."""
    from pydantic import SecretStr

    from tests.fakes.tickets_jira import EMAIL, PROJECT, TOKEN, FakeJira

    jira = FakeJira().start()
    try:
        app = make_app(
            tmp_path,
            clock,
            tickets_backend="jira",
            jira_url=jira.url,
            jira_email=EMAIL,
            jira_api_token=SecretStr(TOKEN),
            jira_project=PROJECT,
        )
        try:
            jira.fail_next(429, 1.0)  # rate limited at first: the outbox retries after Retry-After
            app.ingest_body(finding("NEW", 0), "first")
            app.process()
            queued = [m["status"] for m in app.outbox(limit=50) if m["channel"] == "tickets"]
            clock.advance(timedelta(seconds=15))
            app.process()
            app.answer(S3_FINDING, Action.ACKNOWLEDGE, actor="sam", channel="cli")
            app.ingest_body(finding("RESOLVED", 90, record_state="ARCHIVED", compliance="PASSED"), "fixed")
            app.process()
            synced = app.supervisor.sync_tickets()
            [ticket] = app.tickets()
            lifecycle = app.event_json(S3_FINDING)["lifecycle"]
        finally:
            app.close()
        [issue] = jira.issues.values()
    finally:
        jira.stop()

    assert queued == ["pending"]
    assert (ticket["backend"], ticket["key"], ticket["status"]) == ("jira", "OPS-1", "closed")
    assert "opswarden-ev-e6be1231596cdd2f-sec01" in issue.fields["labels"]
    assert issue.status == "Done"
    assert len(issue.comments) >= 2  # the acknowledgement, and the closure
    assert synced.checked == 1
    assert lifecycle == "resolved"
