"""Trusted Advisor: EventBridge check-item refreshes and DescribeTrustedAdvisorCheckResult output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources import trustedadvisor
from opswarden.sources.registry import find_source
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

SG_ARN = "arn:aws:ec2:eu-west-1:210987654321:security-group/sg-0a1b2c3d4e5f60718"


def _one(payload: Any) -> Any:
    events = trustedadvisor.SOURCE.normalise(payload)
    assert len(events) == 1
    assert events[0] == events[0].canonical()
    return events[0]


@pytest.mark.parametrize(
    "name", ["item_security_groups_warn.json", "item_exposed_key_error.json", "check_result_api.json"]
)
def test_registry_routes_every_shape_to_trusted_advisor(name: str) -> None:
    assert find_source(load_fixture(f"trustedadvisor/{name}")) is trustedadvisor.SOURCE


def test_check_item_with_a_resource() -> None:
    event = _one(load_fixture("trustedadvisor/item_security_groups_warn.json"))
    # the trailing space of the check name is not part of the identity
    assert (
        event.key == f"aws.trustedadvisor:210987654321:Security Groups - Specific Ports Unrestricted:{SG_ARN}"
    )
    assert event.type_code == "Security Groups - Specific Ports Unrestricted"
    assert event.category is Category.RECOMMENDATION
    assert event.status is Status.OPEN
    assert event.severity is Severity.MEDIUM
    assert event.upstream_status == "WARN"
    assert event.region == "eu-west-1"  # the resource's region, not the us-east-1 delivery region
    assert event.updated_at == datetime(2024, 3, 14, 16, 30, 12, tzinfo=UTC)
    assert event.details["check_item_detail"]["# of Rules"] == "1"
    assert event.details["check_item_detail"]["Description"] is None
    assert "Description" not in event.description
    assert "# of Rules: 1" in event.description
    (resource,) = event.resources
    assert (resource.id, resource.status, resource.region) == (SG_ARN, "WARN", "eu-west-1")


def test_exposed_access_key_without_resource_id() -> None:
    event = _one(load_fixture("trustedadvisor/item_exposed_key_error.json"))
    assert event.key == (
        "aws.trustedadvisor:210987654321:Exposed Access Keys:1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
    )
    assert event.status is Status.OPEN
    assert event.severity is Severity.HIGH
    assert event.region == "us-east-1"
    assert event.deadline_at == datetime(2024, 3, 16, 16, 31, 40, tzinfo=UTC)
    assert event.details["item_updated_at"] == "2024-03-14T16:31:40Z"
    assert event.title == "Trusted Advisor Exposed Access Keys: AKIAEXAMPLEKEY000001 is ERROR"
    (resource,) = event.resources
    assert (resource.id, resource.type) == ("AKIAEXAMPLEKEY000001", "AWS::IAM::AccessKey")


@pytest.mark.parametrize(
    ("word", "status", "severity"),
    [
        ("ERROR", Status.OPEN, Severity.HIGH),
        ("WARN", Status.OPEN, Severity.MEDIUM),
        ("OK", Status.CLOSED, Severity.INFORMATIONAL),
    ],
)
def test_item_status_and_severity(word: str, status: Status, severity: Severity) -> None:
    payload = load_fixture("trustedadvisor/item_security_groups_warn.json")
    payload["detail"]["status"] = word
    event = _one(payload)
    assert (event.status, event.severity, event.upstream_status) == (status, severity, word)


def test_unknown_status_is_a_payload_error() -> None:
    payload = load_fixture("trustedadvisor/item_security_groups_warn.json")
    payload["detail"]["status"] = "PURPLE"
    with pytest.raises(PayloadError, match=r"detail\.status"):
        trustedadvisor.SOURCE.normalise(payload)


def test_item_without_resource_id_or_uuid_is_a_payload_error() -> None:
    payload = load_fixture("trustedadvisor/item_exposed_key_error.json")
    del payload["detail"]["uuid"]
    with pytest.raises(PayloadError, match=r"detail\.resource_id.*detail\.uuid"):
        trustedadvisor.SOURCE.normalise(payload)


def test_unparsable_deadline_column_is_no_deadline() -> None:
    payload = load_fixture("trustedadvisor/item_exposed_key_error.json")
    payload["detail"]["check-item-detail"]["Deadline"] = "N/A"
    assert _one(payload).deadline_at is None


def test_availability_zone_column_gives_the_region() -> None:
    payload = load_fixture("trustedadvisor/item_security_groups_warn.json")
    item = payload["detail"]["check-item-detail"]
    del item["Region"]
    item["Region/AZ"] = "ap-southeast-2b"
    payload["detail"]["resource_id"] = "i-0a1b2c3d4e5f60718"
    assert _one(payload).region == "ap-southeast-2"


def test_check_result_api_gives_one_event_per_flagged_resource() -> None:
    events = trustedadvisor.SOURCE.normalise(load_fixture("trustedadvisor/check_result_api.json"))
    assert [e.key for e in events] == [
        "aws.trustedadvisor::HCP4007jGY:Xk3pL9qR2sT5vW8yZ1aB4cD7eF0gH3jK6mN9pQ2sT5v",
        "aws.trustedadvisor::HCP4007jGY:Yl4qM0rS3tU6wX9zA2bC5dE8fG1hJ4kL7nP0qR3tU6w",
    ]
    assert [(e.status, e.severity) for e in events] == [
        (Status.OPEN, Severity.MEDIUM),
        (Status.OPEN, Severity.HIGH),
    ]
    first = events[0]
    assert first.type_code == "HCP4007jGY"
    assert first.region == "eu-west-1"
    assert first.updated_at == datetime(2024, 3, 14, 16, 0, 5, tzinfo=UTC)
    assert first.details["metadata"][1] == "bastion"
    assert first.details["resources_summary"]["resourcesFlagged"] == 2
    assert all(e == e.canonical() for e in events)


def test_check_result_api_with_account() -> None:
    payload = load_fixture("trustedadvisor/check_result_api.json")
    payload["account"] = "210987654321"
    events = trustedadvisor.SOURCE.normalise(payload)
    assert events[0].key.startswith("aws.trustedadvisor:210987654321:HCP4007jGY:")
    assert events[0].accounts == ("210987654321",)


def test_check_result_without_flagged_resources_gives_no_events() -> None:
    payload = load_fixture("trustedadvisor/check_result_api.json")
    payload["result"]["flaggedResources"] = []
    assert trustedadvisor.SOURCE.normalise(payload) == []


def test_check_result_errors_name_the_resource() -> None:
    payload = load_fixture("trustedadvisor/check_result_api.json")
    del payload["result"]["flaggedResources"][1]["resourceId"]
    with pytest.raises(PayloadError, match=r"result\.flaggedResources\[1\]\.resourceId"):
        trustedadvisor.SOURCE.normalise(payload)
