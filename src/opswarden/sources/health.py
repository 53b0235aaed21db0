"""AWS Health events: EventBridge envelopes (``source: aws.health``) and bare Health ``detail`` objects.

The mapping, in short (docs/sources/health.md has the table and the reasons):

* **Identity** ``aws.health:<eventArn>:<account>``, or ``aws.health:<eventArn>`` for public events and
  events with no known account. The account is ``affectedAccount``, else the accounts named by the
  affected entities (API and AHA payloads), else the envelope ``account``. An event naming several
  accounts becomes one event per account, each with its own entities.
* **Category** from ``eventTypeCategory``, case-insensitively; the mock spelling ``plannedChange`` is a
  scheduled change; anything else is ``other`` (the raw word kept in ``details``).
* **Status** from ``statusCode``. Without one (the 2022 schema), it is inferred from the event alone,
  never from the wall clock: closed when ``endTime`` is not after ``lastUpdatedTime``; with no
  ``lastUpdatedTime``, an issue/notification/investigation that has an ``endTime`` is closed (AWS sets
  it when they end, and a Health envelope's ``time`` is the publication time, not an update time) and a
  scheduled change is closed only when its ``endTime`` (the planned window's end) is not after the
  envelope ``time``. Otherwise open.
* **updated_at** ``lastUpdatedTime``, else the envelope ``time`` (raised to ``endTime`` for an event
  inferred closed, so the resolution orders after the opening), else ``endTime``, else ``startTime``.
* **Severity** issue: high when account-specific, else medium; investigation and scheduled change:
  medium; account notification and other: low. RISK/ABUSE/SECURITY type codes, ``CREDENTIALS_EXPOSED``
  and ``AWS Health Abuse Event`` are critical whatever the category. Closed events keep theirs.
* **Trust** only AWS can emit ``source: aws.*`` on EventBridge. Health-shaped events from any other
  source (mock tools, AHA's re-published "AHA Event") are normalised the same way but keep their own
  source in ``Event.source`` and in the key, so they can never impersonate or merge into a real one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from opswarden.core.event import Category, Event, Link, Page, Resource, Severity, Status, union_resources
from opswarden.errors import PayloadError
from opswarden.sources.base import (
    Payload,
    Source,
    is_envelope,
    opt_list,
    opt_str,
    quote,
    require_mapping,
    require_str,
    str_map,
    time_field,
    unique,
)

SOURCE_NAME = "aws.health"
ABUSE_DETAIL_TYPE = "AWS Health Abuse Event"
# Detail-types that mark a Health-shaped event from a source other than aws.health.
HEALTH_DETAIL_TYPES = frozenset({"AWS Health Event", ABUSE_DETAIL_TYPE, "AHA Event"})

_CATEGORIES = {
    "issue": Category.ISSUE,
    "accountnotification": Category.ACCOUNT_NOTIFICATION,
    "scheduledchange": Category.SCHEDULED_CHANGE,
    "plannedchange": Category.SCHEDULED_CHANGE,  # mock spelling; real AWS says scheduledChange
    "investigation": Category.INVESTIGATION,
}
_STATUSES = {"open": Status.OPEN, "closed": Status.CLOSED, "upcoming": Status.UPCOMING}
_NO_ACCOUNT_SCOPES = frozenset({"PUBLIC", "NONE"})
_SECURITY_WORDS = frozenset({"RISK", "ABUSE", "SECURITY"})
_ACRONYMS = frozenset(
    {"ACM", "AMI", "API", "AZ", "CVE", "DNS", "DOS", "EBS", "EC2", "ECR", "ECS", "EKS", "ELB", "EMR"}
    | {"IAM", "IP", "KMS", "OS", "RDS", "S3", "SES", "SNS", "SQS", "SSL", "TLS", "VPC", "VPN"}
)
_ESCAPED_NEWLINE = re.compile(r"\\r\\n|\\n|\\r")
_EVENT_ARN = re.compile(r"^arn:[^:]+:health:(?P<region>[^:]*):[^:]*:event/(?P<rest>.+)$")
# AWS_<CODE>_<number>[_<number>…] or AWS_<CODE>[_]<uuid>; code words start with a letter.
_SHORT_CODE = re.compile(
    r"^(?P<code>AWS_(?P<service>[A-Z][A-Z0-9]*)(?:_[A-Z][A-Z0-9]*)*?)"
    r"(?:(?:_\d+)+|_?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_SHORT_SERVICE = re.compile(r"^(?P<service>[A-Z0-9]+)_[0-9a-fA-F]{8}-[0-9a-fA-F-]+$")
DASHBOARD_URL = "https://health.aws.amazon.com/health/home#/account/event-log?eventID={arn}&eventTab=details"


@dataclass(frozen=True)
class Context:
    """What surrounds a Health ``detail``: its EventBridge envelope, or the API call it came from.

    ``accounts`` are affected accounts known from outside the detail (API ``awsAccountId``);
    ``account`` is the fallback for account-specific events (envelope account, or the API caller's).
    """

    source: str = SOURCE_NAME
    detail_type: str | None = None
    account: str | None = None
    accounts: tuple[str, ...] = ()
    delivery_region: str | None = None
    time: datetime | None = None
    resources: tuple[Resource, ...] = ()


class ArnInfo(NamedTuple):
    region: str | None
    service: str | None
    type_code: str | None


def parse_event_arn(arn: str) -> ArnInfo:
    """Region, service and type code from a Health event ARN, as far as its format tells.

    Formats: ``…:event/<SERVICE>/<CODE>/<CODE>_<id>``, ``…:event/AWS_<CODE>_<number>``,
    ``…:event/AWS_<CODE><uuid>`` and ``…:event/EBS_<uuid>`` (service only). Anything else
    (``event-1486…``, mocks) gives ``None`` parts.
    """
    match = _EVENT_ARN.match(arn)
    if match is None:
        return ArnInfo(None, None, None)
    region = match["region"] or None
    parts = match["rest"].split("/")
    if len(parts) >= 3 and parts[0] and parts[1]:
        return ArnInfo(region, parts[0], parts[1])
    if short := _SHORT_CODE.match(parts[-1]):
        return ArnInfo(region, short["service"], short["code"])
    if short := _SHORT_SERVICE.match(parts[-1]):
        return ArnInfo(region, short["service"], None)
    return ArnInfo(region, None, None)


def identity_key(source: str, arn: str, account: str | None) -> str:
    """``<source>:<eventArn>:<account>``, or ``<source>:<eventArn>`` without an account."""
    return f"{source}:{arn}:{account}" if account else f"{source}:{arn}"


def dashboard_link(arn: str) -> Link:
    return Link(title="AWS Health Dashboard", url=DASHBOARD_URL.format(arn=quote(arn, safe=":/_-")))


def clean_account(value: str | None) -> str | None:
    """An account id without the quotes/backticks some sanitised samples wrap it in."""
    cleaned = value.strip().strip("`'\"").strip() if value else ""
    return cleaned or None


def title_for(service: str | None, type_code: str) -> str:
    """``AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`` of EC2 → ``EC2 · Instance retirement scheduled``."""
    words = [w for w in type_code.split("_") if w]
    if words[:1] == ["AWS"]:
        words = words[1:]
    prefix = service.upper().removeprefix("AWS_").split("_") if service else []
    if prefix and words[: len(prefix)] == prefix and len(words) > len(prefix):
        words = words[len(prefix) :]
    phrase = " ".join(w if w in _ACRONYMS else w.lower() for w in words) or type_code
    phrase = phrase[:1].upper() + phrase[1:]
    return f"{service} · {phrase}" if service else phrase


def unescape(text: str) -> str:
    """Real newlines for the literal ``\\n`` that double-escaped Health descriptions carry."""
    return _ESCAPED_NEWLINE.sub("\n", text)


def descriptions_of(value: Any) -> dict[str, str]:
    """Descriptions by locale from the array form, the object form (API, AHA) or a plain string.

    A description without a ``language`` is taken as ``en_US`` (the API returns the English text).
    """
    items: list[Any] = [{"latestDescription": value}] if isinstance(value, str) else []
    if isinstance(value, Mapping):
        items = [value]
    elif isinstance(value, list):
        items = value
    found: dict[str, str] = {}
    for item in items:
        text = item.get("latestDescription") if isinstance(item, Mapping) else None
        if isinstance(text, str) and text.strip():
            found.setdefault(opt_str(item, "language") or "en_US", unescape(text))
    return found


def preferred_description(descriptions: Mapping[str, str]) -> str:
    """``en_US``, else another English locale, else the first one given."""
    if "en_US" in descriptions:
        return descriptions["en_US"]
    english = [text for locale, text in descriptions.items() if locale.lower().startswith("en")]
    return next(iter(english or descriptions.values()), "")


def resource_from_entity(entity: Any, path: str) -> Resource:
    """One affected entity: ``status`` (EventBridge) or ``statusCode`` (API), either time spelling."""
    if not isinstance(entity, Mapping):
        raise PayloadError(f"field '{path}' must be an object, got {type(entity).__name__}")
    stamp = "lastUpdatedTime" if "lastUpdatedTime" in entity else "lastupdatedTime"
    return Resource(
        id=require_str(entity, "entityValue", path),
        status=opt_str(entity, "status") or opt_str(entity, "statusCode"),
        account=clean_account(opt_str(entity, "awsAccountId")),
        updated_at=time_field(entity, stamp, path),
        tags=str_map(entity.get("tags")),
    )


def infer_status(
    category: Category, end: datetime | None, updated: datetime | None, envelope_time: datetime | None
) -> Status:
    """The status of an event that has no ``statusCode`` (rule in the module docstring)."""
    if end is None:
        return Status.OPEN
    if updated is not None:
        return Status.CLOSED if end <= updated else Status.OPEN
    if category is Category.SCHEDULED_CHANGE:
        return Status.CLOSED if envelope_time is not None and end <= envelope_time else Status.OPEN
    return Status.CLOSED


def severity_for(
    category: Category, type_code: str, account_specific: bool, detail_type: str | None
) -> Severity:
    words = set(type_code.upper().split("_"))
    if (
        words & _SECURITY_WORDS
        or "CREDENTIALS_EXPOSED" in type_code.upper()
        or detail_type == ABUSE_DETAIL_TYPE
    ):
        return Severity.CRITICAL
    if category is Category.ISSUE:
        return Severity.HIGH if account_specific else Severity.MEDIUM
    if category in (Category.INVESTIGATION, Category.SCHEDULED_CHANGE):
        return Severity.MEDIUM
    return Severity.LOW


def _page(detail: Payload, at: str) -> Page | None:
    """``page``/``totalPages`` (strings in real payloads) → a Page when there is more than one."""
    number, total = (_count(detail, key, at) for key in ("page", "totalPages"))
    if total is None or total <= 1:
        return None
    number = number or 1
    if number > total:
        raise PayloadError(f"field '{at}page' is {number} but totalPages is {total}")
    return Page(numbers=(number,), total=total)


def _count(detail: Payload, key: str, at: str) -> int | None:
    value = detail.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    raise PayloadError(f"field '{at}{key}' must be a positive whole number, got {value!r}")


def _details(
    detail: Payload, arn: str, ctx: Context, category: Category, raw_category: str | None
) -> dict[str, Any]:
    communication = opt_str(detail, "communicationId")
    page = opt_str(detail, "page")
    if communication and page:  # "<id>-<page>": every page of one event gets the same id
        communication = communication.removesuffix(f"-{page.strip()}")
    personas = [p for p in opt_list(detail, "personas") if isinstance(p, str)]
    backup = opt_str(detail, "backupEvent")  # "true"/"false" strings in real payloads
    found: dict[str, Any] = {
        "eventArn": arn,
        "eventScopeCode": opt_str(detail, "eventScopeCode"),
        "communicationId": communication,
        "eventMetadata": str_map(detail["eventMetadata"]) if "eventMetadata" in detail else None,
        "actionability": opt_str(detail, "actionability"),
        "personas": personas or None,
        "backupEvent": backup.strip().lower() == "true" if backup else None,
        "availabilityZone": opt_str(detail, "availabilityZone"),
        "detail_type": ctx.detail_type,
        "event_type_category": raw_category if raw_category != category.value else None,
    }
    return {k: v for k, v in found.items() if v is not None}


def _accounts(
    detail: Payload, scope: str | None, resources: Sequence[Resource], ctx: Context
) -> list[str | None]:
    if scope in _NO_ACCOUNT_SCOPES:
        return [None]
    if own := clean_account(opt_str(detail, "affectedAccount")):
        return [own]
    listed = unique([*ctx.accounts, *(r.account for r in resources)])
    return list(listed) if listed else [ctx.account]


def _specific(scope: str | None, account: str | None) -> bool:
    """Account-specific by its scope code, or (2022 schema, no scope) by having an account."""
    return scope == "ACCOUNT_SPECIFIC" or (scope is None and account is not None)


def resources_for_account(account: str | None, resources: Sequence[Resource]) -> tuple[Resource, ...]:
    """The resources of one account's event: its own and the unattributed ones (given its account)."""
    if account is None:
        return tuple(resources)
    return tuple(
        r if r.account else r.model_copy(update={"account": account})
        for r in resources
        if r.account in (None, account)
    )


def normalise_detail(detail: Payload, path: str = "", ctx: Context | None = None) -> list[Event]:
    """One Health ``detail`` (or API event item) → one event per affected account (usually one).

    ``path`` is the JSON path of ``detail`` in the payload, used in error messages. The API field
    names ``arn`` and ``region`` are accepted for ``eventArn`` and ``eventRegion``.
    """
    ctx = ctx or Context()
    at = f"{path}." if path else ""
    arn = require_str(detail, "arn" if "arn" in detail and "eventArn" not in detail else "eventArn", path)
    type_code = require_str(detail, "eventTypeCode", path)
    from_arn = parse_event_arn(arn)
    service = opt_str(detail, "service") or from_arn.service
    raw_category = opt_str(detail, "eventTypeCategory")
    category = _CATEGORIES.get((raw_category or "").lower(), Category.OTHER)
    scope = (opt_str(detail, "eventScopeCode") or "").upper() or None
    start = time_field(detail, "startTime", path)
    end = time_field(detail, "endTime", path)
    updated = time_field(detail, "lastUpdatedTime", path)
    upstream = opt_str(detail, "statusCode")
    status = _STATUSES.get((upstream or "").lower()) or infer_status(category, end, updated, ctx.time)
    if updated is None and status is Status.CLOSED and end is not None:
        updated = max(end, ctx.time) if ctx.time else end
    descriptions = descriptions_of(detail.get("eventDescription"))
    page = _page(detail, at)
    entities = [
        resource_from_entity(entity, f"{at}affectedEntities[{i}]")
        for i, entity in enumerate(opt_list(detail, "affectedEntities"))
    ]
    known = {r.id for r in entities}
    resources = entities + [r for r in ctx.resources if r.id not in known]
    is_deadline = category is Category.SCHEDULED_CHANGE or "PLANNED_LIFECYCLE" in type_code.upper()
    region = opt_str(detail, "eventRegion") or opt_str(detail, "region") or ctx.delivery_region
    base = Event(
        key=identity_key(ctx.source, arn, None),
        source=ctx.source,
        type_code=type_code,
        category=category,
        service=service,
        title=title_for(service, type_code),
        description=preferred_description(descriptions),
        descriptions=descriptions,
        status=status,
        upstream_status=upstream,
        region=region or from_arn.region,
        start_at=start,
        end_at=end,
        updated_at=updated or ctx.time or end or start,
        deadline_at=start if is_deadline else None,
        links=(dashboard_link(arn),),
        details=_details(detail, arn, ctx, category, raw_category),
        page=page,
    )
    return [
        base.model_copy(
            update={
                "key": identity_key(ctx.source, arn, account),
                "severity": severity_for(category, type_code, _specific(scope, account), ctx.detail_type),
                "accounts": (account,) if account else (),
                "resources": union_resources(resources_for_account(account, resources)),
            }
        )
        for account in _accounts(detail, scope, resources, ctx)
    ]


def _envelope_context(payload: Payload) -> Context:
    source = opt_str(payload, "source")
    return Context(
        source=source if source and source != SOURCE_NAME else SOURCE_NAME,
        detail_type=opt_str(payload, "detail-type"),
        account=clean_account(opt_str(payload, "account")),
        delivery_region=opt_str(payload, "region"),
        time=time_field(payload, "time"),
        resources=tuple(
            Resource(id=r.strip()) for r in opt_list(payload, "resources") if isinstance(r, str) and r.strip()
        ),
    )


def _looks_like_detail(value: Any) -> bool:
    return isinstance(value, Mapping) and ("eventArn" in value or "arn" in value) and "eventTypeCode" in value


def _matches(payload: Payload) -> bool:
    if is_envelope(payload):
        if payload.get("source") == SOURCE_NAME:
            return True
        return payload.get("detail-type") in HEALTH_DETAIL_TYPES and _looks_like_detail(payload["detail"])
    return "detail" not in payload and all(k in payload for k in ("eventArn", "eventTypeCode", "service"))


def normalise(payload: Payload) -> list[Event]:
    """An EventBridge envelope of a Health event, or a bare Health ``detail`` object."""
    if "detail" not in payload:
        return normalise_detail(payload)
    detail = require_mapping(payload, "detail")
    return normalise_detail(detail, "detail", _envelope_context(payload))


SOURCE = Source(name="health", matches=_matches, normalise=normalise)
