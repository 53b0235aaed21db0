"""The ServiceNow backend's specifics against the loopback Table API (tests/fakes/tickets_servicenow.py):
the record it creates (correlation, impact × urgency, team fields), resolution fields, states read
back, errors with ServiceNow's own message quoted and no credential, and its settings."""

from __future__ import annotations

import base64
import dataclasses
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from opswarden.errors import ConfigurationError, DeliveryError, DeliveryReason
from opswarden.settings import Settings
from opswarden.tickets.base import NewTicket, TicketRef, TicketStatus, correlation_key
from opswarden.tickets.servicenow import CLOSE_CODE, ServiceNowTicketer
from tests.fakes.tickets_servicenow import PASSWORD, USERNAME, WRONG_PASSWORD, FakeServiceNow

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> Iterator[FakeServiceNow]:
    with FakeServiceNow() as started:
        yield started


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def ticketer(fake: FakeServiceNow, http: httpx.Client) -> ServiceNowTicketer:
    return ServiceNowTicketer(http, fake.base_url + "/", USERNAME, PASSWORD)


def new_ticket(priority: int = 2, team: str = "inf01", **changes: Any) -> NewTicket:
    ticket = NewTicket(
        correlation=correlation_key("ev-0123456789abcdef", team),
        title="EKS · Planned lifecycle event",
        description="Amazon EKS standard support for Kubernetes 1.30 ends on March 27, 2027.",
        priority=priority,
        team=team,
        team_name="Infra",
        event_id="ev-0123456789abcdef",
        accounts=("111111111111", "222222222222"),
        resources=("arn:aws:eks:eu-west-1:111111111111:cluster/payments-prod",),
        labels=("aws.health",),
        link="https://opswarden.example.com/events/ev-0123456789abcdef",
    )
    return dataclasses.replace(ticket, **changes)


def sn_settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "tickets_backend": "servicenow",
        "servicenow_url": "https://example.service-now.com",
        "servicenow_username": USERNAME,
        "servicenow_password": PASSWORD,
    }
    return Settings(**{**base, **values})


def test_create_sets_the_correlation_and_describes_the_event(
    fake: FakeServiceNow, ticketer: ServiceNowTicketer
) -> None:
    ticket = new_ticket(title="EKS · Planned\nlifecycle event " + "x" * 300)

    ref = ticketer.create(ticket)
    record = fake.record(ref.id or "")
    post = next(r for r in fake.requests if r.method == "POST")

    assert ref.backend == "servicenow"
    assert ref.key == "INC0010001"
    assert ref.id == record["sys_id"]
    assert len(record["sys_id"]) == 32
    assert ref.url == f"{fake.base_url}/nav_to.do?uri=incident.do?sys_id={ref.id}"
    assert record["correlation_id"] == "opswarden:ev-0123456789abcdef:inf01"
    assert record["correlation_display"] == "opswarden"
    assert "\n" not in record["short_description"]
    assert len(record["short_description"]) == 160
    assert record["short_description"].startswith("EKS · Planned lifecycle event xxx")
    assert "Kubernetes 1.30" in record["description"]
    assert "111111111111, 222222222222" in record["description"]
    assert "arn:aws:eks:eu-west-1:111111111111:cluster/payments-prod" in record["description"]
    assert "https://opswarden.example.com/events/ev-0123456789abcdef" in record["description"]
    assert record["state"] == "1"
    assert post.path == "/api/now/table/incident"
    assert post.headers["accept"] == "application/json"
    assert post.headers["content-type"] == "application/json"
    assert (
        post.headers["authorization"]
        == "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    )


def test_create_finds_the_incident_already_opened_with_the_key(
    fake: FakeServiceNow, ticketer: ServiceNowTicketer
) -> None:
    first = ticketer.create(new_ticket())
    again = ticketer.create(new_ticket())
    other = ticketer.create(new_ticket(team="sec01"))

    assert again == first
    assert other.key == "INC0010002"
    assert len(fake.tables["incident"]) == 2
    finds = [r for r in fake.requests if r.method == "GET"]
    assert finds[0].query["sysparm_query"] == "correlation_id=opswarden:ev-0123456789abcdef:inf01"
    assert finds[0].query["sysparm_limit"] == "1"
    assert finds[0].query["sysparm_fields"] == "sys_id,number,state"


@pytest.mark.parametrize(
    ("priority", "impact", "urgency"),
    [(1, "1", "1"), (2, "1", "2"), (3, "2", "2"), (4, "3", "2"), (5, "3", "3")],
)
def test_priority_becomes_impact_and_urgency(
    fake: FakeServiceNow, ticketer: ServiceNowTicketer, priority: int, impact: str, urgency: str
) -> None:
    ref = ticketer.create(new_ticket(priority=priority))
    record = fake.record(ref.id or "")

    assert (record["impact"], record["urgency"]) == (impact, urgency)
    assert record["priority"] == str(priority)  # as the instance derives it from impact × urgency


def test_the_teams_fields_go_in_as_they_are(fake: FakeServiceNow, ticketer: ServiceNowTicketer) -> None:
    fields = {"assignment_group": "Network Ops", "category": "network", "cmdb_ci": "payments-prod"}
    ref = ticketer.create(new_ticket(fields=fields, correlation="opswarden:ev-x:inf01"))
    # they cannot move the correlation: find would miss the incident
    hijack = {"correlation_id": "other", "short_description": "other"}
    kept = ticketer.create(new_ticket(fields=hijack))
    record, kept_record = fake.record(ref.id or ""), fake.record(kept.id or "")

    assert record["assignment_group"] == "Network Ops"
    assert record["category"] == "network"
    assert record["cmdb_ci"] == "payments-prod"
    assert kept_record["correlation_id"] == "opswarden:ev-0123456789abcdef:inf01"
    assert kept_record["short_description"] == "EKS · Planned lifecycle event"


def test_from_settings_adds_the_teams_fields_from_configuration(
    fake: FakeServiceNow, http: httpx.Client
) -> None:
    settings = sn_settings(
        servicenow_url=fake.base_url, ticket_fields={"inf01": {"assignment_group": "Network Ops"}}
    )
    ticketer = ServiceNowTicketer.from_settings(settings, http)

    infra = ticketer.create(new_ticket(team="inf01"))
    security = ticketer.create(new_ticket(team="sec01"))

    assert fake.record(infra.id or "")["assignment_group"] == "Network Ops"
    assert "assignment_group" not in fake.record(security.id or "")


def test_close_resolves_with_code_and_notes_and_reopen_puts_it_in_progress(
    fake: FakeServiceNow, ticketer: ServiceNowTicketer
) -> None:
    ref = ticketer.create(new_ticket())

    ticketer.comment(ref, "AWS updated the event")
    ticketer.close(ref, "resolved upstream")
    resolved = fake.record(ref.id or "")
    closed = ticketer.state(ref)
    ticketer.reopen(ref, "opened again upstream")
    reopened = ticketer.state(ref)
    patches = [r.json() for r in fake.requests if r.method == "PATCH"]

    assert patches == [
        {"work_notes": "AWS updated the event"},
        {"state": "6", "close_code": CLOSE_CODE, "close_notes": "resolved upstream"},
        {"state": "2", "work_notes": "opened again upstream"},
    ]
    assert (resolved["state"], resolved["close_code"], resolved["close_notes"]) == (
        "6",
        "Resolved by caller",
        "resolved upstream",
    )
    assert (closed.status, closed.raw_status) == (TicketStatus.CLOSED, "6")
    assert (reopened.status, reopened.raw_status) == (TicketStatus.IN_PROGRESS, "2")
    assert fake.notes(ref.id or "") == [
        ("work_notes", "AWS updated the event"),
        ("close_notes", "resolved upstream"),
        ("work_notes", "opened again upstream"),
    ]


def test_a_configured_close_code_is_used(fake: FakeServiceNow, http: httpx.Client) -> None:
    ticketer = ServiceNowTicketer(http, fake.base_url, USERNAME, PASSWORD, close_code="Solved (Permanently)")
    ref = ticketer.create(new_ticket())

    ticketer.close(ref, "done")

    assert fake.record(ref.id or "")["close_code"] == "Solved (Permanently)"


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("1", TicketStatus.OPEN),
        ("2", TicketStatus.IN_PROGRESS),
        ("3", TicketStatus.IN_PROGRESS),
        ("6", TicketStatus.CLOSED),
        ("7", TicketStatus.CLOSED),
        ("8", TicketStatus.CLOSED),
        ("101", TicketStatus.IN_PROGRESS),  # an instance's own state
    ],
)
def test_state_maps_the_incidents_states(
    fake: FakeServiceNow, ticketer: ServiceNowTicketer, state: str, status: TicketStatus
) -> None:
    ref = ticketer.create(new_ticket())
    fake.work(ref.id or "", state=state, assigned_to="Beth Anglin")

    seen = ticketer.state(ref)

    assert seen.status is status
    assert seen.raw_status == state
    assert seen.assignee == "Beth Anglin"
    assert seen.updated_at is not None
    assert seen.updated_at.tzinfo is not None
    assert seen.ref == ref


def test_a_new_incident_has_no_assignee(ticketer: ServiceNowTicketer) -> None:
    seen = ticketer.state(ticketer.create(new_ticket()))

    assert (seen.status, seen.raw_status, seen.assignee) == (TicketStatus.OPEN, "1", None)


def test_servicenows_error_is_quoted(fake: FakeServiceNow, ticketer: ServiceNowTicketer) -> None:
    missing = TicketRef("servicenow", "INC0099999", None, "0" * 32)

    with pytest.raises(DeliveryError) as raised:
        ticketer.comment(missing, "hello")

    assert raised.value.reason is DeliveryReason.CLIENT
    assert raised.value.recoverable is False
    assert "HTTP 404" in str(raised.value)
    assert "INC0099999" in str(raised.value)
    assert '"No Record found" (Record doesn\'t exist or ACL restricts the record retrieval)' in str(
        raised.value
    )


def test_a_refused_resolution_quotes_the_data_policy(fake: FakeServiceNow, http: httpx.Client) -> None:
    ticketer = ServiceNowTicketer(http, fake.base_url, USERNAME, PASSWORD, close_code="")
    ref = ticketer.create(new_ticket())

    with pytest.raises(DeliveryError) as raised:
        ticketer.close(ref, "done")

    message = str(raised.value)
    assert raised.value.reason is DeliveryReason.AUTH  # 403, as check() reads it
    assert '"Operation Failed" (Data Policy Exception: The following fields are mandatory' in message
    assert "\n" not in message
    assert fake.record(ref.id or "")["state"] == "1"


def test_bad_credentials_quote_servicenow_and_name_no_secret(
    fake: FakeServiceNow, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    ticketer = ServiceNowTicketer(http, fake.base_url, USERNAME, WRONG_PASSWORD)

    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as raised:
        ticketer.create(new_ticket())

    message = str(raised.value)
    assert raised.value.reason is DeliveryReason.AUTH
    assert raised.value.recoverable is False
    assert '"User Not Authenticated" (Required to provide Auth information)' in message
    assert "127.0.0.1" in message
    for secret in (
        WRONG_PASSWORD,
        PASSWORD,
        base64.b64encode(f"{USERNAME}:{WRONG_PASSWORD}".encode()).decode(),
    ):
        assert secret not in message
        assert secret not in caplog.text


def test_a_rate_limit_keeps_retry_after(fake: FakeServiceNow, ticketer: ServiceNowTicketer) -> None:
    ref = ticketer.create(new_ticket())
    fake.fail_next(429, 30)

    with pytest.raises(DeliveryError) as raised:
        ticketer.close(ref, "done")

    assert raised.value.reason is DeliveryReason.RATE_LIMITED
    assert raised.value.retry_after == 30.0
    assert '"Too Many Requests"' in str(raised.value)


def test_a_hibernating_instance_is_tried_again_later(
    fake: FakeServiceNow, ticketer: ServiceNowTicketer
) -> None:
    fake.hibernate()

    with pytest.raises(DeliveryError) as raised:
        ticketer.find("opswarden:ev-1:inf01")

    assert raised.value.reason is DeliveryReason.SERVER
    assert raised.value.recoverable is True
    assert "no JSON" in str(raised.value)


def test_an_unreachable_instance_is_a_recoverable_network_error(http: httpx.Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    ticketer = ServiceNowTicketer(http, f"http://127.0.0.1:{port}", USERNAME, PASSWORD)

    with pytest.raises(DeliveryError) as raised:
        ticketer.create(new_ticket())

    assert raised.value.reason is DeliveryReason.NETWORK
    assert raised.value.recoverable is True
    assert PASSWORD not in str(raised.value)


def test_a_ref_without_sys_id_is_refused_before_any_request(
    fake: FakeServiceNow, ticketer: ServiceNowTicketer
) -> None:
    with pytest.raises(DeliveryError) as raised:
        ticketer.state(TicketRef("servicenow", "INC0010001"))

    assert raised.value.recoverable is False
    assert fake.requests == []


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"servicenow_url": None}, "OPSWARDEN_SERVICENOW_URL"),
        ({"servicenow_username": None}, "OPSWARDEN_SERVICENOW_USERNAME"),
        ({"servicenow_password": None}, "OPSWARDEN_SERVICENOW_PASSWORD"),
        ({"servicenow_url": "example.service-now.com"}, "OPSWARDEN_SERVICENOW_URL"),
        ({"servicenow_table": "incident; drop"}, "OPSWARDEN_SERVICENOW_TABLE"),
    ],
)
def test_from_settings_names_the_missing_setting(
    http: httpx.Client, missing: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named) as raised:
        ServiceNowTicketer.from_settings(sn_settings(**missing), http)

    assert PASSWORD not in str(raised.value)


def test_from_settings_reads_the_table_and_the_url(http: httpx.Client) -> None:
    ticketer = ServiceNowTicketer.from_settings(
        sn_settings(servicenow_url="https://example.service-now.com/", servicenow_table="sn_si_incident"),
        http,
    )

    assert ticketer.table == "sn_si_incident"
    assert (
        ticketer.url_of("a" * 32)
        == f"https://example.service-now.com/nav_to.do?uri=sn_si_incident.do?sys_id={'a' * 32}"
    )
