"""Security Hub ASFF findings: envelopes, bare findings, GetFindings, and what is not a finding."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import InputError, PayloadError, TimestampError, UnrecognisedFormatError
from opswarden.sources import securityhub
from opswarden.sources.registry import find_source, normalise
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

S3_8_ID = "arn:aws:securityhub:eu-west-1:111122223333:security-control/S3.8/finding/5c1f7a2e-0b3d-4e8f-9a61-2d4c8b7e1f03"


def _finding(name: str = "asff_twin_ec2_19.json", **changes: Any) -> dict[str, Any]:
    finding: dict[str, Any] = copy.deepcopy(load_fixture(f"securityhub/{name}"))
    finding.update(changes)
    return finding


def test_imported_envelope_with_two_findings_gives_two_events() -> None:
    payload = load_fixture("securityhub/imported_two_findings.json")

    assert find_source(payload).name == "securityhub"
    control, threat = normalise(payload)

    assert control.key == f"aws.securityhub:{S3_8_ID}"
    assert control.source == "aws.securityhub"
    assert control.type_code == "S3.8"
    assert control.category is Category.COMPLIANCE
    assert control.service == "securityhub"
    assert control.title == "S3 general purpose buckets should block public access"
    assert control.severity is Severity.HIGH
    assert control.status is Status.OPEN
    assert control.upstream_status == "NEW"
    assert control.region == "eu-west-1"
    assert control.accounts == ("444455556666",)
    assert control.start_at == datetime(2024, 2, 20, 14, 2, 11, 512000, tzinfo=UTC)
    assert control.updated_at == datetime(2024, 3, 5, 9, 9, 58, 730000, tzinfo=UTC)
    assert control.end_at is None
    assert control.tags == {"ticket": "SEC-1042"}
    (bucket,) = control.resources
    assert bucket.id == "arn:aws:s3:::payments-exports-prod"
    assert bucket.type == "AwsS3Bucket"
    assert bucket.account == "444455556666"
    assert bucket.tags == {"team": "payments", "env": "prod"}
    assert [link.title for link in control.links] == ["Remediation", "Security Hub console"]
    assert control.links[1].url.startswith(
        "https://eu-west-1.console.aws.amazon.com/securityhub/home?region=eu-west-1#"
    )
    assert "security-control%252FS3.8" in control.links[1].url  # the console wants the id encoded twice

    assert threat.type_code == "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"
    assert threat.category is Category.FINDING
    assert threat.service == "guardduty"
    assert threat.severity is Severity.MEDIUM
    assert threat.upstream_status == "NOTIFIED"
    assert threat.region == "eu-west-1"  # no Region field: taken from the malformed-partition product ARN
    assert threat.links[0].title == "Finding in its product"


def test_details_carry_the_fields_the_version_differ_compares() -> None:
    control, threat = normalise(load_fixture("securityhub/imported_two_findings.json"))

    assert control.details["workflow_status"] == "NEW"
    assert control.details["compliance_status"] == "FAILED"
    assert control.details["record_state"] == "ACTIVE"
    assert control.details["security_control_id"] == "S3.8"
    assert control.details["standards"] == [
        "standards/aws-foundational-security-best-practices/v/1.0.0",
        "standards/cis-aws-foundations-benchmark/v/3.0.0",
    ]
    assert control.details["remediation"] == {
        "text": "For information on how to correct this issue, consult the AWS Security Hub controls documentation.",
        "url": "https://docs.aws.amazon.com/console/securityhub/S3.8/remediation",
    }
    assert control.details["finding_provider_severity"] == "HIGH"
    assert control.details["product_name"] == "Security Hub"
    assert control.details["first_observed_at"] == "2024-02-20T14:02:11.512000Z"
    assert control.details["product_fields"]["RelatedAWSResources:0/type"] == "AWS::Config::ConfigRule"
    # No Compliance block: the key is still there, so a later compliance status is a change.
    assert threat.details["compliance_status"] is None
    assert "action_name" not in threat.details


def test_custom_action_adds_the_action_and_resolved_passed_is_closed() -> None:
    (event,) = normalise(load_fixture("securityhub/custom_action_cis_resolved.json"))

    assert event.details["action_name"] == "SendToTicketing"
    assert event.details["action_description"] == "Open a ticket for the owning team"
    assert event.status is Status.CLOSED
    assert event.upstream_status == "RESOLVED"
    assert event.type_code == "CIS.1.9"  # CIS 1.2 RuleId, prefixed so it is not a bare number
    assert event.details["control_id"] == "1.9"
    assert event.details["standards"] == ["ruleset/cis-aws-foundations-benchmark/v/1.2.0"]
    assert event.details["note"] == "Password policy fixed by the platform team."
    assert event.severity is Severity.INFORMATIONAL


def test_legacy_2019_finding_without_label_or_workflow() -> None:
    (event,) = normalise(load_fixture("securityhub/finding_legacy_2019.json"))

    assert event.severity is Severity.HIGH  # Normalized 72
    assert event.upstream_status == "NEW"  # WorkflowState, as there is no Workflow
    assert event.details["workflow_status"] == "NEW"
    assert event.service == "custom"  # product/<account>/default
    assert event.type_code == "unencrypted-ebs-volume"
    assert event.start_at == event.updated_at == datetime(2019, 5, 14, 11, 20, 31, 118604, tzinfo=UTC)
    assert event.region == "us-east-1"


@pytest.mark.parametrize(
    ("normalized", "expected"),
    [
        (0, Severity.INFORMATIONAL),
        (1, Severity.LOW),
        (39, Severity.LOW),
        (40, Severity.MEDIUM),
        (69, Severity.MEDIUM),
        (70, Severity.HIGH),
        (89, Severity.HIGH),
        (90, Severity.CRITICAL),
        (100, Severity.CRITICAL),
        ("55", Severity.MEDIUM),
    ],
)
def test_normalized_score_bands_when_there_is_no_label(normalized: Any, expected: Severity) -> None:
    finding = _finding("finding_legacy_2019.json", Severity={"Product": 1, "Normalized": normalized})
    assert normalise(finding)[0].severity is expected


def test_severity_label_wins_then_finding_provider_label() -> None:
    assert normalise(_finding(Severity={"Label": "low", "Normalized": 90}))[0].severity is Severity.LOW
    provider_only = _finding(Severity={"Original": 0})
    assert normalise(provider_only)[0].severity is Severity.CRITICAL  # FindingProviderFields.Severity.Label
    nothing = _finding(Severity={"Original": 0}, FindingProviderFields={})
    assert normalise(nothing)[0].severity is Severity.INFORMATIONAL


@pytest.mark.parametrize(
    ("workflow", "compliance", "record", "expected"),
    [
        ("NEW", "FAILED", "ACTIVE", Status.OPEN),
        ("NOTIFIED", "WARNING", "ACTIVE", Status.OPEN),
        ("NEW", "NOT_AVAILABLE", "ACTIVE", Status.OPEN),
        ("NEW", "FAILED", "ARCHIVED", Status.CLOSED),
        ("RESOLVED", "FAILED", "ACTIVE", Status.CLOSED),
        ("SUPPRESSED", "FAILED", "ACTIVE", Status.CLOSED),
        ("NEW", "PASSED", "ACTIVE", Status.CLOSED),
        (None, None, "ACTIVE", Status.OPEN),
    ],
)
def test_status_rules(workflow: str | None, compliance: str | None, record: str, expected: Status) -> None:
    finding = _finding(RecordState=record, Compliance={"Status": compliance} if compliance else {})
    finding.pop("WorkflowState")
    if workflow:
        finding["Workflow"] = {"Status": workflow}
    else:
        finding.pop("Workflow")
    event = normalise(finding)[0]
    assert event.status is expected
    assert event.upstream_status == workflow
    assert event.details["record_state"] == record


def test_get_findings_output_gives_one_event_per_finding() -> None:
    inspector, config = normalise(load_fixture("securityhub/get_findings.json"))

    assert inspector.type_code == "CVE-2023-44487"
    assert inspector.service == "inspector"
    assert inspector.severity is Severity.CRITICAL
    assert inspector.status is Status.CLOSED  # ARCHIVED
    assert inspector.details["vulnerabilities"] == ["CVE-2023-44487"]
    assert config.type_code == "required-tags-on-security-groups"  # not the account-specific rule ARN
    assert config.service == "config"
    assert config.details["compliance_status"] == "NOT_AVAILABLE"
    assert config.details["compliance_reasons"] == ["CONFIG_EVALUATIONS_EMPTY"]
    assert config.status is Status.OPEN


def test_empty_get_findings_page_gives_no_events() -> None:
    assert normalise({"Findings": [], "NextToken": None}) == []


def test_insight_results_are_not_findings() -> None:
    payload = load_fixture("securityhub/insight_results.json")

    assert not securityhub.matches(payload)
    assert find_source(payload).name == "eventbridge"


def test_get_finding_history_is_rejected_with_the_reason() -> None:
    payload = load_fixture("securityhub/get_finding_history.json")

    assert find_source(payload).name == "securityhub"
    with pytest.raises(
        UnrecognisedFormatError, match="change log of a finding, not a finding; ingest GetFindings"
    ):
        normalise(payload)


def test_sqs_and_sns_records_are_not_finding_history() -> None:
    sqs = {"Records": [{"messageId": "1", "eventSource": "aws:sqs", "body": "{}"}]}
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]}
    assert not securityhub.matches(sqs)
    assert not securityhub.matches(sns)


def test_guardduty_get_findings_is_left_to_guardduty() -> None:
    payload = load_fixture("guardduty/cli_get_findings.json")
    assert not securityhub.matches(payload)


def test_every_event_is_canonical() -> None:
    for name in ("imported_two_findings.json", "get_findings.json", "custom_action_cis_resolved.json"):
        for event in normalise(load_fixture(f"securityhub/{name}")):
            assert event == event.canonical()


def test_missing_id_in_the_second_finding_names_its_path() -> None:
    payload = load_fixture("securityhub/imported_two_findings.json")
    del payload["detail"]["findings"][1]["Id"]

    with pytest.raises(PayloadError, match=r"detail\.findings\[1\]\.Id"):
        normalise(payload)


def test_bad_timestamp_names_its_path() -> None:
    payload = load_fixture("securityhub/get_findings.json")
    payload["Findings"][1]["UpdatedAt"] = "yesterday-ish"

    with pytest.raises(TimestampError, match=r"Findings\[1\]\.UpdatedAt"):
        normalise(payload)


@pytest.mark.parametrize(
    ("findings", "message"),
    [
        ("not a list", r"detail\.findings' must be an array"),
        ([], r"detail\.findings' holds no findings"),
        ([{"SchemaVersion": "2018-10-08"}, "x"], r"detail\.findings\[0\]\.Id"),
        ([_finding(), "x"], r"detail\.findings\[1\]' must be an object"),
    ],
)
def test_malformed_envelopes_are_input_errors(findings: Any, message: str) -> None:
    payload = load_fixture("securityhub/custom_action_cis_resolved.json")
    payload["detail"]["findings"] = findings

    with pytest.raises(InputError, match=message):
        normalise(payload)


def test_severity_original_may_be_a_number_and_workflow_may_be_missing() -> None:
    finding = _finding(Severity={"Original": 0, "Label": "INFORMATIONAL", "Normalized": 0})
    del finding["Workflow"]
    del finding["WorkflowState"]

    (event,) = normalise(finding)
    assert event.severity is Severity.INFORMATIONAL
    assert event.upstream_status is None
    assert event.details["workflow_status"] is None
