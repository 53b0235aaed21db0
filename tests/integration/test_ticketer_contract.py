"""The contract every ticketing backend passes, each against its loopback fake (or, for the
built-in tracker, a real store): create, find by correlation key, comment, close, reopen, state;
429 / 5xx recoverable, bad credentials not; no secret in any error or log line."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.tickets.base import NewTicket, TicketStatus, correlation_key
from tests.fakes.tickets_harness import Harness

pytestmark = pytest.mark.integration

BACKENDS = ["builtin", "jira", "servicenow", "github"]


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    module = importlib.import_module(f"tests.fakes.tickets_{request.param}")
    with module.harness(tmp_path) as made:
        yield made


def new_ticket(event_id: str = "ev-0123456789abcdef", team: str = "inf01") -> NewTicket:
    return NewTicket(
        correlation=correlation_key(event_id, team),
        title="EKS · Planned lifecycle event",
        description="Amazon EKS standard support for Kubernetes 1.30 ends on March 27, 2027.\n\n"
        "Clusters: payments-prod, ledger-prod.",
        priority=2,
        team=team,
        team_name="Infra",
        event_id=event_id,
        accounts=("111111111111",),
        resources=("arn:aws:eks:eu-west-1:111111111111:cluster/payments-prod",),
        labels=("aws.health",),
        link="https://opswarden.example.com/events/ev-0123456789abcdef",
    )


def test_a_created_ticket_is_found_by_its_correlation_key(harness: Harness) -> None:
    ticket = new_ticket()

    assert harness.ticketer.find(ticket.correlation) is None
    ref = harness.ticketer.create(ticket)
    found = harness.ticketer.find(ticket.correlation)
    stored = harness.stored(ref)

    assert found is not None
    assert found.key == ref.key
    assert ref.backend == harness.ticketer.backend
    assert stored["title"] == ticket.title
    assert "Kubernetes 1.30" in stored["description"]
    assert stored["priority"] == 2
    assert stored["status"] == "open"
    assert harness.ticketer.find(correlation_key("ev-other", "inf01")) is None
    assert harness.ticketer.find(correlation_key(ticket.event_id, "sec01")) is None


def test_comment_close_reopen_and_state(harness: Harness) -> None:
    ref = harness.ticketer.create(new_ticket())

    harness.ticketer.comment(ref, "AWS updated the event: one more cluster")
    harness.ticketer.close(ref, "resolved upstream")
    closed = harness.ticketer.state(ref)
    harness.ticketer.reopen(ref, "opened again upstream")
    reopened = harness.ticketer.state(ref)
    stored = harness.stored(ref)

    assert closed.status is TicketStatus.CLOSED
    assert reopened.status is not TicketStatus.CLOSED
    assert stored["comments"][:3] == [
        "AWS updated the event: one more cluster",
        "resolved upstream",
        "opened again upstream",
    ]


@pytest.mark.parametrize(
    ("status", "reason", "recoverable"),
    [(429, DeliveryReason.RATE_LIMITED, True), (503, DeliveryReason.SERVER, True)],
)
def test_rate_limits_and_server_errors_are_recoverable(
    harness: Harness, status: int, reason: DeliveryReason, recoverable: bool, caplog: pytest.LogCaptureFixture
) -> None:
    if harness.fail_next is None:
        pytest.skip(f"{harness.ticketer.backend} talks to no server")
    harness.fail_next(status, 7.0 if status == 429 else None)

    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as raised:
        harness.ticketer.create(new_ticket())

    assert raised.value.reason is reason
    assert raised.value.recoverable is recoverable
    if status == 429:
        assert raised.value.retry_after == 7.0
    assert_no_secret(harness, str(raised.value), caplog.text)


def test_bad_credentials_are_not_recoverable_and_name_no_secret(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    if harness.bad_credentials is None:
        pytest.skip(f"{harness.ticketer.backend} has no credentials")
    ticketer = harness.bad_credentials()

    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as raised:
        ticketer.create(new_ticket())

    assert raised.value.reason is DeliveryReason.AUTH
    assert raised.value.recoverable is False
    assert_no_secret(harness, str(raised.value), caplog.text)


def assert_no_secret(harness: Harness, *texts: str) -> None:
    for secret in harness.secrets:
        for text in texts:
            assert secret not in text
