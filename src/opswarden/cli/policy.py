"""``opswarden policy check|test|backtest``: validate the policy and org files; dry-run events through them.

Nothing is stored or sent: ``policy test`` normalises the files' events exactly as ingest does (reader,
envelopes, source registry) and prints each decision with the rules and values behind it;
``policy backtest`` replays the stored events through the current and a candidate policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.tree import Tree

from opswarden.cli.common import Format, console, err_console, fail, get_app, parse_when, print_json
from opswarden.core.clock import SystemClock
from opswarden.core.event import Event
from opswarden.core.timeparse import parse_time_text
from opswarden.errors import ConfigurationError, InputError, TimestampError
from opswarden.ingest.envelopes import unwrap
from opswarden.ingest.reader import read_paths
from opswarden.policy import Decision, Org, Policy, Route, evaluate, load_org, load_policy
from opswarden.policy.backtest import BacktestReport, backtest
from opswarden.settings import Settings, load_settings
from opswarden.sources.registry import build_registry, find_source
from opswarden.store.reader import EventFilter

policy_app = typer.Typer(help="Check the policy and dry-run events through it.", no_args_is_help=True)

PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="default: OPSWARDEN_POLICY_FILE or policy.yaml in the data dir"),
]
OrgOption = Annotated[
    Path | None, typer.Option("--org", help="default: OPSWARDEN_ORG_FILE or org.yaml in the data dir")
]


def _settings(ctx: typer.Context) -> Settings:
    options = ctx.find_root().params
    try:
        return load_settings(data_dir=options.get("data_dir"), database_url=options.get("database_url"))
    except ConfigurationError as exc:
        fail(str(exc), code=2)
        raise


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read the {what} file {path}: {exc.strerror or exc} (see docs/policy.md)", code=2)
        raise


def _load(settings: Settings, policy_file: Path | None, org_file: Path | None) -> tuple[Policy, Org]:
    org_path, policy_path = org_file or settings.org_path, policy_file or settings.policy_path
    try:
        org = load_org(_read(org_path, "org"), str(org_path))
        return load_policy(_read(policy_path, "policy"), str(policy_path), org=org), org
    except ConfigurationError as exc:
        fail(str(exc), code=2)
        raise


@policy_app.command("check")
def check(ctx: typer.Context, policy_file: PolicyOption = None, org_file: OrgOption = None) -> None:
    """Validate policy.yaml and org.yaml; print the routing tree. Exit 2 with file:line on an error."""
    settings = _settings(ctx)
    policy, org = _load(settings, policy_file, org_file)
    now = SystemClock().now()
    tree = Tree(f"[bold]{escape(policy.route.name)}[/]{escape(_decisions(policy.route))}")
    _add_routes(tree, policy.route)
    console.print(tree, highlight=False)
    for path, catch_all in policy.unreachable():
        err_console.print(
            f"[yellow]warning:[/] route {escape(path)} is never reached: {escape(catch_all)} before it has no "
            "match and no continue, so it takes every event first",
            highlight=False,
        )
    active = sum(1 for s in policy.silences if s.active(now))
    console.print(
        f"[green]ok[/]: {len(policy.route.walk())} route(s), {len(policy.silences)} silence(s) "
        f"({active} active); {len(org.accounts)} account(s), {len(org.teams)} team(s)",
        highlight=False,
    )
    ai = policy.ai
    if ai.triage:
        how = "applied at once (autonomy)" if ai.autonomy else "proposals await approval"
        console.print(f"ai: triage of events no rule decides, {how}", highlight=False)
    else:
        console.print("ai: no triage (events no rule decides keep the root's defaults)", highlight=False)


def _add_routes(branch: Tree, route: Route) -> None:
    for child in route.routes:
        conditions = ", ".join(f"{m.field} {m.test.describe()}" for m in child.match) or "everything else"
        more = " [dim](continue)[/]" if child.continue_ else ""
        label = f"[bold]{escape(child.name)}[/]: {escape(conditions)}{more}{escape(_decisions(child))}"
        _add_routes(branch.add(label), child)


def _decisions(route: Route) -> str:
    parts = []
    if route.suppress is not None:
        parts.append("suppress" if route.suppress else "unsuppress")
    for name in ("teams", "channels", "reminders"):
        value = getattr(route, name)
        if value is not None:
            parts.append(f"{name} {', '.join(str(v) for v in value)}")
    if route.severity is not None:
        parts.append(f"severity {getattr(route.severity, 'value', 'by deadline')}")
    parts += [name for name in ("require_approval", "open_ticket") if getattr(route, name)]
    return f" → {'; '.join(parts)}" if parts else ""


@policy_app.command("test")
def dry_run(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="event files, directories or - for stdin")],
    policy_file: PolicyOption = None,
    org_file: OrgOption = None,
    at: Annotated[str | None, typer.Option("--at", help="evaluate as of this time (default: now)")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Dry run: the decision for every event in the files, and why. Stores and sends nothing."""
    settings = _settings(ctx)
    policy, org = _load(settings, policy_file, org_file)
    try:
        now = parse_time_text(at) if at else SystemClock().now()
    except TimestampError as exc:
        raise typer.BadParameter(str(exc), param_hint="--at") from None
    results = [
        _Result(origin, error=item)
        if isinstance(item, str)
        else _Result(origin, item, evaluate(item, policy, org, now))
        for origin, item in _events(paths, settings)
    ]
    decided = [r.decision for r in results if r.decision is not None]
    if fmt is Format.JSON:
        print_json([result.to_dict() for result in results])
    else:
        for result in results:
            _print(result)
        console.print(
            f"[bold]{len(decided)}[/] event(s) as of {now:%Y-%m-%d %H:%M}Z: "
            f"{sum(d.notify for d in decided)} to notify, {sum(d.suppressed for d in decided)} suppressed, "
            f"{sum(d.silenced_by is not None for d in decided)} silenced, "
            f"{sum(not d.matched for d in decided)} matched no rule",
            highlight=False,
        )
    if len(decided) < len(results):
        raise typer.Exit(1)


@dataclass(frozen=True, slots=True)
class _Result:
    """One event and its decision, or what could not be read."""

    origin: str
    event: Event | None = None
    decision: Decision | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.event is None or self.decision is None:
            return {"origin": self.origin, "error": self.error}
        return {
            "origin": self.origin,
            "id": self.event.id,
            "key": self.event.key,
            "source": self.event.source,
            "type": self.event.type_code,
            "title": self.event.title,
            "accounts": list(self.event.accounts),
            "decision": self.decision.to_dict(),
        }


def _events(paths: list[str], settings: Settings) -> list[tuple[str, Event | str]]:
    """Every event in the files, normalised as ingest does; what cannot be read, as its error text."""
    registry = build_registry(settings.fingerprints)
    found: list[tuple[str, Event | str]] = []
    for item in read_paths(paths):
        if item.error is not None:
            found.append((item.origin, item.error.message))
            continue
        for part in unwrap(item.value):
            if isinstance(part, InputError):
                found.append((f"{item.origin} {part.where or ''}".strip(), part.message))
                continue
            where = f"{item.origin} {part.path}" if part.path else item.origin
            try:
                found += [
                    (where, event) for event in find_source(part.payload, registry).normalise(part.payload)
                ]
            except InputError as exc:
                found.append((where, str(exc)))
    return found


def _print(result: _Result) -> None:
    event, decision = result.event, result.decision
    if event is None or decision is None:
        err_console.print(
            f"[red]rejected[/] {escape(result.origin)}: {escape(result.error or '')}", highlight=False
        )
        return
    console.print(f"[bold]{escape(result.origin)}[/]  {event.id}  {escape(event.title)}", highlight=False)
    if decision.silenced_by:
        verdict = f"[yellow]silenced[/] by {escape(decision.silenced_by)}"
    elif decision.suppressed:
        verdict = f"[yellow]suppressed[/]: {escape(decision.reason or '')}"
    elif not decision.matched:
        verdict = "[magenta]no rule matched[/] (left to triage)"
    else:
        verdict = "[green]notify[/]"
    console.print(f"  {verdict}  route {escape(', '.join(decision.routes))}", highlight=False)
    severity = decision.severity.value
    if decision.severity is not decision.original_severity:
        severity += f" (was {decision.original_severity.value})"
    console.print(
        f"  teams {escape(', '.join(decision.teams)) or '-'} · channels {', '.join(decision.channels) or '-'} · "
        f"severity {severity} · approval {_yes(decision.require_approval)} · "
        f"ticket {_yes(decision.open_ticket)} · reminders {', '.join(map(str, decision.reminders)) or '-'}",
        highlight=False,
    )
    for step in decision.explanation:
        said = "; ".join(step.matched) + (f" {step.note}" if step.note else "")
        console.print(f"    [dim]{escape(step.rule)}:[/] {escape(said.strip())}", highlight=False)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@policy_app.command("backtest")
def backtest_command(
    ctx: typer.Context,
    candidate_file: Annotated[Path, typer.Option("--policy", help="the candidate policy to compare")],
    org_file: OrgOption = None,
    since: Annotated[
        str, typer.Option("--since", help="events updated or received since: an age (30d) or a time")
    ] = "30d",
    at: Annotated[str | None, typer.Option("--at", help="decide as of this time (default: now)")] = None,
    fail_on_change: Annotated[
        bool, typer.Option("--fail-on-change", help="exit 1 if any decision changes (CI)")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Replay stored events through the current policy and a candidate; print what would change."""
    settings = _settings(ctx)
    current, org = _load(settings, None, org_file)
    candidate, _ = _load(settings, candidate_file, org_file)
    application = get_app(ctx)
    try:
        now = parse_time_text(at) if at else application.clock.now()
    except TimestampError as exc:
        raise typer.BadParameter(str(exc), param_hint="--at") from None
    start = parse_when(since, now)
    events = application.store.current_events(EventFilter(since=start))
    report = backtest(events, current, candidate, org, now)
    if fmt is Format.JSON:
        print_json(
            {
                "policy": str(settings.policy_path),
                "candidate": str(candidate_file),
                "since": None if start is None else start.isoformat().replace("+00:00", "Z"),
                **report.to_dict(),
            }
        )
    else:
        _print_backtest(report, since)
    if fail_on_change and report.changed:
        raise typer.Exit(1)


def _print_backtest(report: BacktestReport, since: str) -> None:
    for item in report.changed:
        event = item.event
        console.print(f"[bold]{event.id}[/]  {escape(event.title)}", highlight=False)
        before, after = ", ".join(item.before.routes), ", ".join(item.after.routes)
        routes = before if before == after else f"{before} → {after}"
        console.print(f"  route {escape(routes)}", highlight=False)
        for change in item.changes:
            console.print(f"  [yellow]{escape(change.describe())}[/]", highlight=False)
    kinds = ", ".join(f"{kind} {count}" for kind, count in report.by_kind.items())
    console.print(
        f"[bold]{report.replayed}[/] event(s) since {escape(since)} replayed as of {report.now:%Y-%m-%d %H:%M}Z: "
        f"{report.unchanged} unchanged, {len(report.changed)} changed" + (f" ({kinds})" if kinds else ""),
        highlight=False,
    )
