"""backtest(): what a candidate policy decides differently from the current one, event by event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opswarden.core.event import Category, Severity
from opswarden.policy import load_org, load_policy
from opswarden.policy.backtest import Change, backtest, compare, outcome
from opswarden.policy.evaluate import evaluate
from tests.factories import T0, make_event

pytestmark = pytest.mark.unit

ORG = load_org(
    """
teams:
  - {id: inf01, name: Infra}
  - {id: sec01, name: SecOps}
  - {id: app01, name: App}
accounts:
  - {id: "111111111111", environment: production, team: inf01}
  - {id: "666666666666", environment: non-production, team: app01}
"""
)

CURRENT = """
route:
  name: root
  channels: [slack]
  routes:
    - name: prod
      match: {account.environment: production}
      teams: [owner]
      routes:
        - name: security
          match: {category: finding}
          teams: [SecOps]
          open_ticket: true
    - name: dev
      match: {account.environment: {not: production}}
      suppress: true
      reason: not production
"""


PROD_ISSUE = make_event("test:prod-issue")
PROD_FINDING = make_event("test:finding", severity=Severity.HIGH).model_copy(
    update={"category": Category.FINDING}
)
DEV_ISSUE = make_event("test:dev", accounts=("666666666666",))
EVENTS = [PROD_ISSUE, PROD_FINDING, DEV_ISSUE]


def run(candidate: str) -> dict[str, list[str]]:
    report = backtest(EVENTS, load_policy(CURRENT, org=ORG), load_policy(candidate, org=ORG), ORG, T0)
    return {item.event.key: [c.describe() for c in item.changes] for item in report.changed}


def test_the_same_policy_changes_nothing() -> None:
    report = backtest(EVENTS, load_policy(CURRENT), load_policy(CURRENT), ORG, T0)

    assert (report.replayed, report.unchanged, report.changed, report.by_kind) == (3, 3, (), {})


def test_unsuppressing_an_environment_is_reported_as_suppressed_to_notify() -> None:
    candidate = CURRENT.replace("suppress: true\n      reason: not production", "teams: [owner]")

    assert run(candidate) == {"test:dev": ["notify: suppressed → notify", "teams: +app01"]}


def test_teams_added_and_removed_severity_approval_and_ticket() -> None:
    candidate = CURRENT.replace(
        "teams: [SecOps]\n          open_ticket: true", "teams: [Infra, App]"
    ).replace(
        "      teams: [owner]\n      routes:",
        "      teams: [owner]\n      severity: critical\n      require_approval: true\n      routes:",
    )

    changes = run(candidate)

    assert changes == {
        "test:prod-issue": ["severity: medium → critical", "approval: no → yes"],
        "test:finding": [
            "teams: +inf01 +app01 -sec01",
            "severity: high → critical",
            "approval: no → yes",
            "ticket: yes → no",
        ],
    }


def test_totals_count_events_by_kind() -> None:
    candidate = CURRENT.replace("channels: [slack]", "channels: [slack, email]").replace(
        "suppress: true\n      reason: not production", "teams: [Infra]"
    )

    report = backtest(EVENTS, load_policy(CURRENT), load_policy(candidate, org=ORG), ORG, T0)

    assert report.by_kind == {"notify": 1, "teams": 1, "channels": 3}
    assert (report.replayed, report.unchanged, len(report.changed)) == (3, 0, 3)
    data = report.to_dict()
    assert data["by_kind"] == {"notify": 1, "teams": 1, "channels": 3}
    assert data["now"] == "2026-03-01T12:00:00Z"
    dev = next(e for e in data["events"] if e["key"] == "test:dev")
    assert dev["routes_before"] == dev["routes_after"] == ["root/dev"]
    assert dev["changes"][0] == {"kind": "notify", "before": "suppressed", "after": "notify"}
    assert dev["changes"][1] == {
        "kind": "teams",
        "before": [],
        "after": ["inf01"],
        "added": ["inf01"],
        "removed": [],
    }


def test_a_rule_that_no_longer_matches_is_reported() -> None:
    candidate = """
route:
  name: root
  channels: [slack]
  routes:
    - name: dev
      match: {account.environment: {not: production}}
      suppress: true
      reason: not production
"""
    changes = run(candidate)

    assert changes["test:prod-issue"] == ["matched: yes → no", "teams: -inf01"]
    assert "test:dev" not in changes


def test_a_new_silence_turns_notify_into_silenced() -> None:
    silence = f"""silences:
  - name: quiet
    match: {{account.id: "111111111111"}}
    until: {(T0 + timedelta(days=1)).isoformat()}
    reason: maintenance
"""
    changes = run(CURRENT + silence)

    assert changes["test:prod-issue"] == ["notify: notify → silenced"]


def test_both_policies_decide_at_the_same_time() -> None:
    banded = CURRENT.replace(
        "  channels: [slack]\n",
        "  channels: [slack]\n  severity:\n    by_deadline:\n      - {within_days: 30, severity: high}\n"
        "      - {otherwise: low}\n",
    )
    event = make_event("test:deadline", deadline_at=T0 + timedelta(days=20))

    report = backtest([event], load_policy(CURRENT), load_policy(banded), ORG, T0)
    later = backtest([event], load_policy(CURRENT), load_policy(banded), ORG, T0 - timedelta(days=60))

    assert [c.describe() for c in report.changed[0].changes] == ["severity: medium → high"]
    assert [c.describe() for c in later.changed[0].changes] == ["severity: medium → low"]


def test_team_order_alone_is_no_change() -> None:
    one = load_policy(CURRENT.replace("teams: [SecOps]", "teams: [SecOps, Infra]"), org=ORG)
    two = load_policy(CURRENT.replace("teams: [SecOps]", "teams: [Infra, SecOps]"), org=ORG)
    before, after = evaluate(PROD_FINDING, one, ORG, T0), evaluate(PROD_FINDING, two, ORG, T0)

    assert before.teams != after.teams
    assert compare(before, after) == ()


def test_outcome_words() -> None:
    decision = evaluate(DEV_ISSUE, load_policy(CURRENT), ORG, T0)

    assert outcome(decision) == "suppressed"
    assert Change("ticket", False, True).describe() == "ticket: no → yes"
    assert Change("reminders", (30, 7), (7, 1)).describe() == "reminders: +1 -30"
