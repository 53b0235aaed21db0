"""CloudWatch alarms: EventBridge state/configuration changes, Lambda alarm actions, SNS messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources import cloudwatch
from opswarden.sources.registry import find_source
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

ARN = "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:payments-db-cpu-high"
KEY = f"aws.cloudwatch:{ARN}"


def _one(payload: Any) -> Any:
    events = cloudwatch.SOURCE.normalise(payload)
    assert len(events) == 1
    assert events[0] == events[0].canonical()
    return events[0]


@pytest.mark.parametrize(
    "name",
    [
        "state_change_rds_cpu.json",
        "state_change_composite_suppressed.json",
        "config_change_update.json",
        "lambda_action_payload.json",
        "sns_alarm_message.json",
    ],
)
def test_registry_routes_every_shape_to_cloudwatch(name: str) -> None:
    assert find_source(load_fixture(f"cloudwatch/{name}")) is cloudwatch.SOURCE


@pytest.mark.parametrize(
    "payload",
    [
        {"detail-type": "AWS API Call via CloudTrail", "source": "aws.cloudwatch", "detail": {}},
        {"detail-type": "CloudWatch Alarm State Change", "source": "com.example", "detail": {}},
        {"source": "aws.cloudwatch", "alarmArn": ARN},
        {"AlarmName": "x"},
    ],
)
def test_does_not_match_other_payloads(payload: dict[str, Any]) -> None:
    assert not cloudwatch.SOURCE.matches(payload)


def test_state_change_to_alarm() -> None:
    event = _one(load_fixture("cloudwatch/state_change_rds_cpu.json"))
    assert event.key == KEY
    assert event.source == "aws.cloudwatch"
    assert event.type_code == "CloudWatch Alarm State Change"
    assert event.category is Category.ALARM
    assert event.status is Status.OPEN
    assert event.severity is Severity.HIGH
    assert event.upstream_status == "ALARM"
    assert event.region == "eu-west-1"
    assert event.accounts == ("210987654321",)
    assert event.updated_at == datetime(2024, 3, 14, 13, 45, 12, 305000, tzinfo=UTC)
    assert event.title == "CloudWatch alarm payments-db-cpu-high is ALARM (was OK)"
    assert event.description.startswith("Payments primary database CPU above 85% for 3 minutes\n\nThreshold")
    assert event.details["previous_state"] == "OK"
    assert event.details["reason_data"]["recentDatapoints"] == [86.1, 88.7, 91.2]
    assert event.details["metrics"] == [
        "m1: AWS/RDS CPUUtilization [DBInstanceIdentifier=payments-db-1] Average 60s"
    ]
    (resource,) = event.resources
    assert (resource.id, resource.type, resource.status) == (ARN, "AWS::CloudWatch::Alarm", "ALARM")


@pytest.mark.parametrize(
    ("value", "status", "severity"),
    [
        ("ALARM", Status.OPEN, Severity.HIGH),
        ("INSUFFICIENT_DATA", Status.OPEN, Severity.LOW),
        ("OK", Status.CLOSED, Severity.INFORMATIONAL),
    ],
)
def test_state_status_and_severity(value: str, status: Status, severity: Severity) -> None:
    payload = load_fixture("cloudwatch/state_change_rds_cpu.json")
    payload["detail"]["state"]["value"] = value
    event = _one(payload)
    assert (event.status, event.severity, event.upstream_status) == (status, severity, value)


def test_unknown_state_is_a_payload_error() -> None:
    payload = load_fixture("cloudwatch/state_change_rds_cpu.json")
    payload["detail"]["state"]["value"] = "PANIC"
    with pytest.raises(PayloadError, match=r"detail\.state\.value.*PANIC"):
        cloudwatch.SOURCE.normalise(payload)


def test_missing_alarm_name_names_its_path() -> None:
    payload = load_fixture("cloudwatch/state_change_rds_cpu.json")
    del payload["detail"]["alarmName"]
    with pytest.raises(PayloadError, match=r"detail\.alarmName"):
        cloudwatch.SOURCE.normalise(payload)


def test_composite_alarm_with_suppressed_actions() -> None:
    event = _one(load_fixture("cloudwatch/state_change_composite_suppressed.json"))
    assert (
        event.key
        == "aws.cloudwatch:arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-service-degraded"
    )
    assert event.details["actions_suppressed_by"] == "Alarm"
    assert event.details["actions_suppressed_reason"] == "Alarm checkout-maintenance-window in ALARM state"
    assert event.details["actions_suppressor"] == "checkout-maintenance-window"
    assert event.details["alarm_rule"] == "ALARM(checkout-5xx-rate) OR ALARM(checkout-latency-p99)"
    triggering = event.details["reason_data"]["triggeringAlarms"]
    assert triggering[0]["arn"].endswith(":alarm:checkout-5xx-rate")
    assert "metrics" not in event.details


def test_reason_data_that_is_not_json_is_kept_as_text() -> None:
    payload = load_fixture("cloudwatch/state_change_rds_cpu.json")
    payload["detail"]["state"]["reasonData"] = "{truncated"
    assert _one(payload).details["reason_data"] == "{truncated"


def test_metrics_insights_partial_data() -> None:
    payload = load_fixture("cloudwatch/state_change_rds_cpu.json")
    payload["detail"]["state"]["evaluationState"] = "PARTIAL_DATA"
    payload["detail"]["configuration"]["metrics"] = [
        {"id": "q1", "expression": 'SELECT AVG(CPUUtilization) FROM SCHEMA("AWS/RDS")', "period": 60}
    ]
    event = _one(payload)
    assert event.details["evaluation_state"] == "PARTIAL_DATA"
    assert event.details["metrics"] == ['q1: SELECT AVG(CPUUtilization) FROM SCHEMA("AWS/RDS")']


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-west-1", ARN),
        ("cn-north-1", "arn:aws-cn:cloudwatch:cn-north-1:210987654321:alarm:payments-db-cpu-high"),
        ("us-gov-west-1", "arn:aws-us-gov:cloudwatch:us-gov-west-1:210987654321:alarm:payments-db-cpu-high"),
    ],
)
def test_alarm_arn_is_built_when_resources_lack_it(region: str, expected: str) -> None:
    payload = load_fixture("cloudwatch/state_change_rds_cpu.json")
    del payload["resources"]
    payload["region"] = region
    assert _one(payload).key == f"aws.cloudwatch:{expected}"


def test_no_arn_and_no_account_is_a_payload_error() -> None:
    payload = load_fixture("cloudwatch/state_change_rds_cpu.json")
    payload["resources"] = []
    del payload["account"]
    with pytest.raises(PayloadError, match="cannot identify alarm"):
        cloudwatch.SOURCE.normalise(payload)


def test_lambda_alarm_action_is_the_same_version_as_the_eventbridge_event() -> None:
    via_bus = _one(load_fixture("cloudwatch/state_change_rds_cpu.json"))
    via_lambda = _one(load_fixture("cloudwatch/lambda_action_payload.json"))
    assert via_lambda.key == KEY
    assert via_lambda.content_hash() == via_bus.content_hash()


def test_lambda_alarm_action_requires_the_alarm_arn() -> None:
    payload = load_fixture("cloudwatch/lambda_action_payload.json")
    del payload["alarmArn"]
    with pytest.raises(PayloadError, match="alarmArn"):
        cloudwatch.SOURCE.normalise(payload)


def test_sns_alarm_message_maps_the_region_name_and_builds_the_arn() -> None:
    event = _one(load_fixture("cloudwatch/sns_alarm_message.json"))
    assert event.key == KEY
    assert event.region == "eu-west-1"
    assert event.status is Status.OPEN
    assert event.severity is Severity.HIGH
    assert event.updated_at == datetime(2024, 3, 14, 13, 45, 12, 305000, tzinfo=UTC)
    assert event.details["region_name"] == "EU (Ireland)"
    assert event.details["previous_state"] == "OK"
    assert event.details["threshold"] == 85.0
    assert event.details["metrics"] == [
        "AWS/RDS CPUUtilization [DBInstanceIdentifier=payments-db-1] AVERAGE 60s"
    ]


def test_sns_alarm_message_prefers_its_alarm_arn() -> None:
    payload = load_fixture("cloudwatch/sns_alarm_message.json")
    payload["AlarmArn"] = "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:renamed"
    assert _one(payload).key == "aws.cloudwatch:arn:aws:cloudwatch:eu-west-1:210987654321:alarm:renamed"


def test_sns_alarm_message_with_an_unknown_region_name_keys_on_account_and_name() -> None:
    payload = load_fixture("cloudwatch/sns_alarm_message.json")
    payload["Region"] = "Atlantis (Central)"
    event = _one(payload)
    assert event.key == "aws.cloudwatch:210987654321:Atlantis (Central):alarm:payments-db-cpu-high"
    assert event.region is None
    assert event.details["region_name"] == "Atlantis (Central)"


def test_sns_alarm_message_with_metric_math_trigger() -> None:
    payload = load_fixture("cloudwatch/sns_alarm_message.json")
    payload["Trigger"] = {
        "Metrics": [
            {"Expression": "m1 / m2 * 100", "Id": "e1", "Label": "Error rate", "ReturnData": True},
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Dimensions": [{"value": "checkout", "name": "FunctionName"}],
                        "MetricName": "Errors",
                        "Namespace": "AWS/Lambda",
                    },
                    "Period": 300,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
        ],
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 5.0,
    }
    assert _one(payload).details["metrics"] == [
        "e1: m1 / m2 * 100 (Error rate)",
        "m1: AWS/Lambda Errors [FunctionName=checkout] Sum 300s",
    ]


def test_configuration_change() -> None:
    event = _one(load_fixture("cloudwatch/config_change_update.json"))
    assert event.key == f"aws.cloudwatch:config:{ARN}"
    assert event.type_code == "CloudWatch Alarm Configuration Change"
    assert event.category is Category.STATE_CHANGE
    assert event.status is Status.CLOSED
    assert event.severity is Severity.INFORMATIONAL
    assert event.upstream_status == "update"
    assert event.title == "CloudWatch alarm payments-db-cpu-high updated"
    # configuration.timestamp is later than the whole-second envelope time
    assert event.updated_at == datetime(2024, 3, 14, 14, 20, 3, 417000, tzinfo=UTC)
    assert event.details["threshold"] == 90
    assert event.details["alarm_state"] == "OK"
    assert event.details["changed_fields"] == ["description", "evaluationPeriods", "threshold"]


def test_deleted_alarm_is_dated_by_the_envelope() -> None:
    payload = load_fixture("cloudwatch/config_change_update.json")
    payload["detail"]["operation"] = "delete"
    payload["time"] = "2024-03-15T09:00:00Z"
    del payload["detail"]["previousConfiguration"]
    event = _one(payload)
    assert event.title == "CloudWatch alarm payments-db-cpu-high deleted"
    assert event.updated_at == datetime(2024, 3, 15, 9, 0, tzinfo=UTC)
    assert "changed_fields" not in event.details


def test_configuration_change_requires_the_operation() -> None:
    payload = load_fixture("cloudwatch/config_change_update.json")
    del payload["detail"]["operation"]
    with pytest.raises(PayloadError, match=r"detail\.operation"):
        cloudwatch.SOURCE.normalise(payload)
