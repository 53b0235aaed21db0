"""AWS Trusted Advisor check results.

Accepted shapes (transport already removed):

* EventBridge ``Trusted Advisor Check Item Refresh Notification``: one check item (one resource) per
  event; ``check-item-detail`` is the check's free-form table row (keys with spaces and ``#``, null
  values, epoch-millisecond strings);
* ``DescribeTrustedAdvisorCheckResult`` output (``{"result": {"checkId", "flaggedResources": [...]}}``):
  one event per flagged resource.

Identity: ``aws.trustedadvisor:<account>:<check name>:<resource_id or uuid>`` for EventBridge items and
``aws.trustedadvisor:<account>:<checkId>:<resourceId>`` for API results (the API gives neither the check
name nor the resource ARN, so the two cannot share a key). See docs/sources/trustedadvisor.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opswarden.core.event import Category, Event, Resource, Severity, Status
from opswarden.core.timeparse import format_time, parse_time
from opswarden.errors import PayloadError, TimestampError
from opswarden.sources.base import (
    Payload,
    Source,
    is_envelope,
    opt_list,
    opt_mapping,
    opt_str,
    require_mapping,
    require_str,
    time_field,
    unique,
)

SOURCE_NAME = "aws.trustedadvisor"
ITEM_REFRESH = "Trusted Advisor Check Item Refresh Notification"

# EventBridge says ERROR/WARN/OK; the Support API says error/warning/ok (and not_available).
_STATUS: dict[str, tuple[Status, Severity]] = {
    "error": (Status.OPEN, Severity.HIGH),
    "warn": (Status.OPEN, Severity.MEDIUM),
    "warning": (Status.OPEN, Severity.MEDIUM),
    "ok": (Status.CLOSED, Severity.INFORMATIONAL),
    "not_available": (Status.CLOSED, Severity.INFORMATIONAL),
}
_REGION = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)[a-z]?$")
_ARN_REGION = re.compile(r"^arn:[^:]+:[^:]*:([a-z]{2}(?:-[a-z]+)+-\d+):")


def _matches(payload: Payload) -> bool:
    if is_envelope(payload, SOURCE_NAME, (ITEM_REFRESH,)):
        return True
    result = payload.get("result")
    return isinstance(result, Mapping) and "checkId" in result and "flaggedResources" in result


def _normalise(payload: Payload) -> list[Event]:
    if is_envelope(payload):
        return [_from_item(payload)]
    return _from_api(payload)


def _from_item(payload: Payload) -> Event:
    detail = require_mapping(payload, "detail")
    check = require_str(detail, "check-name", "detail").strip()
    word = require_str(detail, "status", "detail")
    status, severity = _status(word, "detail.status")
    item = opt_mapping(detail, "check-item-detail")
    resource_id = (opt_str(detail, "resource_id") or "").strip() or None
    ident = resource_id or (opt_str(detail, "uuid") or "").strip()
    if not ident:
        raise PayloadError("needs 'detail.resource_id' or 'detail.uuid' to identify the check item")
    account = opt_str(payload, "account")
    region = _item_region(item, resource_id) or opt_str(payload, "region")
    updated = time_field(payload, "time")
    deadline = _lenient_time(item.get("Deadline"))
    item_updated = _lenient_time(item.get("Time Updated"))
    access_key = opt_str(item, "Access Key ID")
    label = resource_id or access_key or ident
    details: dict[str, Any] = {
        "check_name": check,
        "check_status": word,
        "check_item_detail": dict(item),
        "uuid": opt_str(detail, "uuid"),
        "item_updated_at": format_time(item_updated),
    }
    return Event(
        key=f"{SOURCE_NAME}:{account or ''}:{check}:{ident}",
        source=SOURCE_NAME,
        type_code=check,
        category=Category.RECOMMENDATION,
        service="trustedadvisor",
        title=f"Trusted Advisor {check}: {label} is {word}",
        description=_describe(item),
        severity=severity,
        status=status,
        upstream_status=word,
        region=region,
        accounts=unique([account]),
        resources=_item_resources(resource_id, access_key, word, region, account, updated),
        updated_at=updated,
        deadline_at=deadline,
        details={k: v for k, v in details.items() if v is not None},
    ).canonical()


def _from_api(payload: Payload) -> list[Event]:
    """DescribeTrustedAdvisorCheckResult: one event per flagged resource (none when none is flagged).

    The response names no account; a poller may add a top-level ``account`` beside ``result``.
    """
    result = require_mapping(payload, "result")
    check_id = require_str(result, "checkId", "result")
    account = opt_str(payload, "account") or opt_str(payload, "accountId")
    updated = time_field(result, "timestamp", "result")
    check_status = opt_str(result, "status")
    summary = {
        "check_status": check_status,
        "resources_summary": dict(opt_mapping(result, "resourcesSummary")) or None,
        "category_specific_summary": dict(opt_mapping(result, "categorySpecificSummary")) or None,
    }
    events = []
    for index, flagged in enumerate(opt_list(result, "flaggedResources")):
        path = f"result.flaggedResources[{index}]"
        if not isinstance(flagged, Mapping):
            raise PayloadError(f"'{path}' must be an object")
        resource_id = require_str(flagged, "resourceId", path)
        word = require_str(flagged, "status", path)
        status, severity = _status(word, f"{path}.status")
        region = opt_str(flagged, "region")
        details: dict[str, Any] = {
            "check_id": check_id,
            "resource_status": word,
            "is_suppressed": flagged.get("isSuppressed"),
            "metadata": opt_list(flagged, "metadata") or None,
            **summary,
        }
        event = Event(
            key=f"{SOURCE_NAME}:{account or ''}:{check_id}:{resource_id}",
            source=SOURCE_NAME,
            type_code=check_id,
            category=Category.RECOMMENDATION,
            service="trustedadvisor",
            title=f"Trusted Advisor check {check_id}: resource {resource_id} is {word}",
            severity=severity,
            status=status,
            upstream_status=word,
            region=region,
            accounts=unique([account]),
            resources=(
                Resource(id=resource_id, status=word, region=region, account=account, updated_at=updated),
            ),
            updated_at=updated,
            details={k: v for k, v in details.items() if v is not None},
        )
        events.append(event.canonical())
    return events


def _status(word: str, path: str) -> tuple[Status, Severity]:
    try:
        return _STATUS[word.strip().lower()]
    except KeyError:
        raise PayloadError(f"field '{path}' must be ERROR, WARN or OK, got {word!r}") from None


def _item_region(item: Payload, resource_id: str | None) -> str | None:
    """The resource's region: the item's ``Region`` / ``Region/AZ`` column, else the ARN's region."""
    for column in ("Region", "Region/AZ"):
        match = _REGION.match((opt_str(item, column) or "").strip())
        if match:
            return match.group(1)
    match = _ARN_REGION.match(resource_id or "")
    return match.group(1) if match else None


def _item_resources(
    resource_id: str | None,
    access_key: str | None,
    word: str,
    region: str | None,
    account: str | None,
    updated: datetime | None,
) -> tuple[Resource, ...]:
    """The item's resource; Exposed Access Keys items have no resource_id but name the key."""
    if resource_id:
        return (Resource(id=resource_id, status=word, region=region, account=account, updated_at=updated),)
    if access_key:
        resource = Resource(
            id=access_key, type="AWS::IAM::AccessKey", status=word, account=account, updated_at=updated
        )
        return (resource,)
    return ()


def _describe(item: Payload) -> str:
    """The check item's columns as ``name: value`` lines (nulls left out), in the order AWS sent them."""
    return "\n".join(f"{k}: {v}" for k, v in item.items() if v is not None and v != "")


def _lenient_time(value: Any) -> datetime | None:
    """A free-form column that usually holds epoch milliseconds; anything unparsable is no time."""
    try:
        return parse_time(value)
    except TimestampError:
        return None


SOURCE = Source(name="trustedadvisor", matches=_matches, normalise=_normalise)
