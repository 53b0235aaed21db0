"""Answer links on a live server: signed, expiring, single-use; refusals are audited. And the
background supervisor: events posted to the API are triaged and delivered without anyone asking."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.settings import Settings
from opswarden.store.reader import EventFilter
from tests.functional.test_server import serve

pytestmark = pytest.mark.functional

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = "test-api-key-0123456789"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Application, FakeClock, httpx.Client]]:
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, tmp_path / name)
    clock = FakeClock(T0)
    app = Application(
        Settings(
            data_dir=tmp_path,
            api_key=SecretStr(KEY),
            public_url="https://opswarden.example.com",
            link_ttl_hours=24,
        ),
        clock=clock,
    )
    try:
        for url in serve(app):
            with httpx.Client(base_url=url, timeout=30) as http:
                yield app, clock, http
    finally:
        app.close()


def rds_event(app: Application) -> str:
    app.ingest_paths([str(EXAMPLES / "events" / "08_rds_issue_production.json")])
    app.process()
    [event] = app.events_json(EventFilter())
    return str(event["id"])


def links_in_log(app: Application) -> dict[str, str]:
    """The signed answer links of the last card in the console sink, by action."""
    log = (app.settings.data_dir / "notifications.log").read_text()
    found = re.findall(r"(Acknowledge|Approve|Reject): (https://\S+)", log)
    return {action.lower(): url for action, url in found}


def path_of(url: str) -> str:
    return url.removeprefix("https://opswarden.example.com")


def refusals(app: Application) -> list[dict[str, Any]]:
    return [a for a in app.store.audit_entries() if a["action"] == "refused"]


def test_the_card_carries_signed_links_and_a_get_only_asks_for_confirmation(live: Any) -> None:
    app, _, http = live
    event_id = rds_event(app)
    links = links_in_log(app)

    page = http.get(path_of(links["approve"]))

    assert set(links) == {"acknowledge", "approve", "reject"}
    assert page.status_code == 200
    assert 'name="by" required' in page.text  # a link in a shared channel asks who answers
    assert app.event_json(event_id)["lifecycle"] == "notified"  # a GET (a mail scanner) changes nothing


def test_a_link_answers_once_and_a_reuse_is_refused_and_audited(live: Any) -> None:
    app, _, http = live
    event_id = rds_event(app)
    approve = path_of(links_in_log(app)["approve"])

    nameless = http.post(approve, data={"note": "approved in CAB"})
    first = http.post(approve, data={"note": "approved in CAB", "by": "carol"})
    again = http.post(approve, data={"by": "mallory"})

    assert nameless.status_code == 400  # nobody to record: nothing recorded, the link still works
    assert first.status_code == 200, first.text
    detail = app.event_json(event_id)
    assert detail["lifecycle"] == "approved"
    last = [h for h in detail["history"] if h["action"] == "transition"][-1]
    assert (last["actor"], last["channel"], last["detail"]["note"]) == (
        "carol (link in console)",
        "link",
        "approved in CAB",
    )
    assert again.status_code == 403
    assert "already used" in again.text
    assert [r["detail"]["why"] for r in refusals(app)] == ["this link was already used"]


def test_an_expired_link_is_refused_and_audited(live: Any) -> None:
    app, clock, http = live
    rds_event(app)
    ack = path_of(links_in_log(app)["acknowledge"])
    clock.advance(timedelta(hours=24, seconds=1))

    answer = http.post(ack, data={"by": "alice"})

    assert answer.status_code == 403
    assert "link expired" in answer.text
    assert "link expired" in refusals(app)[0]["detail"]["why"]


def test_a_forged_link_is_refused_and_audited(live: Any) -> None:
    app, _, http = live
    event_id = rds_event(app)
    token = path_of(links_in_log(app)["reject"]).removeprefix("/answers/")
    claims, _, signature = token.partition(".")
    forged = claims[:-2] + ("AA" if claims[-2:] != "AA" else "BB") + "." + signature

    answer = http.post(f"/answers/{forged}", data={"by": "mallory"})

    assert answer.status_code == 403
    assert app.event_json(event_id)["lifecycle"] == "notified"
    assert "signature" in refusals(app)[0]["detail"]["why"]


def test_the_background_supervisor_triages_and_delivers_posted_events(tmp_path: Path) -> None:
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, tmp_path / name)
    app = Application(Settings(data_dir=tmp_path, api_key=SecretStr(KEY), process_interval_seconds=60))
    body = (EXAMPLES / "events" / "08_rds_issue_production.json").read_bytes()
    try:
        for url in serve(app, background=True):
            with httpx.Client(base_url=url, timeout=30) as http:
                posted = http.post("/events", content=body, headers={"X-Api-Key": KEY})
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    [event] = http.get("/events", headers={"X-Api-Key": KEY}).json()
                    if event["lifecycle"] == "notified":
                        break
                    time.sleep(0.05)
    finally:
        app.close()

    assert posted.status_code == 200
    assert event["lifecycle"] == "notified"  # woken by the POST, not by the 60 s timer
    assert "RDS · Hardware maintenance required" in (tmp_path / "notifications.log").read_text()
