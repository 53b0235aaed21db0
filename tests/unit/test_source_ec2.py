"""EC2 instance state-change notifications."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources import ec2
from opswarden.sources.registry import find_source
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

KEY = "aws.ec2:instance-state:210987654321:i-0a1b2c3d4e5f60718"


def _one(payload: Any) -> Any:
    events = ec2.SOURCE.normalise(payload)
    assert len(events) == 1
    assert events[0] == events[0].canonical()
    return events[0]


def test_terminated_instance() -> None:
    payload = load_fixture("ec2/instance_terminated.json")
    assert find_source(payload) is ec2.SOURCE
    event = _one(payload)
    assert event.key == KEY
    assert event.source == "aws.ec2"
    assert event.type_code == "EC2 Instance State-change Notification"
    assert event.category is Category.STATE_CHANGE
    assert event.service == "ec2"
    assert event.status is Status.CLOSED
    assert event.severity is Severity.LOW
    assert event.upstream_status == "terminated"
    assert event.updated_at == datetime(2024, 3, 14, 15, 3, 44, tzinfo=UTC)
    assert event.title == "EC2 instance i-0a1b2c3d4e5f60718 is terminated"
    assert event.details["arn"] == "arn:aws:ec2:eu-west-1:210987654321:instance/i-0a1b2c3d4e5f60718"
    (resource,) = event.resources
    assert (resource.id, resource.type, resource.status, resource.account) == (
        "i-0a1b2c3d4e5f60718",
        "AWS::EC2::Instance",
        "terminated",
        "210987654321",
    )


@pytest.mark.parametrize("state", ["pending", "running", "stopping", "stopped", "shutting-down"])
def test_other_states_are_informational_point_in_time_records(state: str) -> None:
    payload = load_fixture("ec2/instance_terminated.json")
    payload["detail"]["state"] = state
    event = _one(payload)
    assert (event.status, event.severity, event.upstream_status) == (
        Status.CLOSED,
        Severity.INFORMATIONAL,
        state,
    )


def test_every_transition_of_an_instance_is_a_version_of_one_record() -> None:
    running = _one(load_fixture("ec2/instance_running_no_resources.json"))
    terminated = _one(load_fixture("ec2/instance_terminated.json"))
    assert running.key == terminated.key == KEY
    assert running.updated_at is not None
    assert terminated.updated_at is not None
    assert running.updated_at < terminated.updated_at
    assert "arn" not in running.details


@pytest.mark.parametrize("field", ["instance-id", "state"])
def test_missing_detail_field_names_its_path(field: str) -> None:
    payload = load_fixture("ec2/instance_terminated.json")
    del payload["detail"][field]
    with pytest.raises(PayloadError, match=rf"detail\.{field}"):
        ec2.SOURCE.normalise(payload)


def test_cloudtrail_calls_from_ec2_are_not_state_changes() -> None:
    payload = load_fixture("eventbridge/cloudtrail_api_call.json")
    payload["source"] = "aws.ec2"
    assert not ec2.SOURCE.matches(payload)
    assert find_source(payload).name == "eventbridge"
