"""The loopback fakes behave like the real APIs for the subset opswarden uses (real clients, real sockets)."""

from __future__ import annotations

import json
import smtplib
import socket
import time
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.smtp import FakeSMTPServer
from tests.fakes.webhooks import FakeWebhookReceiver

pytestmark = pytest.mark.integration

METADATA = {"event_type": "opswarden_event", "event_payload": {"event_id": "ev-1", "version": 3}}
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*EC2 retirement* i-0abc"}}]


# -- Slack ----------------------------------------------------------------------------------------


def test_slack_base_url_ends_with_slash_and_serves_loopback(slack_api: FakeSlackAPI) -> None:
    assert slack_api.base_url.startswith("http://127.0.0.1:")
    assert slack_api.base_url.endswith("/api/")


def test_slack_auth_test(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    resp = slack_client.auth_test()
    assert resp["ok"] is True
    assert resp["user_id"] == slack_api.bot_user_id
    assert resp["bot_id"] == slack_api.bot_id
    call = slack_api.calls[-1]
    assert call.method == "auth.test"
    assert call.headers["authorization"] == f"Bearer {slack_api.token}"


def test_slack_post_reply_update_and_history(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    posted = slack_client.chat_postMessage(
        channel="#infra", text="EC2 retirement", blocks=BLOCKS, metadata=METADATA
    )
    assert posted["ok"] is True
    assert posted["channel"] == "C0INFRA"  # the ID, even when posting by name
    parent_ts = posted["ts"]
    assert posted["message"]["text"] == "EC2 retirement"
    assert posted["message"]["blocks"] == BLOCKS
    assert slack_api.calls_to("chat.postMessage")[0].content_type == "application/json"

    reply = slack_client.chat_postMessage(channel="C0INFRA", text="acknowledged", thread_ts=parent_ts)
    assert reply["message"]["thread_ts"] == parent_ts
    assert float(reply["ts"]) > float(parent_ts)

    updated = slack_client.chat_update(
        channel="C0INFRA",
        ts=parent_ts,
        text="EC2 retirement (resolved)",
        metadata={"event_type": "opswarden_event", "event_payload": {"event_id": "ev-1", "version": 4}},
    )
    assert updated["ts"] == parent_ts
    assert updated["text"] == "EC2 retirement (resolved)"
    assert updated["message"]["blocks"] == BLOCKS  # blocks omitted in chat.update → kept

    history = slack_client.conversations_history(channel="C0INFRA", limit=10, include_all_metadata=True)
    [top] = history["messages"]  # thread replies are not in the channel history
    assert top["ts"] == parent_ts
    assert top["text"] == "EC2 retirement (resolved)"
    assert top["metadata"]["event_payload"]["version"] == 4
    assert top["reply_count"] == 1
    assert top["latest_reply"] == reply["ts"]
    assert "edited" in top
    assert history["has_more"] is False

    plain = slack_client.conversations_history(channel="C0INFRA")
    assert "metadata" not in plain["messages"][0]  # only with include_all_metadata

    replies = slack_client.conversations_replies(channel="C0INFRA", ts=parent_ts)
    assert [m["ts"] for m in replies["messages"]] == [parent_ts, reply["ts"]]

    recorded = slack_api.messages("#infra")
    assert [m["text"] for m in recorded] == ["EC2 retirement (resolved)", "acknowledged"]
    assert recorded[1]["thread_ts"] == parent_ts
    assert slack_api.thread("C0INFRA", parent_ts) == recorded


def test_slack_history_is_newest_first_with_window_and_pagination(
    slack_client: WebClient, slack_api: FakeSlackAPI
) -> None:
    ts = [slack_client.chat_postMessage(channel="#alerts", text=f"m{i}")["ts"] for i in range(5)]
    assert ts == sorted(ts, key=float)
    assert len(set(ts)) == 5
    for t in ts:
        seconds, micros = t.split(".")
        assert len(seconds) == 10
        assert len(micros) == 6

    page1 = slack_client.conversations_history(channel="C0ALERTS", limit=2)
    assert [m["text"] for m in page1["messages"]] == ["m4", "m3"]
    assert page1["has_more"] is True
    cursor = page1["response_metadata"]["next_cursor"]
    page2 = slack_client.conversations_history(channel="C0ALERTS", limit=2, cursor=cursor)
    assert [m["text"] for m in page2["messages"]] == ["m2", "m1"]

    window = slack_client.conversations_history(channel="C0ALERTS", oldest=ts[1], latest=ts[3])
    assert [m["text"] for m in window["messages"]] == ["m2"]
    inclusive = slack_client.conversations_history(
        channel="C0ALERTS", oldest=ts[1], latest=ts[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]


def test_slack_accepts_form_encoded_bodies(slack_api: FakeSlackAPI) -> None:
    body = urlencode(
        {
            "channel": "#security",
            "text": "form post",
            "blocks": json.dumps(BLOCKS),
            "metadata": json.dumps(METADATA),
        }
    ).encode()
    request = urllib.request.Request(
        slack_api.base_url + "chat.postMessage",
        data=body,
        headers={"Authorization": f"Bearer {slack_api.token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        payload = json.loads(resp.read())
    assert payload["ok"] is True
    [message] = slack_api.messages("C0SECURITY")
    assert message["blocks"] == BLOCKS
    assert message["metadata"] == METADATA


def test_slack_rate_limit_injection(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    slack_api.fail_next("chat.postMessage", status=429, retry_after=3)
    with pytest.raises(SlackApiError) as info:
        slack_client.chat_postMessage(channel="#infra", text="too fast")
    response = info.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response["error"] == "ratelimited"
    assert slack_api.messages("#infra") == []  # nothing posted
    # the injection is one-shot: the retry goes through, and both calls are recorded
    assert slack_client.chat_postMessage(channel="#infra", text="too fast")["ok"] is True
    assert [c.status for c in slack_api.calls_to("chat.postMessage")] == [429, 200]


def test_slack_server_error_injection_repeats(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    slack_api.fail_next("chat.update", status=500, times=2)
    posted = slack_client.chat_postMessage(channel="#infra", text="x")  # other methods unaffected
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            slack_client.chat_update(channel="C0INFRA", ts=posted["ts"], text="y")
        assert info.value.response.status_code == 500
    assert slack_client.chat_update(channel="C0INFRA", ts=posted["ts"], text="y")["ok"] is True


def test_slack_wrong_or_missing_token(slack_api: FakeSlackAPI) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack_api.base_url, timeout=5, retry_handlers=[])
    with pytest.raises(SlackApiError) as info:
        wrong.chat_postMessage(channel="#infra", text="x")
    assert info.value.response.status_code == 200
    assert info.value.response["error"] == "invalid_auth"

    anonymous = WebClient(base_url=slack_api.base_url, timeout=5, retry_handlers=[])
    with pytest.raises(SlackApiError) as info:
        anonymous.auth_test()
    assert info.value.response["error"] == "not_authed"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_slack_channel_errors(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    slack_api.add_channel("#private", "C0PRIV", member=False)
    slack_api.add_channel("#old", "C0OLD", archived=True)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: slack_client.chat_postMessage(channel="#nope", text="x"), "channel_not_found"),
        (lambda: slack_client.chat_postMessage(channel="#private", text="x"), "not_in_channel"),
        (lambda: slack_client.chat_postMessage(channel="#old", text="x"), "is_archived"),
        (lambda: slack_client.chat_postMessage(channel="#infra"), "no_text"),
        (
            lambda: slack_client.chat_postMessage(channel="#infra", text="x", thread_ts="1.000001"),
            "thread_not_found",
        ),
        (lambda: slack_client.chat_update(channel="C0INFRA", ts="1.000001", text="x"), "message_not_found"),
        (lambda: slack_client.conversations_history(channel="#infra"), "channel_not_found"),  # IDs only
        (lambda: slack_client.conversations_replies(channel="C0INFRA", ts="1.000001"), "thread_not_found"),
    ]
    for call, error in cases:
        with pytest.raises(SlackApiError) as info:
            call()
        assert info.value.response.status_code == 200
        assert info.value.response["error"] == error


def test_slack_api_level_failure_and_delay(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    slack_api.fail_next("*", status=200, error="fatal_error")
    with pytest.raises(SlackApiError) as info:
        slack_client.auth_test()
    assert info.value.response["error"] == "fatal_error"

    slack_api.delay_next("auth.test", 5.0)  # cut short by the fixture's teardown
    impatient = WebClient(token=slack_api.token, base_url=slack_api.base_url, timeout=1, retry_handlers=[])
    with pytest.raises((TimeoutError, socket.timeout, OSError)):
        impatient.auth_test()


def test_slack_stop_releases_the_port() -> None:
    fake = FakeSlackAPI().start()
    port = fake.port
    fake.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


# -- Webhooks -------------------------------------------------------------------------------------


def test_webhook_records_posts_and_answers_teams_shapes(webhook_server: FakeWebhookReceiver) -> None:
    incoming = webhook_server.teams_incoming_webhook()
    workflow = webhook_server.teams_workflow()
    generic = webhook_server.url("/generic")
    card = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive"}]}

    with httpx.Client(timeout=5) as client:
        r1 = client.post(incoming, json={"text": "hello"})
        r2 = client.post(workflow, json=card)
        r3 = client.post(generic, json={"event_id": "ev-1"}, headers={"X-Opswarden-Signature": "abc"})

    assert (r1.status_code, r1.text) == (200, "1")
    assert (r2.status_code, r2.content) == (202, b"")
    assert r3.status_code == 200
    assert r3.json() == {"ok": True}

    got = webhook_server.requests
    assert [r.path for r in got] == ["/webhookb2/incoming", "/workflows/trigger", "/generic"]
    assert got[0].json() == {"text": "hello"}
    assert got[1].json() == card
    assert got[1].query["sig"] == "fake-signature"
    assert got[2].headers["x-opswarden-signature"] == "abc"
    assert got[2].content_type == "application/json"
    assert webhook_server.requests_to("/generic")[0].status == 200


def test_webhook_fail_next(webhook_server: FakeWebhookReceiver) -> None:
    url = webhook_server.url("/hook")
    other = webhook_server.url("/other")
    webhook_server.fail_next(429, retry_after=7, path="/hook", times=2)
    with httpx.Client(timeout=5) as client:
        assert client.post(other, json={}).status_code == 200  # scoped to /hook
        first = client.post(url, json={"n": 1})
        second = client.post(url, json={"n": 2})
        third = client.post(url, json={"n": 3})
        webhook_server.fail_next(503)  # any path
        fourth = client.post(other, json={"n": 4})
        assert client.get(url).status_code == 405
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert second.status_code == 429
    assert third.status_code == 200
    assert fourth.status_code == 503
    assert [r.status for r in webhook_server.requests_to("/hook")] == [429, 429, 200]
    assert [r.json()["n"] for r in webhook_server.requests_to("/hook")] == [1, 2, 3]


def test_webhook_custom_response(webhook_server: FakeWebhookReceiver) -> None:
    # Teams connectors sometimes answer 200 with an error text instead of "1"
    url = webhook_server.respond("/teams-quirk", 200, "Webhook message delivery failed with error: 429")
    resp = httpx.post(url, content=b'{"text": "x"}', headers={"Content-Type": "application/json"}, timeout=5)
    assert resp.status_code == 200
    assert resp.text.startswith("Webhook message delivery failed")


# -- SMTP -----------------------------------------------------------------------------------------


def _mail(subject: str = "[opswarden] EC2 retirement") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "opswarden@example.com"
    msg["To"] = "oncall@example.com, infra@example.com"
    msg["Subject"] = subject
    msg.set_content("Plain text body — with ünicode.")
    msg.add_alternative("<p>HTML <b>body</b></p>", subtype="html")
    return msg


def test_smtp_records_multipart_message(smtp_server: FakeSMTPServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        refused = client.send_message(_mail())
    assert refused == {}

    [mail] = smtp_server.messages
    assert mail.mail_from == "opswarden@example.com"
    assert mail.rcpt_tos == ["oncall@example.com", "infra@example.com"]
    assert mail.subject == "[opswarden] EC2 retirement"
    assert mail.message.get_content_type() == "multipart/alternative"
    plain = mail.message.get_body(preferencelist=("plain",))
    html = mail.message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().strip() == "Plain text body — with ünicode."
    assert "<b>body</b>" in html.get_content()
    assert mail.login is None


def test_smtp_auth(smtp_server_auth: FakeSMTPServer) -> None:
    assert smtp_server_auth.credentials is not None
    user, password = smtp_server_auth.credentials
    with smtplib.SMTP(smtp_server_auth.host, smtp_server_auth.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPSenderRefused):  # AUTH required before MAIL
            client.send_message(_mail())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(user, "wrong")
        client.login(user, password)
        client.send_message(_mail())
    assert smtp_server_auth.messages[0].login == user
    *failed, succeeded = smtp_server_auth.auth_attempts  # smtplib tries each mechanism offered
    assert failed
    assert all(attempt == (user, False) for attempt in failed)
    assert succeeded == (user, True)


def test_smtp_transient_and_permanent_failures(smtp_server: FakeSMTPServer) -> None:
    smtp_server.fail_next(451)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.send_message(_mail("first"))
        assert info.value.smtp_code == 451
        assert b"4.3.0 try again later" in info.value.smtp_error
        assert isinstance(info.value, smtplib.SMTPResponseException)

        client.send_message(_mail("second"))  # one-shot

        smtp_server.fail_next(550, stage="rcpt", times=2)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(_mail("third"))
        assert {code for code, _ in refused.value.recipients.values()} == {550}

        smtp_server.fail_next(421, stage="mail")
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.send_message(_mail("fourth"))
    assert [m.subject for m in smtp_server.messages] == ["second"]


def test_smtp_stop_is_clean() -> None:
    server = FakeSMTPServer().start()
    port = server.port
    assert port > 0
    server.stop()
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert time.monotonic() - start < 2
