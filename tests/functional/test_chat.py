"""Where to ask: ``opswarden chat`` (scripted stdin), Slack (mention in a channel and in an event's
thread, the ``/opswarden`` slash command) and ``POST /ask`` (NDJSON stream), in retrieval mode with
keyword search (``embeddings="none"``) over the example events and runbooks.

Slack requests are signed as Slack signs them (see test_slack_endpoints.py); the answers go to the
loopback fake Slack Web API, ``respond()`` to the loopback webhook receiver (the ``response_url``).
Mentions and commands are answered by lazy listeners after Slack's request is acknowledged, so the
tests wait for the answer to arrive.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from opswarden.app import Application
from opswarden.cli.main import app as cli_app
from opswarden.core.clock import FakeClock
from opswarden.server.auth import sign
from opswarden.server.slack import chunks, mrkdwn, plain_text
from opswarden.settings import Settings
from opswarden.store.reader import EventFilter
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.webhooks import FakeWebhookReceiver
from tests.functional.test_server import serve
from tests.functional.test_slack_endpoints import SIGNING_SECRET, signed_headers

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FINDING = EXAMPLES / "events" / "05_guardduty_finding.json"  # → a card in #secops (C0SECOPS)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
KEY = "k-ask-7d2c9e4b1a"
SECRET = "s-ask-3b8f0a6c2e"
BOT = "U0OPSBOT"
T = TypeVar("T")


def prepare(data: Path, events: list[Path]) -> Application:
    """A data dir with the example policy, ``events`` ingested and processed, and the example runbooks."""
    data.mkdir(exist_ok=True)
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, data / name)
    application = Application(Settings(data_dir=data, embeddings="none"), clock=FakeClock(T0))
    application.ingest_paths([str(p) for p in events])
    application.process()
    application.kb_add([str(EXAMPLES / "kb")], root=EXAMPLES / "kb")
    return application


def wait_for(found: Callable[[], T | None], what: str, timeout: float = 20) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Spy:
    """Wraps ``Application.ask`` (retrieval mode, ``ask(question, k)``) and records each question."""

    def __init__(self, application: Application) -> None:
        self.real = application.ask
        self.questions: list[str] = []

    def __call__(self, question: str, k: int = 6) -> Any:
        self.questions.append(question)
        return self.real(question, k)


# -- opswarden chat ----------------------------------------------------------------------------------


@pytest.fixture
def chat_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    prepare(data, [EXAMPLES / "events"]).close()
    return data


def chat(data: Path, script: str) -> str:
    result = CliRunner().invoke(
        cli_app,
        ["--data-dir", str(data), "chat", "--k", "4"],
        input=script,
        env={"OPSWARDEN_EMBEDDINGS": "none"},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_chat_answers_each_question_and_shows_a_source_in_full(chat_data: Path) -> None:
    output = chat(chat_data, "who do I escalate a production outage to?\n/sources 1\n/sources 9\n/quit\n")

    assert "opswarden chat" in output
    assert "retrieval mode" in output
    assert "[1] runbooks/escalation.md" in output
    # /sources 1: the whole passage, not the 320-character snippet
    shown = output.split("you> ")[2]
    assert shown.lstrip().startswith("[1] runbooks/escalation.md")
    assert "\n| severity | examples | first response |\n|---|---|---|\n| critical |" in shown
    assert "No source 9: the last answer has 4 (1–4)." in output


def test_chat_keeps_earlier_turns_as_context_until_cleared(
    chat_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = Application.ask

    def recording(self: Application, question: str, k: int = 6) -> Any:
        asked.append(question)
        return real(self, question, k)

    monkeypatch.setattr(Application, "ask", recording)
    output = chat(
        chat_data,
        "which EKS clusters reach end of support?\nwho owns them?\n/clear\nwho owns them?\n",  # ends: Ctrl-D
    )

    assert "Conversation cleared." in output
    first, second, third = asked
    assert first == "which EKS clusters reach end of support?"
    assert second.startswith("who owns them?\nContext — earlier in this conversation:\n")
    assert "- user: which EKS clusters reach end of support?" in second
    assert "- assistant: No model is configured" in second
    assert third == "who owns them?"  # /clear forgot the conversation


def test_chat_passes_history_when_ask_takes_it(chat_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[dict[str, str]] | None]] = []
    real = Application.ask

    def with_history(self: Application, question: str, k: int = 6, history: Any = None) -> Any:
        calls.append((question, history))
        return real(self, question, k)

    monkeypatch.setattr(Application, "ask", with_history)
    chat(chat_data, "how are RDS maintenance windows handled?\nand for production?\n/quit\n")

    assert calls[0] == ("how are RDS maintenance windows handled?", None)
    question, history = calls[1]
    assert question == "and for production?"
    assert history is not None
    assert [t["role"] for t in history] == ["user", "assistant"]
    assert history[0]["content"] == "how are RDS maintenance windows handled?"


def test_chat_commands_help_and_unknown(chat_data: Path) -> None:
    output = chat(chat_data, "/help\n/sources 1\n/sources x\n/nope\n\n/quit\n")
    assert "/sources N" in output
    assert "No sources yet" in output
    assert "Usage: /sources N" in output
    assert "Unknown command /nope" in output


# -- Slack -------------------------------------------------------------------------------------------


@dataclass
class SlackLive:
    app: Application
    http: httpx.Client
    slack: FakeSlackAPI
    hooks: FakeWebhookReceiver
    spy: Spy

    def card(self) -> dict[str, Any]:
        [card] = [m for m in self.slack.messages("C0SECOPS") if m.get("blocks")]
        return card

    def post_as(self, user: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A message in #secops from ``user`` (the fake posts as the bot: the author is changed)."""
        client_params: dict[str, Any] = {"channel": "C0SECOPS", "text": text}
        if thread_ts:
            client_params["thread_ts"] = thread_ts
        from slack_sdk import WebClient

        client = WebClient(token=self.slack.token, base_url=self.slack.base_url, retry_handlers=[])
        posted = client.chat_postMessage(**client_params)
        with self.slack._lock:
            message = next(m for m in self.slack._channels["C0SECOPS"].messages if m["ts"] == posted["ts"])
            message.pop("bot_id", None)
            message.pop("app_id", None)
            message["user"] = user
        return dict(posted["message"], user=user)

    def mention(self, message: dict[str, Any], event_id: str) -> httpx.Response:
        event = {
            "type": "app_mention",
            "user": message["user"],
            "text": message["text"],
            "ts": message["ts"],
            "channel": "C0SECOPS",
            "event_ts": message["ts"],
        }
        if message.get("thread_ts"):
            event["thread_ts"] = message["thread_ts"]
        envelope = {
            "token": "legacy",
            "team_id": self.slack.team_id,
            "api_app_id": self.slack.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": self.slack.team_id,
                    "user_id": BOT,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
        body = json.dumps(envelope)
        headers = {"Content-Type": "application/json", **signed_headers(body)}
        return self.http.post("/slack/events", content=body.encode(), headers=headers)

    def command(self, text: str, response_path: str = "/commands/1") -> httpx.Response:
        body = urlencode(
            {
                "token": "legacy",
                "team_id": self.slack.team_id,
                "team_domain": "opswarden-test",
                "channel_id": "C0SECOPS",
                "channel_name": "secops",
                "user_id": "U0ALICE",
                "user_name": "alice",
                "command": "/opswarden",
                "text": text,
                "api_app_id": self.slack.app_id,
                "response_url": self.hooks.url(response_path),
                "trigger_id": "1234567890.123456789.abcdef",
            }
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)}
        return self.http.post("/slack/events", content=body.encode(), headers=headers)

    def replies(self, thread_ts: str, after: str) -> list[dict[str, Any]]:
        return [m for m in self.slack.thread("C0SECOPS", thread_ts) if float(m["ts"]) > float(after)]


@pytest.fixture
def slack_live(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_api: FakeSlackAPI,
    webhook_server: FakeWebhookReceiver,
) -> Iterator[SlackLive]:
    slack_api.add_channel("#secops", "C0SECOPS")
    slack_api.add_channel("#app", "C0APP")
    monkeypatch.setenv("OPSWARDEN_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("OPSWARDEN_SLACK_BOT_TOKEN", slack_api.token)
    monkeypatch.setenv("OPSWARDEN_SLACK_API_URL", slack_api.base_url)
    application = prepare(tmp_path / "data", [FINDING])
    spy = Spy(application)
    monkeypatch.setattr(application, "ask", spy)
    try:
        for url in serve(application):
            with httpx.Client(base_url=url, timeout=30) as http:
                yield SlackLive(application, http, slack_api, webhook_server, spy)
    finally:
        application.close()


def assert_clean(live: SlackLive, text: str) -> None:
    assert live.slack.token not in text
    assert SIGNING_SECRET not in text
    assert "/answers/" not in text


def test_mention_in_a_channel_is_answered_in_its_thread(slack_live: SlackLive) -> None:
    asked = slack_live.post_as("U0ALICE", f"<@{BOT}> who do I escalate a production outage to?")
    assert slack_live.mention(asked, "Ev0CHAT1").status_code == 200

    [reply] = wait_for(lambda: slack_live.replies(asked["ts"], asked["ts"]), "the answer in the thread")
    assert reply["thread_ts"] == asked["ts"]
    assert slack_live.spy.questions == ["who do I escalate a production outage to?"]  # mention removed
    text = reply["text"]
    assert text.startswith("No model is configured")
    assert "runbooks/escalation.md" in text
    assert "<" not in text  # mrkdwn: Slack's control characters escaped
    assert ">" not in text
    assert_clean(slack_live, text)


def test_mention_in_an_event_thread_has_the_event_and_the_thread_as_context(slack_live: SlackLive) -> None:
    card = slack_live.card()
    event = slack_live.app.events_json(EventFilter())[0]
    earlier = slack_live.post_as("U0ALICE", "is the instance still talking to the mining pool?", card["ts"])
    asked = slack_live.post_as("U0BOB", f"<@{BOT}> what should we do first?", card["ts"])
    assert slack_live.mention(asked, "Ev0CHAT2").status_code == 200

    [reply] = wait_for(
        lambda: slack_live.replies(card["ts"], asked["ts"]), "the answer in the event's thread"
    )
    assert reply["thread_ts"] == card["ts"]
    [question] = slack_live.spy.questions
    lines = question.splitlines()
    assert lines[0] == "what should we do first?"
    assert lines[1] == f"Context — the question is about event {event['id']}: {event['title']}"
    assert f"- user: {earlier['text']}" in lines
    assert not any(card["text"][:40] in line for line in lines)  # the card is the event, not history
    text = reply["text"]
    assert text.startswith("No model is configured")
    assert f"event {event['id']}" in text  # the event is among the sources
    assert_clean(slack_live, text)


def test_mention_in_an_event_thread_passes_event_id_and_history_when_ask_takes_them(
    slack_live: SlackLive, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    real = slack_live.spy.real

    def model_backed(
        question: str, k: int = 6, *, event_id: str | None = None, history: Any = None, user: str = "x"
    ) -> Any:
        calls.append({"question": question, "event_id": event_id, "history": history, "user": user})
        return real(question, k)

    monkeypatch.setattr(slack_live.app, "ask", model_backed)
    card = slack_live.card()
    slack_live.post_as("U0ALICE", "first thoughts: isolate it", card["ts"])
    asked = slack_live.post_as("U0ALICE", f"<@{BOT}> agreed?", card["ts"])
    assert slack_live.mention(asked, "Ev0CHAT3").status_code == 200

    wait_for(lambda: slack_live.replies(card["ts"], asked["ts"]), "the answer")
    [call] = calls
    assert call["question"] == "agreed?"
    assert call["event_id"] == slack_live.app.events_json(EventFilter())[0]["id"]
    assert call["history"] == [{"role": "user", "content": "first thoughts: isolate it"}]
    assert call["user"] == "U0ALICE"


def test_mention_retries_are_answered_once(slack_live: SlackLive) -> None:
    asked = slack_live.post_as("U0ALICE", f"<@{BOT}> EKS end of support")
    assert slack_live.mention(asked, "Ev0CHAT4").status_code == 200
    assert slack_live.mention(asked, "Ev0CHAT4").status_code == 200  # Slack's retry
    wait_for(lambda: slack_live.replies(asked["ts"], asked["ts"]), "the answer")
    time.sleep(0.5)
    assert len(slack_live.replies(asked["ts"], asked["ts"])) == 1
    assert len(slack_live.spy.questions) == 1


def test_slash_command_answers_ephemerally(slack_live: SlackLive) -> None:
    response = slack_live.command("how do we handle security findings?")
    assert response.status_code == 200

    [said] = wait_for(lambda: slack_live.hooks.requests_to("/commands/1"), "the ephemeral answer")
    body = said.json()
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith("No model is configured")
    assert "policies/security-findings.md" in body["text"]
    assert slack_live.spy.questions == ["how do we handle security findings?"]
    assert_clean(slack_live, said.text)
    assert slack_live.slack.calls_to("chat.postMessage")[1:] == []  # nothing posted in the channel


def test_slash_command_about_an_event_and_without_a_question(slack_live: SlackLive) -> None:
    event_id = slack_live.app.events_json(EventFilter())[0]["id"]
    assert slack_live.command(f"{event_id} who owns this?", "/commands/event").status_code == 200
    wait_for(lambda: slack_live.hooks.requests_to("/commands/event"), "the answer")
    assert slack_live.spy.questions[0].startswith(
        f"who owns this?\nContext — the question is about event {event_id}"
    )

    assert slack_live.command("   ", "/commands/empty").status_code == 200
    [said] = wait_for(lambda: slack_live.hooks.requests_to("/commands/empty"), "the how-to")
    assert "/opswarden &lt;question&gt;" in said.json()["text"]
    assert len(slack_live.spy.questions) == 1


def test_slack_text_helpers() -> None:
    assert plain_text(f"<@{BOT}> is <https://x.example/a|this> &lt;ok&gt; in <#C0SECOPS|secops>?", BOT) == (
        "is this <ok> in #secops?"
    )
    assert plain_text("<@U0OTHER> <@U0ALSO> hi <@U0ALICE>", None) == "hi <@U0ALICE>"
    assert mrkdwn("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    long = mrkdwn("x & y\n" * 2000)
    parts = chunks(long, size=1000, limit=3)
    assert len(parts) == 3
    assert all(len(p) <= 1000 for p in parts)
    assert parts[-1].endswith("(answer cut: too long)")
    assert all(not p.endswith("&amp") and not p.startswith("amp;") for p in parts)
    unbroken = chunks("&amp;" * 500, size=1003)
    assert all(p.endswith(";") for p in unbroken)


# -- POST /ask ---------------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Application, httpx.Client]]:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, data / name)
    settings = Settings(
        data_dir=data, embeddings="none", api_key=SecretStr(KEY), hmac_secret=SecretStr(SECRET)
    )
    application = Application(settings, clock=FakeClock(T0))
    try:
        application.ingest_paths([str(EXAMPLES / "events")])
        application.process()
        application.kb_add([str(EXAMPLES / "kb")], root=EXAMPLES / "kb")
        for url in serve(application):
            with httpx.Client(base_url=url, timeout=30) as http:
                yield application, http
    finally:
        application.close()


def stream_lines(
    http: httpx.Client, body: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, list[Any]]:
    with http.stream(
        "POST", "/ask", content=body, headers={"Content-Type": "application/json", **headers}
    ) as r:
        if r.status_code != 200:
            r.read()
            return r, []
        lines = [json.loads(line) for line in r.iter_lines() if line.strip()]
    return r, lines


def test_post_ask_streams_the_sources_then_the_answer(api: tuple[Application, httpx.Client]) -> None:
    _, http = api
    body = json.dumps({"question": "who do I escalate a production outage to?", "k": 3}).encode()
    response, lines = stream_lines(http, body, {"X-Api-Key": KEY})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    *sources, last = lines
    assert [line["type"] for line in sources] == ["source"] * 3
    assert [line["source"]["rank"] for line in sources] == [1, 2, 3]
    assert last["type"] == "answer"
    assert last["answer"]["mode"] == "retrieval"
    assert last["answer"]["sources"] == [line["source"] for line in sources]
    assert last["text"].startswith("No model is configured")
    assert "escalation.md" in last["text"]


def test_post_ask_about_an_event_and_signed_with_hmac(api: tuple[Application, httpx.Client]) -> None:
    application, http = api
    eks = next(e for e in application.events_json(EventFilter()) if "EKS" in e["title"])
    body = json.dumps({"question": "who owns it?", "event_id": eks["id"][:10]}).encode()
    stamp = int(time.time())
    headers = {"X-Opswarden-Timestamp": str(stamp), "X-Opswarden-Signature": sign(SECRET, stamp, body)}
    response, lines = stream_lines(http, body, headers)

    assert response.status_code == 200
    last = lines[-1]
    assert last["answer"]["question"].startswith(
        f"who owns it?\nContext — the question is about event {eks['id']}"
    )
    assert any((s["event"] or {}).get("id") == eks["id"] for s in last["answer"]["sources"])


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        (b'{"question": "x"}', {}, 401, "authentication required"),
        (b'{"question": "x"}', {"X-Api-Key": "wrong"}, 401, "invalid API key"),
        (b'{"question": "   "}', {"X-Api-Key": KEY}, 400, "empty question"),
        (b'{"event_id": "ev-1"}', {"X-Api-Key": KEY}, 400, "empty question"),
        (b"not json", {"X-Api-Key": KEY}, 400, "not JSON"),
        (b'["q"]', {"X-Api-Key": KEY}, 400, "JSON object"),
        (b'{"question": "q", "k": 0}', {"X-Api-Key": KEY}, 400, "k must be"),
        (
            b'{"question": "q", "event_id": "ev-0000000000000000"}',
            {"X-Api-Key": KEY},
            404,
            "ev-0000000000000000",
        ),
    ],
)
def test_post_ask_refusals(
    api: tuple[Application, httpx.Client], body: bytes, headers: dict[str, str], status: int, detail: str
) -> None:
    _, http = api
    response = http.post("/ask", content=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == status
    assert detail in response.json()["detail"]
