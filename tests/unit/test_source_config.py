"""AWS Config: compliance changes, configuration items, rule invocations, API results."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources import config
from opswarden.sources.registry import find_source
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

BUCKET_KEY = (
    "aws.config:210987654321:eu-west-1:s3-bucket-public-read-prohibited-conformance-pack-k2x9wq7rt:"
    "AWS::S3::Bucket:payments-artifacts-eu"
)
SG_KEY = "aws.config:item:210987654321:eu-west-1:AWS::EC2::SecurityGroup:sg-0a1b2c3d4e5f60718"


def _one(payload: Any) -> Any:
    events = config.SOURCE.normalise(payload)
    assert len(events) == 1
    assert events[0] == events[0].canonical()
    return events[0]


@pytest.mark.parametrize(
    "name",
    [
        "compliance_change_noncompliant.json",
        "compliance_change_account_first.json",
        "compliance_change_sns_message.json",
        "evaluation_started_sns_message.json",
        "item_change_security_group.json",
        "rule_invocation_item_change.json",
        "rule_invocation_oversized.json",
        "rule_invocation_periodic.json",
        "compliance_details_api.json",
    ],
)
def test_registry_routes_every_shape_to_config(name: str) -> None:
    assert find_source(load_fixture(f"config/{name}")) is config.SOURCE


@pytest.mark.parametrize(
    "payload",
    [
        {
            "detail-type": "Config Configuration Snapshot Delivery Status",
            "source": "aws.config",
            "detail": {},
        },
        {"detail-type": "Config Rules Compliance Change", "source": "com.example", "detail": {}},
        {"messageType": "ConfigurationSnapshotDeliveryCompleted", "s3Bucket": "b"},
        {"eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"},
    ],
)
def test_does_not_match_other_payloads(payload: dict[str, Any]) -> None:
    assert not config.SOURCE.matches(payload)


def test_noncompliant_change_from_eventbridge() -> None:
    event = _one(load_fixture("config/compliance_change_noncompliant.json"))
    assert event.key == BUCKET_KEY
    assert event.source == "aws.config"
    assert event.category is Category.COMPLIANCE
    assert event.status is Status.OPEN
    assert event.severity is Severity.MEDIUM
    assert event.upstream_status == "NON_COMPLIANT"
    assert event.type_code == "s3-bucket-public-read-prohibited-conformance-pack-k2x9wq7rt"
    assert event.service == "config"
    assert event.region == "eu-west-1"
    assert event.accounts == ("210987654321",)
    assert event.updated_at == datetime(2024, 3, 14, 9, 12, 6, 118000, tzinfo=UTC)
    assert event.description == "The bucket policy allows public read access."
    assert event.details["compliance_status"] == "NON_COMPLIANT"
    assert event.details["old_compliance_status"] == "COMPLIANT"
    assert event.details["annotation"] == "The bucket policy allows public read access."
    assert event.details["conformance_pack"] == "k2x9wq7rt"
    assert event.details["base_rule_name"] == "s3-bucket-public-read-prohibited"
    (resource,) = event.resources
    assert (resource.id, resource.type, resource.status) == (
        "payments-artifacts-eu",
        "AWS::S3::Bucket",
        "NON_COMPLIANT",
    )


def test_sns_message_is_the_same_version_as_the_eventbridge_event() -> None:
    via_bus = _one(load_fixture("config/compliance_change_noncompliant.json"))
    via_sns = _one(load_fixture("config/compliance_change_sns_message.json"))
    assert via_sns.key == via_bus.key
    assert via_sns.content_hash() == via_bus.content_hash()


def test_first_evaluation_of_an_account_level_rule() -> None:
    event = _one(load_fixture("config/compliance_change_account_first.json"))
    assert event.key == "aws.config:210987654321:eu-west-1:iam-password-policy:AWS::::Account:210987654321"
    assert event.status is Status.CLOSED
    assert event.severity is Severity.INFORMATIONAL
    assert "old_compliance_status" not in event.details
    assert "conformance_pack" not in event.details
    assert event.description == "AWS::::Account 210987654321 is COMPLIANT with rule iam-password-policy."


@pytest.mark.parametrize(
    ("compliance", "status", "severity"),
    [
        ("NON_COMPLIANT", Status.OPEN, Severity.MEDIUM),
        ("INSUFFICIENT_DATA", Status.OPEN, Severity.INFORMATIONAL),
        ("COMPLIANT", Status.CLOSED, Severity.INFORMATIONAL),
        ("NOT_APPLICABLE", Status.CLOSED, Severity.INFORMATIONAL),
    ],
)
def test_compliance_status_and_severity(compliance: str, status: Status, severity: Severity) -> None:
    payload = load_fixture("config/compliance_change_noncompliant.json")
    payload["detail"]["newEvaluationResult"]["complianceType"] = compliance
    event = _one(payload)
    assert (event.status, event.severity, event.upstream_status) == (status, severity, compliance)


def test_unknown_compliance_type_is_a_payload_error() -> None:
    payload = load_fixture("config/compliance_change_noncompliant.json")
    payload["detail"]["newEvaluationResult"]["complianceType"] = "MOSTLY_FINE"
    with pytest.raises(PayloadError, match="MOSTLY_FINE"):
        config.SOURCE.normalise(payload)


def test_missing_new_evaluation_result_names_its_path() -> None:
    payload = load_fixture("config/compliance_change_noncompliant.json")
    del payload["detail"]["newEvaluationResult"]
    with pytest.raises(PayloadError, match=r"detail\.newEvaluationResult"):
        config.SOURCE.normalise(payload)


def test_update_time_falls_back_to_notification_then_envelope_time() -> None:
    payload = load_fixture("config/compliance_change_noncompliant.json")
    del payload["detail"]["newEvaluationResult"]["resultRecordedTime"]
    assert _one(payload).updated_at == datetime(2024, 3, 14, 9, 12, 7, 245000, tzinfo=UTC)
    del payload["detail"]["notificationCreationTime"]
    assert _one(payload).updated_at == datetime(2024, 3, 14, 9, 12, 7, tzinfo=UTC)


def test_rule_and_resource_fall_back_to_the_evaluation_qualifier() -> None:
    payload = load_fixture("config/compliance_change_noncompliant.json")
    for field in ("configRuleName", "resourceType", "resourceId"):
        del payload["detail"][field]
    assert _one(payload).key == BUCKET_KEY


def test_configuration_item_change() -> None:
    event = _one(load_fixture("config/item_change_security_group.json"))
    assert event.key == SG_KEY
    assert event.category is Category.STATE_CHANGE
    assert event.status is Status.CLOSED
    assert event.severity is Severity.INFORMATIONAL
    assert event.upstream_status == "OK"
    assert event.type_code == "ConfigurationItemChangeNotification"
    assert event.service == "config"
    assert event.updated_at == datetime(2024, 3, 14, 11, 25, 37, 612000, tzinfo=UTC)
    assert event.tags == {"team": "platform", "env": "prod"}
    assert event.resources[0].tags == {"team": "platform", "env": "prod"}
    assert event.details["change_type"] == "UPDATE"
    assert "Configuration.IpPermissions.1" in event.details["changed_properties"]
    assert event.title == "Configuration change: AWS::EC2::SecurityGroup bastion (update)"


def test_rule_invocation_carries_the_same_configuration_item_version() -> None:
    via_bus = _one(load_fixture("config/item_change_security_group.json"))
    via_rule = _one(load_fixture("config/rule_invocation_item_change.json"))
    assert via_rule.key == via_bus.key == SG_KEY
    assert via_rule.content_hash() == via_bus.content_hash()


def test_oversized_configuration_item() -> None:
    event = _one(load_fixture("config/rule_invocation_oversized.json"))
    assert event.key == "aws.config:item:210987654321:global:AWS::IAM::Policy:ANPAEXAMPLEPOLICYID01"
    assert event.type_code == "OversizedConfigurationItemChangeNotification"
    assert event.details["change_type"] == "UPDATE"
    assert "s3BucketLocation" in event.details["s3_delivery"]
    assert event.updated_at == datetime(2024, 3, 14, 12, 2, 11, 450000, tzinfo=UTC)


def test_periodic_rule_invocation() -> None:
    event = _one(load_fixture("config/rule_invocation_periodic.json"))
    assert event.key == (
        "aws.config:scheduled:210987654321:eu-west-1:access-keys-rotated-custom:2024-03-14T06:00:00.118000Z"
    )
    assert event.category is Category.OTHER
    assert event.status is Status.CLOSED
    assert event.region == "eu-west-1"
    assert event.details["config_rule_name"] == "access-keys-rotated-custom"


def test_rules_evaluation_started() -> None:
    event = _one(load_fixture("config/evaluation_started_sns_message.json"))
    assert event.key == "aws.config:evaluation-started:210987654321:eu-west-1:2024-03-14T08:00:02.771000Z"
    assert event.category is Category.OTHER
    assert event.status is Status.CLOSED
    assert event.details["config_rule_names"] == ["iam-password-policy", "restricted-ssh"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("invokingEvent", '{"configurationItem": {', "invokingEvent' is not valid JSON"),
        ("invokingEvent", "[1, 2]", "invokingEvent' must encode a JSON object"),
        ("invokingEvent", 42, "invokingEvent' must be a JSON string"),
        ("ruleParameters", "{'port': 22}", "ruleParameters' is not valid JSON"),
    ],
)
def test_bad_json_strings_in_a_rule_invocation(field: str, value: Any, message: str) -> None:
    payload = load_fixture("config/rule_invocation_item_change.json")
    payload[field] = value
    with pytest.raises(PayloadError, match=message):
        config.SOURCE.normalise(payload)


def test_invoking_event_errors_name_the_nested_path() -> None:
    payload = load_fixture("config/rule_invocation_item_change.json")
    invoking = orjson.loads(payload["invokingEvent"])
    del invoking["configurationItem"]["resourceId"]
    payload["invokingEvent"] = orjson.dumps(invoking).decode()
    with pytest.raises(PayloadError, match=r"invokingEvent\.configurationItem\.resourceId"):
        config.SOURCE.normalise(payload)


def test_invocation_without_rule_parameters_is_fine() -> None:
    payload = load_fixture("config/rule_invocation_item_change.json")
    del payload["ruleParameters"]
    assert _one(payload).key == SG_KEY


def test_compliance_details_api_gives_one_event_per_result() -> None:
    events = config.SOURCE.normalise(load_fixture("config/compliance_details_api.json"))
    assert [e.key for e in events] == [
        "aws.config:::ec2-instance-no-public-ip:AWS::EC2::Instance:i-0a1b2c3d4e5f60718",
        "aws.config:::ec2-instance-no-public-ip:AWS::EC2::Instance:i-0f9e8d7c6b5a40312",
    ]
    assert [e.status for e in events] == [Status.OPEN, Status.CLOSED]
    assert events[0].description == "The instance has a public IPv4 address."
    assert events[0].updated_at == datetime(2024, 3, 14, 9, 53, 32, 481000, tzinfo=UTC)
    assert all(e == e.canonical() for e in events)


def test_compliance_details_api_with_account_and_region_matches_pushed_keys() -> None:
    payload = load_fixture("config/compliance_details_api.json")
    payload.update(account="210987654321", region="eu-west-1")
    events = config.SOURCE.normalise(payload)
    assert events[0].key == (
        "aws.config:210987654321:eu-west-1:ec2-instance-no-public-ip:AWS::EC2::Instance:i-0a1b2c3d4e5f60718"
    )


def test_compliance_details_api_errors_name_the_result() -> None:
    payload = load_fixture("config/compliance_details_api.json")
    broken = copy.deepcopy(payload)
    del broken["EvaluationResults"][1]["ComplianceType"]
    with pytest.raises(PayloadError, match=r"EvaluationResults\[1\]\.ComplianceType"):
        config.SOURCE.normalise(broken)
    payload["EvaluationResults"][0] = "nope"
    with pytest.raises(PayloadError, match=r"EvaluationResults\[0\]"):
        config.SOURCE.normalise(payload)


def test_empty_api_listing_gives_no_events() -> None:
    assert config.SOURCE.normalise({"EvaluationResults": []}) == []


def test_unsupported_message_type_inside_an_envelope() -> None:
    payload = load_fixture("config/item_change_security_group.json")
    payload["detail"]["messageType"] = "ConfigurationSnapshotDeliveryCompleted"
    with pytest.raises(PayloadError, match="unsupported Config messageType"):
        config.SOURCE.normalise(payload)


def test_envelope_without_message_type_uses_the_detail_type() -> None:
    payload = load_fixture("config/compliance_change_noncompliant.json")
    del payload["detail"]["messageType"]
    assert _one(payload).key == BUCKET_KEY
