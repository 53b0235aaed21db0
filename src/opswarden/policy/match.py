"""Matchers: one condition on one field of an event, of its accounts' org attributes, or derived.

Written simply in YAML (docs/policy.md#matchers)::

    source: aws.health                       # equals
    category: [issue, scheduledChange]       # in the list
    type_code: {glob: "AWS_*_LIFECYCLE*"}    # glob (fnmatch, case-sensitive)
    title: {regex: "(?i)retire"}             # regex, anchored at both ends (as Alertmanager)
    account.environment: {not: production}   # negation of any of these
    days_to_deadline: {gte: 30, lt: 90}      # numeric comparisons (several in one mapping: all hold)

``account.*`` matchers look at every affected account: a route's account matchers hold when ANY one
affected account satisfies ALL of them (:func:`match_all` records which account).
"""

from __future__ import annotations

import difflib
import fnmatch
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from opswarden.core.event import Event
from opswarden.policy.org import Account, LocatedError, Org

EVENT_FIELDS = (
    "source",
    "type_code",
    "category",
    "service",
    "severity",
    "status",
    "upstream_status",
    "region",
    "title",
    "description",
    "key",
)
ACCOUNT_FIELDS = (
    "account.id",
    "account.known",
    "account.name",
    "account.environment",
    "account.ou",
    "account.team",
)
DERIVED_FIELDS = ("days_to_deadline",)
PREFIXES = ("details.", "tags.", "account.tags.")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
OPERATORS = ("glob", "regex", "not", "in", "eq", *_COMPARE)
_DAY = 86400.0


class MatcherError(LocatedError):
    """A matcher that cannot be understood, located at the field it was written under."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message, *((key,) if key else ()))


# -- tests on one value -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Test:
    """A condition on one value: ``kind`` is eq, glob, regex, not, all or a comparison."""

    kind: str
    values: tuple[str, ...] = ()
    number: float = 0.0
    pattern: re.Pattern[str] | None = None
    inner: tuple[Test, ...] = ()

    def __call__(self, value: Any) -> bool:
        kind = self.kind
        if kind == "eq":
            if isinstance(value, str):  # the common case, enums included (they are str)
                return value in self.values
            return any(text in self.values for text in _texts(value))
        if kind == "regex" and isinstance(value, str):
            assert self.pattern is not None
            return self.pattern.fullmatch(value) is not None
        if kind == "glob":
            return any(fnmatch.fnmatchcase(text, self.values[0]) for text in _texts(value))
        if kind == "regex":
            assert self.pattern is not None
            return any(self.pattern.fullmatch(text) for text in _texts(value))
        if kind == "not":
            return not self.inner[0](value)
        if kind == "all":
            return all(test(value) for test in self.inner)
        number = _number(value)
        return number is not None and _COMPARE[kind](number, self.number)

    def describe(self) -> str:
        if self.kind == "eq":
            return self.values[0] if len(self.values) == 1 else f"in [{', '.join(self.values)}]"
        if self.kind in ("glob", "regex"):
            return f'{self.kind} "{self.values[0]}"'
        if self.kind == "not":
            return f"not {self.inner[0].describe()}"
        if self.kind == "all":
            return " and ".join(test.describe() for test in self.inner)
        return f"{self.kind} {self.number:g}"


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_text(v) for v in value if v is not None]
    return [_text(value)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def parse_test(key: str, spec: Any) -> Test:
    """A scalar (equals), a list (in), or a mapping of operators (all must hold)."""
    if isinstance(spec, list | tuple):
        if not spec or any(isinstance(v, Mapping | list | tuple) for v in spec):
            raise MatcherError(key, f"{key}: a list matcher needs plain values, e.g. [a, b]")
        return Test("eq", tuple(_text(v) for v in spec))
    if isinstance(spec, Mapping):
        if not spec:
            raise MatcherError(key, f"{key}: an empty mapping; write an operator, e.g. {{glob: 'AWS_*'}}")
        tests = [_parse_operator(key, str(op), arg) for op, arg in spec.items()]
        return tests[0] if len(tests) == 1 else Test("all", inner=tuple(tests))
    if spec is None:
        raise MatcherError(key, f"{key}: no value; write the value to match, e.g. {key}: something")
    return Test("eq", (_text(spec),))


def _parse_operator(key: str, op: str, arg: Any) -> Test:
    if op == "not":
        return Test("not", inner=(parse_test(key, arg),))
    if op in ("eq", "in"):
        return parse_test(key, arg)
    if op in _COMPARE:
        number = _number(arg)
        if number is None or isinstance(arg, str):
            raise MatcherError(key, f"{key}: {op} needs a number, e.g. {{{op}: 30}}")
        return Test(op, number=number)
    if op in ("glob", "regex"):
        if not isinstance(arg, str):
            raise MatcherError(key, f"{key}: {op} needs a text pattern in quotes")
        if op == "glob":
            return Test("glob", (arg,))
        try:
            return Test("regex", (arg,), pattern=re.compile(arg))
        except re.error as exc:
            raise MatcherError(key, f"{key}: invalid regex {arg!r}: {exc}") from None
    if op == "expr":
        raise MatcherError(key, _CEL_MISSING)
    raise MatcherError(key, f"{key}: unknown operator {op!r}{_suggest(op, OPERATORS)}")


_CEL_MISSING = (
    "expr: CEL expressions need a CEL package, which is not installed: "
    "pip install common-expression-language (support is planned; see docs/policy.md#cel-expressions)"
)


# -- matchers on fields ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Matcher:
    """``field`` (``title``, ``details.eventScopeCode``, ``account.environment`` …) must pass ``test``."""

    field: str
    test: Test
    on_account: bool = False  # an org attribute of the affected accounts (``account.*``)


def parse_matchers(spec: Any) -> tuple[Matcher, ...]:
    """A ``match:`` mapping (field → condition) as matchers, or :class:`MatcherError`."""
    if spec is None:
        return ()
    if isinstance(spec, Sequence) and all(isinstance(m, Matcher) for m in spec):
        return tuple(spec)
    if not isinstance(spec, Mapping):
        raise MatcherError("", "match must be a mapping of field: condition, e.g. {source: aws.health}")
    matchers = []
    for raw_key, condition in spec.items():
        key = str(raw_key)
        if key == "expr":
            raise MatcherError(key, _CEL_MISSING)
        check_field(key)
        matchers.append(Matcher(key, parse_test(key, condition), key.startswith("account.")))
    return tuple(matchers)


def check_field(key: str) -> None:
    if key in EVENT_FIELDS or key in ACCOUNT_FIELDS or key in DERIVED_FIELDS:
        return
    if any(key.startswith(p) and len(key) > len(p) for p in PREFIXES):
        return
    known = (*EVENT_FIELDS, *ACCOUNT_FIELDS, *DERIVED_FIELDS)
    raise MatcherError(
        key,
        f"unknown field {key!r}{_suggest(key, known)} (fields: {', '.join(known)}, "
        "details.<key>, tags.<key>, account.tags.<key>)",
    )


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f": did you mean {close[0]!r}?" if close else ""


# -- evaluation ---------------------------------------------------------------------------------------


class Facts:
    """What matchers read for one event: the event, its accounts in the org, the time.

    Field values are read once per event and kept in ``values`` (the event's own fields up front;
    ``details.*``, ``tags.*`` and ``days_to_deadline`` on first use), so the routes that test the same
    field share one lookup.
    """

    __slots__ = ("accounts", "days_to_deadline", "event", "values")

    def __init__(self, event: Event, org: Org, now: datetime) -> None:
        self.event = event
        ids = event.accounts or ("",)
        self.accounts: tuple[tuple[str, Account | None], ...] = tuple((i, org.account(i)) for i in ids)
        deadline = event.deadline_at
        self.days_to_deadline = None if deadline is None else (deadline - now).total_seconds() / _DAY
        self.values: dict[str, Any] = dict(event.__dict__)  # pydantic keeps the fields there

    def value(self, field: str) -> Any:
        """An event or derived field's value (None when absent)."""
        values = self.values
        if field in values:
            return values[field]
        value = self._read(field)
        values[field] = value
        return value

    def _read(self, field: str) -> Any:
        if field == "days_to_deadline":
            return None if self.days_to_deadline is None else round(self.days_to_deadline, 1)
        if field.startswith("details."):
            return _dig(self.event.details, field[8:])
        if field.startswith("tags."):
            return self.event.tags.get(field[5:])
        return getattr(self.event, field)


def account_value(account_id: str, account: Account | None, field: str) -> Any:
    if field == "account.id":
        return account_id or None
    if field == "account.known":
        return account is not None
    if account is None:
        return None
    if field.startswith("account.tags."):
        return account.tags.get(field[13:])
    return getattr(account, field[8:])


def _dig(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True, slots=True)
class Hit:
    """Matchers that held: what they saw (``account.environment = production (111111111111)``)."""

    matched: tuple[str, ...]
    account: str | None = None


def match_all(matchers: Sequence[Matcher], facts: Facts) -> Hit | None:
    """A :class:`Hit` when every matcher holds (account matchers: on one same account), else None."""
    seen: list[str] = []
    on_account: list[Matcher] = []
    for matcher in matchers:
        if matcher.on_account:
            on_account.append(matcher)
            continue
        value = facts.value(matcher.field)
        if not matcher.test(value):
            return None
        seen.append(_seen(matcher, value))
    if not on_account:
        return Hit(tuple(seen))
    for account_id, account in facts.accounts:
        values = [account_value(account_id, account, m.field) for m in on_account]
        if all(m.test(v) for m, v in zip(on_account, values, strict=True)):
            where = account_id or "no account"
            seen += [_seen(m, v, where) for m, v in zip(on_account, values, strict=True)]
            return Hit(tuple(seen), account_id or None)
    return None


def _seen(matcher: Matcher, value: Any, account: str | None = None) -> str:
    """``field = value``, then the account it was seen on, then the condition when not equality."""
    shown = "(none)" if value is None else ", ".join(_texts(value)) or "(empty)"
    text = f"{matcher.field} = {shown}"
    if account is not None:
        text += f" ({account})"
    if matcher.test.kind != "eq":
        text += f" [{matcher.test.describe()}]"
    return text
