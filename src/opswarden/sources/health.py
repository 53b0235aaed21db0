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

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from opswarden.core.event import Category, Event, Link, Page, Resource, Severity, Status, union_resources
from opswarden.errors import PayloadError
from opswarden.sources._health_text import (
    ArnInfo,  # noqa: F401 (part of this module's interface, as before the split)
    descriptions_of,
    parse_event_arn,
    preferred_description,
    title_for,
    unescape,  # noqa: F401 (part of this module's interface, as before the split)
)
from opswarden.sources.base import (
    Payload,
    Source,
    is_envelope,
    is_mapping,
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
DASHBOARD_URL = "https://health.aws.amazon.com/health/home#/account/event-log?eventID={arn}&eventTab=details"


class Context(NamedTuple):
    """What surrounds a Health ``detail``: its EventBridge envelope, or the API call it came from.

    (A NamedTuple: immutable like a frozen dataclass, and several times faster to build.)
    ``accounts`` are affected accounts known from outside the detail (API ``awsAccountId``);
    ``account`` is the fallback for account-specific events (envelope account, or the API caller's).
    ``resources`` are entities known from outside (API), ``resource_ids`` the envelope's ``resources``:
    either becomes a resource of the event unless an affected entity of the detail has its id.
    """

    source: str = SOURCE_NAME
    detail_type: str | None = None
    account: str | None = None
    accounts: tuple[str, ...] = ()
    delivery_region: str | None = None
    time: datetime | None = None
    resources: tuple[Resource, ...] = ()
    resource_ids: tuple[str, ...] = ()


def identity_key(source: str, arn: str, account: str | None) -> str:
    """``<source>:<eventArn>:<account>``, or ``<source>:<eventArn>`` without an account."""
    return f"{source}:{arn}:{account}" if account else f"{source}:{arn}"


@lru_cache(maxsize=4096)  # updates, pages and copies of an event share its (immutable) link
def dashboard_link(arn: str) -> Link:
    return Link(title="AWS Health Dashboard", url=DASHBOARD_URL.format(arn=quote(arn, safe=":/_-")))


def clean_account(value: str | None) -> str | None:
    """An account id without the quotes/backticks some sanitised samples wrap it in."""
    if value and value.isdigit():  # the usual case: nothing to strip
        return value
    cleaned = value.strip().strip("`'\"").strip() if value else ""
    return cleaned or None


def resource_from_entity(entity: Any, path: str, account: str | None = None) -> Resource:
    """One affected entity: ``status`` (EventBridge) or ``statusCode`` (API), either time spelling.

    ``account`` is given to an entity that names none (what :func:`resources_for_account` does later).
    """
    if not is_mapping(entity):
        raise PayloadError(f"field '{path}' must be an object, got {type(entity).__name__}")
    stamp = "lastUpdatedTime" if "lastUpdatedTime" in entity else "lastupdatedTime"
    fields: dict[str, Any] = {
        "id": require_str(entity, "entityValue", path),
        "status": opt_str(entity, "status") or opt_str(entity, "statusCode"),
        "account": clean_account(opt_str(entity, "awsAccountId")) or account,
    }
    # Absent optional fields keep their defaults (None, {}): fewer arguments to validate.
    if (updated := time_field(entity, stamp, path)) is not None:
        fields["updated_at"] = updated
    if tags := str_map(entity.get("tags")):
        fields["tags"] = tags
    return Resource(**fields)


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


@lru_cache(maxsize=1024)  # a few hundred event types, a few categories and detail-types
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
    if "page" not in detail and "totalPages" not in detail:  # the usual single delivery
        return None
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
    found: dict[str, Any] = {
        "eventArn": arn,
        "eventScopeCode": opt_str(detail, "eventScopeCode"),
        "communicationId": communication,
        "eventMetadata": str_map(detail["eventMetadata"]) if "eventMetadata" in detail else None,
        "actionability": opt_str(detail, "actionability"),
        "personas": personas or None,
        "availabilityZone": opt_str(detail, "availabilityZone"),
        "detail_type": ctx.detail_type,
        "event_type_category": raw_category if raw_category != category.value else None,
    }
    return {k: v for k, v in found.items() if v is not None}


def _accounts(
    own: str | None, scope: str | None, resources: Sequence[Resource], ctx: Context
) -> list[str | None]:
    if scope in _NO_ACCOUNT_SCOPES:
        return [None]
    if own:
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
    kept = []
    for resource in resources:
        if resource.account == account:
            kept.append(resource)
        elif resource.account is None:
            kept.append(resource.model_copy(update={"account": account}))
    return tuple(kept)


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
    # affectedAccount (the usual case) is given to the entities at once, instead of being given to
    # copies of them by resources_for_account below.
    own = None if scope in _NO_ACCOUNT_SCOPES else clean_account(opt_str(detail, "affectedAccount"))
    entities = [
        resource_from_entity(entity, f"{at}affectedEntities[{i}]", own)
        for i, entity in enumerate(opt_list(detail, "affectedEntities"))
    ]
    known = {r.id for r in entities}
    resources = entities + [r for r in ctx.resources if r.id not in known]
    resources += [Resource(id=i, account=own) for i in ctx.resource_ids if i not in known]
    is_deadline = category is Category.SCHEDULED_CHANGE or "PLANNED_LIFECYCLE" in type_code.upper()
    region = opt_str(detail, "eventRegion") or opt_str(detail, "region") or ctx.delivery_region
    # One event per account: the first is built (Event canonicalises its resources), any other one is
    # a copy with its own key, severity, account and resources.
    accounts = _accounts(own, scope, resources, ctx)
    first = accounts[0]
    event = Event(
        key=identity_key(ctx.source, arn, first),
        source=ctx.source,
        type_code=type_code,
        category=category,
        service=service,
        title=title_for(service, type_code),
        description=preferred_description(descriptions),
        descriptions=descriptions,
        severity=severity_for(category, type_code, _specific(scope, first), ctx.detail_type),
        status=status,
        upstream_status=upstream,
        region=region or from_arn.region,
        accounts=(first,) if first else (),
        resources=resources_for_account(first, resources),
        start_at=start,
        end_at=end,
        updated_at=updated or ctx.time or end or start,
        deadline_at=start if is_deadline else None,
        links=(dashboard_link(arn),),
        details=_details(detail, arn, ctx, category, raw_category),
        page=page,
    )
    return [event] + [
        event.model_copy(
            update={
                "key": identity_key(ctx.source, arn, account),
                "severity": severity_for(category, type_code, _specific(scope, account), ctx.detail_type),
                "accounts": (account,) if account else (),
                "resources": union_resources(resources_for_account(account, resources)),
            }
        )
        for account in accounts[1:]
    ]


def _envelope_context(payload: Payload) -> Context:
    source = opt_str(payload, "source")
    return Context(
        source=source if source and source != SOURCE_NAME else SOURCE_NAME,
        detail_type=opt_str(payload, "detail-type"),
        account=clean_account(opt_str(payload, "account")),
        delivery_region=opt_str(payload, "region"),
        time=time_field(payload, "time"),
        resource_ids=tuple(
            [r.strip() for r in opt_list(payload, "resources") if isinstance(r, str) and r.strip()]
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
