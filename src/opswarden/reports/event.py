"""One event's history from the lake: its versions with what changed, its decisions, its transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from opswarden.lake.query import QueryResult
from opswarden.policy.org import Org
from opswarden.reports.model import Metric, Report, section_of
from opswarden.reports.sql import LIFECYCLE, text
from opswarden.views import describe_changes


def resolve_query(ref: str) -> str:
    """The event ids that ``ref`` names: an id, a key, or an id prefix (at most two, to tell)."""
    return (
        "SELECT DISTINCT event_id FROM event_versions "
        f"WHERE event_id = {text(ref)} OR key = {text(ref)} OR starts_with(event_id, {text(ref)}) "
        "ORDER BY event_id LIMIT 2"
    )


def event_queries(event_id: str) -> dict[str, str]:
    who = f"event_id = {text(event_id)}"
    return {
        "facts": f"WITH {LIFECYCLE} SELECT e.event_id, e.key, e.source, e.type_code, e.category, e.service, "
        "e.title, e.severity, e.status, e.region, e.accounts, e.resource_count, e.start_at, e.end_at, "
        "e.deadline_at, coalesce(s.lifecycle, 'new') AS lifecycle, "
        f"(SELECT min(received_at) FROM event_versions WHERE {who}) AS first_received, "
        f"(SELECT count(*) FROM event_versions WHERE {who}) AS versions "
        f"FROM events e LEFT JOIN state s ON s.event_id = e.event_id WHERE e.{who}",
        "versions": "SELECT version_key, received_at, updated_at, status, severity, resource_count, changes "
        f"FROM event_versions WHERE {who} ORDER BY version_key, lake_seq",
        "decisions": 'SELECT decision_id, "at", version_key, '
        "CASE WHEN suppressed THEN 'suppressed' WHEN data->>'silenced_by' IS NOT NULL THEN 'silenced' "
        "WHEN notify THEN 'notify' ELSE 'no one to tell' END AS outcome, "
        "coalesce(data->>'reason', 'silence ' || (data->>'silenced_by')) AS reason, "
        "severity, teams, routes, require_approval, open_ticket "
        f'FROM decisions WHERE {who} ORDER BY "at", decision_id',
        "transitions": 'SELECT "at", actor, channel, action, from_state, to_state, why '
        f'FROM transitions WHERE {who} ORDER BY "at", audit_id',
    }


def build_event(results: dict[str, QueryResult], *, now: datetime, org: Org) -> Report:
    facts = dict(zip(results["facts"].columns, results["facts"].rows[0], strict=True))
    versions = results["versions"]
    rows = []
    for i, (key, received, updated, status, severity, count, changes) in enumerate(versions.rows):
        described = describe_changes(_changes(changes))
        rows.append(
            (
                key,
                received,
                updated,
                status,
                severity,
                count,
                described or ("first version" if i == 0 else "-"),
            )
        )

    def team(ref: str) -> str:
        found = org.team(ref)
        return found.name if found is not None else ref

    decisions = [
        (*r[:6], tuple(team(t) for t in r[6] or ()), tuple(r[7] or ()), *r[8:])
        for r in results["decisions"].rows
    ]
    names = {a.id: a.name for a in org.accounts if a.name}
    accounts = tuple(f"{a} ({names[a]})" if a in names else a for a in facts["accounts"] or ())
    keys = ("key", "source", "type_code", "category", "service", "severity", "status", "region", "lifecycle")
    return Report(
        kind="event",
        title=f"{facts['event_id']}: {facts['title']}",
        generated_at=now,
        params={"event_id": facts["event_id"]},
        metrics=[
            *(Metric(k, k.replace("_", " "), facts[k]) for k in keys),
            Metric("accounts", "accounts", accounts),
            Metric("resources", "resources", facts["resource_count"]),
            Metric("start_at", "start", facts["start_at"]),
            Metric("end_at", "end", facts["end_at"]),
            Metric("deadline_at", "deadline", facts["deadline_at"]),
            Metric("first_received", "first received", facts["first_received"]),
            Metric("versions", "versions", facts["versions"]),
        ],
        sections=[
            section_of(
                "versions",
                "Versions",
                versions,
                rows=rows,
                columns=(
                    "version_key",
                    "received_at",
                    "updated_at",
                    "status",
                    "severity",
                    "resources",
                    "changes",
                ),
            ),
            section_of("decisions", "Decisions", results["decisions"], rows=decisions),
            section_of("transitions", "Lifecycle and audit", results["transitions"]),
        ],
    )


def _changes(value: str | None) -> list[dict[str, Any]]:
    if not value:
        return []
    parsed = orjson.loads(value)
    return parsed if isinstance(parsed, list) else []
