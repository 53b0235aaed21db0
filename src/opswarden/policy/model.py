"""The policy: an ordered routing tree (Alertmanager semantics) and silences.

``policy.yaml`` (docs/policy.md#policyyaml) holds one root ``route``; each route has a ``name``,
``match`` conditions, optional ``continue`` and child ``routes``. Decision fields set on a route apply
to its children unless a child sets them itself. Validated here; located errors come from
:mod:`opswarden.policy.load`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    InstanceOf,
    Tag,
    model_validator,
)

from opswarden.core.event import Severity
from opswarden.policy.compiled import CompiledMatch, Index
from opswarden.policy.match import Matcher, parse_matchers
from opswarden.policy.org import LocatedError

OWNER = "owner"


class Channel(StrEnum):
    """Where a team is told; each team's address for it comes from org.yaml."""

    SLACK = "slack"
    TEAMS = "teams"
    EMAIL = "email"
    WEBHOOK = "webhook"
    CONSOLE = "console"


Matchers = Annotated[tuple[InstanceOf[Matcher], ...], BeforeValidator(parse_matchers)]


class Band(BaseModel):
    """``{within_days: 30, severity: high}`` or ``{otherwise: low}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    within_days: float | None = Field(default=None, ge=0)
    severity: Severity | None = None
    otherwise: Severity | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Band:
        if self.otherwise is not None:
            if self.within_days is not None or self.severity is not None:
                raise ValueError("a band is either {within_days: N, severity: S} or {otherwise: S}")
        elif self.within_days is None or self.severity is None:
            raise ValueError("a band needs within_days and severity, e.g. {within_days: 30, severity: high}")
        return self


class ByDeadline(BaseModel):
    """Severity from the days left until ``deadline_at``: the first band whose limit is not reached."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by_deadline: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> ByDeadline:
        limits = [b.within_days for b in self.by_deadline if b.within_days is not None]
        if limits != sorted(limits):
            raise LocatedError("by_deadline bands must go from the nearest deadline out", "by_deadline")
        for i, band in enumerate(self.by_deadline[:-1]):
            if band.otherwise is not None:
                raise LocatedError("otherwise must be the last band", "by_deadline", i)
        return self

    def pick(self, days: float) -> Band | None:
        """The band for a deadline ``days`` away (negative: past); None beyond every band."""
        for band in self.by_deadline:
            if band.otherwise is not None or (band.within_days is not None and days < band.within_days):
                return band
        return None


def _severity_form(value: Any) -> str:
    return "bands" if isinstance(value, dict | ByDeadline) else "fixed"


SeveritySpec = Annotated[
    Annotated[Severity, Tag("fixed")] | Annotated[ByDeadline, Tag("bands")],
    Discriminator(_severity_form),
]
DECISIONS = (
    "suppress",
    "reason",
    "teams",
    "channels",
    "severity",
    "require_approval",
    "open_ticket",
    "reminders",
)


class Route(BaseModel):
    """One node of the routing tree. ``None`` decision fields inherit the parent's."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    match: Matchers = ()
    continue_: bool = Field(default=False, alias="continue")
    routes: tuple[Route, ...] = ()
    suppress: bool | None = None
    reason: str | None = None
    teams: tuple[str, ...] | None = None
    channels: tuple[Channel, ...] | None = None
    severity: SeveritySpec | None = None
    require_approval: bool | None = None
    open_ticket: bool | None = None
    reminders: tuple[int, ...] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Route:
        if self.suppress and not self.reason:
            raise LocatedError("suppress: true needs a reason: write reason: <why this is noise>", "suppress")
        if self.reminders is not None and any(d < 0 for d in self.reminders):
            raise LocatedError("reminders are days before the deadline, 0 or more", "reminders")
        names = [r.name for r in self.routes]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise LocatedError(f"two routes under {self.name!r} are named {name!r}", "routes", i, "name")
        return self

    def walk(self, path: str = "") -> list[tuple[str, Route]]:
        """Every route with its path (``root/oheroact/non-production``), depth first, in order."""
        here = f"{path}/{self.name}" if path else self.name
        found = [(here, self)]
        for child in self.routes:
            found += child.walk(here)
        return found


class Silence(BaseModel):
    """Mutes matching events until ``until`` (a maintenance window when ``starts`` is set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    match: Matchers = Field(min_length=1)
    starts: datetime | None = None
    until: datetime
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _aware(self) -> Silence:
        for label in ("starts", "until"):
            moment = getattr(self, label)
            if moment is not None and moment.tzinfo is None:
                raise LocatedError(f"{label} needs a time zone, e.g. 2026-12-01T00:00:00Z", label)
        return self

    def active(self, now: datetime) -> bool:
        return (self.starts is None or self.starts <= now) and now < self.until


@dataclass(frozen=True, slots=True)
class Node:
    """A route ready for evaluation: its path, matchers, the decisions it sets itself, children.

    ``fields`` are the decisions in force there (its own over its ancestors'), ``test`` its matchers
    compiled, and ``index`` (with many children) narrows which children to try.
    """

    path: str
    match: tuple[Matcher, ...]
    decisions: dict[str, Any]
    continue_: bool
    children: tuple[Node, ...]
    fields: dict[str, Any]
    test: CompiledMatch
    index: Index | None

    @classmethod
    def of(cls, route: Route, parent: str = "", inherited: dict[str, Any] | None = None) -> Node:
        path = f"{parent}/{route.name}" if parent else route.name
        own = {name: getattr(route, name) for name in DECISIONS if getattr(route, name) is not None}
        fields = {**(inherited or {}), **own}
        children = tuple(cls.of(child, path, fields) for child in route.routes)
        index = Index.of([child.match for child in route.routes])
        test = CompiledMatch(route.match)
        return cls(path, route.match, own, route.continue_, children, fields, test, index)


@dataclass(frozen=True, slots=True)
class Silences:
    """The silences ready for evaluation: (name, silence, compiled matchers) in order, and an index."""

    rules: tuple[tuple[str, Silence, CompiledMatch], ...]
    index: Index | None

    @classmethod
    def of(cls, silences: tuple[Silence, ...]) -> Silences:
        rules = tuple(
            (silence.name or f"silences[{i}]", silence, CompiledMatch(silence.match))
            for i, silence in enumerate(silences)
        )
        return cls(rules, Index.of([silence.match for silence in silences]))


class Ai(BaseModel):
    """``ai:``: whether the AI triages what no rule decides, and whether it may act without a person.

    ``triage`` (default false): events that only the root route matches (``matched: false``) get an AI
    proposal (suppress or route, with its reasoning) when a model is configured. ``autonomy`` (default
    false): the proposal is applied at once, as the policy's decision would be; otherwise it waits for
    a person's approval, like a route's ``require_approval``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    triage: bool = False
    autonomy: bool = False

    @model_validator(mode="after")
    def _autonomy_needs_triage(self) -> Ai:
        if self.autonomy and not self.triage:
            raise LocatedError(
                "autonomy: true needs triage: true (the AI acts only on what it triages)", "autonomy"
            )
        return self


class Policy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    route: Route
    silences: tuple[Silence, ...] = ()
    ai: Ai = Field(default_factory=Ai)

    @model_validator(mode="after")
    def _root_matches_everything(self) -> Policy:
        if self.route.match:
            raise LocatedError(
                "the root route matches every event: move its match to a child", "route", "match"
            )
        return self

    def unreachable(self) -> list[tuple[str, str]]:
        """Routes no event can reach: (path, the earlier sibling that takes every event first)."""
        found: list[tuple[str, str]] = []
        for path, route in self.route.walk():
            catch_all = next((r for r in route.routes if not r.match and not r.continue_), None)
            if catch_all is not None:
                after = route.routes[route.routes.index(catch_all) + 1 :]
                found += [(f"{path}/{r.name}", f"{path}/{catch_all.name}") for r in after]
        return found

    @cached_property
    def tree(self) -> Node:
        """The routing tree, compiled once for evaluation."""
        return Node.of(self.route)

    @cached_property
    def compiled_silences(self) -> Silences:
        """The silences, compiled once for evaluation."""
        return Silences.of(self.silences)

    def team_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every team written in a route, with the route's path in the file (for reference checks)."""
        found: list[tuple[tuple[str | int, ...], str]] = []

        def visit(route: Route, at: tuple[str | int, ...]) -> None:
            for i, team in enumerate(route.teams or ()):
                found.append(((*at, "teams", i), team))
            for i, child in enumerate(route.routes):
                visit(child, (*at, "routes", i))

        visit(self.route, ("route",))
        return found
