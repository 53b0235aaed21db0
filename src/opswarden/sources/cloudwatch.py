"""Amazon CloudWatch alarms: state changes and configuration changes.

Accepted shapes (transport already removed):

* EventBridge ``CloudWatch Alarm State Change`` (metric, metric math, anomaly detection, Metrics
  Insights, composite alarms with an actions suppressor) and ``CloudWatch Alarm Configuration Change``;
* the payload of an alarm's direct Lambda action (``{"source": "aws.cloudwatch", "alarmArn", "alarmData"}``);
* the alarm notification an SNS topic delivers (``AlarmName``, ``NewStateValue``, ``Trigger`` …).

Identity is the alarm ARN (``aws.cloudwatch:<alarmArn>``) whichever way a state change arrives, so the
three transports land on one record; configuration changes are a separate record per alarm
(``aws.cloudwatch:config:<alarmArn>``). See docs/sources/cloudwatch.md for the mappings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from opswarden.core.event import Category, Event, Resource, Severity, Status
from opswarden.errors import PayloadError
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

SOURCE_NAME = "aws.cloudwatch"
STATE_CHANGE = "CloudWatch Alarm State Change"
CONFIG_CHANGE = "CloudWatch Alarm Configuration Change"

_STATES: dict[str, tuple[Status, Severity]] = {
    "ALARM": (Status.OPEN, Severity.HIGH),
    "INSUFFICIENT_DATA": (Status.OPEN, Severity.LOW),
    "OK": (Status.CLOSED, Severity.INFORMATIONAL),
}
_REGION_CODE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_ALARM_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):cloudwatch:(?P<region>[^:]*):(?P<account>[^:]*):alarm:.+$"
)
_ACCOUNT = re.compile(r"^\d{12}$")

# The long names SNS alarm notifications carry in "Region" (older ones say "EU", newer "Europe").
_REGION_NAMES = {
    "us east (n. virginia)": "us-east-1",
    "us east (ohio)": "us-east-2",
    "us west (n. california)": "us-west-1",
    "us west (oregon)": "us-west-2",
    "africa (cape town)": "af-south-1",
    "asia pacific (hong kong)": "ap-east-1",
    "asia pacific (taipei)": "ap-east-2",
    "asia pacific (mumbai)": "ap-south-1",
    "asia pacific (hyderabad)": "ap-south-2",
    "asia pacific (singapore)": "ap-southeast-1",
    "asia pacific (sydney)": "ap-southeast-2",
    "asia pacific (jakarta)": "ap-southeast-3",
    "asia pacific (melbourne)": "ap-southeast-4",
    "asia pacific (malaysia)": "ap-southeast-5",
    "asia pacific (thailand)": "ap-southeast-7",
    "asia pacific (tokyo)": "ap-northeast-1",
    "asia pacific (seoul)": "ap-northeast-2",
    "asia pacific (osaka)": "ap-northeast-3",
    "asia pacific (osaka-local)": "ap-northeast-3",
    "canada (central)": "ca-central-1",
    "canada west (calgary)": "ca-west-1",
    "europe (frankfurt)": "eu-central-1",
    "europe (zurich)": "eu-central-2",
    "europe (ireland)": "eu-west-1",
    "europe (london)": "eu-west-2",
    "europe (paris)": "eu-west-3",
    "europe (stockholm)": "eu-north-1",
    "europe (milan)": "eu-south-1",
    "europe (spain)": "eu-south-2",
    "israel (tel aviv)": "il-central-1",
    "mexico (central)": "mx-central-1",
    "middle east (bahrain)": "me-south-1",
    "middle east (uae)": "me-central-1",
    "south america (sao paulo)": "sa-east-1",
    "south america (são paulo)": "sa-east-1",
    "aws govcloud (us-west)": "us-gov-west-1",
    "aws govcloud (us)": "us-gov-west-1",
    "aws govcloud (us-east)": "us-gov-east-1",
    "china (beijing)": "cn-north-1",
    "china (ningxia)": "cn-northwest-1",
}


def _matches(payload: Payload) -> bool:
    if is_envelope(payload, "aws.cloudwatch", (STATE_CHANGE, CONFIG_CHANGE)):
        return True
    if payload.get("source") == "aws.cloudwatch" and isinstance(payload.get("alarmData"), Mapping):
        return True
    return "AlarmName" in payload and "NewStateValue" in payload


def _normalise(payload: Payload) -> list[Event]:
    if not is_envelope(payload) and "alarmData" not in payload:
        return [_from_sns(payload)]
    if is_envelope(payload):
        path, account, region = "detail", opt_str(payload, "account"), opt_str(payload, "region")
        data = require_mapping(payload, "detail")
        name = require_str(data, "alarmName", "detail")
        listed = next(iter(opt_list(payload, "resources")), None)
        arn = listed if isinstance(listed, str) and _parse_alarm_arn(listed) is not None else None
        arn = arn or _build_arn(region, account, name)
        if payload.get("detail-type") == CONFIG_CHANGE:
            return [_config_change(payload, data, arn, account, region)]
    else:
        path, account, region = "alarmData", opt_str(payload, "accountId"), opt_str(payload, "region")
        data = require_mapping(payload, "alarmData")
        arn = require_str(payload, "alarmArn")
    fallback = time_field(payload, "time")
    return [_state_change(data, path, arn=arn, account=account, region=region, fallback=fallback)]


# ----------------------------------------------------------------------------------------------------
# State changes


def _state_change(
    data: Payload,
    path: str,
    *,
    arn: str,
    account: str | None,
    region: str | None,
    fallback: datetime | None,
) -> Event:
    """EventBridge ``detail`` and Lambda-action ``alarmData`` share this shape."""
    name = require_str(data, "alarmName", path)
    state = require_mapping(data, "state", path)
    value = _state_value(state, f"{path}.state")
    previous = opt_mapping(data, "previousState")
    config = opt_mapping(data, "configuration")
    updated = time_field(state, "timestamp", f"{path}.state") or fallback
    details: dict[str, Any] = {
        "alarm_name": name,
        "previous_state": opt_str(previous, "value"),
        "reason": opt_str(state, "reason"),
        "reason_data": _reason_data(state.get("reasonData")),
        "evaluation_state": opt_str(state, "evaluationState"),
        "actions_suppressed_by": opt_str(state, "actionsSuppressedBy"),
        "actions_suppressed_reason": opt_str(state, "actionsSuppressedReason"),
        **_configuration(config),
    }
    key = f"{SOURCE_NAME}:{arn}"
    return _alarm_event(key, arn, name, value, account, region, updated, details)


def _from_sns(msg: Payload) -> Event:
    """An alarm notification as SNS delivers it (PascalCase, a long region name, a ``Trigger``)."""
    name = require_str(msg, "AlarmName")
    value = _state_value(msg, "", key="NewStateValue")
    account = opt_str(msg, "AWSAccountId")
    region_text = opt_str(msg, "Region")
    region = _region_code(region_text)
    arn = opt_str(msg, "AlarmArn")
    if arn is None and region is not None and account is not None:
        arn = _build_arn(region, account, name)
    trigger = opt_mapping(msg, "Trigger")
    details: dict[str, Any] = {
        "alarm_name": name,
        "previous_state": opt_str(msg, "OldStateValue"),
        "reason": opt_str(msg, "NewStateReason"),
        "region_name": region_text if region_text != region else None,
        "alarm_description": opt_str(msg, "AlarmDescription"),
        "metrics": _metrics(opt_list(trigger, "Metrics")) or _metrics([trigger] if trigger else []),
        "threshold": trigger.get("Threshold"),
        "comparison_operator": opt_str(trigger, "ComparisonOperator"),
        "evaluation_periods": trigger.get("EvaluationPeriods"),
    }
    # Without an ARN or a region code to build one, account + region (as written) + name is unique.
    key = f"{SOURCE_NAME}:{arn}" if arn else f"{SOURCE_NAME}:{account or ''}:{region_text or ''}:alarm:{name}"
    updated = time_field(msg, "StateChangeTime")
    return _alarm_event(key, arn, name, value, account, region, updated, details)


def _alarm_event(
    key: str,
    arn: str | None,
    name: str,
    value: str,
    account: str | None,
    region: str | None,
    updated: datetime | None,
    details: dict[str, Any],
) -> Event:
    status, severity = _STATES[value]
    parsed = _parse_alarm_arn(arn) if arn else None
    if parsed is not None:  # the ARN's region and account win when well-formed
        region = parsed[0] or region
        account = parsed[1] or account
    description = "\n\n".join(
        t for t in (details.get("alarm_description"), details.get("reason")) if isinstance(t, str)
    )
    previous = details.get("previous_state")
    return Event(
        key=key,
        source=SOURCE_NAME,
        type_code=STATE_CHANGE,
        category=Category.ALARM,
        service="cloudwatch",
        title=f"CloudWatch alarm {name} is {value}" + (f" (was {previous})" if previous else ""),
        description=description,
        severity=severity,
        status=status,
        upstream_status=value,
        region=region,
        accounts=(account,) if account else (),
        resources=(
            Resource(
                id=arn or name,
                type="AWS::CloudWatch::Alarm",
                status=value,
                region=region,
                account=account,
                updated_at=updated,
            ),
        ),
        updated_at=updated,
        details=_compact(details),
    ).canonical()


# ----------------------------------------------------------------------------------------------------
# Configuration changes


def _config_change(
    payload: Payload, detail: Payload, arn: str, account: str | None, region: str | None
) -> Event:
    name = require_str(detail, "alarmName", "detail")
    operation = require_str(detail, "operation", "detail")
    config = opt_mapping(detail, "configuration")
    state = opt_mapping(detail, "state")
    # The envelope time is when the change happened (a deletion keeps the old configuration's
    # timestamp); configuration.timestamp is finer-grained for creates and updates. Take the later.
    times = [
        t
        for t in (time_field(payload, "time"), time_field(config, "timestamp", "detail.configuration"))
        if t is not None
    ]
    updated = max(times) if times else None
    details = _compact(
        {
            "alarm_name": name,
            "operation": operation,
            "alarm_state": opt_str(state, "value"),
            **_configuration(config),
            "actions_enabled": config.get("actionsEnabled"),
            "threshold": config.get("threshold"),
            "comparison_operator": opt_str(config, "comparisonOperator"),
            "evaluation_periods": config.get("evaluationPeriods"),
            "treat_missing_data": opt_str(config, "treatMissingData"),
            "changed_fields": _changed(opt_mapping(detail, "previousConfiguration"), config),
        }
    )
    past = {"create": "created", "update": "updated", "delete": "deleted"}.get(operation.lower(), operation)
    return Event(
        key=f"{SOURCE_NAME}:config:{arn}",
        source=SOURCE_NAME,
        type_code=CONFIG_CHANGE,
        category=Category.STATE_CHANGE,
        service="cloudwatch",
        title=f"CloudWatch alarm {name} {past}",
        description=opt_str(config, "description") or "",
        severity=Severity.INFORMATIONAL,
        status=Status.CLOSED,
        upstream_status=operation,
        region=region,
        accounts=unique([account]),
        resources=(
            Resource(
                id=arn, type="AWS::CloudWatch::Alarm", region=region, account=account, updated_at=updated
            ),
        ),
        updated_at=updated,
        details=details,
    ).canonical()


# ----------------------------------------------------------------------------------------------------
# Helpers


def _state_value(obj: Payload, path: str, key: str = "value") -> str:
    value = require_str(obj, key, path).strip().upper()
    if value not in _STATES:
        where = f"{path}.{key}" if path else key
        raise PayloadError(f"field '{where}' must be one of {', '.join(_STATES)}, got {value!r}")
    return value


def _configuration(config: Payload) -> dict[str, Any]:
    return {
        "alarm_description": opt_str(config, "description"),
        "alarm_rule": opt_str(config, "alarmRule"),
        "metrics": _metrics(opt_list(config, "metrics")),
        "actions_suppressor": opt_str(config, "actionsSuppressor"),
        "actions_suppressor_wait_period": config.get("actionsSuppressorWaitPeriod"),
        "actions_suppressor_extension_period": config.get("actionsSuppressorExtensionPeriod"),
    }


def _changed(previous: Payload, current: Payload) -> list[str]:
    """Configuration fields an update changed (``previousConfiguration`` is sent on updates only)."""
    if not previous:
        return []
    names = (set(previous) | set(current)) - {"timestamp"}
    return sorted(n for n in names if previous.get(n) != current.get(n))


def _reason_data(value: Any) -> Any:
    """``reasonData`` is a JSON string: its object when it parses, otherwise the text as it came."""
    if not isinstance(value, str) or not value:
        return value if isinstance(value, Mapping) else None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _metrics(items: list[Any]) -> list[str]:
    """One line per metric or expression, from EventBridge (camelCase) or SNS (PascalCase) shapes."""
    lines = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        ident = _get(item, "id")
        expression = _get(item, "expression")
        if isinstance(expression, str) and expression:
            label = _get(item, "label")
            text = f"{expression} ({label})" if label else expression
        else:
            stat = _get(item, "metricStat")
            stat = stat if isinstance(stat, Mapping) else item
            metric = _get(stat, "metric")
            metric = metric if isinstance(metric, Mapping) else stat
            name = _get(metric, "name") or _get(metric, "metricName")
            if not name:
                continue
            dims = _dimensions(_get(metric, "dimensions"))
            statistic = _get(stat, "stat") or _get(stat, "statistic") or _get(stat, "extendedStatistic")
            period = _get(stat, "period")
            text = f"{_get(metric, 'namespace') or ''} {name}{dims}".strip()
            text += "".join(f" {p}" for p in (statistic, f"{period}s" if period else None) if p)
        lines.append(f"{ident}: {text}" if ident else text)
    return lines


def _dimensions(value: Any) -> str:
    if isinstance(value, Mapping):
        pairs = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, list):
        pairs = [f"{_get(d, 'name')}={_get(d, 'value')}" for d in value if isinstance(d, Mapping)]
    else:
        pairs = []
    return f" [{', '.join(pairs)}]" if pairs else ""


def _get(obj: Payload, camel: str) -> Any:
    """``obj[camel]`` or its PascalCase twin (SNS alarm messages)."""
    value = obj.get(camel)
    return value if value is not None else obj.get(camel[:1].upper() + camel[1:])


@lru_cache(maxsize=4096)  # one entry per alarm: its ARN comes with every state change
def _parse_alarm_arn(arn: str) -> tuple[str | None, str | None] | None:
    """(region, account) of an alarm ARN, each ``None`` unless well-formed; ``None`` for other text."""
    parsed = _ALARM_ARN.match(arn)
    if parsed is None:
        return None
    region, account = parsed["region"], parsed["account"]
    return (region if _REGION_CODE.match(region) else None, account if _ACCOUNT.match(account) else None)


def _region_code(text: str | None) -> str | None:
    if not text:
        return None
    if _REGION_CODE.match(text.strip()):
        return text.strip()
    name = text.strip().lower()
    if name.startswith("eu ("):
        name = "europe" + name[2:]
    return _REGION_NAMES.get(name)


def _build_arn(region: str | None, account: str | None, name: str) -> str:
    if not region or not account:
        raise PayloadError(f"cannot identify alarm {name!r}: no alarm ARN, and no account and region")
    return f"arn:{_partition(region)}:cloudwatch:{region}:{account}:alarm:{name}"


def _partition(region: str) -> str:
    for prefix, partition in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b")):
        if region.startswith(prefix):
            return partition
    return "aws-iso" if region.startswith("us-iso-") else "aws"


def _compact(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if v is not None and v != []}


SOURCE = Source(name="cloudwatch", matches=_matches, normalise=_normalise)
