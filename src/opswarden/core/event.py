"""The normalised event: the one vocabulary every source converts into.

Every adapter (AWS Health, Security Hub, GuardDuty, Config, CloudWatch, …) turns its payload into
:class:`Event`. Source-specific extras live in ``details``; the untouched payload travels beside the
event (``raw``) and is stored, but it is never part of the event's content.

Identity and versions
---------------------
``key`` is the identity of the real-world thing (an AWS Health event in one account, a Security Hub
finding, an alarm …). Deliveries with the same key are versions of one record. A *version* is what the
source says at one update time (``updated_at``); two deliveries with the same key and update time are
the same version and merge (pages of a multi-page Health event, Health API fragments). The content
hash covers every normalised field except delivery metadata, so an identical redelivery is a no-op.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from opswarden.core.timeparse import format_utc


class Severity(StrEnum):
    """Normalised severity, most severe first.

    The mapping of each source's scale: docs/concepts.md#normalised-severity.
    """

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFORMATIONAL = "informational"

    @property
    def rank(self) -> int:
        """0 for informational … 4 for critical, for comparisons."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFORMATIONAL: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Category(StrEnum):
    """What kind of thing the event is. The first four are AWS Health's own categories."""

    ISSUE = "issue"
    ACCOUNT_NOTIFICATION = "accountNotification"
    SCHEDULED_CHANGE = "scheduledChange"
    INVESTIGATION = "investigation"
    FINDING = "finding"
    COMPLIANCE = "compliance"
    ALARM = "alarm"
    STATE_CHANGE = "stateChange"
    RECOMMENDATION = "recommendation"
    OTHER = "other"


class Status(StrEnum):
    """Upstream status, normalised. The source's own word is kept in ``Event.upstream_status``."""

    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


class Resource(BaseModel):
    """An affected resource or entity (an instance, a bucket, an account, a cluster …)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: str | None = None
    status: str | None = None
    region: str | None = None
    account: str | None = None
    updated_at: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class Link(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    url: str


class Page(BaseModel):
    """Which page of a multi-page delivery this is (AWS Health splits large entity lists)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    numbers: tuple[int, ...]
    total: int


class Event(BaseModel):
    """One normalised operational event (one version of it, as one source reported it)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="Identity key: the same real-world event always has the same key.")
    source: str = Field(description="Originating source, e.g. aws.health, aws.securityhub, or a custom one.")
    type_code: str = Field(description="The source's type: eventTypeCode, control id, finding type …")
    category: Category
    service: str | None = None
    title: str
    description: str = ""
    descriptions: dict[str, str] = Field(default_factory=dict, description="All languages, by locale.")
    severity: Severity = Severity.INFORMATIONAL
    status: Status = Status.OPEN
    upstream_status: str | None = None
    region: str | None = None
    accounts: tuple[str, ...] = ()
    resources: tuple[Resource, ...] = ()
    start_at: datetime | None = None
    end_at: datetime | None = None
    updated_at: datetime | None = Field(
        default=None, description="The source's own update time; orders versions."
    )
    deadline_at: datetime | None = Field(
        default=None, description="When action is due (scheduled change start, end of support)."
    )
    links: tuple[Link, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    page: Page | None = Field(default=None, description="Set on one page of a multi-page delivery.")

    @property
    def id(self) -> str:
        return event_id(self.key)

    def content_hash(self) -> str:
        return content_hash(self)

    @model_validator(mode="after")
    def _canonicalise(self) -> Event:
        # List fields in one canonical order, so equal content always hashes equal. Most events have
        # at most one of each, which is canonical already: skip the sorting for them (the hot path).
        fields = self.__dict__
        if len(fields["accounts"]) > 1:
            fields["accounts"] = tuple(sorted(set(fields["accounts"])))
        if len(fields["resources"]) > 1:
            fields["resources"] = union_resources(fields["resources"])
        if len(fields["links"]) > 1:
            fields["links"] = canonical_links(fields["links"])
        return self

    def canonical(self) -> Event:
        """This event: events are canonical from construction (list fields sorted and deduplicated).

        Code that builds a changed copy with ``model_copy(update=…)`` must pass canonical values
        (:func:`union_resources`, :func:`canonical_links`, sorted accounts).
        """
        return self


def canonical_links(*groups: tuple[Link, ...]) -> tuple[Link, ...]:
    """Links without duplicates, ordered by URL then title."""
    return tuple(sorted({link for group in groups for link in group}, key=lambda k: (k.url, k.title)))


def _resource_rank(resource: Resource) -> tuple[float, str, str]:
    stamp = resource.updated_at.timestamp() if resource.updated_at else float("-inf")
    return (stamp, resource.status or "", resource.model_dump_json())


def union_resources(*groups: tuple[Resource, ...]) -> tuple[Resource, ...]:
    """Union of resource lists, one per (id, account): the newest wins (ties broken deterministically).

    Commutative and idempotent, so pages and redeliveries merge to the same result in any order.
    """
    if len(groups) == 1 and _is_canonical(groups[0]):  # Event's own canonicalisation, usually a no-op
        return tuple(groups[0])
    best: dict[tuple[str, str], Resource] = {}
    for group in groups:
        for resource in group:
            ident = (resource.id, resource.account or "")
            held = best.get(ident)
            if held is None or _resource_rank(resource) > _resource_rank(held):
                best[ident] = resource
    return tuple(best[k] for k in sorted(best))


def _is_canonical(resources: tuple[Resource, ...]) -> bool:
    """Whether the resources are strictly ordered by (id, account): what union_resources returns."""
    previous: tuple[str, str] | None = None
    for resource in resources:
        fields = resource.__dict__  # cheaper than attribute reads on a model
        key = (fields["id"], fields["account"] or "")
        if previous is not None and not previous < key:
            return False
        previous = key
    return True


def event_id(key: str) -> str:
    """A short, stable, URL-safe id for an identity key (what users type: ``events show ID``)."""
    return "ev-" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def _time(value: datetime | None) -> str | None:
    # The same text as pydantic's JSON mode for aware UTC datetimes, without its per-call cost.
    if value is None:
        return None
    if value.tzinfo is UTC:  # what the sources produce: the cached, faster formatter
        return format_utc(value)
    return value.isoformat().replace("+00:00", "Z")


def content_dict(event: Event) -> dict[str, Any]:
    """The event as JSON-ready data, without delivery metadata (``page``): what is hashed and stored.

    Written out by hand because it runs for every delivery and pydantic's generic JSON-mode dump of
    the free-form ``details`` costs several times more; ``Event.model_validate`` reads it back. Field
    values are read from the models' ``__dict__`` (where pydantic keeps them; cheaper than attribute
    reads on a model), and ``str()`` of a StrEnum member is its value (``.value`` is a slow property).
    """
    f = event.__dict__
    return {
        "key": f["key"],
        "source": f["source"],
        "type_code": f["type_code"],
        "category": str(f["category"]),
        "service": f["service"],
        "title": f["title"],
        "description": f["description"],
        "descriptions": f["descriptions"],
        "severity": str(f["severity"]),
        "status": str(f["status"]),
        "upstream_status": f["upstream_status"],
        "region": f["region"],
        "accounts": list(f["accounts"]),
        "resources": [_resource_dict(r.__dict__) for r in f["resources"]],
        "start_at": _time(f["start_at"]),
        "end_at": _time(f["end_at"]),
        "updated_at": _time(f["updated_at"]),
        "deadline_at": _time(f["deadline_at"]),
        "links": [{"title": link.title, "url": link.url} for link in f["links"]],
        "tags": f["tags"],
        "details": f["details"],
    }


def _resource_dict(r: dict[str, Any]) -> dict[str, Any]:
    """A resource's fields (its ``__dict__``) as JSON-ready data."""
    return {
        "id": r["id"],
        "type": r["type"],
        "status": r["status"],
        "region": r["region"],
        "account": r["account"],
        "updated_at": _time(r["updated_at"]),
        "tags": r["tags"],
    }


def content_hash(event: Event) -> str:
    """SHA-256 of the canonical JSON of the event's content (sorted keys, no delivery metadata)."""
    return hash_content(content_dict(event))


def hash_content(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys) of an event's :func:`content_dict`."""
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
