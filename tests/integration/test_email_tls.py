"""E-mail is never sent in clear text when STARTTLS is asked for and the server does not offer it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.notify.base import Outgoing
from opswarden.notify.channels.email import EmailNotifier
from opswarden.notify.message import Kind, message_for
from tests.factories import make_event
from tests.fakes.smtp import FakeSMTPServer

pytestmark = pytest.mark.integration


def outgoing() -> Outgoing:
    msg = message_for(make_event("tls:one"), kind=Kind.CARD, at=datetime(2026, 11, 26, tzinfo=UTC))
    return Outgoing(outbox_id=1, dedupe_key="k" * 64, target="infra@example.com", message=msg)


def test_starttls_required_but_not_offered_refuses_to_send(smtp_server: FakeSMTPServer) -> None:
    notifier = EmailNotifier(smtp_server.host, smtp_server.port, "opswarden@example.com", starttls=True)

    with pytest.raises(DeliveryError) as raised:
        notifier.send(outgoing())

    assert "does not offer STARTTLS" in str(raised.value)
    assert raised.value.reason is DeliveryReason.CLIENT
    assert raised.value.recoverable is False
    assert smtp_server.messages == []


def test_without_starttls_the_relay_gets_the_message(smtp_server: FakeSMTPServer) -> None:
    notifier = EmailNotifier(smtp_server.host, smtp_server.port, "opswarden@example.com", starttls=False)

    notifier.send(outgoing())

    assert [m.rcpt_tos for m in smtp_server.messages] == [["infra@example.com"]]
