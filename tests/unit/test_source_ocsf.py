"""OCSF findings: bare objects of each class, Findings Imported V2 envelopes, and ASFF twins."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources import ocsf, securityhub
from opswarden.sources.registry import find_source, normalise
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

TWIN_ID = "arn:aws:securityhub:us-east-2:111122223333:security-control/EC2.19/finding/2b4d6f8a-1c3e-4a5b-9d7f-0e2c4a6b8d1f"


def _twin(**changes: Any) -> dict[str, Any]:
    finding: dict[str, Any] = copy.deepcopy(load_fixture("securityhub/ocsf/compliance_2003_ec2_19_twin.json"))
    finding.update(changes)
    return finding


def test_compliance_finding_2003() -> None:
    payload = _twin()
    assert find_source(payload).name == "ocsf"
    (event,) = normalise(payload)

    assert event.key == f"aws.securityhub:{TWIN_ID}"
    assert event.source == "aws.securityhub"
    assert event.type_code == "EC2.19"
    assert event.category is Category.COMPLIANCE
    assert event.service == "securityhub"
    assert event.severity is Severity.CRITICAL
    assert event.status is Status.OPEN
    assert event.upstream_status == "NEW"
    assert event.region == "us-east-2"
    assert event.accounts == ("111122223333",)
    assert event.updated_at == datetime(2024, 4, 9, 13, 6, 40, 115000, tzinfo=UTC)  # from -04:00
    assert event.start_at == datetime(2024, 4, 2, 13, 5, 10, 250000, tzinfo=UTC)
    (resource,) = event.resources
    assert resource.id == "arn:aws:ec2:us-east-2:111122223333:security-group/sg-0a9b8c7d6e5f40312"
    assert resource.type == "AwsEc2SecurityGroup"
    assert event.details["workflow_status"] == "NEW"
    assert event.details["compliance_status"] == "FAILED"
    assert event.details["record_state"] == "ACTIVE"
    assert event.details["standards"] == ["standards/aws-foundational-security-best-practices/v/1.0.0"]


def test_ocsf_and_asff_twins_converge_on_one_record() -> None:
    (asff,) = normalise(load_fixture("securityhub/asff_twin_ec2_19.json"))
    (twin,) = normalise(load_fixture("securityhub/ocsf/compliance_2003_ec2_19_twin.json"))

    assert twin.key == asff.key
    for field in (
        "source",
        "type_code",
        "category",
        "service",
        "title",
        "description",
        "severity",
        "status",
        "upstream_status",
        "region",
        "accounts",
        "resources",
        "start_at",
        "updated_at",
    ):
        assert getattr(twin, field) == getattr(asff, field), field
    for name in ("workflow_status", "compliance_status", "record_state", "security_control_id", "standards"):
        assert twin.details[name] == asff.details[name], name
    assert twin.details["remediation"] == asff.details["remediation"]


def test_findings_imported_v2_envelope_with_a_detection_finding() -> None:
    payload = load_fixture("securityhub/ocsf/detection_2004_v2_envelope.json")

    assert not securityhub.matches(payload)
    assert find_source(payload).name == "ocsf"
    (event,) = normalise(payload)

    assert event.key.startswith("aws.securityhub:arn:aws:guardduty:eu-central-1:777788889999:detector/")
    assert event.category is Category.FINDING
    assert event.service == "guardduty"  # from the productv2 ARN
    assert event.type_code.endswith("InstanceCredentialExfiltration.OutsideAWS")  # detector ARN skipped
    assert event.severity is Severity.HIGH
    assert event.status is Status.OPEN
    assert event.upstream_status == "IN_PROGRESS"
    assert event.accounts == ("777788889999",)
    assert event.updated_at == datetime(2025, 6, 17, 10, 22, tzinfo=UTC)  # epoch milliseconds
    assert event.start_at == datetime(2025, 6, 17, 10, 0, tzinfo=UTC)
    (key,) = event.resources
    assert key.tags == {"team": "web"}
    assert [link.title for link in event.links] == ["Finding in its product", "Security Hub console"]
    assert "/securityhub/v2/home" in event.links[1].url
    assert event.details["compliance_status"] is None


def test_older_security_finding_2001_from_another_product() -> None:
    (event,) = normalise(load_fixture("securityhub/ocsf/security_finding_2001.json"))

    assert event.source == "ocsf"
    assert event.key == "ocsf:prowler-aws-iam_root_mfa_enabled-121212121212-ap-southeast-2-root"
    assert event.service == "prowler"
    assert event.severity is Severity.CRITICAL  # Fatal
    assert event.status is Status.CLOSED  # state_id 4 Resolved
    assert event.upstream_status == "RESOLVED"
    assert event.updated_at == datetime(2023, 7, 24, 22, 30, tzinfo=UTC)
    assert event.details["remediation"] == {"text": "Enable MFA for the root account."}
    assert event.links == ()


@pytest.mark.parametrize(
    ("severity_id", "text", "expected"),
    [
        (0, None, Severity.INFORMATIONAL),
        (1, None, Severity.INFORMATIONAL),
        (2, None, Severity.LOW),
        (3, None, Severity.MEDIUM),
        (4, None, Severity.HIGH),
        (5, None, Severity.CRITICAL),
        (6, None, Severity.CRITICAL),
        (99, "High", Severity.HIGH),
        (None, "Low", Severity.LOW),
        (None, None, Severity.INFORMATIONAL),
    ],
)
def test_severity_mapping(severity_id: int | None, text: str | None, expected: Severity) -> None:
    finding = _twin(severity_id=severity_id, severity=text)
    assert normalise(finding)[0].severity is expected


@pytest.mark.parametrize(
    ("status_id", "status", "compliance", "expected", "word"),
    [
        (1, "New", "FAILED", Status.OPEN, "NEW"),
        (2, "In Progress", "FAILED", Status.OPEN, "IN_PROGRESS"),
        (3, "Suppressed", "FAILED", Status.CLOSED, "SUPPRESSED"),
        (4, "Resolved", "FAILED", Status.CLOSED, "RESOLVED"),
        (None, "Resolved", "FAILED", Status.CLOSED, "RESOLVED"),
        (1, "New", "PASSED", Status.CLOSED, "NEW"),
        (1, "New", "Pass", Status.CLOSED, "NEW"),
        (1, "New", "WARNING", Status.OPEN, "NEW"),
    ],
)
def test_status_rules(
    status_id: int | None, status: str, compliance: str, expected: Status, word: str
) -> None:
    finding = _twin(status_id=status_id, status=status)
    finding["compliance"]["status"] = compliance
    event = normalise(finding)[0]
    assert event.status is expected
    assert event.upstream_status == word


def test_archived_record_state_closes() -> None:
    finding = _twin()
    finding["unmapped"]["RecordState"] = "ARCHIVED"
    assert normalise(finding)[0].status is Status.CLOSED


def test_get_findings_v2_output() -> None:
    payload = {"Findings": [_twin(), _twin()]}

    assert not securityhub.matches(payload)
    assert ocsf.matches(payload)
    assert len(normalise(payload)) == 2


def test_non_finding_ocsf_classes_are_not_matched() -> None:
    assert not ocsf.matches({"class_uid": 3002, "activity_id": 1})  # Authentication
    assert not ocsf.matches({"class_uid": True})


def test_missing_uid_names_its_path_in_the_envelope() -> None:
    payload = load_fixture("securityhub/ocsf/detection_2004_v2_envelope.json")
    del payload["detail"]["findings"][0]["finding_info"]["uid"]

    with pytest.raises(PayloadError, match=r"detail\.findings\[0\]\.finding_info\.uid"):
        normalise(payload)


def test_asff_item_in_a_v2_envelope_is_a_payload_error() -> None:
    payload = load_fixture("securityhub/ocsf/detection_2004_v2_envelope.json")
    payload["detail"]["findings"].append(load_fixture("securityhub/asff_twin_ec2_19.json"))

    with pytest.raises(PayloadError, match=r"detail\.findings\[1\]\.class_uid"):
        normalise(payload)
