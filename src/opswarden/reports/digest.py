"""The digest: what happened in a window (``since < received_at <= now``), and what still waits.

Definitions (docs/reports.md#digest):

* an event is *active* in the window if one of its versions was received in it; it is *new* if its
  first archived version was received in it, *updated* if it also had a version before;
* counts by source / category / service / account / severity / team are of active events, taken from
  their latest version in the window (severity and teams: their latest decision, if any);
* *noise* is the decisions made in the window that suppressed or silenced their event;
* *unacknowledged* is every event (whatever the window) whose latest decision notifies and whose
  lifecycle is still routed or notified; it has waited since its latest transition to ``routed``;
* *time to acknowledge* of an event answered in the window: its first answer (acknowledged, approved
  or rejected) minus its first ``notified`` transition before that answer. An event answered before
  any notification was delivered counts as answered, not timed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from opswarden.lake.query import QueryResult
from opswarden.policy.org import Org
from opswarden.reports.model import Chart, Metric, Report, Section, number, section_of
from opswarden.reports.sql import ANSWERED, AWAITING, LATEST_DECISION, LIFECYCLE, in_list, severity_rank, ts

TOP = 10  # reasons and routes of the noise shown
ITEMS = 100  # unacknowledged events listed (most severe, then longest waiting, first); all are counted


def digest_prepare(since: datetime, now: datetime) -> dict[str, str]:
    """The part every count shares, computed once per digest (``LakeQuery.materialize``): the events
    active in the window, each at its latest version in the window, whether it is new, and its latest
    decision's severity and teams. Partition pruning on ``dt`` keeps the scan to the window's days;
    "new" comes from each row's ``first_seen_at`` (when the event's first version arrived), so older
    days are never read."""
    window = f"v.received_at > {ts(since)} AND v.received_at <= {ts(now)} AND {days(since, now, 'v.dt')}"
    return {
        "digest_active": (
            "WITH active AS (SELECT v.event_id, v.source, v.category, v.service, v.severity, v.accounts, "
            f"coalesce(v.first_seen_at > {ts(since)}, TRUE) AS is_new "
            f"FROM event_versions v WHERE {window} "
            "QUALIFY row_number() OVER (PARTITION BY v.event_id ORDER BY v.version_key DESC, v.lake_seq DESC) = 1), "
            f"{LATEST_DECISION} "
            # Counted, not kept row by row: every section sums these counts (a few thousand rows
            # instead of one per active event: the temporary table costs nothing to fill).
            "SELECT a.source, a.category, a.service, a.is_new, a.accounts, "
            "coalesce(l.severity, a.severity) AS decided_severity, l.teams AS teams_now, count(*) AS n "
            "FROM active a LEFT JOIN latest l ON l.event_id = a.event_id GROUP BY ALL"
        )
    }


def days(since: datetime, now: datetime, column: str = "dt") -> str:
    """The ``dt`` partitions a window can touch (lets the scan skip every other day's files)."""
    return f"{column} BETWEEN CAST({ts(since)} AS DATE) AND CAST({ts(now)} AS DATE)"


def digest_queries(since: datetime, now: datetime, *, items: int = ITEMS) -> dict[str, str]:
    """One SELECT per part of the digest (``items``: how many unacknowledged events are listed)."""
    window = f"received_at > {ts(since)} AND received_at <= {ts(now)} AND {days(since, now)}"
    decided = f'"at" > {ts(since)} AND "at" <= {ts(now)}'
    active = "WITH judged AS (SELECT * FROM digest_active) "
    noise = f"FROM decisions WHERE {decided} AND (suppressed OR data->>'silenced_by' IS NOT NULL)"
    answers = (
        "WITH marks AS (SELECT event_id, "
        f'min("at") FILTER (WHERE to_state IN {in_list(ANSWERED)}) AS answered_at '
        "FROM transitions WHERE action = 'transition' GROUP BY event_id), "
        "timed AS (SELECT m.event_id, m.answered_at, "
        "(SELECT min(t.\"at\") FROM transitions t WHERE t.event_id = m.event_id AND t.action = 'transition' "
        "AND t.to_state = 'notified' AND t.\"at\" <= m.answered_at) AS notified_at "
        f"FROM marks m WHERE m.answered_at > {ts(since)} AND m.answered_at <= {ts(now)}), "
        "minutes AS (SELECT event_id, date_diff('second', notified_at, answered_at) / 60.0 AS minutes "
        f"FROM timed), {LATEST_DECISION} "
    )
    return {
        "counts": active + "SELECT coalesce(sum(n), 0)::BIGINT AS events, "
        "coalesce(sum(n) FILTER (WHERE is_new), 0)::BIGINT AS new, "
        "coalesce(sum(n) FILTER (WHERE NOT is_new), 0)::BIGINT AS updated, "
        f"(SELECT count(*) FROM event_versions WHERE {window}) AS versions FROM judged",
        "by_source": active + "SELECT source, sum(n)::BIGINT AS events, "
        "coalesce(sum(n) FILTER (WHERE is_new), 0)::BIGINT AS new, "
        "coalesce(sum(n) FILTER (WHERE NOT is_new), 0)::BIGINT AS updated "
        "FROM judged GROUP BY source ORDER BY events DESC, source",
        "by_category": active + "SELECT category, sum(n)::BIGINT AS events FROM judged "
        "GROUP BY category ORDER BY events DESC, category",
        "by_service": active
        + "SELECT coalesce(service, '(none)') AS service, sum(n)::BIGINT AS events FROM judged "
        "GROUP BY 1 ORDER BY events DESC, service",
        # an event's accounts and teams are distinct: summing per account counts each event once
        "by_account": active + "SELECT account, sum(n)::BIGINT AS events "
        "FROM (SELECT n, unnest(accounts) AS account FROM judged) "
        "GROUP BY account ORDER BY events DESC, account",
        "by_team": active + "SELECT team, sum(n)::BIGINT AS events FROM (SELECT n, "
        "unnest(CASE WHEN len(teams_now) > 0 THEN teams_now ELSE [NULL::VARCHAR] END) AS team FROM judged) "
        "GROUP BY team ORDER BY events DESC, team NULLS LAST",
        "by_severity": active + "SELECT decided_severity AS severity, sum(n)::BIGINT AS events FROM judged "
        f"GROUP BY 1 ORDER BY {severity_rank('decided_severity')}",
        "per_day": f"SELECT dt AS day, source, count(DISTINCT event_id) AS events FROM event_versions "
        f"WHERE {window} GROUP BY dt, source ORDER BY dt, source",
        "noise": "SELECT count(*) AS decisions, count(DISTINCT event_id) AS events, "
        "count(*) FILTER (WHERE suppressed) AS suppressed, count(*) FILTER (WHERE NOT suppressed) AS silenced "
        + noise,
        "noise_reasons": "SELECT CASE WHEN suppressed THEN 'suppressed' ELSE 'silenced' END AS how, "
        "coalesce(CASE WHEN suppressed THEN data->>'reason' ELSE 'silence ' || (data->>'silenced_by') END, "
        "'(no reason given)') AS reason, count(*) AS decisions, count(DISTINCT event_id) AS events "
        + noise
        + f" GROUP BY 1, 2 ORDER BY decisions DESC, reason LIMIT {TOP}",
        "noise_routes": "SELECT route, count(*) AS decisions, count(DISTINCT event_id) AS events "
        f"FROM (SELECT event_id, unnest(routes) AS route {noise}) "
        f"GROUP BY route ORDER BY decisions DESC, route LIMIT {TOP}",
        "unacknowledged": f"WITH {LATEST_DECISION}, {LIFECYCLE}, "
        'waiting AS (SELECT event_id, max("at") AS since FROM transitions '
        "WHERE action = 'transition' AND to_state = 'routed' GROUP BY event_id), "
        "open AS (SELECT l.*, s.lifecycle, s.state_at FROM latest l JOIN state s ON s.event_id = l.event_id "
        f"WHERE l.notify AND s.lifecycle IN {in_list(AWAITING)}), "
        # the current version of just these events (not of every event in the lake)
        "current AS (SELECT * FROM event_versions WHERE event_id IN (SELECT event_id FROM open) "
        "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY version_key DESC, lake_seq DESC) = 1) "
        "SELECT e.event_id, e.source, e.title, o.severity, o.teams, o.lifecycle, "
        "coalesce(w.since, o.state_at) AS waiting_since, "
        f"round(date_diff('second', coalesce(w.since, o.state_at), {ts(now)}) / 3600.0, 1) AS age_hours, "
        "e.deadline_at, e.accounts, o.require_approval, count(*) OVER () AS waiting_total "
        "FROM open o JOIN current e ON e.event_id = o.event_id "
        "LEFT JOIN waiting w ON w.event_id = o.event_id "
        f"ORDER BY {severity_rank('o.severity')}, waiting_since, e.event_id LIMIT {int(items)}",
        "mtta": answers + "SELECT count(*) AS answered, count(minutes) AS timed, "
        "round(avg(minutes), 1) AS mean_minutes, round(median(minutes), 1) AS median_minutes FROM minutes",
        "mtta_by_team": answers + "SELECT team, count(*) AS answered, count(minutes) AS timed, "
        "round(avg(minutes), 1) AS mean_minutes, round(median(minutes), 1) AS median_minutes "
        "FROM (SELECT m.event_id, m.minutes, unnest(CASE WHEN len(l.teams) > 0 THEN l.teams "
        "ELSE [NULL::VARCHAR] END) AS team FROM minutes m LEFT JOIN latest l ON l.event_id = m.event_id) "
        "GROUP BY team ORDER BY answered DESC, team NULLS LAST",
    }


def build_digest(results: dict[str, QueryResult], *, since: datetime, now: datetime, org: Org) -> Report:
    """The digest from its query results (:func:`digest_queries`)."""
    counts = _one(results["counts"])
    noise = _one(results["noise"])
    mtta = _one(results["mtta"])
    unacked = results["unacknowledged"]
    waiting = int(unacked.rows[0][-1]) if unacked.rows else 0
    teams = _team_names(org)
    metrics = [
        Metric("events", "events active in the window", counts["events"]),
        Metric("new", "new events", counts["new"]),
        Metric("updated", "updated events", counts["updated"]),
        Metric("versions", "versions received", counts["versions"]),
        Metric("noise_decisions", "decisions that suppressed or silenced", noise["decisions"]),
        Metric("noise_events", "events suppressed or silenced", noise["events"]),
        Metric("unacknowledged", "action items awaiting an answer (now)", waiting),
        Metric("answered", "events answered in the window", mtta["answered"]),
        Metric("mtta_minutes", "mean time to acknowledge (minutes)", number(mtta["mean_minutes"])),
        Metric("mtta_median_minutes", "median time to acknowledge (minutes)", number(mtta["median_minutes"])),
    ]
    names = {a.id: a.name for a in org.accounts if a.name}
    per_day = _per_day_chart(results["per_day"], since, now)
    sections = [
        section_of("by_source", "By source", results["by_source"]),
        section_of("by_category", "By category", results["by_category"]),
        section_of("by_service", "By service", results["by_service"]),
        section_of(
            "by_account",
            "By account",
            results["by_account"],
            columns=("account", "name", "events"),
            rows=[(a, names.get(a, ""), n) for a, n in results["by_account"].rows],
            note="an event about several accounts counts once for each",
        ),
        section_of(
            "by_team",
            "By team",
            results["by_team"],
            rows=[(teams(t) if t else "(no team)", n) for t, n in results["by_team"].rows],
            note="teams of the event's latest decision; suppressed events have none",
        ),
        section_of(
            "by_severity", "By severity", results["by_severity"], note="the latest decision's severity"
        ),
        _per_day_section(per_day),
        section_of(
            "noise_reasons",
            "Noise: top reasons",
            results["noise_reasons"],
            note=f"{noise['suppressed']} decision(s) suppressed, {noise['silenced']} silenced in the window",
        ),
        section_of("noise_routes", "Noise: top routes", results["noise_routes"]),
        section_of(
            "unacknowledged",
            "Unacknowledged action items",
            unacked,
            columns=tuple(unacked.columns[:-1]),
            rows=[
                (
                    *r[:4],
                    tuple(teams(t) for t in r[4] or ()),
                    *r[5:9],
                    tuple(_account(a, names) for a in r[9]),
                    r[10],
                )
                for r in unacked.rows
            ],
            note="latest decision notifies and the lifecycle is still routed or notified, whatever the window"
            + (f"; the first {len(unacked.rows)} of {waiting}" if waiting > len(unacked.rows) else ""),
        ),
        section_of(
            "mtta_by_team",
            "Time to acknowledge by team",
            results["mtta_by_team"],
            rows=[
                (teams(r[0]) if r[0] else "(no team)", *(number(v) for v in r[1:]))
                for r in results["mtta_by_team"].rows
            ],
            note="first answer minus the first notification before it, for events answered in the window",
        ),
    ]
    return Report(
        kind="digest",
        title=f"opswarden digest {since:%Y-%m-%d %H:%M} → {now:%Y-%m-%d %H:%M} UTC",
        generated_at=now,
        params={"since": since, "until": now},
        metrics=metrics,
        sections=sections,
        charts=[per_day, _severity_chart(results["by_severity"])],
    )


def _one(result: QueryResult) -> dict[str, Any]:
    return dict(zip(result.columns, result.rows[0], strict=True))


def _team_names(org: Org) -> Any:
    def name(ref: str) -> str:
        team = org.team(ref)
        return team.name if team is not None else ref

    return name


def _account(account: str, names: dict[str, str]) -> str:
    return f"{account} ({names[account]})" if account in names else account


def _per_day_chart(result: QueryResult, since: datetime, now: datetime) -> Chart:
    """Events per day by source, every day of the window shown (empty days too)."""
    days: list[date] = []
    day = since.date()
    while day <= now.date():
        days.append(day)
        day += timedelta(days=1)
    sources = sorted({r[1] for r in result.rows})
    series = {s: [0.0] * len(days) for s in sources}
    position = {d: i for i, d in enumerate(days)}
    for day_value, source, events in result.rows:
        if day_value in position:
            series[source][position[day_value]] = float(events)
    return Chart(
        name="events_per_day",
        title="Events per day by source",
        categories=[d.isoformat() for d in days],
        series=series,
    )


def _severity_chart(result: QueryResult) -> Chart:
    return Chart(
        name="events_by_severity",
        title="Events by severity",
        categories=[str(r[0]) for r in result.rows],
        series={"events": [float(r[1]) for r in result.rows]},
    )


def _per_day_section(chart: Chart) -> Section:
    """The per-day chart's numbers as a table (day × source)."""
    sources = list(chart.series)
    rows = [
        (day, *(int(chart.series[s][i]) for s in sources), int(sum(chart.series[s][i] for s in sources)))
        for i, day in enumerate(chart.categories)
    ]
    return Section("per_day", "Events per day", ("day", *sources, "total"), rows)
