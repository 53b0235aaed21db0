"""Slack's requests to the API (interactivity and Events API), on a real uvicorn server on loopback.

Requests are built and signed exactly as Slack documents them
(https://api.slack.com/authentication/verifying-requests-from-slack): ``X-Slack-Request-Timestamp``
and ``X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing secret, "v0:{ts}:{body}"))``; the
interactivity body is ``payload=<url-encoded JSON>``. Cards and replies go to the fake Slack Web API;
``respond()`` goes to a loopback receiver standing in for the ``response_url``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.settings import Settings
from opswarden.store.reader import EventFilter
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.webhooks import FakeWebhookReceiver
from tests.functional.test_server import serve

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FINDING = EXAMPLES / "events" / "05_guardduty_finding.json"  # → SecOps (#secops), no approval
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
ALICE = {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0OPSWARDEN"}
BOB = {"id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0OPSWARDEN"}
APPROVAL_POLICY = """\
route:
  name: root
  channels: [slack]
  routes:
    - name: remediation
      teams: [App]
      require_approval: true
"""


def signed_headers(body: str, *, at: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Live:
    app: Application
    http: httpx.Client
    slack: FakeSlackAPI
    hooks: FakeWebhookReceiver

    def event_id(self) -> str:
        events = self.app.events_json(EventFilter())
        assert len(events) == 1
        return str(events[0]["id"])

    def click(
        self,
        action_id: str,
        event_id: str,
        *,
        user: dict[str, str] = ALICE,
        at: int | None = None,
        secret: str = SIGNING_SECRET,
        response_path: str = "/actions/T0OPSWARDEN/1/r3sp0nse",
    ) -> httpx.Response:
        """A block_actions request for a click on the card's button, as Slack sends it."""
        payload = {
            "type": "block_actions",
            "user": user,
            "api_app_id": self.slack.app_id,
            "token": "legacy-verification-token",
            "container": {"type": "message", "channel_id": "C0SECOPS", "is_ephemeral": False},
            "trigger_id": "1234567890.123456789.abcdef",
            "team": {"id": self.slack.team_id, "domain": "opswarden-test"},
            "channel": {"id": "C0SECOPS", "name": "secops"},
            "response_url": self.hooks.url(response_path),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "opswarden_actions",
                    "text": {"type": "plain_text", "text": "Button"},
                    "value": event_id,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = "payload=" + quote_plus(json.dumps(payload))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **signed_headers(body, at=at, secret=secret),
        }
        return self.http.post("/slack/interactivity", content=body.encode(), headers=headers)

    def send_event(self, envelope: dict[str, Any], **headers: str) -> httpx.Response:
        body = json.dumps(envelope)
        all_headers = {"Content-Type": "application/json", **signed_headers(body), **headers}
        return self.http.post("/slack/events", content=body.encode(), headers=all_headers)

    def refusals(self) -> list[dict[str, Any]]:
        return [a for a in self.app.store.audit_entries() if a["action"] == "refused"]


def start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack: FakeSlackAPI,
    hooks: FakeWebhookReceiver,
    policy: str | None = None,
) -> Iterator[Live]:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(EXAMPLES / "policy" / "org.yaml", data / "org.yaml")
    if policy is None:
        shutil.copy(EXAMPLES / "policy" / "policy.yaml", data / "policy.yaml")
    else:
        (data / "policy.yaml").write_text(policy, encoding="utf-8")
    slack.add_channel("#secops", "C0SECOPS")
    slack.add_channel("#app", "C0APP")
    monkeypatch.setenv("OPSWARDEN_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("OPSWARDEN_SLACK_BOT_TOKEN", slack.token)
    monkeypatch.setenv("OPSWARDEN_SLACK_API_URL", slack.base_url)
    application = Application(Settings(data_dir=data), clock=FakeClock(T0))
    try:
        application.ingest_paths([str(FINDING)])
        summary = application.process()
        assert summary.dispatch.sent["slack"] == 1, summary.to_dict()  # (and a ticket, where the policy says)
        for url in serve(application):
            with httpx.Client(base_url=url, timeout=30) as http:
                yield Live(application, http, slack, hooks)
    finally:
        application.close()


@pytest.fixture
def live(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_api: FakeSlackAPI,
    webhook_server: FakeWebhookReceiver,
) -> Iterator[Live]:
    yield from start(tmp_path, monkeypatch, slack_api, webhook_server)


@pytest.fixture
def approval(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_api: FakeSlackAPI,
    webhook_server: FakeWebhookReceiver,
) -> Iterator[Live]:
    """Every event goes to App (#app) and needs approval."""
    yield from start(tmp_path, monkeypatch, slack_api, webhook_server, APPROVAL_POLICY)


def card(live: Live, channel: str = "#secops") -> dict[str, Any]:
    cards = [m for m in live.slack.messages(channel) if m.get("thread_ts", m["ts"]) == m["ts"]]
    assert len(cards) == 1
    return cards[0]


def test_the_card_has_the_buttons_this_endpoint_answers(live: Live) -> None:
    posted = card(live)
    actions = [b for b in posted["blocks"] if b.get("type") == "actions"]
    ids = {e["action_id"]: e["value"] for e in actions[0]["elements"]}
    assert ids["opswarden_acknowledge"] == live.event_id()


def test_acknowledge_click_records_the_answer_and_updates_the_thread(live: Live) -> None:
    event_id = live.event_id()
    response = live.click("opswarden_acknowledge", event_id)
    assert response.status_code == 200, response.text

    shown = live.app.event_json(event_id)
    assert shown["lifecycle"] == "acknowledged"
    answers = [h for h in shown["history"] if h["action"] == "transition"]
    assert answers[-1]["actor"] == "@alice (U0ALICE)"
    assert answers[-1]["channel"] == "slack"
    assert live.hooks.requests == []  # nothing to tell the user privately

    before = len(live.slack.calls)
    summary = live.app.process()
    assert summary.dispatch.sent["slack"] == 1, (
        summary.to_dict()
    )  # the answer in the thread (and on the ticket)
    made = live.slack.calls[before:]
    assert [c.method for c in made] == ["chat.postMessage", "chat.update"]
    reply, update = made
    parent = card(live)
    assert reply.params["thread_ts"] == parent["ts"]
    assert "alice" in reply.params["text"]
    assert (update.params["channel"], update.params["ts"]) == ("C0SECOPS", parent["ts"])
    assert [m["ts"] for m in live.slack.thread("C0SECOPS", parent["ts"])][1:] == [reply.response["ts"]]
    buttons = [b for b in parent["blocks"] if b.get("type") == "actions"]
    assert buttons == []  # the refreshed card has no buttons left


def test_second_click_is_refused_privately(live: Live) -> None:
    event_id = live.event_id()
    assert live.click("opswarden_acknowledge", event_id).status_code == 200

    response = live.click("opswarden_acknowledge", event_id, user=BOB, response_path="/actions/bob")
    assert response.status_code == 200
    [said] = live.hooks.requests_to("/actions/bob")
    body = said.json()
    assert body["response_type"] == "ephemeral"
    assert body["replace_original"] is False
    assert f"event {event_id} is already acknowledged by @alice (U0ALICE)" in body["text"]
    assert live.slack.token not in said.text
    assert SIGNING_SECRET not in said.text

    refused = live.refusals()
    assert [(r["actor"], r["channel"], r["event_id"]) for r in refused] == [
        ("@bob (U0BOB)", "slack", event_id)
    ]


def test_approve_without_approval_is_refused_privately(live: Live) -> None:
    event_id = live.event_id()
    assert live.click("opswarden_approve", event_id).status_code == 200
    [said] = live.hooks.requests
    assert "does not need approval" in said.json()["text"]
    assert live.app.event_json(event_id)["lifecycle"] != "approved"


def test_approve_and_then_reject_on_an_event_that_needs_approval(approval: Live) -> None:
    event_id = approval.event_id()
    assert approval.click("opswarden_approve", event_id).status_code == 200
    assert approval.app.event_json(event_id)["lifecycle"] == "approved"
    assert approval.hooks.requests == []

    assert approval.click("opswarden_reject", event_id, user=BOB).status_code == 200
    [said] = approval.hooks.requests
    assert said.json()["response_type"] == "ephemeral"
    assert event_id in said.json()["text"]
    assert approval.app.event_json(event_id)["lifecycle"] == "approved"


def test_unknown_event_is_answered_privately(live: Live) -> None:
    assert live.click("opswarden_acknowledge", "ev-0000000000000000").status_code == 200
    [said] = live.hooks.requests
    assert "ev-0000000000000000" in said.json()["text"]


def test_forged_signature_is_refused_and_audited(live: Live) -> None:
    event_id = live.event_id()
    response = live.click("opswarden_acknowledge", event_id, secret="not-the-signing-secret")
    assert response.status_code == 401
    assert live.app.event_json(event_id)["lifecycle"] != "acknowledged"
    [refused] = live.refusals()
    assert (refused["actor"], refused["channel"]) == ("(slack)", "slack")
    assert refused["detail"]["why"] == "invalid Slack signature"
    assert live.hooks.requests == []


def test_stale_timestamp_is_refused_and_audited(live: Live) -> None:
    event_id = live.event_id()
    response = live.click("opswarden_acknowledge", event_id, at=int(time.time()) - 6 * 60)
    assert response.status_code == 401
    assert live.app.event_json(event_id)["lifecycle"] != "acknowledged"
    [refused] = live.refusals()
    assert refused["detail"]["why"] == "stale timestamp"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing Slack signature"),
        (
            {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=00"},
            "malformed Slack timestamp",
        ),
    ],
)
def test_unsigned_or_malformed_requests_are_refused_and_audited(
    live: Live, headers: dict[str, str], why: str
) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    response = live.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    assert [r["detail"]["why"] for r in live.refusals()] == [why]


def test_url_verification_returns_the_challenge(live: Live) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    response = live.send_event({"token": "legacy", "challenge": challenge, "type": "url_verification"})
    assert response.status_code == 200
    assert response.json() == {"challenge": challenge}


def test_event_retries_are_handled_once(live: Live, slack_client: Any) -> None:
    mention = slack_client.chat_postMessage(channel="#secops", text="<@U0OPSBOT> what needs doing?")
    envelope = {
        "token": "legacy",
        "team_id": live.slack.team_id,
        "api_app_id": live.slack.app_id,
        "event": {
            "type": "app_mention",
            "user": "U0ALICE",
            "text": "<@U0OPSBOT> what needs doing?",
            "ts": mention["ts"],
            "channel": "C0SECOPS",
            "event_ts": mention["ts"],
        },
        "type": "event_callback",
        "event_id": "Ev0OPSWARDEN1",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": live.slack.team_id,
                "user_id": "U0OPSBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }
    assert live.send_event(envelope).status_code == 200
    retry = live.send_event(envelope, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200

    # The mention is answered by the assistant a moment later (after Slack's 3-second ack).
    def replies() -> list[dict[str, Any]]:
        return [m for m in live.slack.thread("C0SECOPS", mention["ts"]) if m["ts"] != mention["ts"]]

    deadline = time.monotonic() + 20
    while not replies() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a retry handled twice would have posted by now
    [reply] = replies()
    text = reply["text"]
    assert text.startswith("No model is configured")  # retrieval mode
    assert live.slack.token not in text
    assert SIGNING_SECRET not in text

    envelope["event_id"] = "Ev0OPSWARDEN2"  # a new event is handled
    assert live.send_event(envelope).status_code == 200
    deadline = time.monotonic() + 20
    while len(replies()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(replies()) == 2


def test_events_without_a_handler_are_answered_200(live: Live) -> None:
    envelope = {
        "team_id": live.slack.team_id,
        "api_app_id": live.slack.app_id,
        "event": {"type": "reaction_added", "user": "U0ALICE", "reaction": "eyes", "event_ts": "1.000001"},
        "type": "event_callback",
        "event_id": "Ev0OPSWARDEN3",
        "event_time": int(time.time()),
    }
    assert live.send_event(envelope).status_code == 200
    assert live.slack.calls_to("chat.postMessage")[1:] == []  # only the card
