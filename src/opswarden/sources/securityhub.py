"""AWS Security Hub findings in the AWS Security Finding Format (ASFF).

Accepted payloads (already out of any SNS/SQS/PutEvents transport):

* EventBridge ``Security Hub Findings - Imported`` and ``Security Hub Findings - Custom Action``
  envelopes: ``detail.findings[]``, one event per finding (custom actions add ``actionName`` /
  ``actionDescription`` to every event's details);
* a bare ASFF finding (``SchemaVersion`` + ``ProductArn`` …);
* a ``GetFindings`` response body ``{"Findings": [ASFF …], "NextToken"?}``.

``Security Hub Insight Results`` envelopes are aggregates, not findings: they are not matched here and
fall to the generic EventBridge source. A ``GetFindingHistory`` response is matched only to be
rejected with a clear reason. See docs/sources/securityhub.md for every mapping rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from opswarden.core.event import Category, Event, Link, Resource, Severity, Status
from opswarden.errors import UnrecognisedFormatError
from opswarden.sources._findings import (
    arn_region,
    compact,
    dig,
    finding_items,
    is_arn,
    iso,
    label_severity,
    normalized_severity,
    product_service,
    securityhub_console_url,
    standard_id,
    upper_word,
)
from opswarden.sources.base import (
    Payload,
    Source,
    is_envelope,
    is_mapping,
    opt_list,
    opt_mapping,
    opt_str,
    require_str,
    str_map,
    time_field,
    unique,
)

SOURCE_NAME = "aws.securityhub"
DETAIL_TYPES = ("Security Hub Findings - Imported", "Security Hub Findings - Custom Action")
ALWAYS_IN_DETAILS = ("workflow_status", "compliance_status", "record_state")

_CLOSED_WORKFLOW = frozenset({"RESOLVED", "SUPPRESSED"})
_CIS_NUMBER = re.compile(r"^\d+(?:\.\d+)*$")


# ----------------------------------------------------------------------------------------------------
# Matching


def looks_like_asff(obj: Any) -> bool:
    """A bare ASFF finding: ``SchemaVersion`` and ``ProductArn`` (GuardDuty's own format has neither)."""
    return is_mapping(obj) and isinstance(obj.get("SchemaVersion"), str) and "ProductArn" in obj


def _is_finding_history(payload: Payload) -> bool:
    records = payload.get("Records")
    if not isinstance(records, list) or not records or not isinstance(records[0], Mapping):
        return False
    first = records[0]
    return "FindingIdentifier" in first or ("UpdateTime" in first and "Updates" in first)


def _is_get_findings(payload: Payload) -> bool:
    findings = payload.get("Findings")
    if not isinstance(findings, list) or "detail" in payload:
        return False
    return not findings or looks_like_asff(findings[0])


def matches(payload: Payload) -> bool:
    return (
        is_envelope(payload, SOURCE_NAME, DETAIL_TYPES)
        or looks_like_asff(payload)
        or _is_get_findings(payload)
        or _is_finding_history(payload)
    )


# ----------------------------------------------------------------------------------------------------
# Normalising


def normalise(payload: Payload) -> list[Event]:
    if is_envelope(payload, SOURCE_NAME, DETAIL_TYPES):
        detail: Payload = payload["detail"]
        context = {
            "region": opt_str(payload, "region"),
            "account": opt_str(payload, "account"),
            "action_name": opt_str(detail, "actionName"),
            "action_description": opt_str(detail, "actionDescription"),
        }
        items = finding_items(detail, "findings", "detail", allow_empty=False)
        return [normalise_finding(f, path, context) for f, path in items]
    if looks_like_asff(payload):
        return [normalise_finding(payload, "", {})]
    if _is_finding_history(payload):
        raise UnrecognisedFormatError(
            "GetFindingHistory output is a change log of a finding, not a finding; "
            "ingest GetFindings output instead",
            "Records",
        )
    return [
        normalise_finding(f, path, {}) for f, path in finding_items(payload, "Findings", "", allow_empty=True)
    ]


def normalise_finding(finding: Payload, path: str, context: Mapping[str, str | None]) -> Event:
    """One ASFF finding → one event. ``path`` locates the finding in its payload for errors.

    Each sub-object (``Compliance``, ``Severity`` …) is looked up once and handed to the field rules
    below, which run for every finding of a busy Security Hub.
    """
    finding_id = require_str(finding, "Id", path)
    product_arn = opt_str(finding, "ProductArn")
    product_fields = str_map(finding.get("ProductFields"))
    compliance = opt_mapping(finding, "Compliance")
    severity = opt_mapping(finding, "Severity")
    provider_severity = opt_mapping(opt_mapping(finding, "FindingProviderFields"), "Severity")
    remediation = opt_mapping(opt_mapping(finding, "Remediation"), "Recommendation")
    workflow = upper_word(
        opt_str(opt_mapping(finding, "Workflow"), "Status") or opt_str(finding, "WorkflowState")
    )
    compliance_status = upper_word(opt_str(compliance, "Status"))
    record_state = upper_word(opt_str(finding, "RecordState"))
    account = opt_str(finding, "AwsAccountId") or context.get("account")
    region = opt_str(finding, "Region") or arn_region(product_arn) or context.get("region")
    generator = opt_str(finding, "GeneratorId")
    types = [t for t in opt_list(finding, "Types") if isinstance(t, str)]
    control = product_fields.get("ControlId") or product_fields.get("RuleId")
    security_control = opt_str(compliance, "SecurityControlId")
    vulnerabilities = _vulnerability_ids(finding)
    type_code = _type_code(security_control, control, generator, types, vulnerabilities, product_fields)
    first_observed = time_field(finding, "FirstObservedAt", path)
    created = time_field(finding, "CreatedAt", path)
    product_name = opt_str(finding, "ProductName") or product_fields.get("aws/securityhub/ProductName")
    remediation_url = opt_str(remediation, "Url")

    details = compact(
        {
            "workflow_status": workflow,
            "compliance_status": compliance_status,
            "record_state": record_state,
            "finding_id": finding_id,
            "generator_id": generator,
            "product_arn": product_arn,
            "product_name": product_name,
            "company_name": opt_str(finding, "CompanyName")
            or product_fields.get("aws/securityhub/CompanyName"),
            "types": types,
            "security_control_id": security_control,
            "control_id": control,
            "standards": _standards(compliance, product_fields),
            "related_requirements": [
                r for r in opt_list(compliance, "RelatedRequirements") if isinstance(r, str)
            ],
            "compliance_reasons": _reasons(compliance),
            "severity_normalized": severity.get("Normalized"),
            "finding_provider_severity": opt_str(provider_severity, "Label"),
            "remediation": compact({"text": opt_str(remediation, "Text"), "url": remediation_url})
            if remediation
            else None,
            "vulnerabilities": vulnerabilities,
            "first_observed_at": iso(first_observed),
            "last_observed_at": iso(time_field(finding, "LastObservedAt", path)),
            "created_at": iso(created),
            "note": opt_str(opt_mapping(finding, "Note"), "Text"),
            "sample": finding.get("Sample") is True or None,
            "action_name": context.get("action_name"),
            "action_description": context.get("action_description"),
            "product_fields": product_fields,
        },
        keep=ALWAYS_IN_DETAILS,
    )
    return Event(
        key=f"{SOURCE_NAME}:{finding_id}",
        source=SOURCE_NAME,
        type_code=type_code or finding_id,
        category=Category.COMPLIANCE if compliance else Category.FINDING,
        service=product_service(product_arn, product_name),
        title=opt_str(finding, "Title") or type_code or finding_id,
        description=opt_str(finding, "Description") or "",
        severity=_severity(severity, provider_severity, product_fields),
        status=_status(workflow, compliance_status, record_state),
        upstream_status=workflow,
        region=region,
        accounts=(account,) if account else (),
        resources=_resources(finding, account),
        start_at=first_observed if first_observed is not None else created,
        updated_at=time_field(finding, "UpdatedAt", path),
        links=_links(finding, remediation_url, region, finding_id),
        tags=str_map(finding.get("UserDefinedFields")),
        details=details,
    )


# ----------------------------------------------------------------------------------------------------
# Field rules


def _severity(severity: Payload, provider: Payload, product_fields: Mapping[str, str]) -> Severity:
    """Label, else the finding provider's label, else Normalized (0-100), else Security Hub's own label.

    ``severity`` is the finding's ``Severity``, ``provider`` its ``FindingProviderFields.Severity``.
    """
    return (
        label_severity(severity.get("Label"))
        or label_severity(provider.get("Label"))
        or normalized_severity(severity.get("Normalized"))
        or label_severity(product_fields.get("aws/securityhub/SeverityLabel"))
        or Severity.INFORMATIONAL
    )


def _status(workflow: str | None, compliance: str | None, record_state: str | None) -> Status:
    """Closed when archived, resolved/suppressed, or passing; NOT_AVAILABLE and WARNING stay open."""
    if record_state == "ARCHIVED" or workflow in _CLOSED_WORKFLOW or compliance == "PASSED":
        return Status.CLOSED
    return Status.OPEN


def _type_code(
    security_control: str | None,
    control: str | None,
    generator: str | None,
    types: list[str],
    vulnerabilities: list[str],
    product_fields: Mapping[str, str],
) -> str | None:
    """Control id (consolidated, then per-standard), Config rule, CVE, generator, then the first type.

    ``control`` is ``ProductFields.ControlId`` or ``RuleId`` (the per-standard id; CIS numbers get a
    ``CIS.`` prefix here). A generator id that is an ARN (a GuardDuty detector, a Config rule) names an
    instance, not a kind of finding, so the first ASFF type is preferred to it.
    """
    if security_control:
        return security_control
    if control:
        cis = _CIS_NUMBER.match(control) and "cis-aws-foundations-benchmark" in (generator or "")
        return f"CIS.{control}" if cis else control
    return (
        product_fields.get("aws/config/ConfigRuleName")
        or (vulnerabilities[0] if vulnerabilities else None)
        or (None if is_arn(generator) else generator)
        or next((t for t in types if t), None)
        or generator
        or None
    )


def _standards(compliance: Payload, product_fields: Mapping[str, str]) -> list[str]:
    associated = [standard_id(dig(s, "StandardsId")) for s in opt_list(compliance, "AssociatedStandards")]
    legacy = [
        standard_id(product_fields[k]) for k in ("StandardsArn", "StandardsGuideArn") if k in product_fields
    ]
    return list(unique([*associated, *legacy])) if associated or legacy else []


def _reasons(compliance: Payload) -> list[str]:
    reasons = opt_list(compliance, "StatusReasons")
    return list(unique(opt_str(r, "ReasonCode") for r in reasons if is_mapping(r))) if reasons else []


def _vulnerability_ids(finding: Payload) -> list[str]:
    found = opt_list(finding, "Vulnerabilities")
    return list(unique(opt_str(v, "Id") for v in found if is_mapping(v))) if found else []


def _resources(finding: Payload, account: str | None) -> tuple[Resource, ...]:
    resources = []
    for item in opt_list(finding, "Resources"):
        if not is_mapping(item) or not (ident := opt_str(item, "Id")):
            continue
        resources.append(
            Resource(
                id=ident,
                type=opt_str(item, "Type"),
                region=opt_str(item, "Region"),
                account=account,
                tags=str_map(item.get("Tags")),
            )
        )
    return tuple(resources)


def _links(
    finding: Payload, remediation_url: str | None, region: str | None, finding_id: str
) -> tuple[Link, ...]:
    links = []
    if remediation_url:
        links.append(Link(title="Remediation", url=remediation_url))
    if url := opt_str(finding, "SourceUrl"):
        links.append(Link(title="Finding in its product", url=url))
    if region:
        links.append(_console_link(region, finding_id))
    return tuple(links)


@lru_cache(maxsize=4096)  # each update of a finding links to the same place; a Link is immutable
def _console_link(region: str, finding_id: str) -> Link:
    return Link(title="Security Hub console", url=str(securityhub_console_url(region, finding_id)))


SOURCE = Source(name="securityhub", matches=matches, normalise=normalise)
