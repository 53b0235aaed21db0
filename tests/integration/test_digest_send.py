"""The weekly digest through the notifiers: the outbox delivers it to OPSWARDEN_DIGEST_TO, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.reports import run
from opswarden.reports.formats import to_markdown
from opswarden.settings import Settings
from tests.fakes.slack_api import FakeSlackAPI

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_the_digest_goes_to_slack_once_and_an_unconfigured_channel_falls_back(tmp_path: Path) -> None:
    with FakeSlackAPI() as slack:
        settings = Settings(
            data_dir=tmp_path,
            slack_bot_token=SecretStr(slack.token),
            slack_api_url=slack.base_url,
            digest_to=("slack:#alerts", "email:ops@example.com"),
        )
        app = Application(settings, clock=FakeClock(T0))
        try:
            app.ingest_paths([str(EXAMPLES / "events")])
            app.process()
            report = run.digest(app, T0 - timedelta(days=7))
            first = app.supervisor.send_digest(report.title, to_markdown(report))
            again = app.supervisor.send_digest(report.title, to_markdown(report))
            sent = [m for m in app.outbox(limit=500) if m["kind"] == "digest"]
        finally:
            app.close()
        posted = slack.messages("#alerts")

    targets, notes = first
    assert targets == ["slack #alerts", "console console"]
    assert notes == [
        "email:ops@example.com: email is not configured or has no address; sent to the console instead"
    ]
    assert again[0] == targets
    assert sorted((m["channel"], m["status"]) for m in sent) == [("console", "sent"), ("slack", "sent")]
    [digest] = posted  # sent once, though asked twice
    assert digest["blocks"][0]["text"]["text"] == report.title
    assert "events active in the window" in digest["blocks"][1]["text"]["text"]
    assert (tmp_path / "notifications.log").read_text().count(f"digest · {report.title}") == 1
