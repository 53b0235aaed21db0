"""Matchers: operators as written in YAML, field lookups, the any-account rule, what a hit records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from opswarden.core.event import Category, Severity
from opswarden.policy import load_org
from opswarden.policy.match import Facts, MatcherError, match_all, parse_matchers
from tests.conftest import FIXTURES
from tests.factories import T0, make_event

pytestmark = pytest.mark.unit

ORG = load_org((FIXTURES / "policy" / "org.yaml").read_text())


def matches(spec: dict[str, Any], **event: Any) -> bool:
    return match_all(parse_matchers(spec), Facts(make_event(**event), ORG, T0)) is not None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"source": "test"}, True),
        ({"source": "aws.health"}, False),
        ({"category": ["finding", "issue"]}, True),
        ({"category": ["finding"]}, False),
        ({"type_code": {"glob": "TEST_*"}}, True),
        ({"type_code": {"glob": "test_*"}}, False),  # case-sensitive
        ({"title": {"regex": "test event .*"}}, True),
        ({"title": {"regex": "event"}}, False),  # anchored at both ends
        ({"title": {"regex": "(?i)TEST.*"}}, True),
        ({"severity": {"not": "low"}}, True),
        ({"severity": {"not": ["medium", "low"]}}, False),
        ({"severity": {"not": {"glob": "med*"}}}, False),
        ({"source": "test", "severity": "medium"}, True),
        ({"source": "test", "severity": "high"}, False),  # every matcher must hold
        ({"region": {"not": "eu-west-1"}}, True),  # an absent field is "not" anything
        ({"region": "eu-west-1"}, False),
    ],
)
def test_operators(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


def test_details_and_tags_read_nested_keys_and_lists() -> None:
    event = {"details": {"actionability": "ACTION_REQUIRED", "types": ["a/b", "c/d"], "n": {"x": 3}}}

    assert matches({"details.actionability": "ACTION_REQUIRED"}, **event)
    assert matches({"details.types": {"glob": "c/*"}}, **event)  # a list field: any element
    assert matches({"details.n.x": {"gte": 3}}, **event)
    assert matches({"details.n.x": 3}, **event)
    assert not matches({"details.missing": "x"}, **event)
    assert matches({"tags.team": "blue"}, tags={"team": "blue"})


def test_days_to_deadline_compares_numbers_and_never_matches_without_a_deadline() -> None:
    soon = {"deadline_at": T0 + timedelta(days=12)}

    assert matches({"days_to_deadline": {"lt": 30}}, **soon)
    assert matches({"days_to_deadline": {"gte": 10, "lt": 30}}, **soon)
    assert not matches({"days_to_deadline": {"gte": 30}}, **soon)
    assert not matches({"days_to_deadline": {"lt": 30}})
    assert matches({"days_to_deadline": {"lt": 0}}, deadline_at=T0 - timedelta(days=1))


def test_account_matchers_hold_when_any_affected_account_matches_and_record_which() -> None:
    facts = Facts(make_event(accounts=("222222222222", "333333333333")), ORG, T0)

    hit = match_all(parse_matchers({"account.environment": "production"}), facts)

    assert hit is not None
    assert hit.account == "333333333333"
    assert hit.matched == ("account.environment = production (333333333333)",)


def test_several_account_matchers_must_hold_on_one_same_account() -> None:
    facts = Facts(make_event(accounts=("222222222222", "333333333333")), ORG, T0)

    # shop-dev is in Retail, vault is production: no single account is both.
    both = parse_matchers({"account.environment": "production", "account.ou": "Retail"})
    dev = parse_matchers({"account.environment": "non-production", "account.ou": "Retail"})

    assert match_all(both, facts) is None
    assert match_all(dev, facts) is not None


def test_account_attributes_tags_and_unknown_accounts() -> None:
    assert matches({"account.tags.tier": "gold", "account.name": "shop", "account.team": "ops"})
    assert matches({"account.known": True})
    assert matches({"account.known": False}, accounts=("999999999999",))
    assert matches({"account.id": "999999999999"}, accounts=("999999999999",))
    assert not matches({"account.environment": "production"}, accounts=("999999999999",))
    assert matches({"account.environment": {"not": "production"}}, accounts=())


def test_hits_say_what_was_seen_and_how_it_was_compared() -> None:
    event = make_event(severity=Severity.HIGH).model_copy(update={"category": Category.FINDING})

    hit = match_all(
        parse_matchers({"category": "finding", "severity": {"not": "low"}}), Facts(event, ORG, T0)
    )

    assert hit is not None
    assert hit.matched == ("category = finding", "severity = high [not low]")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"acount.name": "x"}, "unknown field 'acount.name': did you mean 'account.name'?"),
        ({"title": {"globb": "x"}}, "title: unknown operator 'globb': did you mean 'glob'?"),
        ({"title": {"regex": "(x"}}, "title: invalid regex '(x'"),
        ({"days_to_deadline": {"lt": "soon"}}, "days_to_deadline: lt needs a number"),
        ({"title": []}, "title: a list matcher needs plain values"),
        ({"title": None}, "title: no value"),
        ({"expr": "event.severity == 'high'"}, "pip install common-expression-language"),
    ],
)
def test_matchers_that_cannot_be_understood_say_what_to_write(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers(spec)

    assert message in str(caught.value)
    assert caught.value.path == (next(iter(spec)),)
