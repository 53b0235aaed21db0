"""Amazon GuardDuty findings in GuardDuty's own format.

Accepted payloads (already out of any SNS/SQS/PutEvents transport):

* EventBridge ``GuardDuty Finding`` envelopes (``source`` aws.guardduty): the finding is the whole
  ``detail`` object; also an envelope reduced to ``{"detail": …}`` (with or without ``region``);
* a bare finding (what an ``InputPath: $.detail`` target receives);
* a ``GetFindings`` response body ``{"Findings": [...]}`` as the AWS CLI prints it, with PascalCase keys.

GuardDuty findings forwarded by Security Hub are ASFF and belong to the securityhub source. See
docs/sources/guardduty.md for the mapping rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from opswarden.core.event import Category, Event, Link, Resource, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources._findings import compact, console_host, dig, finding_items, iso, number
from opswarden.sources.base import (
    Payload,
    Source,
    is_envelope,
    is_mapping,
    opt_mapping,
    opt_str,
    require,
    require_str,
    severity_from_score,
    time_field,
)

SOURCE_NAME = "aws.guardduty"
DETAIL_TYPE = "GuardDuty Finding"
ALWAYS_IN_DETAILS = ("record_state", "archived", "sample")

# GuardDuty's documented bands (1.0-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical).
SEVERITY_BANDS: tuple[tuple[float, Severity], ...] = (
    (9.0, Severity.CRITICAL),
    (7.0, Severity.HIGH),
    (4.0, Severity.MEDIUM),
    (1.0, Severity.LOW),
)
# resourceType → (details key, id fields in order of preference); the key may hold a list.
_RESOURCE_IDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Instance": ("instanceDetails", ("instanceId",)),
    "AccessKey": ("accessKeyDetails", ("accessKeyId", "userName", "principalId")),
    "S3Bucket": ("s3BucketDetails", ("name", "arn")),
    "EKSCluster": ("eksClusterDetails", ("arn", "name")),
    "ECSCluster": ("ecsClusterDetails", ("arn", "name")),
    "Container": ("containerDetails", ("id", "name")),
    "RDSDBInstance": ("rdsDbInstanceDetails", ("dbInstanceArn", "dbInstanceIdentifier")),
    "RDSLimitlessDB": ("rdsLimitlessDbDetails", ("dbShardGroupArn", "dbShardGroupIdentifier")),
    "Lambda": ("lambdaDetails", ("functionArn", "functionName")),
    "EBSSnapshot": ("ebsSnapshotDetails", ("snapshotArn",)),
    "EC2Image": ("ec2ImageDetails", ("imageArn",)),
    "RecoveryPoint": ("recoveryPointDetails", ("recoveryPointArn",)),
}
_SAMPLE_MARK = "GeneratedFinding"
_SCALARS = frozenset({int, float, bool, type(None)})


# ----------------------------------------------------------------------------------------------------
# Matching


def looks_like_finding(obj: Any) -> bool:
    """GuardDuty's own finding shape (camelCase): a type, a severity, and GuardDuty's service block."""
    if not is_mapping(obj) or not isinstance(obj.get("type"), str) or "severity" not in obj:
        return False
    if dig(obj, "service", "serviceName") == "guardduty":
        return True
    return ":guardduty:" in str(obj.get("arn", "")) and "accountId" in obj


def _looks_like_cli_finding(obj: Any) -> bool:
    """The same finding with the AWS CLI's PascalCase keys (never has ASFF's ``ProductArn``)."""
    if not is_mapping(obj) or not isinstance(obj.get("Type"), str) or "ProductArn" in obj:
        return False
    if dig(obj, "Service", "ServiceName") == "guardduty":
        return True
    return ":guardduty:" in str(obj.get("Arn", "")) and "Severity" in obj


def _is_detail_only(payload: Payload) -> bool:
    """An envelope reduced to ``detail`` (no ``source``/``detail-type``) holding a GuardDuty finding."""
    if "source" in payload or "detail-type" in payload:
        return False
    return looks_like_finding(payload.get("detail"))


def _is_get_findings(payload: Payload) -> bool:
    findings = payload.get("Findings")
    return isinstance(findings, list) and bool(findings) and _looks_like_cli_finding(findings[0])


def matches(payload: Payload) -> bool:
    return (
        is_envelope(payload, SOURCE_NAME, (DETAIL_TYPE,))
        or _is_detail_only(payload)
        or looks_like_finding(payload)
        or _is_get_findings(payload)
    )


# ----------------------------------------------------------------------------------------------------
# Normalising


def normalise(payload: Payload) -> list[Event]:
    if is_envelope(payload, SOURCE_NAME, (DETAIL_TYPE,)) or _is_detail_only(payload):
        context = {"region": opt_str(payload, "region"), "account": opt_str(payload, "account")}
        return [normalise_finding(payload["detail"], "detail", context)]
    if looks_like_finding(payload):
        return [normalise_finding(payload, "", {})]
    events = []
    for item, path in finding_items(payload, "Findings", "", allow_empty=True):
        try:
            events.append(normalise_finding(camel_keys(item), path, {}))
        except PayloadError as exc:  # name the field as the CLI spells it
            raise type(exc)(_pascal_path(exc.message, path), exc.where) from None
    return events


def normalise_finding(finding: Payload, path: str, context: Mapping[str, str | None]) -> Event:
    """One GuardDuty finding (camelCase keys) → one event."""
    finding_id = require_str(finding, "id", path)
    finding_type = require_str(finding, "type", path)
    score = number(require(finding, "severity", path))
    if score is None:
        where = f"{path}.severity" if path else "severity"
        raise PayloadError(f"field '{where}' must be a number, got {finding.get('severity')!r}")
    service = opt_mapping(finding, "service")
    resource = opt_mapping(finding, "resource")
    archived = service.get("archived") in (True, "true", "True")
    region = opt_str(finding, "region") or context.get("region")
    account = opt_str(finding, "accountId") or context.get("account")
    service_path = f"{path}.service" if path else "service"
    first_seen = time_field(service, "eventFirstSeen", service_path)
    created = time_field(finding, "createdAt", path)

    details = compact(
        {
            "record_state": "ARCHIVED" if archived else "ACTIVE",
            "archived": archived,
            "sample": _is_sample(finding),
            "finding_arn": opt_str(finding, "arn"),
            "detector_id": opt_str(service, "detectorId"),
            "severity_score": score,
            "count": service.get("count"),
            "resource_role": opt_str(service, "resourceRole"),
            "resource_type": opt_str(resource, "resourceType"),
            "action": _action(opt_mapping(service, "action")),
            "partition": opt_str(finding, "partition"),
            "first_seen_at": iso(first_seen),
            "last_seen_at": iso(time_field(service, "eventLastSeen", service_path)),
            "created_at": iso(created),
        },
        keep=ALWAYS_IN_DETAILS,
    )
    return Event(
        key=f"{SOURCE_NAME}:{finding_id}",
        source=SOURCE_NAME,
        type_code=finding_type,
        category=Category.FINDING,
        service="guardduty",
        title=opt_str(finding, "title") or finding_type,
        description=opt_str(finding, "description") or "",
        severity=severity_from_score(score, SEVERITY_BANDS),
        status=Status.CLOSED if archived else Status.OPEN,
        upstream_status=details["record_state"],
        region=region,
        accounts=(account,) if account else (),
        resources=_resources(resource, region, account),
        start_at=first_seen if first_seen is not None else created,
        updated_at=time_field(finding, "updatedAt", path),
        links=_links(region, finding_id),
        details=details,
    )


# ----------------------------------------------------------------------------------------------------
# Field rules


def _resources(resource: Payload, region: str | None, account: str | None) -> tuple[Resource, ...]:
    """The resource GuardDuty names by ``resourceType``: instance id, access key, bucket names …"""
    kind = opt_str(resource, "resourceType")
    details_key, id_fields = _RESOURCE_IDS.get(kind or "", ("", ()))
    value = resource.get(details_key) if details_key else None
    entries = value if isinstance(value, list) else [value]
    resources = []
    for entry in entries:
        if not is_mapping(entry):
            continue
        ident = None
        for field in id_fields:  # the first one present
            if ident := opt_str(entry, field):
                break
        if ident:
            tags = _tags(entry.get("tags"))
            resources.append(Resource(id=ident, type=kind, region=region, account=account, tags=tags))
    return tuple(resources)


def _tags(value: Any) -> dict[str, str]:
    if not value or not isinstance(value, list):
        return {}
    pairs = (t for t in value if isinstance(t, Mapping) and t.get("key"))
    return {str(t["key"]): str(t.get("value", "")) for t in pairs}


def _action(action: Payload) -> dict[str, Any]:
    """The action type, the scalar fields of its one sub-object, and the remote IP / country."""
    if not action:
        return {}
    summary: dict[str, Any] = {"actionType": opt_str(action, "actionType")}
    for sub in action.values():
        if not is_mapping(sub):
            continue
        summary.update({k: v for k, v in sub.items() if isinstance(v, str | int | float | bool)})
        remote = opt_mapping(sub, "remoteIpDetails")
        summary["remoteIp"] = opt_str(remote, "ipAddressV4") or opt_str(remote, "ipAddressV6")
        summary["remoteCountry"] = opt_str(opt_mapping(remote, "country"), "countryName")
        summary["remoteOrg"] = opt_str(opt_mapping(remote, "organization"), "org")
    return compact(summary)


def _is_sample(finding: Payload) -> bool:
    """GuardDuty-generated sample findings: ``additionalInfo.sample`` or ``GeneratedFinding*`` values."""
    if dig(finding, "service", "additionalInfo", "sample") in (True, "true", "True"):
        return True
    return _has_mark(finding.get("resource")) or _has_mark(finding.get("service"))


def _has_mark(value: Any) -> bool:
    """Whether a string anywhere in ``value`` starts with the sample mark (objects nested up to 8 deep).

    This visits every value of a finding, so it walks level by level in one loop rather than with a
    call per value, and tests exact types first (``isinstance(…, Mapping)`` is slow).
    """
    level, depth = [value], 0
    while level:
        deeper: list[Any] = []
        for item in level:
            if isinstance(item, str):
                if item.startswith(_SAMPLE_MARK):
                    return True
            elif depth > 8 or type(item) in _SCALARS:
                continue
            elif isinstance(item, list):
                deeper.extend(item)
            elif is_mapping(item):
                deeper.extend(item.values())
        level, depth = deeper, depth + 1
    return False


@lru_cache(maxsize=4096)  # each update of a finding links to the same place; a Link is immutable
def _links(region: str | None, finding_id: str) -> tuple[Link, ...]:
    if not region:
        return ()
    url = f"https://{console_host(region)}/guardduty/home?region={region}#/findings?macros=current&fId={finding_id}"
    return (Link(title="GuardDuty console", url=url),)


def camel_keys(value: Any) -> Any:
    """The AWS CLI's PascalCase finding → GuardDuty's camelCase (``IpAddressV4`` → ``ipAddressV4``).

    Keys with a ``:`` (``AWS::S3::Bucket`` in ``affectedResources``) are names, not fields: kept as is.
    """
    if isinstance(value, Mapping):
        return {(k if ":" in k else k[:1].lower() + k[1:]): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _pascal_path(message: str, path: str) -> str:
    """Re-spell the field in an error message as the CLI does: ``Findings[0].id`` → ``Findings[0].Id``."""
    marker = f"'{path}."
    start = message.find(marker)
    if start < 0:
        return message
    end = message.find("'", start + 1)
    fields = message[start + len(marker) : end].split(".")
    spelled = ".".join(f[:1].upper() + f[1:] for f in fields)
    return f"{message[:start]}'{path}.{spelled}{message[end:]}"


SOURCE = Source(name="guardduty", matches=matches, normalise=normalise)
