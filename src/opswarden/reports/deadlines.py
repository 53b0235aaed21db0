"""The deadlines calendar: scheduled changes and end-of-support dates coming up, week by week.

An event is on it when its current version (the ``events`` view) is open or upcoming and its
``deadline_at`` falls in ``(now, now + days]``. Weeks start on Monday (UTC). The owner team is the
latest decision's; the acknowledgement state is the lifecycle (the latest transition's ``to_state``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from opswarden.lake.query import QueryResult
from opswarden.policy.org import Org
from opswarden.reports.model import Chart, Metric, Report, section_of
from opswarden.reports.sql import AWAITING, LATEST_DECISION, LIFECYCLE, in_list, severity_rank, ts

FIRST_RESOURCES = 3  # resources named per row (the count says how many there are)


def deadline_queries(now: datetime, days: int) -> dict[str, str]:
    upcoming = (
        f"WITH {LATEST_DECISION}, {LIFECYCLE}, "
        "due AS (SELECT e.*, CAST(date_trunc('week', e.deadline_at) AS DATE) AS week, "
        "coalesce(s.lifecycle, 'new') AS lifecycle, l.teams AS teams_now, "
        "coalesce(l.severity, e.severity) AS decided_severity, coalesce(l.notify, false) AS notifies "
        "FROM events e LEFT JOIN latest l ON l.event_id = e.event_id LEFT JOIN state s ON s.event_id = e.event_id "
        f"WHERE e.status IN ('open', 'upcoming') AND e.deadline_at > {ts(now)} "
        f"AND e.deadline_at <= {ts(now + timedelta(days=days))}) "
    )
    awaiting = f"notifies AND lifecycle IN {in_list(AWAITING)}"
    return {
        "calendar": upcoming + "SELECT week, deadline_at AS deadline, "
        f"round(date_diff('second', {ts(now)}, deadline_at) / 86400.0, 1) AS days_left, "
        "event_id, service, type_code, title, decided_severity AS severity, status, "
        f"resource_count AS resources, resource_ids[1:{FIRST_RESOURCES}] AS first_resources, accounts, "
        "teams_now AS teams, lifecycle FROM due "
        f"ORDER BY deadline_at, {severity_rank('decided_severity')}, event_id",
        "weeks": upcoming + "SELECT week, count(*) AS deadlines, sum(resource_count) AS resources, "
        f"count(*) FILTER (WHERE {awaiting}) AS awaiting_answer FROM due GROUP BY week ORDER BY week",
    }


def build_deadlines(results: dict[str, QueryResult], *, now: datetime, days: int, org: Org) -> Report:
    calendar = results["calendar"]
    weeks = results["weeks"]
    names = {a.id: a.name for a in org.accounts if a.name}

    def team(ref: str) -> str:
        found = org.team(ref)
        return found.name if found is not None else ref

    rows = [
        (
            *r[:10],
            tuple(r[10] or ()),
            tuple(f"{a} ({names[a]})" if a in names else a for a in r[11] or ()),
            tuple(team(t) for t in r[12] or ()),
            r[13],
        )
        for r in calendar.rows
    ]
    awaiting = sum(int(r[3]) for r in weeks.rows)
    return Report(
        kind="deadlines",
        title=f"opswarden deadlines {now:%Y-%m-%d} → {now + timedelta(days=days):%Y-%m-%d} UTC",
        generated_at=now,
        params={"now": now, "days": days},
        metrics=[
            Metric("deadlines", "deadlines coming up", len(calendar.rows)),
            Metric("resources", "resources affected", sum(int(r[2] or 0) for r in weeks.rows)),
            Metric("awaiting_answer", "of them awaiting an answer", awaiting),
        ],
        sections=[
            section_of(
                "calendar",
                "Calendar",
                calendar,
                rows=rows,
                group_by="week",
                note="open or upcoming events whose deadline falls in the period, by week (Monday, UTC)",
            ),
            section_of("weeks", "Per week", weeks),
        ],
        charts=[
            Chart(
                name="deadlines_per_week",
                title="Deadlines per week",
                categories=[r[0].isoformat() for r in weeks.rows],
                series={
                    "awaiting an answer": [float(r[3]) for r in weeks.rows],
                    "other": [float(r[1] - r[3]) for r in weeks.rows],
                },
                ylabel="deadlines",
            )
        ],
    )
