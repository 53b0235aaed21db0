"""The assistant's read-only tools over events, the lake, reports and the knowledge base.

Every tool takes the run's :class:`AssistantDeps`, returns text a model reads, and:

* never changes anything (the ticket tools that would are in ticket_tools.py and only *propose*);
* fences every piece of event, document, ticket and lake text as untrusted data (assistant/fence.py);
* ends each source with ``cite as: <citation>`` and records the citation (an answer may cite only
  what a tool returned);
* is cut to the run's tool-output budget, and reports errors as text the model can act on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec

from pydantic_ai import RunContext

from opswarden.assistant.deps import AssistantDeps
from opswarden.assistant.fence import fence
from opswarden.errors import ConfigurationError, OpswardenError
from opswarden.store.reader import EventFilter
from opswarden.views import describe_changes

P = ParamSpec("P")
Ctx = RunContext[AssistantDeps]
LAKE_MAX_ROWS = 200
CELL = 200


def tool(fn: Callable[Concatenate[Ctx, P], str]) -> Callable[Concatenate[Ctx, P], str]:
    """One tool call at a time (tools run in threads; the store and the lake are shared), errors as
    text, the output recorded and cut to the budget."""

    @functools.wraps(fn)
    def run(ctx: Ctx, /, *args: P.args, **kwargs: P.kwargs) -> str:
        with ctx.deps.lock:
            try:
                text = fn(ctx, *args, **kwargs)
            except OpswardenError as exc:
                text = f"error: {exc}"
            return ctx.deps.out(fn.__name__, text)

    return run


def event_citation(event_id: str) -> str:
    return f"event {event_id}"


# -- events ---------------------------------------------------------------------------------------


@tool
def search_events(
    ctx: Ctx,
    source: str | None = None,
    category: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    account: str | None = None,
    region: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
) -> str:
    """List stored events, newest first, filtered; for words in their text use the advisor's search.

    Args:
        source: e.g. aws.health, aws.securityhub, aws.guardduty, aws.cloudwatch, aws.config
        category: issue, scheduled_change, account_notification, finding, alarm, compliance …
        status: open, upcoming, closed …
        severity: critical, high, medium, low, info
        account: a 12-digit AWS account id
        region: e.g. eu-west-1
        since: updated at or after this time (ISO 8601)
        until: updated before this time (ISO 8601)
        limit: how many (at most 50)
    """
    flt = EventFilter(
        source=source,
        category=category,
        status=status,
        severity=severity,
        account=account,
        region=region,
        since=since,
        until=until,
        limit=max(1, min(limit, 50)),
    )
    rows = ctx.deps.app.events_json(flt)
    if not rows:
        return "no events match these filters"
    lines = [f"{len(rows)} event(s):"]
    for e in rows:
        lines.append(
            f"- {e['id']} · {e['source']} · {e['service'] or '-'} · severity {e['severity']} · "
            f"status {e['status']} · lifecycle {e['lifecycle']} · updated {e['updated_at']}"
            + (f" · deadline {e['deadline_at']}" if e["deadline_at"] else "")
            + f" · {len(e['accounts'])} account(s) · "
            + fence(f"event:{e['id']}", e["title"], 200)
            + f" · {ctx.deps.cite(event_citation(e['id']))}"
        )
    return "\n".join(lines)


@tool
def get_event(ctx: Ctx, ref: str) -> str:
    """One event: its facts, description, the policy's decision, its version timeline with what changed
    in each version, its history (who did what) and its tickets.

    Args:
        ref: an event id (ev-…), a unique id prefix, or the event's identity key
    """
    detail = ctx.deps.app.event_json(ref)
    eid = detail["id"]
    decision = detail.get("decision") or {}
    lines = [
        f"event {eid} ({detail['source']}) · {ctx.deps.cite(event_citation(eid))}",
        "title: " + fence(f"event:{eid}", detail["title"], 300),
        f"service {detail['service'] or '-'} · category {detail['category']} · type "
        + fence(f"event:{eid}", detail["type"] or "-", 120)
        + f" · region {detail['region'] or '-'}",
        f"status {detail['status']} (upstream: {fence(f'event:{eid}', detail['upstream_status'] or '-', 60)}) · "
        f"severity {decision.get('severity') or detail['severity']} (source said {detail['severity']}) · "
        f"lifecycle {detail['lifecycle']}",
        f"start {detail['start_at'] or '-'} · end {detail['end_at'] or '-'} · deadline {detail['deadline_at'] or '-'} · "
        f"first seen {detail['first_seen_at']} · last seen {detail['last_seen_at']}",
        "accounts: " + (", ".join(_accounts(ctx, detail["accounts"])) or "-"),
        "description: " + fence(f"event:{eid}", detail.get("description") or "", 1500),
    ]
    resources = [r.get("id", "") for r in detail.get("resources", [])]
    if resources:
        lines.append(f"resources ({len(resources)}): " + fence(f"event:{eid}", ", ".join(resources), 600))
    lines += _decision_lines(ctx, eid, decision)
    lines += _version_lines(eid, detail.get("versions", []))
    lines += _history_lines(eid, detail.get("history", []))
    tickets = detail.get("tickets", [])
    lines.append(
        "tickets: "
        + (
            ", ".join(f"{t['key']} ({t['backend']}, {t['status']}, team {t['team']})" for t in tickets)
            or "none"
        )
    )
    sent = [f"{m['channel']} {m['kind']} {m['status']}" for m in detail.get("messages", [])]
    lines.append("messages: " + (", ".join(sent[:20]) or "none"))
    return "\n".join(lines)


def _accounts(ctx: Ctx, accounts: list[str]) -> list[str]:
    org = _org(ctx)
    named = []
    for account in accounts[:20]:
        known = org.account(account) if org is not None else None
        named.append(f"{account} {known.name}" if known is not None and known.name else account)
    return named + ([f"… {len(accounts) - 20} more"] if len(accounts) > 20 else [])


def _org(ctx: Ctx) -> Any:
    try:
        return ctx.deps.app.supervisor.org
    except ConfigurationError:  # a broken policy file must not stop questions
        return None


def _decision_lines(ctx: Ctx, eid: str, decision: dict[str, Any]) -> list[str]:
    if not decision:
        return ["decision: not triaged yet"]
    org = _org(ctx)
    teams = [
        f"{ref} ({team.name})" if org is not None and (team := org.team(ref)) is not None else ref
        for ref in decision.get("teams", [])
    ]
    why = "; ".join(
        f"{step.get('rule')}: {', '.join(step.get('matched') or []) or step.get('note') or ''}"
        for step in decision.get("explanation", [])
    )
    return [
        f"decision ({decision.get('origin')}, {decision.get('at')}): routes {', '.join(decision.get('routes', []))}"
        f" · teams {', '.join(teams) or 'none'} · channels {', '.join(decision.get('channels', [])) or 'none'}"
        f" · approval required: {'yes' if decision.get('require_approval') else 'no'}"
        f" · ticket: {'yes' if decision.get('open_ticket') else 'no'}"
        + (" · suppressed" if decision.get("suppressed") else "")
        + (f" · silenced by {decision['silenced_by']}" if decision.get("silenced_by") else ""),
        "why: " + fence(f"decision:{eid}", why, 800),
    ]


def _version_lines(eid: str, versions: list[dict[str, Any]]) -> list[str]:
    lines = [f"versions ({len(versions)}), oldest first:"]
    for n, v in enumerate(versions[-15:], max(len(versions) - 14, 1)):
        changed = describe_changes(v["changes"]) if v.get("changes") else ""
        what = (
            "first version"
            if n == 1
            else ("changed: " + fence(f"event:{eid}", changed, 300) if changed else "")
        )
        lines.append(
            f"  {n}. updated {v['updated_at']} · received {v['received_at']} · status {v['status']} · "
            f"severity {v['severity']}{' · current' if v.get('current') else ''}"
            + (f" · {what}" if what else "")
        )
    return lines


def _history_lines(eid: str, history: list[dict[str, Any]]) -> list[str]:
    lines = ["history:"]
    for h in history[-20:]:
        d = h.get("detail") or {}
        move = f" {d['from']}→{d['to']}" if "from" in d and "to" in d else ""
        said = "; ".join(str(d[k]) for k in ("why", "note", "reason") if d.get(k))  # an answer has why + note
        lines.append(
            f"  {h['at']} {fence(f'audit:{eid}', str(h['actor']), 80)} {h['action']} via {h['channel']}{move}"
            + (f" · {fence(f'audit:{eid}', str(said), 300)}" if said else "")
        )
    return lines


# -- the lake and reports ---------------------------------------------------------------------------


@tool
def query_lake(ctx: Ctx, sql: str) -> str:
    """Run one read-only SELECT over the event lake (DuckDB SQL; views: events, event_versions, decisions,
    transitions). At most 200 rows come back; prefer aggregates (count, group by).

    Args:
        sql: one SELECT statement
    """
    result = ctx.deps.app.query(sql, max_rows=LAKE_MAX_ROWS)
    flat = " ".join(sql.split())
    rows = [" | ".join(result.columns)]
    rows += [" | ".join(_cell(v) for v in row) for row in result.rows]
    more = " (truncated: more rows exist)" if result.truncated else ""
    return (
        f"{len(result.rows)} row(s){more} in {result.elapsed_s:.2f}s · "
        + ctx.deps.cite(f"lake: {flat[:160]}")
        + "\n"
        + fence("lake", "\n".join(rows), ctx.deps.budget, flat=False)
    )


def _cell(value: Any) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


@tool
def digest(ctx: Ctx, since: datetime | None = None) -> str:
    """The digest report: what arrived, changed and closed since a time, by severity and team.

    Args:
        since: the start (ISO 8601); default 7 days ago
    """
    from opswarden.reports import run
    from opswarden.reports.formats import to_markdown

    start = since or ctx.deps.app.clock.now() - timedelta(days=7)
    report = run.digest(ctx.deps.app, start, items=50)
    citation = f"report digest since {start:%Y-%m-%d %H:%M}"
    return (
        ctx.deps.cite(citation)
        + "\n"
        + fence("report:digest", to_markdown(report), ctx.deps.budget, flat=False)
    )


@tool
def deadlines(ctx: Ctx, days: int = 30) -> str:
    """The deadlines report: events with a deadline in the next days (end of support, maintenance).

    Args:
        days: how far ahead (1 to 365)
    """
    from opswarden.reports import run
    from opswarden.reports.formats import to_markdown

    ahead = max(1, min(days, 365))
    report = run.deadlines(ctx.deps.app, ahead)
    return (
        ctx.deps.cite(f"report deadlines next {ahead} days")
        + "\n"
        + fence("report:deadlines", to_markdown(report), ctx.deps.budget, flat=False)
    )


# -- the knowledge base ---------------------------------------------------------------------------


@tool
def search_knowledge(ctx: Ctx, query: str, k: int = 5) -> str:
    """Search the knowledge base (runbooks, policies and every event's text): the best passages, each
    with its citation.

    Args:
        query: what to look for, in words
        k: how many passages (at most 10)
    """
    hits = ctx.deps.app.kb_search(query, max(1, min(k, 10)))
    if not hits:
        return "nothing in the knowledge base matches"
    per = max(300, ctx.deps.budget // max(len(hits), 1) - 200)
    lines = []
    for n, hit in enumerate(hits, 1):
        lines.append(f"[{n}] {ctx.deps.cite(hit.citation)}")
        lines.append("    " + fence(hit.chunk.source, hit.chunk.text, per))
    return "\n".join(lines)


ANALYST_TOOLS = (search_events, get_event, query_lake, digest, deadlines)
ADVISOR_TOOLS = (search_knowledge,)
