"""evaluate(): routing order, continue, inheritance, severity by deadline, owner teams, silences, why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opswarden.core.event import Severity
from opswarden.policy import Policy, evaluate, load_org, load_policy
from tests.conftest import FIXTURES
from tests.factories import T0, make_event

pytestmark = pytest.mark.unit

ORG = load_org((FIXTURES / "policy" / "org.yaml").read_text())

POLICY = load_policy(
    """
route:
  name: root
  channels: [slack]
  severity:
    by_deadline:
      - {within_days: 30, severity: high}
      - {within_days: 90, severity: medium}
      - {otherwise: low}
  routes:
    - name: cost
      match: {service: billing}
      teams: [FinOps]
      continue: true
    - name: prod
      match: {account.environment: production}
      teams: [owner]
      require_approval: true
      routes:
        - name: security
          match: {category: finding}
          teams: [sec]
          channels: [email]
          open_ticket: true
        - name: noisy
          match: {severity: informational}
          suppress: true
          reason: informational in production
        - name: lifecycle
          match: {type_code: {glob: "*_LIFECYCLE*"}}
          reminders: [30, 7, 1]
          severity: critical
    - name: dev
      match: {account.environment: {not: production}, account.known: true}
      suppress: true
      reason: not production
silences:
  - name: expired
    match: {source: test}
    until: 2026-02-01T00:00:00Z
    reason: over
  - name: window
    match: {account.name: vault}
    starts: 2026-03-01T12:00:00Z
    until: 2026-03-02T00:00:00Z
    reason: vault maintenance
""",
    org=ORG,
)


def test_the_first_matching_sibling_wins_and_children_inherit() -> None:
    decision = evaluate(make_event(), POLICY, ORG, T0)

    assert decision.matched
    assert decision.routes == ("root/prod",)
    assert decision.teams == ("ops",)  # owner of 111111111111
    assert decision.channels == ("slack",)  # from the root
    assert decision.require_approval
    assert not decision.suppressed
    assert decision.notify


def test_a_child_overrides_what_it_sets_and_inherits_the_rest() -> None:
    event = make_event().model_copy(update={"type_code": "AWS_EKS_PLANNED_LIFECYCLE_EVENT"})

    decision = evaluate(event, POLICY, ORG, T0)

    assert decision.routes == ("root/prod/lifecycle",)
    assert decision.severity is Severity.CRITICAL
    assert decision.original_severity is Severity.MEDIUM
    assert decision.reminders == (30, 7, 1)
    assert decision.teams == ("ops",)
    assert decision.require_approval


def test_suppression_carries_its_reason() -> None:
    decision = evaluate(make_event(accounts=("222222222222",)), POLICY, ORG, T0)

    assert decision.routes == ("root/dev",)
    assert decision.suppressed
    assert decision.reason == "not production"
    assert not decision.notify


def test_continue_lets_later_siblings_match_too_and_their_decisions_add_up() -> None:
    event = make_event(service="billing", severity=Severity.INFORMATIONAL)

    decision = evaluate(event, POLICY, ORG, T0)

    assert decision.routes == ("root/cost", "root/prod/noisy")
    assert decision.teams == ("fin", "ops")
    # The first route decides suppression: cost impacts are never suppressed by a later route.
    assert not decision.suppressed
    assert decision.require_approval


def test_nothing_matched_says_so() -> None:
    decision = evaluate(make_event(accounts=("999999999999",)), POLICY, ORG, T0)

    assert not decision.matched
    assert decision.routes == ("root",)
    assert decision.teams == ()
    assert decision.explanation[-1].note == "no rule matched: root defaults only"


@pytest.mark.parametrize(
    ("days", "severity"),
    [(-3, "high"), (0, "high"), (29.9, "high"), (30, "medium"), (89, "medium"), (90, "low"), (400, "low")],
)
def test_severity_by_days_to_the_deadline(days: float, severity: str) -> None:
    event = make_event(deadline_at=T0 + timedelta(days=days))

    decision = evaluate(event, POLICY, ORG, T0)

    assert decision.severity.value == severity
    assert any("by_deadline" in (step.note or "") for step in decision.explanation)


def test_without_a_deadline_the_event_keeps_its_severity() -> None:
    decision = evaluate(make_event(severity=Severity.LOW), POLICY, ORG, T0)

    assert decision.severity is Severity.LOW


def test_bands_without_otherwise_keep_the_severity_beyond_the_last_band() -> None:
    policy = Policy.model_validate(
        {"route": {"name": "root", "severity": {"by_deadline": [{"within_days": 7, "severity": "critical"}]}}}
    )
    far = make_event(deadline_at=T0 + timedelta(days=8), severity=Severity.LOW)
    near = make_event(deadline_at=T0 + timedelta(days=6), severity=Severity.LOW)

    assert evaluate(far, policy, ORG, T0).severity is Severity.LOW
    assert evaluate(near, policy, ORG, T0).severity is Severity.CRITICAL


def test_silences_apply_only_while_active() -> None:
    vault = make_event(accounts=("333333333333",))

    before = evaluate(vault, POLICY, ORG, T0 - timedelta(hours=1))
    during = evaluate(vault, POLICY, ORG, T0)
    after = evaluate(vault, POLICY, ORG, T0 + timedelta(days=2))

    assert before.silenced_by is None
    assert during.silenced_by == "window"
    assert not during.notify
    assert after.silenced_by is None
    # The expired silence matched every test event but is ignored.
    assert evaluate(make_event(), POLICY, ORG, T0).silenced_by is None


def test_the_explanation_lists_the_rules_and_values_in_order() -> None:
    event = make_event(accounts=("222222222222", "333333333333")).model_copy(update={"category": "finding"})

    decision = evaluate(event, POLICY, ORG, T0 + timedelta(days=3))

    assert decision.routes == ("root/prod/security",)
    assert [(s.rule, s.matched) for s in decision.explanation[:2]] == [
        ("root/prod", ("account.environment = production (333333333333)",)),
        ("root/prod/security", ("category = finding",)),
    ]
    assert decision.teams == ("sec",)
    assert decision.channels == ("email",)
    assert decision.open_ticket


def test_owner_is_the_owner_of_the_account_the_route_matched_on() -> None:
    event = make_event(accounts=("222222222222", "333333333333"))

    decision = evaluate(event, POLICY, ORG, T0 + timedelta(days=3))

    assert decision.routes == ("root/prod",)
    assert decision.teams == ("sec",)  # not ops, the owner of the non-production account
    owner = next(s for s in decision.explanation if s.rule.endswith("teams owner"))
    assert owner.matched == ("333333333333 → sec",)


def test_a_decision_serialises_to_json_with_notify() -> None:
    data = evaluate(make_event(accounts=("222222222222",)), POLICY, ORG, T0).to_dict()

    assert data["suppressed"] is True
    assert data["notify"] is False
    assert data["explanation"][0]["rule"] == "root/dev"
