"""Reports for an application: open the lake once, run a report's queries, build it.

Times come from the application's clock (``app.clock.now()``), so a FakeClock makes reports exact."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from opswarden.errors import ConfigurationError
from opswarden.lake.query import LakeQuery, QueryResult
from opswarden.policy.org import EMPTY_ORG, Org
from opswarden.reports.model import Report

if TYPE_CHECKING:
    from opswarden.app import Application


def run_queries(lake: LakeQuery, queries: dict[str, str]) -> dict[str, QueryResult]:
    """Each query on one connection (the lake's files are listed once)."""
    return {name: lake.run(sql) for name, sql in queries.items()}


def open_lake(app: Application) -> LakeQuery:
    settings = app.settings
    return LakeQuery(
        settings.lake,
        max_rows=settings.query_max_rows,
        timeout_s=settings.query_timeout_seconds,
        s3_endpoint=settings.lake_s3_endpoint,
    )


def org_of(app: Application) -> Org:
    """The org (account and team names), or an empty one when the policy or org files do not load:
    a report then shows ids instead of names rather than failing."""
    try:
        return app.supervisor.org
    except ConfigurationError:
        return EMPTY_ORG


def digest(app: Application, since: datetime, *, items: int = 100) -> Report:
    from opswarden.reports.digest import build_digest, digest_prepare, digest_queries

    now = app.clock.now()
    with open_lake(app) as lake:
        for name, select in digest_prepare(since, now).items():
            lake.materialize(name, select)
        results = run_queries(lake, digest_queries(since, now, items=items))
    return build_digest(results, since=since, now=now, org=org_of(app))


def deadlines(app: Application, days: int) -> Report:
    from opswarden.reports.deadlines import build_deadlines, deadline_queries

    now = app.clock.now()
    with open_lake(app) as lake:
        results = run_queries(lake, deadline_queries(now, days))
    return build_deadlines(results, now=now, days=days, org=org_of(app))


def event(app: Application, ref: str) -> Report:
    from opswarden.reports.event import build_event, event_queries, resolve_query

    now = app.clock.now()
    with open_lake(app) as lake:
        event_id = resolve(lake.run(resolve_query(ref)), ref)
        results = run_queries(lake, event_queries(event_id))
    return build_event(results, now=now, org=org_of(app))


def resolve(result: QueryResult, ref: str) -> str:
    from opswarden.errors import NotFoundError

    ids = [r[0] for r in result.rows]
    if not ids:
        raise NotFoundError(f"no event {ref!r} in the lake (an id, an id prefix or a key)")
    if len(ids) > 1:
        raise NotFoundError(f"{ref!r} matches several events in the lake: {', '.join(ids)}")
    return str(ids[0])
