"""The JSON contract of ``events list|show --format json`` and the HTTP API (docs/json-contract.md).

Stable: fields are only ever added. Times are ISO 8601 UTC with ``Z``.
"""

from __future__ import annotations

from typing import Any

from opswarden.core.timeparse import format_time
from opswarden.store.reader import StoredEvent, StoredVersion


def event_summary(stored: StoredEvent) -> dict[str, Any]:
    """One event in a list."""
    e = stored.event
    return {
        "id": stored.id,
        "key": stored.key,
        "source": e.source,
        "type": e.type_code,
        "category": e.category.value,
        "service": e.service,
        "status": e.status.value,
        "upstream_status": e.upstream_status,
        "severity": e.severity.value,
        "lifecycle": stored.lifecycle,
        "title": e.title,
        "region": e.region,
        "accounts": list(e.accounts),
        "resources": [r.model_dump(mode="json", exclude_defaults=True) for r in e.resources],
        "start_at": format_time(e.start_at),
        "end_at": format_time(e.end_at),
        "deadline_at": format_time(e.deadline_at),
        "updated_at": format_time(e.updated_at),
        "first_seen_at": format_time(stored.first_seen_at),
        "last_seen_at": format_time(stored.last_seen_at),
        "version_count": stored.version_count,
    }


def event_detail(stored: StoredEvent, versions: list[StoredVersion]) -> dict[str, Any]:
    """One event: its summary, its full current content, and its version timeline."""
    e = stored.event
    return {
        **event_summary(stored),
        "description": e.description,
        "descriptions": e.descriptions,
        "links": [link.model_dump() for link in e.links],
        "tags": e.tags,
        "details": e.details,
        "versions": [
            {
                "version": v.version_key or None,
                "updated_at": format_time(v.updated_at),
                "received_at": format_time(v.received_at),
                "content_hash": v.content_hash,
                "current": v.version_key == stored.current_version,
                "status": v.event.status.value,
                "severity": v.event.severity.value,
                "changes": v.changes,
                "origin": v.origin,
            }
            for v in versions
        ],
    }


def audit_view(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit row: who did what, when, through which channel (transitions carry from / to / why)."""
    return {
        "at": format_time(entry["at"]),
        "actor": entry["actor"],
        "action": entry["action"],
        "channel": entry["channel"],
        "detail": entry["detail"],
    }


def outbox_view(row: Any) -> dict[str, Any]:
    """An outbox message without its payload (the rendered content is derived from the event)."""
    return {
        "id": row.id,
        "event_id": row.event_id,
        "kind": row.kind,
        "channel": row.channel,
        "target": row.target if row.channel not in ("teams", "webhook") else _host(row.target),
        "status": row.status,
        "attempts": row.attempts,
        "created_at": format_time(row.created_at),
        "next_attempt_at": format_time(row.next_attempt_at),
        "sent_at": format_time(row.sent_at),
        "last_error": row.last_error,
    }


def _host(url: str) -> str:
    """Webhook URLs carry their secret in the path: show the host only."""
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or "(webhook)"


def ticket_view(event_id: str, team: str, ref: dict[str, Any], created_at: Any) -> dict[str, Any]:
    """A ticket opened for an event, as last synced (status null until the first sync)."""
    return {
        "event_id": event_id,
        "team": team,
        "backend": ref.get("backend"),
        "key": ref.get("key"),
        "url": ref.get("url"),
        "status": ref.get("status", "open"),
        "raw_status": ref.get("raw_status"),
        "assignee": ref.get("assignee"),
        "opened_at": format_time(created_at),
        "synced_at": ref.get("synced_at"),
    }


def describe_changes(changes: list[dict[str, Any]]) -> str:
    parts = []
    for change in changes:
        field = change["field"]
        if field == "resources":
            bits = []
            if change["added"]:
                bits.append(f"+{len(change['added'])}")
            if change["removed"]:
                bits.append(f"-{len(change['removed'])}")
            bits.extend(f"{s['id']}: {s['old']}→{s['new']}" for s in change["status_changed"][:3])
            parts.append("resources " + " ".join(bits))
        elif field == "accounts":
            parts.append(f"accounts +{len(change['added'])} -{len(change['removed'])}")
        elif field == "description":
            parts.append("description")
        else:
            parts.append(f"{field}: {change.get('old')}→{change.get('new')}")
    return "; ".join(parts)
