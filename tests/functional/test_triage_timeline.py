"""Triage, lifecycle, notification and reminders end to end, on a fake clock (Alertmanager style:
push events at t, expect messages in the windows where they belong).

The application runs on a real SQLite store with the example org and policy; messages go to the
console sink (a file) unless a test configures Slack against the loopback fake.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from opswarden.act.answers import Action
from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.errors import LifecycleError
from opswarden.settings import Settings
from opswarden.store import outbox
from opswarden.store.reader import EventFilter
from tests.fakes.slack_api import FakeSlackAPI

pytestmark = pytest.mark.functional

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"
EKS_KEY = (
    "aws.health:arn:aws:health:eu-west-1::event/EKS/AWS_EKS_PLANNED_LIFECYCLE_EVENT/"
    "AWS_EKS_PLANNED_LIFECYCLE_EVENT_4f2c9d7e1a:111111111111"
)
EKS_DEADLINE = datetime(2027, 3, 27, tzinfo=UTC)
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def make_app(tmp_path: Path, clock: FakeClock, **settings: Any) -> Application:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, data / name)
    return Application(Settings(data_dir=data, **settings), clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock, database_url: str) -> Iterator[Application]:
    """On SQLite and, when configured, PostgreSQL."""
    application = make_app(tmp_path, clock, database_url=database_url)
    yield application
    application.close()


def ingest(app: Application, *names: str) -> None:
    summary = app.ingest_paths([str(EXAMPLES / "events" / n) for n in names])
    assert summary.rejected == 0


def event(app: Application, ref: str) -> dict[str, Any]:
    return app.event_json(ref)


def sent(app: Application, ref: str) -> list[tuple[str, str, str]]:
    """(kind, channel, status) of the event's messages, oldest first."""
    return [(m["kind"], m["channel"], m["status"]) for m in event(app, ref)["messages"]]


def transitions(app: Application, ref: str) -> list[tuple[str, str, str, str]]:
    """(from, to, actor, channel) of every lifecycle transition, in order."""
    return [
        (h["detail"]["from"], h["detail"]["to"], h["actor"], h["channel"])
        for h in event(app, ref)["history"]
        if h["action"] == "transition"
    ]


def all_events(app: Application) -> list[dict[str, Any]]:
    return app.events_json(EventFilter())


def eks_id(app: Application) -> str:
    return str(event(app, EKS_KEY)["id"])


# -- suppression and routing ----------------------------------------------------------------------


def test_noise_is_suppressed_with_the_rule_and_reason_and_nobody_is_told(app: Application) -> None:
    ingest(app, "03_ec2_issue_sandbox.json")  # account 666666666666: non-production
    app.process()

    [stored] = all_events(app)
    detail = event(app, stored["id"])

    assert detail["lifecycle"] == "suppressed"
    assert detail["decision"]["suppressed"] is True
    assert detail["decision"]["routes"] == ["root/non-production"]
    assert detail["decision"]["reason"] == "OheroACT: non-production account and no cost impact"
    assert transitions(app, stored["id"]) == [("new", "suppressed", "opswarden", "policy")]
    assert detail["messages"] == []


def test_an_accepted_event_is_routed_then_notified_with_a_card_on_the_console(
    app: Application, tmp_path: Path
) -> None:
    ingest(app, "01_eks_end_of_support.json")
    summary = app.process()
    ref = eks_id(app)
    detail = event(app, ref)

    assert detail["decision"]["teams"] == ["inf01"]
    assert detail["decision"]["reminders"] == [30, 7, 1]
    # Slack is the policy's channel but is not configured here: the console gets it, and says why.
    assert detail["decision"]["delivery_notes"] == ["slack is not configured: sent to the console instead"]
    # The lifecycle route says open_ticket: the built-in tracker gets one for the owner team.
    assert sent(app, ref) == [("card", "console", "sent"), ("card", "tickets", "sent")]
    moves = transitions(app, ref)
    assert moves[0] == ("new", "routed", "opswarden", "policy")
    # the first delivery moves it on: the console card or the ticket, whichever the outbox sent first
    assert moves[1][:3] == ("routed", "notified", "opswarden")
    assert moves[1][3] in ("console", "tickets")
    assert len(moves) == 2
    assert summary.dispatch.sent["console"] == 1
    log = (tmp_path / "data" / "notifications.log").read_text()
    assert "card · " + ref in log
    assert "Amazon EKS standard support for Kubernetes version 1.30" in log


def test_an_update_is_told_once_with_what_changed_and_a_redelivery_tells_nothing(
    app: Application, tmp_path: Path
) -> None:
    ingest(app, "01_eks_end_of_support.json")
    app.process()
    ingest(app, "02_eks_end_of_support_update.json")
    app.process()
    ingest(app, "01_eks_end_of_support.json", "02_eks_end_of_support_update.json")  # redelivered
    app.process()
    ref = eks_id(app)

    assert sent(app, ref) == [
        ("card", "console", "sent"),
        ("card", "tickets", "sent"),
        ("update", "console", "sent"),
        ("update", "tickets", "sent"),  # a comment on the ticket
    ]
    log = (tmp_path / "data" / "notifications.log").read_text()
    update = log[log.index("update · " + ref) :]
    assert "ledger-prod" in update  # the cluster the update added
    assert event(app, ref)["lifecycle"] == "notified"  # an update does not re-route


def test_a_crash_between_ingest_and_triage_loses_nothing(tmp_path: Path, clock: FakeClock) -> None:
    first = make_app(tmp_path, clock)
    ingest(first, "04_securityhub_findings.json")  # stored; the process "dies" before triage
    first.close()

    second = make_app(tmp_path, clock)
    summary = second.process()
    second.close()

    assert summary.triage.decided == 2
    assert summary.dispatch.sent["console"] == 2


# -- answers ------------------------------------------------------------------------------------


def test_acknowledge_is_recorded_with_who_and_when_and_told_in_the_thread(
    app: Application, clock: FakeClock
) -> None:
    ingest(app, "01_eks_end_of_support.json")
    app.process()
    clock.advance(timedelta(hours=2))

    done = app.answer(EKS_KEY, Action.ACKNOWLEDGE, actor="alice", channel="cli", note="upgrading")
    app.process()
    ref = eks_id(app)

    assert (done.old.value, done.new.value, done.threads) == ("notified", "acknowledged", 2)  # card, ticket
    assert transitions(app, ref)[-1] == ("notified", "acknowledged", "alice", "cli")
    assert event(app, ref)["history"][-1]["at"] == "2026-11-26T14:00:00Z"
    assert sent(app, ref)[-2:] == [("answer", "console", "sent"), ("answer", "tickets", "sent")]
    with pytest.raises(LifecycleError, match="already acknowledged by alice at 2026-11-26 14:00"):
        app.answer(EKS_KEY, Action.ACKNOWLEDGE, actor="bob", channel="cli")
    refused = [h for h in event(app, ref)["history"] if h["action"] == "refused"]
    assert [(h["actor"], h["channel"]) for h in refused] == [("bob", "cli")]


def test_approve_only_where_the_policy_asked_for_approval(app: Application) -> None:
    ingest(app, "01_eks_end_of_support.json", "08_rds_issue_production.json")
    app.process()
    rds = next(e for e in all_events(app) if e["source"] == "aws.health" and e["id"] != eks_id(app))

    with pytest.raises(LifecycleError, match="does not need approval"):
        app.answer(EKS_KEY, Action.APPROVE, actor="alice", channel="cli")
    done = app.answer(rds["id"], Action.APPROVE, actor="carol", channel="cli")

    assert event(app, rds["id"])["decision"]["require_approval"] is True
    assert (done.old.value, done.new.value) == ("notified", "approved")
    with pytest.raises(LifecycleError, match="already approved by carol"):
        app.answer(rds["id"], Action.REJECT, actor="dave", channel="cli")


def test_a_suppressed_event_cannot_be_acknowledged(app: Application) -> None:
    ingest(app, "03_ec2_issue_sandbox.json")
    app.process()
    [stored] = all_events(app)

    with pytest.raises(LifecycleError, match="is suppressed: it cannot become acknowledged"):
        app.answer(stored["id"], Action.ACKNOWLEDGE, actor="alice", channel="cli")


# -- upstream closure -----------------------------------------------------------------------------


def test_upstream_closure_resolves_and_is_told_in_the_thread(app: Application, tmp_path: Path) -> None:
    alarm, ok = (EXAMPLES / "events" / "06_cloudwatch_alarm.ndjson").read_bytes().splitlines()
    app.ingest_body(alarm, "alarm")
    app.process()
    [stored] = all_events(app)
    app.ingest_body(ok, "ok")
    app.process()

    assert event(app, stored["id"])["lifecycle"] == "resolved"
    assert [k for k, _, _ in sent(app, stored["id"])] == ["card", "resolved"]
    assert transitions(app, stored["id"])[-1][:2] == ("notified", "resolved")


def test_an_event_that_arrives_already_closed_is_resolved_without_telling_anyone(app: Application) -> None:
    ingest(app, "06_cloudwatch_alarm.ndjson")  # ALARM and OK in one delivery
    app.process()
    [stored] = all_events(app)

    assert event(app, stored["id"])["lifecycle"] == "resolved"
    assert sent(app, stored["id"]) == []


# -- reminders ----------------------------------------------------------------------------------


def reminders(app: Application) -> list[int]:
    """The offsets of the reminders sent, oldest first."""
    with app.store.engine.connect() as conn:
        rows = outbox.rows(conn, limit=1000)
    return [
        r.payload["reminder_days"]
        for r in reversed(rows)
        if r.kind == "reminder" and r.status == "sent" and r.channel == "console"
    ]


def test_reminders_fall_due_at_their_offsets_and_each_is_sent_once(
    app: Application, clock: FakeClock
) -> None:
    ingest(app, "01_eks_end_of_support.json")
    app.process()
    timeline = {}
    for label, moment in (
        ("day 0", T0),
        ("31 days before", EKS_DEADLINE - timedelta(days=31)),
        ("30 days before", EKS_DEADLINE - timedelta(days=30) + timedelta(minutes=1)),
        ("29 days before", EKS_DEADLINE - timedelta(days=29)),
        ("7 days before", EKS_DEADLINE - timedelta(days=7)),
        ("a minute later", EKS_DEADLINE - timedelta(days=7) + timedelta(minutes=1)),
    ):
        clock.set(moment)
        app.process()
        timeline[label] = reminders(app)

    assert timeline == {
        "day 0": [],
        "31 days before": [],
        "30 days before": [30],
        "29 days before": [30],
        "7 days before": [30, 7],
        "a minute later": [30, 7],
    }


def test_a_late_start_sends_only_the_latest_due_reminder(app: Application, clock: FakeClock) -> None:
    ingest(app, "01_eks_end_of_support.json")
    app.process()
    clock.set(EKS_DEADLINE - timedelta(days=5))  # down across the 30- and 7-day marks
    app.process()

    assert reminders(app) == [7]


def test_no_reminder_once_acknowledged_or_past_the_deadline(app: Application, clock: FakeClock) -> None:
    ingest(app, "01_eks_end_of_support.json")
    app.process()
    app.answer(EKS_KEY, Action.ACKNOWLEDGE, actor="alice", channel="cli")
    clock.set(EKS_DEADLINE - timedelta(days=1))
    app.process()
    assert reminders(app) == []


# -- Slack: the card and its thread ----------------------------------------------------------------


def test_slack_card_then_update_and_answer_in_the_same_thread(tmp_path: Path, clock: FakeClock) -> None:
    with FakeSlackAPI() as slack:
        app = make_app(
            tmp_path,
            clock,
            slack_bot_token=SecretStr(slack.token),
            slack_api_url=slack.base_url,
        )
        try:
            ingest(app, "01_eks_end_of_support.json")
            app.process()
            ingest(app, "02_eks_end_of_support_update.json")
            app.process()
            app.answer(EKS_KEY, Action.ACKNOWLEDGE, actor="alice", channel="cli")
            app.process()
            posted = slack.messages("#infra")
        finally:
            app.close()

    card, *replies = posted
    assert card.get("thread_ts") in (None, card["ts"])
    assert [r["thread_ts"] for r in replies] == [card["ts"], card["ts"]]
    assert "ledger-prod" in orjson.dumps(replies[0]).decode()  # what changed
    assert "alice" in replies[1]["text"]
    # The card itself was refreshed: it shows the answer and offers no more buttons.
    card_blocks = orjson.dumps(card["blocks"]).decode()
    assert "alice" in card_blocks
    assert "opswarden_acknowledge" not in card_blocks


def test_an_acknowledged_event_that_still_needs_approval_is_reminded(
    tmp_path: Path, clock: FakeClock
) -> None:
    app = make_app(tmp_path, clock)
    (app.settings.data_dir / "policy.yaml").write_text(
        "route:\n  name: root\n  channels: [console]\n  routes:\n"
        "    - name: eks\n      match: {service: EKS}\n      teams: [inf01]\n"
        "      require_approval: true\n      reminders: [7]\n"
    )
    try:
        ingest(app, "01_eks_end_of_support.json")
        app.process()
        app.answer(EKS_KEY, Action.ACKNOWLEDGE, actor="alice", channel="cli")
        clock.set(EKS_DEADLINE - timedelta(days=6))
        app.process()
        reminded = reminders(app)
        app.answer(EKS_KEY, Action.APPROVE, actor="carol", channel="cli")
        clock.set(EKS_DEADLINE - timedelta(days=1))
        app.process()
        after_approval = reminders(app)
    finally:
        app.close()

    assert reminded == [7]
    assert after_approval == [7]  # approved: nothing more to remind
