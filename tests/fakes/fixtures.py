"""Pytest fixtures for the fakes. Registered for the whole suite via ``pytest_plugins`` in tests/conftest.py.

* ``slack_api`` → a started :class:`~tests.fakes.slack_api.FakeSlackAPI` (channels #infra=C0INFRA,
  #alerts=C0ALERTS, #security=C0SECURITY; token ``slack_api.token``).
* ``slack_client`` → a ``slack_sdk.WebClient`` pointed at it, with no retry handlers and a 5 s timeout.
* ``webhook_server`` → a started :class:`~tests.fakes.webhooks.FakeWebhookReceiver`.
* ``smtp_server`` → a started :class:`~tests.fakes.smtp.FakeSMTPServer` without AUTH.
* ``smtp_server_auth`` → the same, requiring AUTH as ``smtp_server_auth.credentials``.

Each is function-scoped and stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported lazily below, so that registering this plugin costs nothing
    from slack_sdk import WebClient

    from tests.fakes.slack_api import FakeSlackAPI
    from tests.fakes.smtp import FakeSMTPServer
    from tests.fakes.webhooks import FakeWebhookReceiver

__all__ = ["slack_api", "slack_client", "smtp_server", "smtp_server_auth", "webhook_server"]


@pytest.fixture
def slack_api() -> Iterator[FakeSlackAPI]:
    """A started FakeSlackAPI (#infra=C0INFRA, #alerts=C0ALERTS, #security=C0SECURITY), stopped afterwards."""
    from tests.fakes.slack_api import FakeSlackAPI

    with FakeSlackAPI() as fake:
        yield fake


@pytest.fixture
def slack_client(slack_api: FakeSlackAPI) -> WebClient:
    """slack_sdk WebClient on ``slack_api``: its token, no retry handlers, 5 s timeout."""
    from slack_sdk import WebClient

    return WebClient(token=slack_api.token, base_url=slack_api.base_url, timeout=5, retry_handlers=[])


@pytest.fixture
def webhook_server() -> Iterator[FakeWebhookReceiver]:
    """A started FakeWebhookReceiver (Teams incoming/Workflows and generic JSON webhooks)."""
    from tests.fakes.webhooks import FakeWebhookReceiver

    with FakeWebhookReceiver() as fake:
        yield fake


@pytest.fixture
def smtp_server() -> Iterator[FakeSMTPServer]:
    """A started FakeSMTPServer without AUTH."""
    from tests.fakes.smtp import FakeSMTPServer

    with FakeSMTPServer() as fake:
        yield fake


@pytest.fixture
def smtp_server_auth() -> Iterator[FakeSMTPServer]:
    """A started FakeSMTPServer requiring AUTH as ``.credentials`` (opswarden / s3cret-password)."""
    from tests.fakes.smtp import FakeSMTPServer

    with FakeSMTPServer(auth=("opswarden", "s3cret-password")) as fake:
        yield fake
