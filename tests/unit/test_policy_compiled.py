"""The compiled matchers and the sibling index answer exactly as the reference ``match_all`` does.

Random matchers of every kind over random events (enums, lists, numbers, booleans, absent values,
several or unknown accounts), from a fixed seed.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from opswarden.core.event import Category, Severity
from opswarden.policy import load_org
from opswarden.policy.compiled import CompiledMatch, Index
from opswarden.policy.match import Facts, Matcher, match_all, parse_matchers
from tests.conftest import FIXTURES
from tests.factories import T0, make_event

pytestmark = pytest.mark.unit

ORG = load_org((FIXTURES / "policy" / "org.yaml").read_text())
ACCOUNTS = ["111111111111", "222222222222", "333333333333", "999999999999"]
VALUES: dict[str, list[Any]] = {
    "source": ["test", "aws.health"],
    "category": ["issue", "finding", "alarm"],
    "severity": ["medium", "high", "low"],
    "region": ["eu-west-1", "us-east-1"],
    "title": ["test event test:one", "test event x"],
    "details.kind": ["a", "b", "", 3, 2.5, True],
    "details.n": [1, 5, 7.5, "7", "x"],
    "tags.team": ["blue", "red"],
    "days_to_deadline": [0, 10, 30, -5],
    "account.id": ACCOUNTS,
    "account.known": [True, False],
    "account.name": ["shop", "shop-dev", "vault"],
    "account.environment": ["production", "non-production"],
    "account.ou": ["Retail", "Security"],
    "account.team": ["ops", "sec"],
    "account.tags.tier": ["gold", "silver"],
}
PATTERNS = {
    "glob": ["*", "shop*", "te?t", "*-1", "[ab]"],
    "regex": [".*", "(?i)TEST.*", "a|b", "7.*", "shop"],
}


def condition(rng: random.Random, field: str, depth: int = 0) -> Any:
    choices = VALUES[field]
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(choices)
    if roll < 0.45:
        return rng.sample(choices, min(2, len(choices)))
    if roll < 0.6:
        op = rng.choice(["glob", "regex"])
        return {op: rng.choice(PATTERNS[op])}
    if roll < 0.75:
        return {rng.choice(["lt", "lte", "gt", "gte"]): rng.choice([0, 3, 7.5, 30])}
    if roll < 0.85 and depth == 0:
        return {"not": condition(rng, field, 1)}
    if depth == 0:
        return {"gte": 0, "lt": 20} if rng.random() < 0.5 else {"eq": rng.choice(choices), "glob": "*"}
    return rng.choice(choices)


def random_matchers(rng: random.Random) -> tuple[Matcher, ...]:
    fields = rng.sample(sorted(VALUES), rng.choice([0, 1, 1, 2, 2, 3]))
    return parse_matchers({field: condition(rng, field) for field in fields})


def random_facts(rng: random.Random) -> Facts:
    details = {
        "kind": rng.choice([*VALUES["details.kind"], None, ["a", "c"], []]),
        "n": rng.choice(VALUES["details.n"]),
    }
    if rng.random() < 0.2:
        details = {}
    event = make_event(
        severity=rng.choice(list(Severity)),
        region=rng.choice([None, "eu-west-1", "us-east-1"]),
        accounts=tuple(sorted(rng.sample(ACCOUNTS, rng.choice([0, 1, 1, 2])))),
        details=details,
        tags=rng.choice([{}, {"team": "blue"}, {"team": "red"}]),
        deadline_at=rng.choice([None, T0 + timedelta(days=rng.uniform(-10, 40))]),
    ).model_copy(update={"category": rng.choice([Category.ISSUE, Category.FINDING, Category.ALARM])})
    return Facts(event, ORG, T0)


def test_compiled_matchers_hit_as_match_all_does() -> None:
    rng = random.Random(5)
    facts = [random_facts(rng) for _ in range(60)]
    hits = 0
    for _ in range(400):
        matchers = random_matchers(rng)
        compiled = CompiledMatch(matchers)
        for one in facts:
            expected = match_all(matchers, one)
            assert compiled.hit(one) == expected, (matchers, one.event)
            hits += expected is not None
    assert hits > 2000  # the matchers do match: the comparison is not only of misses


def test_the_index_leaves_out_no_rule_that_matches() -> None:
    rng = random.Random(8)
    facts = [random_facts(rng) for _ in range(60)]
    for _ in range(40):
        rules = [random_matchers(rng) for _ in range(rng.choice([4, 8, 30]))]
        index = Index.of(rules)
        if index is None:
            continue
        for one in facts:
            matching = [i for i, matchers in enumerate(rules) if match_all(matchers, one) is not None]
            tried = index.select(list(range(len(rules))), one)
            assert set(matching) <= set(tried), (rules, one.event)
            assert tried == sorted(tried)
