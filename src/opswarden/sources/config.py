"""AWS Config: rule compliance changes, configuration item changes and rule-evaluation notices.

Accepted shapes (transport already removed):

* EventBridge ``Config Rules Compliance Change`` and ``Config Configuration Item Change`` envelopes;
* Config's SNS message bodies, identified by ``messageType`` (``ComplianceChangeNotification``,
  ``ConfigurationItemChangeNotification``, ``OversizedConfigurationItemChangeNotification``,
  ``ConfigRulesEvaluationStarted``, ``ScheduledNotification``);
* custom-rule Lambda invocation events, whose ``invokingEvent`` and ``ruleParameters`` are JSON strings;
* ``GetComplianceDetailsByConfigRule`` / ``GetComplianceDetailsByResource`` output (``EvaluationResults``).

Identity: rule + resource (``aws.config:<account>:<region>:<rule>:<resourceType>:<resourceId>``) for
compliance, the resource's configuration item (``aws.config:item:<account>:<region>:<type>:<id>``) for
configuration changes. See docs/sources/config.md for the status and severity mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from opswarden.core.event import Category, Event, Resource, Severity, Status
from opswarden.core.timeparse import format_time
from opswarden.errors import PayloadError
from opswarden.sources.base import (
    Payload,
    Source,
    first_time,
    is_envelope,
    opt_list,
    opt_mapping,
    opt_str,
    require,
    require_mapping,
    require_str,
    str_map,
    time_field,
    unique,
)

SOURCE_NAME = "aws.config"
COMPLIANCE_CHANGE = "Config Rules Compliance Change"
ITEM_CHANGE = "Config Configuration Item Change"

_COMPLIANCE: dict[str, tuple[Status, Severity]] = {
    "NON_COMPLIANT": (Status.OPEN, Severity.MEDIUM),
    "INSUFFICIENT_DATA": (Status.OPEN, Severity.INFORMATIONAL),
    "COMPLIANT": (Status.CLOSED, Severity.INFORMATIONAL),
    "NOT_APPLICABLE": (Status.CLOSED, Severity.INFORMATIONAL),
}
_ITEM_MESSAGES = frozenset(
    {"ConfigurationItemChangeNotification", "OversizedConfigurationItemChangeNotification"}
)
_MESSAGE_TYPES = _ITEM_MESSAGES | {
    "ComplianceChangeNotification",
    "ConfigRulesEvaluationStarted",
    "ScheduledNotification",
}
_ENVELOPE_KINDS = {
    COMPLIANCE_CHANGE: "ComplianceChangeNotification",
    ITEM_CHANGE: "ConfigurationItemChangeNotification",
}
# Rules deployed by a conformance pack are named <rule>-conformance-pack-<pack suffix>.
_PACK_RULE = re.compile(r"^(?P<rule>.+)-conformance-pack-(?P<pack>[a-z0-9]+)$")
_ARN_REGION = re.compile(r"^arn:[^:]+:[^:]*:([a-z]{2}(?:-[a-z]+)+-\d+):")


def _matches(payload: Payload) -> bool:
    if is_envelope(payload, "aws.config", (COMPLIANCE_CHANGE, ITEM_CHANGE)):
        return True
    if payload.get("messageType") in _MESSAGE_TYPES:
        return True
    if "invokingEvent" in payload and "configRuleName" in payload:
        return True
    return isinstance(payload.get("EvaluationResults"), list)


def _normalise(payload: Payload) -> list[Event]:
    if is_envelope(payload):
        detail = require_mapping(payload, "detail")
        if "messageType" not in detail:  # implied by the detail-type
            kind = _ENVELOPE_KINDS.get(str(payload.get("detail-type")), "")
            detail = {**detail, "messageType": kind}
        envelope_time = time_field(payload, "time")
        account, region = opt_str(payload, "account"), opt_str(payload, "region")
        return [_from_message(detail, "detail", account, region, fallback=envelope_time)]
    if "invokingEvent" in payload:
        return [_from_invocation(payload)]
    if "EvaluationResults" in payload:
        return _from_api(payload)
    return [_from_message(payload, "", None, None)]


def _from_message(
    msg: Payload,
    path: str,
    account: str | None,
    region: str | None,
    *,
    fallback: datetime | None = None,
    rule: Payload | None = None,
) -> Event:
    """One Config notification (an EventBridge detail or an SNS message body)."""
    kind = require_str(msg, "messageType", path)
    account = opt_str(msg, "awsAccountId") or account
    region = opt_str(msg, "awsRegion") or region
    if kind == "ComplianceChangeNotification":
        return _from_compliance_message(msg, path, account, region, fallback)
    if kind in _ITEM_MESSAGES:
        return _item_event(msg, path, kind, fallback)
    if kind == "ConfigRulesEvaluationStarted":
        return _evaluation_started(msg, path, account, region, fallback)
    if kind == "ScheduledNotification":
        return _scheduled(msg, path, account, region, rule or {})
    raise PayloadError(f"unsupported Config messageType {kind!r} at '{_at(path, 'messageType')}'")


# ----------------------------------------------------------------------------------------------------
# Compliance


def _from_compliance_message(
    msg: Payload, path: str, account: str | None, region: str | None, fallback: datetime | None
) -> Event:
    new_path = _at(path, "newEvaluationResult")
    new = require_mapping(msg, "newEvaluationResult", path)
    old = opt_mapping(msg, "oldEvaluationResult")
    qualifier = opt_mapping(opt_mapping(new, "evaluationResultIdentifier"), "evaluationResultQualifier")
    rule = opt_str(msg, "configRuleName") or require_str(
        qualifier, "configRuleName", f"{new_path}.evaluationResultIdentifier.evaluationResultQualifier"
    )
    return _compliance_event(
        account=account,
        region=region,
        rule=rule,
        resource_type=opt_str(msg, "resourceType") or opt_str(qualifier, "resourceType"),
        resource_id=opt_str(msg, "resourceId") or opt_str(qualifier, "resourceId"),
        compliance=require_str(new, "complianceType", new_path),
        old_compliance=opt_str(old, "complianceType"),
        annotation=opt_str(new, "annotation") or opt_str(msg, "annotation"),
        recorded=first_time(
            time_field(new, "resultRecordedTime", new_path),
            time_field(msg, "notificationCreationTime", path),
            fallback,
        ),
        invoked=time_field(new, "configRuleInvokedTime", new_path),
        rule_arn=opt_str(msg, "configRuleARN") or opt_str(msg, "configRuleArn"),
        path=path,
    )


def _from_api(payload: Payload) -> list[Event]:
    """GetComplianceDetailsBy* output: one event per evaluation result.

    The API response names neither account nor region; a poller may add top-level ``account`` and
    ``region`` (as an EventBridge envelope has) so that keys equal those of pushed events.
    """
    account = opt_str(payload, "account") or opt_str(payload, "accountId")
    region = opt_str(payload, "region")
    events = []
    for index, result in enumerate(opt_list(payload, "EvaluationResults")):
        path = f"EvaluationResults[{index}]"
        if not isinstance(result, Mapping):
            raise PayloadError(f"'{path}' must be an object")
        qpath = f"{path}.EvaluationResultIdentifier.EvaluationResultQualifier"
        ident = require_mapping(result, "EvaluationResultIdentifier", path)
        qualifier = require_mapping(ident, "EvaluationResultQualifier", f"{path}.EvaluationResultIdentifier")
        event = _compliance_event(
            account=account,
            region=region,
            rule=require_str(qualifier, "ConfigRuleName", qpath),
            resource_type=require_str(qualifier, "ResourceType", qpath),
            resource_id=require_str(qualifier, "ResourceId", qpath),
            compliance=require_str(result, "ComplianceType", path),
            old_compliance=None,
            annotation=opt_str(result, "Annotation"),
            recorded=time_field(result, "ResultRecordedTime", path),
            invoked=time_field(result, "ConfigRuleInvokedTime", path),
            rule_arn=None,
            path=path,
        )
        events.append(event)
    return events


def _compliance_event(
    *,
    account: str | None,
    region: str | None,
    rule: str,
    resource_type: str | None,
    resource_id: str | None,
    compliance: str,
    old_compliance: str | None,
    annotation: str | None,
    recorded: datetime | None,
    invoked: datetime | None,
    rule_arn: str | None,
    path: str,
) -> Event:
    if not resource_type or not resource_id:
        raise PayloadError(f"'{_at(path, 'resourceType')}' and '{_at(path, 'resourceId')}' are required")
    compliance = compliance.upper()
    if compliance not in _COMPLIANCE:
        raise PayloadError(
            f"unknown complianceType {compliance!r} (expected one of {', '.join(_COMPLIANCE)})", path or None
        )
    status, severity = _COMPLIANCE[compliance]
    details: dict[str, Any] = {
        "compliance_status": compliance,
        "old_compliance_status": old_compliance,
        "config_rule_name": rule,
        "config_rule_arn": rule_arn,
        "annotation": annotation,
        "config_rule_invoked_at": format_time(invoked),
    }
    if pack := _conformance_pack(rule):
        details["conformance_pack"], details["base_rule_name"] = pack
    was = f" (was {old_compliance})" if old_compliance else ""
    resource = Resource(
        id=resource_id,
        type=resource_type,
        status=compliance,
        region=region,
        account=account,
        updated_at=recorded,
    )
    return Event(
        key=f"{SOURCE_NAME}:{account or ''}:{region or ''}:{rule}:{resource_type}:{resource_id}",
        source=SOURCE_NAME,
        type_code=rule,
        category=Category.COMPLIANCE,
        service="config",
        title=f"{resource_type} {resource_id} is {compliance} with {rule}",
        description=annotation or f"{resource_type} {resource_id} is {compliance} with rule {rule}{was}.",
        severity=severity,
        status=status,
        upstream_status=compliance,
        region=region,
        accounts=(account,) if account else (),
        resources=(resource,),
        updated_at=recorded,
        details={k: v for k, v in details.items() if v is not None},
    ).canonical()


# ----------------------------------------------------------------------------------------------------
# Configuration items and rule-evaluation notices (point-in-time records: status closed)


def _item_event(msg: Payload, path: str, kind: str, fallback: datetime | None) -> Event:
    oversized = kind.startswith("Oversized")
    item_key = "configurationItemSummary" if oversized else "configurationItem"
    item_path = _at(path, item_key)
    item = require_mapping(msg, item_key, path)
    account = require_str(item, "awsAccountId", item_path)
    region = opt_str(item, "awsRegion")
    resource_type = require_str(item, "resourceType", item_path)
    resource_id = require_str(item, "resourceId", item_path)
    captured = first_time(
        time_field(item, "configurationItemCaptureTime", item_path),
        time_field(msg, "notificationCreationTime", path),
        fallback,
    )
    diff = opt_mapping(msg, "configurationItemDiff")
    change = opt_str(diff, "changeType") or opt_str(item, "changeType")
    item_status = opt_str(item, "configurationItemStatus")
    tags = str_map(item.get("tags"))
    name = opt_str(item, "resourceName")
    details: dict[str, Any] = {
        "message_type": kind,
        "change_type": change,
        "configuration_item_status": item_status,
        "resource_name": name,
        "arn": opt_str(item, "ARN"),
        "availability_zone": opt_str(item, "availabilityZone"),
        "configuration_state_id": item.get("configurationStateId"),
        "changed_properties": dict(opt_mapping(diff, "changedProperties")) or None,
        "related_events": opt_list(item, "relatedEvents") or None,
        "s3_delivery": dict(opt_mapping(msg, "s3DeliverySummary")) or None,
    }
    label = f"{resource_type} {name or resource_id}"
    what = change.lower() if change else (item_status or "recorded")
    return Event(
        key=f"{SOURCE_NAME}:item:{account}:{region or ''}:{resource_type}:{resource_id}",
        source=SOURCE_NAME,
        type_code=kind,
        category=Category.STATE_CHANGE,
        service="config",
        title=f"Configuration change: {label} ({what})",
        description=f"AWS Config recorded a configuration item for {label}: {what}.",
        severity=Severity.INFORMATIONAL,
        status=Status.CLOSED,
        upstream_status=item_status,
        region=region,
        accounts=(account,),
        resources=(
            Resource(
                id=resource_id,
                type=resource_type,
                status=item_status,
                region=region,
                account=account,
                updated_at=captured,
                tags=tags,
            ),
        ),
        updated_at=captured,
        tags=tags,
        details={k: v for k, v in details.items() if v is not None},
    ).canonical()


def _evaluation_started(
    msg: Payload, path: str, account: str | None, region: str | None, fallback: datetime | None
) -> Event:
    created = first_time(time_field(msg, "notificationCreationTime", path), fallback)
    if created is None:
        raise PayloadError(f"missing required field '{_at(path, 'notificationCreationTime')}'")
    rules = sorted(str(r) for r in opt_list(msg, "configRuleNames") if r)
    return Event(
        key=f"{SOURCE_NAME}:evaluation-started:{account or ''}:{region or ''}:{format_time(created)}",
        source=SOURCE_NAME,
        type_code="ConfigRulesEvaluationStarted",
        category=Category.OTHER,
        service="config",
        title=f"Config rules evaluation started: {', '.join(rules) or 'no rules named'}",
        description=f"AWS Config started evaluating {len(rules)} rule(s).",
        status=Status.CLOSED,
        upstream_status="ConfigRulesEvaluationStarted",
        region=region,
        accounts=unique([account]),
        updated_at=created,
        details={"config_rule_names": rules},
    ).canonical()


def _scheduled(msg: Payload, path: str, account: str | None, region: str | None, rule: Payload) -> Event:
    """A periodic rule's trigger: no resource, so one record per rule, account and trigger time."""
    created = time_field(msg, "notificationCreationTime", path)
    if created is None:
        raise PayloadError(f"missing required field '{_at(path, 'notificationCreationTime')}'")
    name = opt_str(rule, "configRuleName")
    return Event(
        key=f"{SOURCE_NAME}:scheduled:{account or ''}:{region or ''}:{name or ''}:{format_time(created)}",
        source=SOURCE_NAME,
        type_code="ScheduledNotification",
        category=Category.OTHER,
        service="config",
        title=f"Periodic evaluation of Config rule {name or '(unnamed)'}",
        description=f"AWS Config triggered the periodic evaluation of rule {name or '(unnamed)'}.",
        status=Status.CLOSED,
        upstream_status="ScheduledNotification",
        region=region,
        accounts=unique([account]),
        updated_at=created,
        details={
            k: v
            for k, v in {"config_rule_name": name, "config_rule_arn": opt_str(rule, "configRuleArn")}.items()
            if v is not None
        },
    ).canonical()


def _from_invocation(payload: Payload) -> Event:
    """A custom rule's Lambda invocation event: what Config handed the rule to evaluate."""
    invoking = _json_field(payload, "invokingEvent")
    _json_field(payload, "ruleParameters", optional=True)  # validated; rule inputs are not content
    require_str(payload, "configRuleName")
    arn_region = _ARN_REGION.match(opt_str(payload, "configRuleArn") or "")
    region = arn_region.group(1) if arn_region else None
    account = opt_str(payload, "accountId")
    return _from_message(invoking, "invokingEvent", account, region, rule=payload)


# ----------------------------------------------------------------------------------------------------
# Helpers


def _json_field(payload: Payload, key: str, *, optional: bool = False) -> Payload:
    """A field that holds a JSON object encoded as a string (or, leniently, the object itself)."""
    value = payload.get(key) if optional else require(payload, key)
    if value is None or (optional and value == ""):
        return {}
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise PayloadError(f"field '{key}' must be a JSON string, got {type(value).__name__}")
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"field '{key}' is not valid JSON: {exc}") from None
    if not isinstance(decoded, Mapping):
        raise PayloadError(f"field '{key}' must encode a JSON object, got {type(decoded).__name__}")
    return decoded


@lru_cache(maxsize=1024)  # a few hundred rules at most, each evaluated again and again
def _conformance_pack(rule: str) -> tuple[str, str] | None:
    """(pack suffix, base rule name) of a rule deployed by a conformance pack, else ``None``."""
    pack = _PACK_RULE.match(rule)
    return (pack["pack"], pack["rule"]) if pack else None


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


SOURCE = Source(name="config", matches=_matches, normalise=_normalise)
