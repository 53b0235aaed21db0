"""Loopback fakes of the services opswarden notifies: Slack Web API, webhooks (Teams, generic), SMTP.

``from tests.fakes import FakeSlackAPI`` works; the submodules load on first use so that registering
the fixtures plugin (tests.fakes.fixtures) does not import slack_sdk or aiosmtpd.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.slack_api import FakeSlackAPI, SlackCall
    from tests.fakes.smtp import FakeSMTPServer, ReceivedMail
    from tests.fakes.webhooks import FakeWebhookReceiver, ReceivedRequest

_EXPORTS = {
    "FakeSlackAPI": "tests.fakes.slack_api",
    "SlackCall": "tests.fakes.slack_api",
    "FakeSMTPServer": "tests.fakes.smtp",
    "ReceivedMail": "tests.fakes.smtp",
    "FakeWebhookReceiver": "tests.fakes.webhooks",
    "ReceivedRequest": "tests.fakes.webhooks",
}

__all__ = [
    "FakeSMTPServer",
    "FakeSlackAPI",
    "FakeWebhookReceiver",
    "ReceivedMail",
    "ReceivedRequest",
    "SlackCall",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
