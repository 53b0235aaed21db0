"""Security findings in the Open Cybersecurity Schema Framework (OCSF 1.x), as Security Hub sends them.

Accepted payloads (already out of any SNS/SQS/PutEvents transport):

* a bare OCSF finding: ``class_uid`` 2002 Vulnerability, 2003 Compliance, 2004 Detection, or the
  older 2001 Security Finding (``finding`` and ``state_id`` instead of ``finding_info`` and ``status_id``);
* an EventBridge ``Findings Imported V2`` envelope (``source`` aws.securityhub, ``detail.findings[]``);
* a ``GetFindingsV2`` response body ``{"Findings": [OCSF …]}``.

Security Hub's OCSF findings keep the ASFF ``Id`` as ``finding_info.uid``, so an OCSF finding and its
ASFF twin get the same key (``aws.securityhub:<uid>``) and become versions of one record. OCSF findings
from other products get ``ocsf:<uid>``. See docs/sources/securityhub.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opswarden.core.event import Category, Event, Link, Resource, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources._findings import (
    arn_region,
    compact,
    dig,
    finding_items,
    is_arn,
    iso,
    label_severity,
    number,
    product_service,
    securityhub_console_url,
    standard_id,
    upper_word,
)
from opswarden.sources.base import (
    Payload,
    Source,
    first_time,
    is_envelope,
    is_mapping,
    opt_list,
    opt_mapping,
    opt_str,
    require_mapping,
    require_str,
    time_field,
    unique,
)

FINDING_CLASSES = frozenset({2001, 2002, 2003, 2004})
DETAIL_TYPE = "Findings Imported V2"
SECURITYHUB = "aws.securityhub"
ALWAYS_IN_DETAILS = ("workflow_status", "compliance_status", "record_state")

# OCSF severity_id: 0 Unknown, 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical, 6 Fatal, 99 Other.
_SEVERITY_IDS = {
    0: Severity.INFORMATIONAL,
    1: Severity.INFORMATIONAL,
    2: Severity.LOW,
    3: Severity.MEDIUM,
    4: Severity.HIGH,
    5: Severity.CRITICAL,
    6: Severity.CRITICAL,
}
# OCSF status_id / state_id: 1 New, 2 In Progress, 3 Suppressed, 4 Resolved, 5 Archived, 6 Deleted.
_STATUS_IDS = {1: "NEW", 2: "IN_PROGRESS", 3: "SUPPRESSED", 4: "RESOLVED", 5: "ARCHIVED", 6: "DELETED"}
_CLOSED_STATUS = frozenset({"SUPPRESSED", "RESOLVED", "ARCHIVED", "DELETED"})
# OCSF compliance status_id: 1 Pass, 2 Warning, 3 Fail; Security Hub writes the ASFF words.
_COMPLIANCE_IDS = {1: "PASSED", 2: "WARNING", 3: "FAILED"}
_COMPLIANCE_WORDS = {"PASS": "PASSED", "FAIL": "FAILED"}


def is_ocsf_finding(obj: Any) -> bool:
    uid = obj.get("class_uid") if is_mapping(obj) else None
    return isinstance(uid, int) and not isinstance(uid, bool) and uid in FINDING_CLASSES


def _is_get_findings_v2(payload: Payload) -> bool:
    findings = payload.get("Findings")
    return isinstance(findings, list) and bool(findings) and is_ocsf_finding(findings[0])


def matches(payload: Payload) -> bool:
    return (
        is_envelope(payload, SECURITYHUB, (DETAIL_TYPE,))
        or is_ocsf_finding(payload)
        or _is_get_findings_v2(payload)
    )


def normalise(payload: Payload) -> list[Event]:
    if is_envelope(payload, SECURITYHUB, (DETAIL_TYPE,)):
        context = {"region": opt_str(payload, "region"), "account": opt_str(payload, "account")}
        items = finding_items(payload["detail"], "findings", "detail", allow_empty=False)
        return [normalise_finding(f, path, context, from_securityhub=True) for f, path in items]
    if is_ocsf_finding(payload):
        return [normalise_finding(payload, "", {})]
    items = finding_items(payload, "Findings", "", allow_empty=True)
    return [normalise_finding(f, path, {}) for f, path in items]


def normalise_finding(
    finding: Payload, path: str, context: Mapping[str, str | None], *, from_securityhub: bool = False
) -> Event:
    """One OCSF finding → one event. ``path`` locates the finding in its payload for errors."""
    if not is_ocsf_finding(finding):
        where = f"{path}.class_uid" if path else "class_uid"
        raise PayloadError(
            f"field '{where}' must be an OCSF finding class (2001-2004), got {finding.get('class_uid')!r}"
        )
    info_key = "finding_info" if "finding_info" in finding else "finding"
    info_path = f"{path}.{info_key}" if path else info_key
    info = require_mapping(finding, info_key, path)
    uid = require_str(info, "uid", info_path)
    product = opt_mapping(opt_mapping(finding, "metadata"), "product")
    product_arn = opt_str(product, "uid")
    source = SECURITYHUB if from_securityhub or ":securityhub:" in (product_arn or "") else "ocsf"
    compliance = opt_mapping(finding, "compliance")
    unmapped = opt_mapping(finding, "unmapped")
    cloud = opt_mapping(finding, "cloud")
    workflow = _workflow(finding)
    compliance_status = _compliance_status(compliance)
    record_state = upper_word(opt_str(unmapped, "RecordState"))
    account = opt_str(opt_mapping(cloud, "account"), "uid") or context.get("account")
    resources = _resources(finding, account)
    region = opt_str(cloud, "region") or next((r.region for r in resources if r.region), None)
    region = region or arn_region(product_arn) or context.get("region")
    first_seen = _time(info, "first_seen_time", info_path)
    created = _time(info, "created_time", info_path)
    remediation = opt_mapping(finding, "remediation") or opt_mapping(info, "remediation")
    references = [r for r in opt_list(remediation, "references") if isinstance(r, str)]
    type_code = _type_code(finding, info, compliance, unmapped)

    details = compact(
        {
            "workflow_status": workflow,
            "compliance_status": compliance_status,
            "record_state": record_state,
            "finding_id": uid,
            "class_uid": finding.get("class_uid"),
            "class_name": opt_str(finding, "class_name"),
            "activity": opt_str(finding, "activity_name"),
            "generator_id": opt_str(opt_mapping(product, "feature"), "uid"),
            "product_arn": product_arn,
            "product_name": opt_str(product, "name"),
            "company_name": opt_str(product, "vendor_name"),
            "types": [t for t in opt_list(info, "types") if isinstance(t, str)],
            "security_control_id": opt_str(compliance, "control"),
            "control_id": opt_str(unmapped, "ProductFields.ControlId")
            or opt_str(unmapped, "ProductFields.RuleId"),
            "standards": list(unique(standard_id(s) for s in opt_list(compliance, "standards"))),
            "related_requirements": [r for r in opt_list(compliance, "requirements") if isinstance(r, str)],
            "severity_normalized": number(unmapped.get("Severity.Normalized")),
            "finding_provider_severity": opt_str(unmapped, "FindingProviderFields.Severity.Label"),
            "remediation": compact(
                {"text": opt_str(remediation, "desc"), "url": references[0] if references else None}
            ),
            "vulnerabilities": _cve_ids(finding),
            "first_observed_at": iso(first_seen),
            "last_observed_at": iso(_time(info, "last_seen_time", info_path)),
            "created_at": iso(created),
        },
        keep=ALWAYS_IN_DETAILS,
    )
    event = Event(
        key=f"{source}:{uid}",
        source=source,
        type_code=type_code or uid,
        category=Category.COMPLIANCE if compliance or finding.get("class_uid") == 2003 else Category.FINDING,
        service=product_service(product_arn, opt_str(product, "name")),
        title=opt_str(info, "title") or type_code or uid,
        description=opt_str(info, "desc") or opt_str(finding, "message") or "",
        severity=_severity(finding),
        status=_status(workflow, compliance_status, record_state),
        upstream_status=workflow,
        region=region,
        accounts=(account,) if account else (),
        resources=resources,
        start_at=first_time(first_seen, created),
        updated_at=first_time(_time(info, "modified_time", info_path), _time(finding, "time", path)),
        links=_links(info, references, region, uid, source),
        details=details,
    )
    return event.canonical()


def _time(obj: Payload, key: str, path: str) -> datetime | None:
    """An OCSF timestamp: the epoch-ms ``key``, else its ``key_dt`` string with an offset."""
    return first_time(time_field(obj, key, path), time_field(obj, f"{key}_dt", path))


def _severity(finding: Payload) -> Severity:
    severity_id = finding.get("severity_id")
    if isinstance(severity_id, int) and severity_id in _SEVERITY_IDS:
        return _SEVERITY_IDS[severity_id]
    return label_severity(finding.get("severity")) or Severity.INFORMATIONAL


def _workflow(finding: Payload) -> str | None:
    """The status word in ASFF's vocabulary: ``New`` → ``NEW``, ``In Progress`` → ``IN_PROGRESS``."""
    for id_key, word_key in (("status_id", "status"), ("state_id", "state")):
        status_id = finding.get(id_key)
        if isinstance(status_id, int) and status_id in _STATUS_IDS:
            return _STATUS_IDS[status_id]
        if word := upper_word(opt_str(finding, word_key)):
            return word
    return None


def _compliance_status(compliance: Payload) -> str | None:
    word = upper_word(opt_str(compliance, "status"))
    if word:
        return _COMPLIANCE_WORDS.get(word, word)
    status_id = compliance.get("status_id")
    return _COMPLIANCE_IDS.get(status_id) if isinstance(status_id, int) else None


def _status(workflow: str | None, compliance: str | None, record_state: str | None) -> Status:
    if record_state == "ARCHIVED" or workflow in _CLOSED_STATUS or compliance == "PASSED":
        return Status.CLOSED
    return Status.OPEN


def _type_code(finding: Payload, info: Payload, compliance: Payload, unmapped: Payload) -> str | None:
    """The same order as for ASFF, so that twins agree: control, CVE, generator, first type."""
    generator = opt_str(
        opt_mapping(opt_mapping(opt_mapping(finding, "metadata"), "product"), "feature"), "uid"
    )
    types = [t for t in opt_list(info, "types") if isinstance(t, str) and t]
    cves = _cve_ids(finding)
    candidates = (
        opt_str(compliance, "control"),
        opt_str(unmapped, "ProductFields.ControlId") or opt_str(unmapped, "ProductFields.RuleId"),
        cves[0] if cves else None,
        None if is_arn(generator) else generator,
        types[0] if types else None,
        generator,
        opt_str(finding, "class_name"),
    )
    return next((c for c in candidates if c), None)


def _cve_ids(finding: Payload) -> list[str]:
    ids = (dig(v, "cve", "uid") for v in opt_list(finding, "vulnerabilities"))
    return list(unique(i for i in ids if isinstance(i, str)))


def _resources(finding: Payload, account: str | None) -> tuple[Resource, ...]:
    items = [*opt_list(finding, "resources"), opt_mapping(finding, "resource")]
    resources = []
    for item in items:
        if not isinstance(item, Mapping) or not opt_str(item, "uid"):
            continue
        resources.append(
            Resource(
                id=str(opt_str(item, "uid")),
                type=opt_str(item, "type"),
                region=opt_str(item, "region"),
                account=opt_str(opt_mapping(item, "account"), "uid") or account,
                tags=_tags(item),
            )
        )
    return tuple(resources)


def _tags(resource: Payload) -> dict[str, str]:
    """OCSF ``tags`` are ``[{name, value}]`` key/value pairs; ``labels`` are bare strings (ignored)."""
    pairs = (t for t in opt_list(resource, "tags") if isinstance(t, Mapping))
    return {str(t["name"]): str(t.get("value", "")) for t in pairs if t.get("name")}


def _links(
    info: Payload, references: list[str], region: str | None, uid: str, source: str
) -> tuple[Link, ...]:
    links = [Link(title="Remediation", url=url) for url in references[:1]]
    if url := opt_str(info, "src_url"):
        links.append(Link(title="Finding in its product", url=url))
    if source == SECURITYHUB and (url := securityhub_console_url(region, uid, v2=True)):
        links.append(Link(title="Security Hub console", url=url))
    return tuple(links)


SOURCE = Source(name="ocsf", matches=matches, normalise=normalise)
