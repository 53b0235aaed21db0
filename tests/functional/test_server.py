"""The HTTP API on a real uvicorn server on a loopback port, spoken to with httpx."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import uvicorn
from pydantic import SecretStr

from opswarden.app import Application
from opswarden.core.clock import FakeClock
from opswarden.server.api import create_api
from opswarden.server.auth import sign
from opswarden.settings import Settings
from tests.functional.batch import ALARM_KEY, BATCH, FINDING_KEY, HEALTH_ISSUE_KEY, PIPELINE

pytestmark = pytest.mark.functional
T0 = datetime(2026, 3, 7, 8, 0, tzinfo=UTC)
KEY = "k-3f5a7c9e1b"
SECRET = "s-8b0d2f4a6c"

ALARM = (BATCH / "cloudwatch_alarm.json").read_bytes()
FINDING = (BATCH / "guardduty_finding.json").read_bytes()
HEALTH = (BATCH / "health_issue_open.json").read_bytes()


@dataclass
class Live:
    """A running server, a client for it, and the application behind it."""

    app: Application
    clock: FakeClock
    http: httpx.Client
    url: str

    def post(self, body: bytes, **headers: str) -> httpx.Response:
        return self.http.post("/events", content=body, headers=headers)

    def post_with_key(self, body: bytes) -> httpx.Response:
        return self.http.post("/events", content=body, headers={"X-Api-Key": KEY})

    def post_signed(
        self, body: bytes, *, at: int | None = None, signed: bytes | None = None
    ) -> httpx.Response:
        stamp = int(time.time()) if at is None else at
        headers = {
            "X-Opswarden-Timestamp": str(stamp),
            "X-Opswarden-Signature": sign(SECRET, stamp, body if signed is None else signed),
        }
        return self.http.post("/events", content=body, headers=headers)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params, headers={"X-Api-Key": KEY})

    def stored(self) -> tuple[int, int]:
        """(events, dead letters) in the store."""
        return self.app.store.count_events(), len(self.app.dead_letters())


def serve(application: Application, *, background: bool = False) -> Iterator[str]:
    """Run the API on a free loopback port in a background thread; yield its base URL. Without
    ``background`` the supervisor loop does not run (tests call ``process()`` when they mean to)."""
    api = create_api(application, background=background)
    config = uvicorn.Config(api, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def start(tmp_path: Path, **settings: Any) -> Iterator[Live]:
    options = {"data_dir": tmp_path, "api_key": SecretStr(KEY), "hmac_secret": SecretStr(SECRET), **settings}
    clock = FakeClock(T0)
    application = Application(Settings(**options), clock=clock)
    try:
        for url in serve(application):
            with httpx.Client(base_url=url, timeout=30) as http:
                yield Live(application, clock, http, url)
    finally:
        application.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    yield from start(tmp_path)


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Live]:
    """A server that accepts bodies of at most 1 KiB."""
    yield from start(tmp_path, max_body_bytes=1024)


def raw_exchange(url: str, head: str, *parts: bytes) -> tuple[int, Any]:
    """Send a request head and body parts over a plain socket, then read the response without
    finishing the request: (status, JSON body). Fails if the server waits for more of the body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode())
        for part in parts:
            sock.sendall(part)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            header, rest = received.split(b"\r\n\r\n", 1)
            declared = re.search(rb"(?i)content-length: *(\d+)", header)
            length = int(declared.group(1)) if declared else 0
            while len(rest) < length:
                rest += sock.recv(65536)
        except TimeoutError:
            pytest.fail("no answer within 10 s: the server is waiting for the rest of the body")
    return int(header.split()[1]), orjson.loads(rest[:length])


def chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def lines(*bodies: bytes) -> bytes:
    """NDJSON of the given JSON documents."""
    return b"\n".join(orjson.dumps(orjson.loads(b)) for b in bodies) + b"\n"


# ----------------------------------------------------------------------------------------------------
# Authentication


def test_healthz_needs_no_authentication(live: Live) -> None:
    response = live.http.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "sqlite"


def test_post_with_the_api_key_stores_and_answers_the_summary(live: Live) -> None:
    response = live.post_with_key(ALARM)

    assert response.status_code == 200
    summary = response.json()
    assert {k: summary[k] for k in ("payloads", "accepted", "new", "rejected")} == {
        "payloads": 1,
        "accepted": 1,
        "new": 1,
        "rejected": 0,
    }
    assert summary["by_source"] == {"aws.cloudwatch": 1}
    assert live.stored() == (1, 0)
    version = live.app.event(ALARM_KEY)[1][0]
    assert (version.origin, version.received_at) == ("request", T0)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Api-Key": "k-wrong"}, "invalid API key"),
        ({}, "authentication required: send X-Api-Key or X-Opswarden-Signature"),
        ({"X-Opswarden-Signature": "sha256=00"}, "missing or malformed X-Opswarden-Timestamp"),
    ],
)
def test_a_request_without_valid_credentials_is_refused_and_nothing_stored(
    live: Live, headers: dict[str, str], reason: str
) -> None:
    response = live.post(ALARM, **headers)

    assert response.status_code == 401
    assert response.json() == {"detail": reason}
    assert live.stored() == (0, 0)
    assert KEY not in response.text


def test_a_signed_request_is_accepted(live: Live) -> None:
    response = live.post_signed(FINDING)

    assert response.status_code == 200, response.text
    assert response.json()["new"] == 1
    assert live.app.event(FINDING_KEY)[0].key == FINDING_KEY


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_a_signature_outside_the_five_minute_window_is_refused(live: Live, age: int) -> None:
    response = live.post_signed(FINDING, at=int(time.time()) - age)

    assert response.status_code == 401
    assert response.json() == {"detail": "request timestamp outside the 5-minute window"}
    assert live.stored() == (0, 0)


def test_a_tampered_body_is_refused(live: Live) -> None:
    tampered = FINDING.replace(b'"severity": 2', b'"severity": 0.1')
    assert tampered != FINDING

    response = live.post_signed(tampered, signed=FINDING)

    assert response.status_code == 401
    assert response.json() == {"detail": "invalid signature"}
    assert live.stored() == (0, 0)


# ----------------------------------------------------------------------------------------------------
# Bodies


def test_ndjson_and_array_bodies(live: Live) -> None:
    ndjson = live.post_with_key(lines(ALARM, FINDING))
    array = live.post_with_key(b"[" + HEALTH + b"," + ALARM + b"]")

    assert ndjson.status_code == array.status_code == 200
    assert (ndjson.json()["new"], array.json()["new"], array.json()["unchanged"]) == (2, 1, 1)
    assert live.app.event(FINDING_KEY)[1][0].origin == "request:2"
    assert live.app.event(HEALTH_ISSUE_KEY)[1][0].origin == "request[0]"
    assert live.stored() == (3, 0)


def test_a_body_with_nothing_usable_is_400_with_reasons_and_dead_lettered(live: Live) -> None:
    body = b'{"message": "deploy finished", "service": "checkout"}'
    response = live.post_with_key(body)

    assert response.status_code == 400
    summary = response.json()
    assert (summary["accepted"], summary["rejected"]) == (0, 1)
    assert summary["rejections"] == [
        {"origin": "request", "reason": "not a recognised event format (top-level keys: message, service)"}
    ]
    (letter,) = live.app.dead_letters()
    assert (letter.origin, letter.error_type, letter.body) == (
        "request",
        "UnrecognisedFormatError",
        body.decode(),
    )
    assert live.stored() == (0, 1)


def test_a_broken_json_body_is_400_and_kept_as_received(live: Live) -> None:
    body = b'{"version": "0", "source": "aws.health", '
    response = live.post_with_key(body)

    assert response.status_code == 400
    assert response.json()["rejections"][0]["reason"].startswith("invalid JSON")
    assert live.app.dead_letters()[0].body == body.decode()


def test_a_partly_bad_body_is_200_with_the_rejections_listed(live: Live) -> None:
    body = lines(ALARM) + b'{"version": "0", "source": "aws.ec2", "detail": {\n' + lines(FINDING)
    response = live.post_with_key(body)

    assert response.status_code == 200
    summary = response.json()
    assert (summary["payloads"], summary["new"], summary["rejected"]) == (3, 2, 1)
    (rejection,) = summary["rejections"]
    assert rejection["origin"] == "request:2"
    assert rejection["reason"].startswith("invalid JSON")
    assert live.stored() == (2, 1)


@pytest.mark.parametrize("body", [b"", b" \n\n "])
def test_an_empty_body_is_400(live: Live, body: bytes) -> None:
    response = live.post_with_key(body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("empty body")
    assert live.stored() == (0, 0)


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(small: Live) -> None:
    assert len(ALARM) > 1024

    response = small.post_with_key(ALARM)

    assert response.status_code == 413
    assert response.json() == {"detail": "body over 1024 bytes: split the batch"}
    assert small.stored() == (0, 0)
    fits = b'{"message": "small enough"}'
    assert small.post_with_key(fits).status_code == 400  # read and judged, not refused for size


@pytest.mark.parametrize("credentials", ["", f"X-Api-Key: {KEY}\n", "X-Api-Key: k-wrong\n"])
def test_a_declared_oversized_body_is_413_before_authentication_and_before_reading(
    small: Live, credentials: str
) -> None:
    head = f"POST /events HTTP/1.1\nHost: test\n{credentials}Content-Length: 50000000\n\n"

    status, body = raw_exchange(small.url, head)  # not one byte of the 50 MB sent

    assert (status, body) == (413, {"detail": "body over 1024 bytes: split the batch"})
    assert small.stored() == (0, 0)


def test_an_oversized_chunked_body_is_413_without_waiting_for_its_end(small: Live) -> None:
    head = f"POST /events HTTP/1.1\nHost: test\nX-Api-Key: {KEY}\nTransfer-Encoding: chunked\n\n"

    # 1.5 KiB of a body that never ends: refused once the limit is passed.
    status, body = raw_exchange(small.url, head, chunk(b" " * 512), chunk(b" " * 512), chunk(b" " * 512))

    assert (status, body) == (413, {"detail": "body over 1024 bytes: split the batch"})
    assert small.stored() == (0, 0)


def test_a_chunked_body_within_the_limit_is_read_and_ingested(small: Live) -> None:
    event = b'{"specversion": "1.0", "id": "c-1", "source": "https://ci.example.com", "type": "deploy"}'
    head = f"POST /events HTTP/1.1\nHost: test\nX-Api-Key: {KEY}\nTransfer-Encoding: chunked\n\n"

    status, summary = raw_exchange(small.url, head, chunk(event[:40]), chunk(event[40:]), b"0\r\n\r\n")

    assert (status, summary["new"]) == (200, 1)
    assert small.stored() == (1, 0)


# ----------------------------------------------------------------------------------------------------
# Reading


def test_get_events_and_one_event(live: Live) -> None:
    live.post_with_key(lines(ALARM, FINDING, HEALTH))
    live.clock.advance(timedelta(hours=2))
    live.post_with_key((PIPELINE / "health_issue_resolved.json").read_bytes())

    listed = live.get("/events")
    assert listed.status_code == 200
    assert {row["key"] for row in listed.json()} == {ALARM_KEY, FINDING_KEY, HEALTH_ISSUE_KEY}
    only = live.get("/events", source="aws.health", status="closed")
    (health,) = only.json()
    assert (health["key"], health["version_count"]) == (HEALTH_ISSUE_KEY, 2)
    assert live.get("/events", limit=1).json()[0]["id"] in {row["id"] for row in listed.json()}

    shown = live.get(f"/events/{health['id']}")
    assert shown.status_code == 200
    detail = shown.json()
    assert [v["status"] for v in detail["versions"]] == ["open", "closed"]
    assert [v["received_at"] for v in detail["versions"]] == ["2026-03-07T08:00:00Z", "2026-03-07T10:00:00Z"]
    assert {"field": "status", "old": "open", "new": "closed"} in detail["versions"][1]["changes"]
    assert live.get(f"/events/{health['id'][:10]}").json() == detail


def test_get_one_event_by_an_identity_key_with_slashes(live: Live) -> None:
    live.post_with_key(lines(ALARM, HEALTH))
    assert "/" in HEALTH_ISSUE_KEY

    by_key = live.get(f"/events/{HEALTH_ISSUE_KEY}")
    encoded = live.get(f"/events/{quote(HEALTH_ISSUE_KEY, safe='')}")

    assert by_key.status_code == 200, by_key.text
    assert by_key.json()["key"] == HEALTH_ISSUE_KEY
    assert encoded.json() == by_key.json()
    assert live.get(f"/events/{ALARM_KEY}").json()["key"] == ALARM_KEY


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "AWS_EC2_OPERATIONAL_ISSUE"}, {HEALTH_ISSUE_KEY}),
        ({"type": "CloudWatch Alarm State Change"}, {ALARM_KEY}),
        ({"since": "3d"}, {ALARM_KEY, FINDING_KEY, HEALTH_ISSUE_KEY}),  # now is 2026-03-07T08:00Z
        ({"since": "2d"}, {HEALTH_ISSUE_KEY}),
        ({"since": "2026-03-04T10:30:00Z"}, {FINDING_KEY, HEALTH_ISSUE_KEY}),
        ({"until": "2026-03-04T10:30:00Z"}, {ALARM_KEY}),
        ({"since": "2026-03-04", "until": "2026-03-05"}, {ALARM_KEY, FINDING_KEY}),
        ({"since": "60h", "until": "1d", "source": "aws.health"}, {HEALTH_ISSUE_KEY}),
        ({"until": "Wed, 4 Mar 2026 10:00:00 GMT"}, set()),
    ],
)
def test_get_events_filters_by_type_and_update_time(
    live: Live, params: dict[str, str], expected: set[str]
) -> None:
    live.post_with_key(lines(ALARM, FINDING, HEALTH))

    response = live.get("/events", **params)

    assert response.status_code == 200, response.text
    assert {row["key"] for row in response.json()} == expected


@pytest.mark.parametrize(("name", "value"), [("since", "2 days"), ("until", "yesterday"), ("since", "")])
def test_get_events_with_an_unreadable_time_is_422_saying_what_to_write(
    live: Live, name: str, value: str
) -> None:
    response = live.get("/events", **{name: value})

    assert response.status_code == 422
    assert response.json() == {
        "detail": f"{name}: {value!r}: write a duration like 7d / 12h or a date like 2026-01-31"
    }


def test_get_events_limit_defaults_to_100_and_is_at_most_1000(live: Live) -> None:
    live.post_with_key(lines(ALARM))
    # The ALARM as 120 distinct alarms (names differ), each a record of its own.
    alarms = [ALARM.replace(b"checkout-api-5xx", f"checkout-api-{i}".encode()) for i in range(120)]
    assert live.post_with_key(lines(*alarms)).json()["new"] == 120

    assert len(live.get("/events").json()) == 100
    assert len(live.get("/events", limit=1000).json()) == 121
    assert live.get("/events", limit=1001).status_code == 422


def test_get_an_unknown_event_is_404(live: Live) -> None:
    response = live.get("/events/ev-0000000000000000")

    assert response.status_code == 404
    assert "no event with id or key 'ev-0000000000000000'" in response.json()["detail"]


def test_reading_needs_authentication_too(live: Live) -> None:
    live.post_with_key(ALARM)

    assert live.http.get("/events").status_code == 401
    assert live.http.get("/events/anything").status_code == 401
    assert live.get("/events", limit=0).status_code == 422
