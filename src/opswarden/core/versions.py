"""Versions of one event: how deliveries merge and what materially changed between versions.

Rules (DESIGN.md, "The event"):

* A version is what the source said at one update time. Deliveries of the same key with the same
  ``updated_at`` are the *same* version and :func:`merge` into one (the pages of a multi-page AWS
  Health event; an API listing and its details call). Merging is commutative, associative and
  idempotent, so any order of pages and redeliveries converges on one content.
* Versions are ordered by ``updated_at``; the newest is current. A late older version is history.
* :func:`material_changes` says what changed from one version to the next (status, description, end
  time, affected resources/accounts, severity, compliance/workflow status): the input to
  re-notification and to "what changed?" answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opswarden.core.event import Event, Page, Resource, canonical_links, content_hash, union_resources
from opswarden.core.timeparse import format_time

# Keys in ``Event.details`` whose change is material (security findings, compliance results).
MATERIAL_DETAILS = ("workflow_status", "compliance_status", "record_state")
_SCALARS = ("severity", "status", "upstream_status", "title", "end_at", "start_at", "deadline_at")


def version_key(updated_at: datetime | None) -> str:
    """A string that sorts like the update time (fixed width, UTC); "" when the source gave none."""
    if updated_at is None:
        return ""
    if updated_at.utcoffset():
        updated_at = updated_at.astimezone(UTC)
    return updated_at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def merge(a: Event, b: Event) -> Event:
    """Merge two deliveries of one version into one event (see the module rules).

    The fuller delivery (not a partial fragment, with a description) supplies the scalar fields;
    when both are equally full the one with the greater content hash does, so the result does not
    depend on arrival order. Lists are unioned and empty fields filled from the other side.
    """
    if a.key != b.key:
        raise ValueError(f"cannot merge different events {a.key!r} and {b.key!r}")
    primary, other = (a, b) if _fullness(a) >= _fullness(b) else (b, a)
    fill: dict[str, Any] = {}
    for field in ("service", "region", "start_at", "end_at", "deadline_at", "upstream_status"):
        if getattr(primary, field) is None and getattr(other, field) is not None:
            fill[field] = getattr(other, field)
    if not primary.description and other.description:
        fill["description"] = other.description
    partial = bool(primary.details.get("partial")) and bool(other.details.get("partial"))
    details = {**other.details, **primary.details}
    if not partial:
        details.pop("partial", None)
    return primary.model_copy(
        update={
            **fill,
            "descriptions": {**other.descriptions, **primary.descriptions},
            "accounts": tuple(sorted(set(a.accounts) | set(b.accounts))),
            "resources": union_resources(a.resources, b.resources),
            "links": canonical_links(a.links, b.links),
            "tags": {**other.tags, **primary.tags},
            "details": details,
            "page": _merge_pages(a.page, b.page),
        }
    )


def _fullness(event: Event) -> tuple[bool, bool, str]:
    return (not event.details.get("partial"), bool(event.description), content_hash(event))


def _merge_pages(a: Page | None, b: Page | None) -> Page | None:
    if a is None or b is None:
        return a or b
    return Page(numbers=tuple(sorted(set(a.numbers) | set(b.numbers))), total=max(a.total, b.total))


def material_changes(previous: Event | None, current: Event) -> list[dict[str, Any]]:
    """What materially changed from ``previous`` to ``current``; ``[]`` when nothing did.

    Each change is ``{"field": …, "old": …, "new": …}``; resources report counts and the ids whose
    status changed, were added or removed.
    """
    if previous is None:
        return []
    changes: list[dict[str, Any]] = []
    for field in _SCALARS:
        old, new = getattr(previous, field), getattr(current, field)
        if old != new:
            changes.append({"field": field, "old": _show(old), "new": _show(new)})
    if previous.description.strip() != current.description.strip():
        changes.append(
            {"field": "description", "old": _clip(previous.description), "new": _clip(current.description)}
        )
    if set(previous.accounts) != set(current.accounts):
        changes.append(
            {
                "field": "accounts",
                "added": sorted(set(current.accounts) - set(previous.accounts)),
                "removed": sorted(set(previous.accounts) - set(current.accounts)),
            }
        )
    resource_change = _resource_changes(previous.resources, current.resources)
    if resource_change:
        changes.append(resource_change)
    for name in MATERIAL_DETAILS:
        old, new = previous.details.get(name), current.details.get(name)
        if old != new:
            changes.append({"field": name, "old": old, "new": new})
    return changes


def _resource_changes(old: tuple[Resource, ...], new: tuple[Resource, ...]) -> dict[str, Any] | None:
    before = {(r.id, r.account or ""): r.status for r in old}
    after = {(r.id, r.account or ""): r.status for r in new}
    added = sorted(k[0] for k in after.keys() - before.keys())
    removed = sorted(k[0] for k in before.keys() - after.keys())
    status = [
        {"id": k[0], "old": before[k], "new": after[k]}
        for k in sorted(after.keys() & before.keys())
        if before[k] != after[k]
    ]
    if not (added or removed or status):
        return None
    return {"field": "resources", "added": added, "removed": removed, "status_changed": status}


def _show(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    return value.value if hasattr(value, "value") else value


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
