"""GuardDuty findings: envelopes, detail-only envelopes, bare findings, and CLI GetFindings output."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources import guardduty, securityhub
from opswarden.sources.registry import find_source, normalise
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit


def _bare(**changes: Any) -> dict[str, Any]:
    finding: dict[str, Any] = copy.deepcopy(
        load_fixture("guardduty/eventbridge_ec2_ssh_bruteforce.json")["detail"]
    )
    finding.update(changes)
    return finding


def test_eventbridge_finding() -> None:
    payload = load_fixture("guardduty/eventbridge_ec2_ssh_bruteforce.json")
    assert find_source(payload).name == "guardduty"
    (event,) = normalise(payload)

    assert event.key == "aws.guardduty:7ec6a1b2c3d4e5f60718293a4b5c6d7e"
    assert event.source == "aws.guardduty"
    assert event.type_code == "UnauthorizedAccess:EC2/SSHBruteForce"
    assert event.category is Category.FINDING
    assert event.service == "guardduty"
    assert event.title.startswith("203.0.113.77 is performing SSH brute force")
    assert event.severity is Severity.HIGH  # 8
    assert event.status is Status.OPEN
    assert event.upstream_status == "ACTIVE"
    assert event.region == "us-west-2"
    assert event.accounts == ("222233334444",)  # the finding's account, not the delegated admin's
    assert event.start_at == datetime(2024, 2, 14, 20, 1, 44, tzinfo=UTC)  # eventFirstSeen
    assert event.updated_at == datetime(2024, 2, 14, 22, 17, 59, 402000, tzinfo=UTC)
    (instance,) = event.resources
    assert instance.id == "i-0f1e2d3c4b5a69788"
    assert instance.type == "Instance"
    assert instance.tags == {"Name": "jump-host", "team": "platform"}
    assert event.links[0].url.endswith("#/findings?macros=current&fId=7ec6a1b2c3d4e5f60718293a4b5c6d7e")
    assert event.details["sample"] is False
    assert event.details["archived"] is False
    assert event.details["count"] == 118
    assert event.details["action"]["actionType"] == "NETWORK_CONNECTION"
    assert event.details["action"]["remoteIp"] == "203.0.113.77"
    assert event.details["action"]["connectionDirection"] == "INBOUND"
    assert event == event.canonical()


def test_bare_finding_is_the_same_event_as_its_envelope() -> None:
    payload = load_fixture("guardduty/eventbridge_ec2_ssh_bruteforce.json")

    assert normalise(payload["detail"]) == normalise(payload)


def test_envelope_reduced_to_detail() -> None:
    payload = load_fixture("guardduty/detail_only_iam.json")
    assert find_source(payload).name == "guardduty"
    (event,) = normalise(payload)

    assert event.region == "eu-west-2"  # only the reduced envelope has it
    assert event.accounts == ()
    assert event.severity is Severity.MEDIUM  # 5.5
    (key,) = event.resources
    assert key.id == "AKIAEXAMPLE5TESTKEY1"
    assert key.type == "AccessKey"
    assert event.details["action"]["api"] == "ListBuckets"


def test_archived_sample_finding_with_two_buckets() -> None:
    (event,) = normalise(load_fixture("guardduty/finding_s3_sample_archived.json"))

    assert event.status is Status.CLOSED
    assert event.upstream_status == "ARCHIVED"
    assert event.details["record_state"] == "ARCHIVED"
    assert event.details["sample"] is True
    assert event.severity is Severity.LOW
    assert [r.id for r in event.resources] == ["GeneratedFindingS3Bucket", "GeneratedFindingS3Bucket2"]
    assert event.resources[0].tags == {"foo": "bar"}


def test_generated_placeholders_mark_a_sample_without_the_flag() -> None:
    finding = _bare()
    finding["resource"]["instanceDetails"]["imageDescription"] = "GeneratedFindingInstaceImageDescription"
    assert normalise(finding)[0].details["sample"] is True


def test_cli_get_findings_output_with_pascal_case_keys() -> None:
    payload = load_fixture("guardduty/cli_get_findings.json")
    assert not securityhub.matches(payload)
    assert find_source(payload).name == "guardduty"
    (event,) = normalise(payload)

    assert event.key == "aws.guardduty:5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a"
    assert event.type_code == "AttackSequence:IAM/CompromisedCredentials"
    assert event.severity is Severity.CRITICAL  # 9.2
    assert event.accounts == ("123412341234",)
    assert event.resources[0].id == "ASIAEXAMPLE9ABCDEFGH"
    assert event.start_at == datetime(2024, 9, 3, 9, 40, tzinfo=UTC)
    assert event.details["action"]["api"] == "DeleteTrail"
    assert event.details["detector_id"] == "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.5, Severity.INFORMATIONAL),
        (1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10, Severity.CRITICAL),
        ("5", Severity.MEDIUM),
    ],
)
def test_severity_bands(score: Any, expected: Severity) -> None:
    assert normalise(_bare(severity=score))[0].severity is expected


@pytest.mark.parametrize("asn", ["-1", -1])
def test_asn_as_string_or_number(asn: Any) -> None:
    finding = _bare()
    finding["service"]["action"]["networkConnectionAction"]["remoteIpDetails"]["organization"]["asn"] = asn
    assert len(normalise(finding)) == 1


def test_other_guardduty_detail_types_are_not_findings() -> None:
    payload = load_fixture("guardduty/eventbridge_ec2_ssh_bruteforce.json")
    payload["detail-type"] = "GuardDuty Malware Protection Object Scan Result"
    payload["detail"] = {"scanStatus": "COMPLETED"}
    assert not guardduty.matches(payload)
    assert find_source(payload).name == "eventbridge"


def test_missing_id_names_the_path() -> None:
    payload = load_fixture("guardduty/eventbridge_ec2_ssh_bruteforce.json")
    del payload["detail"]["id"]
    with pytest.raises(PayloadError, match=r"'detail\.id'"):
        normalise(payload)


def test_bad_severity_names_the_path() -> None:
    with pytest.raises(PayloadError, match=r"'severity' must be a number"):
        normalise(_bare(severity="HIGH"))


def test_cli_errors_name_the_field_as_the_cli_spells_it() -> None:
    payload = load_fixture("guardduty/cli_get_findings.json")
    payload["Findings"][0]["UpdatedAt"] = "not a time"
    with pytest.raises(PayloadError, match=r"'Findings\[0\]\.UpdatedAt'"):
        normalise(payload)
    del payload["Findings"][0]["Id"]
    with pytest.raises(PayloadError, match=r"'Findings\[0\]\.Id'"):
        normalise(payload)
