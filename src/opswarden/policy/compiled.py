"""Matchers compiled for evaluation: the same answers as :func:`opswarden.policy.match.match_all`, faster.

Two things make routing cheap (docs/policy.md#performance):

* :class:`CompiledMatch`: each matcher's test becomes a closure specialised for its operator, field
  values come from the per-event cache in :class:`~opswarden.policy.match.Facts`, and the explanation
  text (``field = value``) is only written for a route whose matchers all hold.
* :class:`Index`: among many siblings (or silences), most cannot match a given event. A bit mask
  says which may: one dictionary lookup per event field that many of them test for equality
  (``source: aws.health``, ``category: [issue, finding]``), and, for ``account.*`` matchers, the
  rules each account satisfies, worked out once per account. Only those are tried, in their order,
  so "first match wins" and ``continue`` decide as before.

:func:`match_all` stays the reference: ``tests/unit/test_policy_compiled.py`` checks both agree.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from opswarden.policy.match import (
    _COMPARE,
    Facts,
    Hit,
    Matcher,
    Test,
    _number,
    _texts,
)
from opswarden.policy.org import Account

ValueTest = Callable[[Any], bool]
AccountGetter = Callable[[str, Account | None], Any]
_MISSING = object()
NO_MATCHERS = Hit(())
MIN_INDEXED = 4  # siblings: fewer are simply tried in turn
ACCOUNTS_KEPT = 10_000  # accounts whose matching rules an index keeps (org accounts and others seen)


# -- one test on one value --------------------------------------------------------------------------------


def compile_test(test: Test) -> ValueTest:
    """A function with the answers of ``test(value)`` (:meth:`Test.__call__`), specialised by kind."""
    kind = test.kind
    if kind == "eq":
        return _equals(test.values)
    if kind == "regex":
        assert test.pattern is not None
        return _regex(test.pattern)
    if kind == "glob":
        return _glob(test.values[0])
    if kind == "not":
        inner = compile_test(test.inner[0])
        return lambda value: not inner(value)
    if kind == "all":
        tests = tuple(compile_test(t) for t in test.inner)
        return lambda value: all(t(value) for t in tests)
    return _compare(kind, test.number)


def _equals(values: tuple[str, ...]) -> ValueTest:
    choices = frozenset(values)

    def equals(value: Any) -> bool:
        if type(value) is str:
            return value in choices
        if isinstance(value, str):  # an enum: compared by its text, as ``in`` on a tuple does
            return str.__str__(value) in choices
        return any(text in choices for text in _texts(value))

    return equals


def _regex(pattern: re.Pattern[str]) -> ValueTest:
    fullmatch = pattern.fullmatch

    def regex(value: Any) -> bool:
        if isinstance(value, str):
            return fullmatch(value) is not None
        return any(fullmatch(text) is not None for text in _texts(value))

    return regex


def _glob(pattern: str) -> ValueTest:
    match = re.compile(fnmatch.translate(pattern)).match  # what fnmatch.fnmatchcase does, compiled once

    def glob(value: Any) -> bool:
        if type(value) is str:
            return match(value) is not None
        return any(match(text) is not None for text in _texts(value))

    return glob


def _compare(kind: str, limit: float) -> ValueTest:
    compare = _COMPARE[kind]

    def numeric(value: Any) -> bool:
        if type(value) is float:
            return compare(value, limit)
        number = _number(value)
        return number is not None and compare(number, limit)

    return numeric


# -- the values matchers read -------------------------------------------------------------------------------


def account_getter(field: str) -> AccountGetter:
    """``account_value(account_id, account, field)`` for one field, decided once."""
    if field == "account.id":
        return lambda account_id, _: account_id or None
    if field == "account.known":
        return lambda _, account: account is not None
    if field.startswith("account.tags."):
        tag = field[13:]
        return lambda _, account: None if account is None else account.tags.get(tag)
    attribute = field[8:]
    return lambda _, account: None if account is None else getattr(account, attribute)


def _shown(value: Any) -> str:
    """A value as an explanation shows it (as :func:`opswarden.policy.match._seen` does)."""
    if type(value) is str:
        return value or "(empty)"
    return "(none)" if value is None else ", ".join(_texts(value)) or "(empty)"


_CHEAP_FIRST = {"eq": 0, "not": 1, "all": 1, "lt": 1, "lte": 1, "gt": 1, "gte": 1, "glob": 2, "regex": 3}


# -- all the matchers of a route ----------------------------------------------------------------------------


class CompiledMatch:
    """A route's (or a silence's) matchers: :meth:`hit` answers as ``match_all(matchers, facts)``."""

    __slots__ = ("_account", "_account_checks", "_event", "_event_checks")

    def __init__(self, matchers: Sequence[Matcher]) -> None:
        event = [m for m in matchers if not m.on_account]
        account = [m for m in matchers if m.on_account]
        # What a hit shows: ``field = `` + the value + `` (account)`` + `` [condition]`` (not for equals).
        self._event = tuple((m.field, f"{m.field} = ", _condition(m)) for m in event)
        self._account = tuple((account_getter(m.field), f"{m.field} = ", _condition(m)) for m in account)
        # Tests are pure, so their order changes no answer: cheap ones first.
        cheap_first = sorted(event, key=lambda m: _CHEAP_FIRST.get(m.test.kind, 1))
        self._event_checks = tuple((m.field, compile_test(m.test)) for m in cheap_first)
        self._account_checks = tuple((account_getter(m.field), compile_test(m.test)) for m in account)

    def hit(self, facts: Facts) -> Hit | None:
        """A :class:`Hit` when every matcher holds (account matchers: on one same account), else None."""
        values = facts.values
        for field, test in self._event_checks:
            value = values.get(field, _MISSING)
            if not test(facts.value(field) if value is _MISSING else value):
                return None
        if not self._account_checks:
            return Hit(self._seen_on_event(facts)) if self._event_checks else NO_MATCHERS
        for account_id, account in facts.accounts:
            for get, test in self._account_checks:
                if not test(get(account_id, account)):
                    break
            else:
                return self._account_hit(facts, account_id, account)
        return None

    def _seen_on_event(self, facts: Facts) -> tuple[str, ...]:
        return tuple(
            f"{shows}{_shown(facts.value(field))}{condition}" for field, shows, condition in self._event
        )

    def _account_hit(self, facts: Facts, account_id: str, account: Account | None) -> Hit:
        where = f" ({account_id or 'no account'})"
        seen = [
            f"{shows}{_shown(get(account_id, account))}{where}{condition}"
            for get, shows, condition in self._account
        ]
        return Hit((*self._seen_on_event(facts), *seen), account_id or None)


def _condition(matcher: Matcher) -> str:
    return "" if matcher.test.kind == "eq" else f" [{matcher.test.describe()}]"


# -- which of many siblings may match -----------------------------------------------------------------------


def _mask(table: dict[str, int], other: int, value: Any) -> int:
    """The rules whose equality on a field can hold for ``value`` (``other``: those without one)."""
    if type(value) is str:
        return table.get(value, other)
    if isinstance(value, str):
        return table.get(str.__str__(value), other)
    texts = _texts(value)
    if not texts:  # an absent value equals nothing
        return other
    found = 0
    for text in texts:  # a list: an equality holds if it holds for any element
        found |= table.get(text, other)
    return found


def _equalities(matcher: Matcher) -> frozenset[str] | None:
    """The texts an equality matcher accepts (within an ``all``: what every equality accepts)."""
    test = matcher.test
    tests = test.inner if test.kind == "all" else (test,)
    sets = [frozenset(t.values) for t in tests if t.kind == "eq"]
    return frozenset.intersection(*sets) if sets else None


def _equality_keys(rules: Sequence[Sequence[Matcher]]) -> tuple[tuple[str, dict[str, int], int], ...]:
    """(field, text → rules that accept it, rules without an equality on it) for event fields."""
    accepted: dict[str, list[frozenset[str] | None]] = {}
    for i, matchers in enumerate(rules):
        for matcher in matchers:
            texts = None if matcher.on_account else _equalities(matcher)
            if texts is not None:
                column = accepted.setdefault(matcher.field, [None] * len(rules))
                previous = column[i]
                column[i] = texts if previous is None else previous & texts
    keys = []
    for field, column in accepted.items():
        if sum(texts is not None for texts in column) < max(2, len(rules) // 8):
            continue  # few rules test it: a lookup per event would cost about what it saves
        other = sum(1 << i for i, texts in enumerate(column) if texts is None)
        table: dict[str, int] = {}
        for i, texts in enumerate(column):
            for text in texts or ():
                table[text] = table.get(text, other) | 1 << i
        keys.append((field, table, other))
    keys.sort(key=lambda key: key[2].bit_count())  # most constrained first: a mask reaching 0 stops early
    return tuple(keys)


_Rule = TypeVar("_Rule")


class Index:
    """Which of an ordered list of rules (sibling routes, silences) can match an event, as a bit mask.

    * Event fields: one lookup per field that several rules test for equality.
    * Accounts: every ``account.*`` matcher of every rule, worked out once per account (an account's
      org attributes do not change) and kept; a rule needs one account that satisfies all its own.

    A rule is left out only when one of its matchers cannot hold, so trying the candidates in order
    decides as trying every rule does.
    """

    __slots__ = ("_account_checks", "_by_account", "_event_keys", "everything")

    def __init__(self, rules: Sequence[Sequence[Matcher]]) -> None:
        self.everything = (1 << len(rules)) - 1
        self._event_keys = _equality_keys(rules)
        self._account_checks = tuple(
            tuple((account_getter(m.field), compile_test(m.test)) for m in matchers if m.on_account)
            for matchers in rules
        )
        self._by_account: dict[str, tuple[Account | None, int]] = {}

    @classmethod
    def of(cls, rules: Sequence[Sequence[Matcher]]) -> Index | None:
        """An index when there are enough rules and some narrow it, else None."""
        if len(rules) < MIN_INDEXED:
            return None
        index = cls(rules)
        return index if index._event_keys or any(index._account_checks) else None

    def candidates(self, facts: Facts) -> int:
        """Bit ``i`` set: rule ``i`` may match this event."""
        found = self.everything
        values = facts.values
        for field, table, other in self._event_keys:
            value = values.get(field, _MISSING)
            if value is _MISSING:
                value = facts.value(field)
            found &= table.get(value, other) if type(value) is str else _mask(table, other, value)
            if not found:
                return 0
        accounts = facts.accounts
        if len(accounts) == 1:
            return found & self._on_account(*accounts[0])
        on_any = 0
        for account_id, account in accounts:
            on_any |= self._on_account(account_id, account)
        return found & on_any

    def _on_account(self, account_id: str, account: Account | None) -> int:
        """The rules whose account matchers all hold on this account (those without any included)."""
        known = self._by_account.get(account_id)
        if known is not None and known[0] is account:
            return known[1]
        found = 0
        for i, checks in enumerate(self._account_checks):
            if all(test(get(account_id, account)) for get, test in checks):
                found |= 1 << i
        if len(self._by_account) < ACCOUNTS_KEPT:
            self._by_account[account_id] = (account, found)
        return found

    def select(self, rules: Sequence[_Rule], facts: Facts) -> list[_Rule]:
        """The rules (in the order the index was made from) that may match, in order."""
        mask = self.candidates(facts)
        found = []
        while mask:
            low = mask & -mask
            found.append(rules[low.bit_length() - 1])
            mask ^= low
        return found
