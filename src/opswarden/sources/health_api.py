"""AWS Health API outputs (boto3 / AWS CLI JSON) as events, and ``combine`` for the backfill job.

Response bodies accepted (a placebo recording arrives already unwrapped from ``{"data": …}``; epoch
floats and placebo datetime objects are both parsed):

* DescribeEvents[ForOrganization] ``{"events": [{arn, service, eventTypeCode, …}]}``
* DescribeEventDetails[ForOrganization] ``{"successfulSet": [{event, eventDescription, eventMetadata,
  awsAccountId?}], "failedSet": […]}``. Failed items are the caller's to retry; a body in which every
  item failed is a :class:`~opswarden.errors.PayloadError`.
* DescribeAffectedEntities[ForOrganization] ``{"entities": [{eventArn, entityValue, awsAccountId?, …}]}``
  alone gives *partial* events: one per (eventArn, account), the entities as resources, type code and
  service read from the ARN where its format tells them, ``details["partial"] = True`` and no
  ``updated_at`` (a fragment never supersedes a complete version; the store merges its resources).
* DescribeEventTypes ``{"eventTypes": […]}`` is a catalogue, not events: UnrecognisedFormatError.

Identity matches the EventBridge source exactly (:func:`opswarden.sources.health.identity_key`):
``aws.health:<eventArn>:<account>``, or the ARN alone for public events. Accounts come from
``awsAccountId`` (organisation details, entities). DescribeEvents items name no account, so an
account-specific event read from them alone is keyed by its ARN alone, unless the caller passes
``account`` (the non-organisation API only ever describes the caller's own account).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opswarden.core.event import Category, Event, Resource
from opswarden.errors import PayloadError, UnrecognisedFormatError
from opswarden.sources._health_text import parse_event_arn, title_for
from opswarden.sources.base import (
    Payload,
    Source,
    opt_str,
    require_mapping,
    require_str,
    unique,
)
from opswarden.sources.health import (
    SOURCE_NAME,
    Context,
    clean_account,
    dashboard_link,
    identity_key,
    normalise_detail,
    resource_from_entity,
    resources_for_account,
)

Pages = Payload | Sequence[Payload] | None
"""One response body, several (pagination), or none."""

_SHAPES = (
    ("events", ("arn", "eventTypeCode")),
    ("successfulSet", ("event",)),
    ("entities", ("eventArn", "entityValue")),
)
UNKNOWN_TYPE = "UNKNOWN"


@dataclass
class _Joined:
    """What the three calls say about one eventArn."""

    path: str
    event: dict[str, Any] = field(default_factory=dict)
    described: Payload | None = None
    accounts: list[str] = field(default_factory=list)


def _items(pages: Pages, key: str) -> list[tuple[str, Payload]]:
    """(JSON path, item) for every item of ``key`` in the given bodies."""
    if pages is None:
        return []
    bodies = [("", pages)] if isinstance(pages, Mapping) else [(f"[{i}].", p) for i, p in enumerate(pages)]
    found: list[tuple[str, Payload]] = []
    for prefix, body in bodies:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise PayloadError(f"field '{prefix}{key}' must be an array, got {type(value).__name__}")
        for i, item in enumerate(value):
            path = f"{prefix}{key}[{i}]"
            if not isinstance(item, Mapping):
                raise PayloadError(f"field '{path}' must be an object, got {type(item).__name__}")
            found.append((path, item))
    return found


def _join(events_page: Pages, details_page: Pages) -> dict[str, _Joined]:
    joined: dict[str, _Joined] = {}
    for path, item in _items(events_page, "events"):
        arn = require_str(item, "arn", path)
        joined.setdefault(arn, _Joined(path)).event.update(item)
    for path, item in _items(details_page, "successfulSet"):
        event = require_mapping(item, "event", path)
        arn = require_str(event, "arn", f"{path}.event")
        entry = joined.setdefault(arn, _Joined(f"{path}.event"))
        entry.event.update(event)
        entry.path = f"{path}.event"
        entry.described = entry.described or item
        if account := clean_account(opt_str(item, "awsAccountId")):
            entry.accounts.append(account)
    return joined


def _partial(arn: str, resources: Sequence[Resource], account: str | None) -> list[Event]:
    """Entities of an event we know nothing else about: one fragment per account."""
    info = parse_event_arn(arn)
    type_code = info.type_code or UNKNOWN_TYPE
    what = title_for(info.service, type_code) if info.type_code else (info.service or "AWS Health event")
    accounts: list[str | None] = [*unique(r.account for r in resources)] or [account]
    return [
        Event(
            key=identity_key(SOURCE_NAME, arn, acct),
            source=SOURCE_NAME,
            type_code=type_code,
            category=Category.OTHER,
            service=info.service,
            title=f"{what} (affected entities only)",
            region=info.region,
            accounts=(acct,) if acct else (),
            resources=resources_for_account(acct, resources),
            links=(dashboard_link(arn),),
            details={"eventArn": arn, "partial": True},
        ).canonical()
        for acct in accounts
    ]


def combine(
    events_page: Pages = None,
    details_page: Pages = None,
    entities_page: Pages = None,
    *,
    account: str | None = None,
) -> list[Event]:
    """Complete events from DescribeEvents, DescribeEventDetails and DescribeAffectedEntities bodies.

    Joined by eventArn; the organisation variants' ``awsAccountId`` splits an event into one per
    account, each with its own entities (entities without an account go to every account). Fields
    of the details' ``event`` win over the DescribeEvents item. Entities of an eventArn that neither
    of the other calls mentions become partial events. ``account`` is the caller's account, used for
    account-specific events that no body attributes (never pass it with organisation outputs).
    """
    joined = _join(events_page, details_page)
    entities: dict[str, list[Resource]] = {}
    for path, item in _items(entities_page, "entities"):
        arn = require_str(item, "eventArn", path)
        entities.setdefault(arn, []).append(resource_from_entity(item, path))
    events: list[Event] = []
    for arn, entry in joined.items():
        detail = dict(entry.event)
        if entry.described is not None:
            for key in ("eventDescription", "eventMetadata"):
                if key in entry.described:
                    detail[key] = entry.described[key]
        context = Context(
            account=clean_account(account),
            accounts=tuple(entry.accounts),
            resources=tuple(entities.pop(arn, ())),
        )
        events.extend(normalise_detail(detail, entry.path, context))
    for arn, resources in entities.items():
        events.extend(_partial(arn, resources, clean_account(account)))
    return events


def _failures(payload: Payload) -> str:
    failed = [f for f in payload.get("failedSet") or () if isinstance(f, Mapping)]
    shown = "; ".join(
        f"{opt_str(f, 'eventArn') or '?'}: {opt_str(f, 'errorName') or 'error'} {opt_str(f, 'errorMessage') or ''}"
        for f in failed[:3]
    )
    return f"{len(failed)} failed ({shown.strip()})"


def normalise(payload: Payload, account: str | None = None) -> list[Event]:
    """One Health API response body → its events (an empty ``events`` list gives none)."""
    if isinstance(payload.get("eventTypes"), list):
        raise UnrecognisedFormatError(
            "DescribeEventTypes output is a catalogue of event types, not events: nothing to ingest "
            f"({len(payload['eventTypes'])} types)"
        )
    if "successfulSet" in payload and not payload["successfulSet"] and payload.get("failedSet"):
        raise PayloadError(f"DescribeEventDetails returned no event details: {_failures(payload)}")
    return combine(
        payload if "events" in payload else None,
        payload if "successfulSet" in payload else None,
        payload if "entities" in payload else None,
        account=account,
    )


def _holds(value: Any, keys: tuple[str, ...]) -> bool:
    if not isinstance(value, list):
        return False
    return not value or any(isinstance(item, Mapping) and all(k in item for k in keys) for item in value)


def _matches(payload: Payload) -> bool:
    if "detail" in payload:
        return False
    return isinstance(payload.get("eventTypes"), list) or any(
        _holds(payload.get(key), keys) for key, keys in _SHAPES
    )


SOURCE = Source(name="health_api", matches=_matches, normalise=normalise)
