"""A process killed mid-send (after the HTTP request, before recording it) never makes a second send.

The child process ingests an event routed to a webhook and delivers; its notifier ends the process
with ``os._exit`` right after the receiver answered — the worst moment. A restarted opswarden finds the
message ``sending`` with its claim expired, cannot prove delivery (a webhook cannot be asked), marks it
``uncertain`` and audits it; the receiver has seen the message exactly once. A crash *before* the send
(claimed, nothing sent) is the same from the store's point of view: uncertain, never resent blindly;
``notify retry`` sends it again when an operator decides so.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from opswarden.app import Application
from opswarden.core.clock import FakeClock, SystemClock
from opswarden.settings import Settings
from tests.fakes.webhooks import FakeWebhookReceiver

pytestmark = pytest.mark.functional

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
POLICY = "route:\n  name: all\n  channels: [webhook]\n"

CHILD = textwrap.dedent(
    """
    import os, sys
    from opswarden.app import Application
    from opswarden.notify.channels import webhook
    from opswarden.settings import Settings

    real_send = webhook.WebhookNotifier.send

    def send_then_die(self, out):
        real_send(self, out)
        os._exit(17)  # killed after the receiver answered, before the outbox records it

    webhook.WebhookNotifier.send = send_then_die
    app = Application(Settings(data_dir=sys.argv[1], webhook_url=sys.argv[2]))
    app.ingest_paths([sys.argv[3]])
    app.process()
    """
)


def crash_while_sending(data_dir: Path, url: str) -> subprocess.CompletedProcess[bytes]:
    """Run the child: ingest the GuardDuty example, deliver it to ``url``, die right after."""
    event = EXAMPLES / "events" / "05_guardduty_finding.json"
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), url, str(event)],
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_a_message_sent_just_before_a_crash_is_not_sent_again(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    with FakeWebhookReceiver() as receiver:
        url = receiver.url("/hook")
        child = crash_while_sending(tmp_path, url)
        assert child.returncode == 17, child.stderr.decode()
        assert len(receiver.requests_to("/hook")) == 1

        clock = FakeClock(SystemClock().now() + timedelta(minutes=10))  # past the 5-minute claim
        app = Application(Settings(data_dir=tmp_path, webhook_url=url), clock=clock)
        try:
            first = app.process()
            second = app.process()
            [message] = app.outbox()
            history = [h["action"] for h in app.event_json(message["event_id"])["history"]]
        finally:
            app.close()
        received = len(receiver.requests_to("/hook"))

    assert (first.dispatch.uncertain, second.dispatch.uncertain) == (1, 0)
    assert sum(first.dispatch.sent.values()) + sum(second.dispatch.sent.values()) == 0
    assert message["status"] == "uncertain"
    assert "delivery_uncertain" in history
    assert received == 1  # exactly once, crash or not


def test_an_operator_can_send_an_uncertain_message_again(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    with FakeWebhookReceiver() as receiver:
        url = receiver.url("/hook")
        crash_while_sending(tmp_path, url)
        app = Application(
            Settings(data_dir=tmp_path, webhook_url=url),
            clock=FakeClock(SystemClock().now() + timedelta(minutes=10)),
        )
        try:
            app.process()
            [message] = app.outbox()
            assert app.retry_message(message["id"]) is True
            again = app.process()
            [after] = app.outbox()
        finally:
            app.close()
        keys = {r.headers["idempotency-key"] for r in receiver.requests_to("/hook")}

    assert again.dispatch.sent == {"webhook": 1}
    assert after["status"] == "sent"
    assert len(keys) == 1  # the resend carries the same Idempotency-Key: receivers can drop it
