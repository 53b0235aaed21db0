"""The contract every notifier keeps, checked against the loopback fakes (tests/fakes).

Each channel (Slack, Teams, generic webhook, e-mail, console) is built by a small factory against its
fake; the same tests then check that a card arrives and starts a thread, that a reply lands in it,
that failures become the right :class:`DeliveryError` (reason, recoverable, Retry-After) and that no
secret (token, password, signing key, the secret path of a webhook URL) reaches an error message or
a log line. Channel specifics follow: webhook signatures and idempotency keys, Slack's ``confirm``,
Teams' Adaptive Card and its throttling quirk, e-mail structure and header injection.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from opswarden.core.clock import FakeClock
from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.notify.base import Notifier, Outgoing
from opswarden.notify.channels.console import RULE, ConsoleNotifier
from opswarden.notify.channels.email import EmailNotifier
from opswarden.notify.channels.slack import SlackNotifier
from opswarden.notify.channels.teams import TeamsNotifier
from opswarden.notify.channels.webhook import WebhookNotifier
from opswarden.notify.message import Kind, Message, message_for
from opswarden.notify.render.links import ActionLinks
from opswarden.store.outbox import dedupe_key
from tests.factories import make_event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SLACK_TARGET = "C0INFRA"  # the fake's #infra
SECRET_PATH = "/webhookb2/SECRET-abc123"  # a webhook URL's path is its credential
WEBHOOK_SECRET = b"whsec-SECRET-signing-key-42"
EMAIL_TARGET = "oncall@example.com"
SENDER = "opswarden@example.com"
CHANNELS = ["slack", "teams", "webhook", "email", "console"]
THREADED = {"slack", "email", "console"}


# -- harness ----------------------------------------------------------------------------------------


@dataclass
class Harness:
    """One channel's notifier, its target, what its fake received, and the secrets it must keep."""

    name: str
    notifier: Notifier
    target: str
    received: Callable[[], list[str]]  # every message the fake accepted, as text, oldest first
    secrets: list[str] = field(default_factory=list)
    fake: Any = None


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _slack(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    api = request.getfixturevalue("slack_api")

    def received() -> list[str]:
        return [json.dumps(m) for m in api.messages(SLACK_TARGET)]

    return Harness(
        "slack", SlackNotifier(api.token, api.base_url, timeout=5), SLACK_TARGET, received, [api.token], api
    )


def _http_client(request: pytest.FixtureRequest) -> httpx.Client:
    client = httpx.Client(timeout=5)
    request.addfinalizer(client.close)
    return client


def _teams(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    hooks = request.getfixturevalue("webhook_server")
    url = hooks.teams_incoming_webhook(SECRET_PATH)

    def received() -> list[str]:
        return [r.text for r in hooks.requests_to(SECRET_PATH) if r.status < 300]

    return Harness(
        "teams", TeamsNotifier(_http_client(request)), url, received, [SECRET_PATH, "SECRET-abc123"], hooks
    )


def _webhook(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    hooks = request.getfixturevalue("webhook_server")
    url = hooks.respond(SECRET_PATH, 200, {"ok": True})
    notifier = WebhookNotifier(_http_client(request), FakeClock(T0), secret=WEBHOOK_SECRET)

    def received() -> list[str]:
        return [r.text for r in hooks.requests_to(SECRET_PATH) if r.status < 300]

    secrets = [SECRET_PATH, "SECRET-abc123", WEBHOOK_SECRET.decode()]
    return Harness("webhook", notifier, url, received, secrets, hooks)


def _mail_text(mail: Any) -> str:
    plain = mail.message.get_body(preferencelist=("plain",))
    return f"{mail.subject}\n{plain.get_content() if plain is not None else ''}"


def _email(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    smtp = request.getfixturevalue("smtp_server")
    notifier = EmailNotifier(smtp.host, smtp.port, SENDER, starttls=False, timeout=5)

    def received() -> list[str]:
        return [_mail_text(m) for m in smtp.messages]

    return Harness("email", notifier, EMAIL_TARGET, received, [], smtp)


def _console(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    sink = tmp_path / "n.log"

    def received() -> list[str]:
        if not sink.exists():
            return []
        return [part for part in sink.read_text(encoding="utf-8").split(RULE + "\n") if part]

    return Harness("console", ConsoleNotifier(sink), str(sink), received, [], sink)


FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], Harness]] = {
    "slack": _slack,
    "teams": _teams,
    "webhook": _webhook,
    "email": _email,
    "console": _console,
}


@pytest.fixture(params=CHANNELS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return FACTORIES[request.param](request, tmp_path)


# -- messages ---------------------------------------------------------------------------------------

EVENT = make_event("contract:ec2-retirement")
TITLE = EVENT.title


def card_message(**update: Any) -> Message:
    msg = message_for(EVENT, kind=Kind.CARD, at=T0, why=("rule infra-default matched",), routes=("infra",))
    return msg.model_copy(update=update) if update else msg


def update_message() -> Message:
    return message_for(
        EVENT,
        kind=Kind.UPDATE,
        at=T0 + timedelta(minutes=5),
        lifecycle="notified",
        changes=({"field": "status", "old": "open", "new": "closed"},),
    )


def outgoing(
    msg: Message,
    target: str,
    *,
    n: int = 1,
    thread: dict[str, Any] | None = None,
    card: Message | None = None,
    links: ActionLinks | None = None,
) -> Outgoing:
    key = dedupe_key(msg.event_id, msg.kind.value, target, str(n))
    return Outgoing(n, key, target, msg, thread=thread, card=card, links=links)


# -- 1. a card is delivered and starts a thread -----------------------------------------------------


def test_card_is_delivered_once_and_starts_a_thread(harness: Harness) -> None:
    delivered = harness.notifier.send(outgoing(card_message(), harness.target))

    [content] = harness.received()
    assert TITLE in content
    if harness.name in THREADED:
        assert delivered.thread, f"{harness.name}: a card must start a thread"
    if harness.name == "slack":
        [posted] = harness.fake.messages(SLACK_TARGET)
        assert delivered.thread == {"channel": SLACK_TARGET, "ts": posted["ts"]}
    if harness.name == "email":
        [mail] = harness.fake.messages
        assert delivered.thread == {"message_id": mail.message["Message-ID"]}
    if harness.name == "console":
        assert delivered.thread == {"sink": harness.target}


# -- 2. a reply lands in the card's thread ----------------------------------------------------------


def test_reply_lands_in_the_thread(harness: Harness) -> None:
    card = card_message()
    first = harness.notifier.send(outgoing(card, harness.target, n=1))
    reply = harness.notifier.send(
        outgoing(update_message(), harness.target, n=2, thread=first.thread, card=card)
    )

    assert reply.thread is None  # only the card starts a thread
    contents = harness.received()
    assert len(contents) == 2
    assert "closed" in contents[1].lower()  # the change is what the reply says
    if harness.name == "slack":
        api = harness.fake
        ts = first.thread["ts"]  # type: ignore[index]
        card_msg, reply_msg = api.thread(SLACK_TARGET, ts)
        assert reply_msg["thread_ts"] == ts
        assert reply.ref == {"channel": SLACK_TARGET, "ts": reply_msg["ts"]}
        [update] = api.calls_to("chat.update")
        assert update.ok
        assert update.params["ts"] == ts
        assert "edited" in card_msg  # the card itself was refreshed
    if harness.name == "email":
        card_mail, reply_mail = harness.fake.messages
        card_id = card_mail.message["Message-ID"]
        assert card_id == first.thread["message_id"]  # type: ignore[index]
        assert reply_mail.message["In-Reply-To"] == card_id
        assert card_id in reply_mail.message["References"]
        assert reply_mail.message["Message-ID"] != card_id


# -- 3 and 4. failures: the right DeliveryError, and no secret in it or in any log line --------------


@dataclass(frozen=True)
class Failure:
    channel: str
    name: str
    reason: DeliveryReason
    recoverable: bool
    retry_after: float | None = None


FAILURES = [
    Failure("slack", "rate_limited", DeliveryReason.RATE_LIMITED, True, 7.0),
    Failure("teams", "rate_limited", DeliveryReason.RATE_LIMITED, True, 7.0),
    Failure("webhook", "rate_limited", DeliveryReason.RATE_LIMITED, True, 7.0),
    Failure("teams", "throttled_in_body", DeliveryReason.RATE_LIMITED, True),
    Failure("email", "smtp_451", DeliveryReason.SERVER, True),
    Failure("email", "smtp_550", DeliveryReason.CLIENT, False),
    Failure("email", "recipient_451", DeliveryReason.RATE_LIMITED, True),
    Failure("slack", "server_error", DeliveryReason.SERVER, True),
    Failure("teams", "server_error", DeliveryReason.SERVER, True),
    Failure("webhook", "server_error", DeliveryReason.SERVER, True),
    Failure("slack", "bad_credentials", DeliveryReason.AUTH, False),
    Failure("email", "bad_credentials", DeliveryReason.AUTH, False),
    Failure("webhook", "bad_credentials", DeliveryReason.AUTH, False),
    Failure("teams", "bad_credentials", DeliveryReason.AUTH, False),
    Failure("slack", "unknown_channel", DeliveryReason.CLIENT, False),
    Failure("webhook", "not_found", DeliveryReason.CLIENT, False),
    Failure("slack", "connection_refused", DeliveryReason.NETWORK, True),
    Failure("teams", "connection_refused", DeliveryReason.NETWORK, True),
    Failure("webhook", "connection_refused", DeliveryReason.NETWORK, True),
    Failure("email", "connection_refused", DeliveryReason.NETWORK, True),
    Failure("console", "unwritable_sink", DeliveryReason.SERVER, True),
]


def _arrange(
    failure: Failure, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[Notifier, str, list[str]]:
    """Set the fake up to fail as ``failure`` says: (notifier, target, secrets that must not leak)."""
    h = FACTORIES[failure.channel](request, tmp_path)
    notifier, target, secrets = h.notifier, h.target, list(h.secrets)
    closed = f"127.0.0.1:{_closed_port()}"
    match failure.channel, failure.name:
        case "slack", "rate_limited":
            h.fake.fail_next("chat.postMessage", 429, retry_after=7)
        case "slack", "server_error":
            h.fake.fail_next("chat.postMessage", 500)
        case "slack", "bad_credentials":
            wrong = "xoxb-SECRET-wrong-token-123"
            notifier, secrets = SlackNotifier(wrong, h.fake.base_url, timeout=5), [*secrets, wrong]
        case "slack", "unknown_channel":
            target = "#no-such-channel"
        case "slack", "connection_refused":
            notifier = SlackNotifier(h.fake.token, f"http://{closed}/api/", timeout=5)
        case "teams" | "webhook", "rate_limited":
            h.fake.fail_next(429, retry_after=7, path=SECRET_PATH)
        case "teams" | "webhook", "server_error":
            h.fake.fail_next(500, path=SECRET_PATH)
        case "teams" | "webhook", "bad_credentials":
            h.fake.respond(SECRET_PATH, status=401, body="invalid signature")
        case "webhook", "not_found":
            h.fake.respond(SECRET_PATH, status=404, body="no such hook")
        case "teams", "throttled_in_body":
            h.fake.respond(
                SECRET_PATH, 200, "Microsoft Teams endpoint returned HTTP error 429 with ContextId x"
            )
        case "teams" | "webhook", "connection_refused":
            target = f"http://{closed}{SECRET_PATH}"
        case "email", "smtp_451":
            h.fake.fail_next(451)
        case "email", "smtp_550":
            h.fake.fail_next(550)
        case "email", "recipient_451":
            h.fake.fail_next(451, stage="rcpt")
        case "email", "bad_credentials":
            smtp = request.getfixturevalue("smtp_server_auth")
            user, password = smtp.credentials
            wrong = "SECRET-wrong-password-9"
            notifier = EmailNotifier(
                smtp.host, smtp.port, SENDER, starttls=False, username=user, password=wrong, timeout=5
            )
            secrets = [*secrets, wrong, password]
        case "email", "connection_refused":
            host, port = closed.split(":")
            notifier = EmailNotifier(host, int(port), SENDER, starttls=False, timeout=5)
        case "console", "unwritable_sink":
            (tmp_path / "n.log").mkdir()  # the sink is a directory: cannot be opened for appending
        case _:  # pragma: no cover - a typo in FAILURES
            raise AssertionError(f"no arrangement for {failure}")
    return notifier, target, secrets


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s and s in text]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f"{f.channel}-{f.name}")
def test_failure_is_classified_and_keeps_secrets(
    failure: Failure, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier, target, secrets = _arrange(failure, request, tmp_path)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(DeliveryError) as info:
        notifier.send(outgoing(card_message(), target))

    exc = info.value
    assert (exc.reason, exc.recoverable) == (failure.reason, failure.recoverable), str(exc)
    assert exc.retry_after == failure.retry_after
    assert _leaks(str(exc), secrets) == [], f"secret in the error: {exc}"
    assert _leaks(repr(exc.args), secrets) == []
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    assert _leaks(logged, secrets) == [], f"secret in a log line:\n{logged}"


def test_a_success_logs_no_secret(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    harness.notifier.send(outgoing(card_message(), harness.target))
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    assert _leaks(logged, harness.secrets) == [], f"secret in a log line:\n{logged}"


def test_email_with_credentials_authenticates(smtp_server_auth: Any) -> None:
    user, password = smtp_server_auth.credentials
    notifier = EmailNotifier(
        smtp_server_auth.host,
        smtp_server_auth.port,
        SENDER,
        starttls=False,
        username=user,
        password=password,
        timeout=5,
    )
    notifier.send(outgoing(card_message(), EMAIL_TARGET))
    [mail] = smtp_server_auth.messages
    assert mail.login == user


# -- 5. webhook: idempotency key and signature ------------------------------------------------------


@pytest.fixture
def webhook(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return _webhook(request, tmp_path)


def test_webhook_idempotency_key_is_stable_across_retries(webhook: Harness) -> None:
    out = outgoing(card_message(), webhook.target)
    webhook.fake.fail_next(503, path=SECRET_PATH)
    with pytest.raises(DeliveryError) as info:
        webhook.notifier.send(out)
    assert info.value.recoverable
    webhook.notifier.send(out)

    first, second = webhook.fake.requests_to(SECRET_PATH)
    assert (first.status, second.status) == (503, 200)
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == out.dedupe_key
    # another message gets another key
    webhook.notifier.send(outgoing(update_message(), webhook.target, n=2))
    third = webhook.fake.requests_to(SECRET_PATH)[2]
    assert third.headers["idempotency-key"] != out.dedupe_key


def test_webhook_signature_verifies(webhook: Harness) -> None:
    webhook.notifier.send(outgoing(card_message(), webhook.target))
    [req] = webhook.fake.requests_to(SECRET_PATH)
    timestamp = req.headers["x-opswarden-timestamp"]
    assert timestamp == str(int(T0.timestamp()))
    expected = hmac.new(WEBHOOK_SECRET, timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["x-opswarden-signature"], f"sha256={expected}")
    # the body is what the docstring promises
    body = req.json()
    assert body["kind"] == "card"
    assert body["event_id"] == EVENT.id
    assert body["message"]["title"] == TITLE
    assert req.content_type == "application/json"
    # a tampered body does not verify
    forged = hmac.new(WEBHOOK_SECRET, timestamp.encode() + b"." + req.body + b" ", hashlib.sha256)
    assert req.headers["x-opswarden-signature"] != f"sha256={forged.hexdigest()}"


def test_webhook_without_secret_sends_no_signature(webhook_server: Any) -> None:
    url = webhook_server.url("/plain")
    with httpx.Client(timeout=5) as client:
        WebhookNotifier(client, FakeClock(T0)).send(outgoing(card_message(), url))
    [req] = webhook_server.requests_to("/plain")
    assert "x-opswarden-signature" not in req.headers
    assert "x-opswarden-timestamp" in req.headers


# -- 6. Slack confirm() -----------------------------------------------------------------------------


@pytest.fixture
def slack(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return _slack(request, tmp_path)


def test_slack_confirm_finds_a_sent_card_and_reply(slack: Harness) -> None:
    notifier = slack.notifier
    card = card_message()
    card_out = outgoing(card, SLACK_TARGET, n=1)
    sent = notifier.send(card_out)
    reply_out = outgoing(update_message(), SLACK_TARGET, n=2, thread=sent.thread, card=card)
    replied = notifier.send(reply_out)

    found = notifier.confirm(card_out)
    assert found is not None
    assert found.ref == sent.ref
    assert found.thread == sent.thread  # a confirmed card still starts the thread
    found_reply = notifier.confirm(reply_out)
    assert found_reply is not None
    assert found_reply.ref == replied.ref
    assert found_reply.thread is None


def test_slack_confirm_returns_none_for_a_message_never_sent(slack: Harness) -> None:
    notifier = slack.notifier
    card = card_message()
    sent = notifier.send(outgoing(card, SLACK_TARGET, n=1))
    assert notifier.confirm(outgoing(card, SLACK_TARGET, n=99)) is None  # another key: never sent
    never = outgoing(update_message(), SLACK_TARGET, n=3, thread=sent.thread, card=card)
    assert notifier.confirm(never) is None
    assert len(slack.fake.calls_to("chat.postMessage")) == 1  # confirm never posts


def test_slack_confirm_for_a_channel_named_target(slack: Harness) -> None:
    """Targets are configured as "#name" (docs/policy.md); conversations.history needs the ID."""
    card_out = outgoing(card_message(), "#infra")
    sent = slack.notifier.send(card_out)
    found = slack.notifier.confirm(card_out)
    assert found is not None
    assert found.ref == sent.ref


# -- 7. Teams ---------------------------------------------------------------------------------------

LINKS = ActionLinks(
    acknowledge="https://opswarden.example.com/a/ack-token",
    approve="https://opswarden.example.com/a/approve-token",
    reject="https://opswarden.example.com/a/reject-token",
    event="https://opswarden.example.com/events/1",
)


@pytest.fixture
def teams(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return _teams(request, tmp_path)


def test_teams_posts_an_adaptive_card_with_open_url_actions(teams: Harness) -> None:
    msg = card_message(require_approval=True)
    teams.notifier.send(outgoing(msg, teams.target, links=LINKS))

    [req] = teams.fake.requests_to(SECRET_PATH)
    body = req.json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    urls = {a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"}
    assert urls == {LINKS.acknowledge, LINKS.approve, LINKS.reject, LINKS.event}
    assert TITLE in json.dumps(card["body"])


def test_teams_without_links_has_no_actions(teams: Harness) -> None:
    teams.notifier.send(outgoing(card_message(), teams.target))
    [req] = teams.fake.requests_to(SECRET_PATH)
    assert req.json()["attachments"][0]["content"]["actions"] == []


def test_teams_workflows_202_is_a_delivery(webhook_server: Any) -> None:
    url = webhook_server.teams_workflow()
    with httpx.Client(timeout=5) as client:
        delivered = TeamsNotifier(client).send(outgoing(card_message(), url))
    assert delivered.ref == {"status": 202}


# -- 8. e-mail --------------------------------------------------------------------------------------


@pytest.fixture
def email(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return _email(request, tmp_path)


def test_email_is_multipart_alternative_to_exactly_the_target(email: Harness) -> None:
    email.notifier.send(outgoing(card_message(require_approval=True), EMAIL_TARGET, links=LINKS))
    [mail] = email.fake.messages
    assert mail.rcpt_tos == [EMAIL_TARGET]
    assert mail.mail_from == SENDER
    assert mail.message["To"] == EMAIL_TARGET
    assert mail.message.get_all("Cc") is None
    assert mail.message.get_all("Bcc") is None
    assert mail.message.get_content_type() == "multipart/alternative"
    plain = mail.message.get_body(preferencelist=("plain",))
    html = mail.message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert TITLE in plain.get_content()
    assert TITLE in html.get_content()
    assert LINKS.approve in html.get_content()


def test_email_subject_cannot_inject_headers(email: Harness) -> None:
    evil = "disk full\r\nBcc: evil@example.com"
    email.notifier.send(outgoing(card_message(title=evil), EMAIL_TARGET))
    [mail] = email.fake.messages
    assert mail.rcpt_tos == [EMAIL_TARGET]
    assert "\r" not in mail.subject
    assert "\n" not in mail.subject
    assert "disk full" in mail.subject
    assert mail.message.get_all("Bcc") is None
    header_block = mail.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in header_block.replace(b"\r\n", b"\n")


# -- the protocol itself ----------------------------------------------------------------------------


def test_every_channel_names_itself_and_confirms_nothing_it_cannot_prove(harness: Harness) -> None:
    assert harness.notifier.channel == harness.name
    if harness.name != "slack":
        out = outgoing(card_message(), harness.target)
        harness.notifier.send(out)
        assert harness.notifier.confirm(out) is None


@pytest.mark.parametrize("status", [429, 500])
def test_slack_reply_is_not_posted_twice_when_the_card_refresh_fails(slack: Harness, status: int) -> None:
    """The reply is posted before the card is refreshed: a failed chat.update must not fail the
    delivery, or the dispatcher's retry would post the reply a second time."""
    notifier, api = slack.notifier, slack.fake
    card = card_message()
    first = notifier.send(outgoing(card, SLACK_TARGET, n=1))
    reply_out = outgoing(update_message(), SLACK_TARGET, n=2, thread=first.thread, card=card)
    api.fail_next("chat.update", status)

    delivered = notifier.send(reply_out)

    ts = first.thread["ts"]  # type: ignore[index]
    replies = [m for m in api.thread(SLACK_TARGET, ts) if m["ts"] != ts]
    assert len(replies) == 1
    assert delivered.ref is not None
    assert delivered.ref["ts"] == replies[0]["ts"]
    assert delivered.ref["card_refresh"].startswith("failed:")  # noted in the outbox row's result
    assert api.token not in delivered.ref["card_refresh"]
    assert [c.status for c in api.calls_to("chat.update")] == [status]
