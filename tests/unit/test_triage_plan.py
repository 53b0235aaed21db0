"""The lifecycle table, the triage plan, target resolution and reminder offsets: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opswarden.core.event import Severity, Status
from opswarden.core.lifecycle import ALLOWED, Lifecycle, check
from opswarden.errors import LifecycleError
from opswarden.notify.message import Kind
from opswarden.policy import Decision, Org, Team
from opswarden.policy.model import Channel
from opswarden.triage.plan import plan
from opswarden.triage.reminders import due_offset
from opswarden.triage.targets import Reach, Target, resolve
from tests.factories import make_event

pytestmark = pytest.mark.unit

L = Lifecycle
SLACK_INFRA = Target("slack", "#infra")
SLACK_APP = Target("slack", "#app")


def decision(**fields: object) -> Decision:
    base: dict[str, object] = {
        "matched": True,
        "routes": ("root/x",),
        "severity": Severity.HIGH,
        "original_severity": Severity.MEDIUM,
        "teams": ("inf01",),
        "channels": (Channel.SLACK,),
    }
    return Decision(**{**base, **fields})  # type: ignore[arg-type]


# -- the lifecycle table --------------------------------------------------------------------------


def test_every_state_can_end_resolved_or_closed_and_nothing_leaves_to_new() -> None:
    for state, targets in ALLOWED.items():
        assert L.NEW not in targets
        if state not in (L.RESOLVED, L.CLOSED):
            assert L.RESOLVED in targets or L.CLOSED in targets, state


def test_an_illegal_transition_says_where_the_event_is_and_what_it_may_do() -> None:
    with pytest.raises(LifecycleError) as raised:
        check(L.SUPPRESSED, L.APPROVED, "event ev-1")

    assert (
        str(raised.value)
        == "event ev-1 is suppressed: it cannot become approved (from suppressed: resolved, routed)"
    )


def test_the_same_state_again_is_reported_as_already() -> None:
    with pytest.raises(LifecycleError, match="event ev-1 is already acknowledged"):
        check(L.ACKNOWLEDGED, L.ACKNOWLEDGED, "event ev-1")


# -- the plan ---------------------------------------------------------------------------------------


def test_a_new_event_to_notify_is_routed_with_a_card_per_target() -> None:
    result = plan(L.NEW, make_event(), decision(), [], [SLACK_INFRA, SLACK_APP], set())

    assert [(s.old, s.new) for s in result.steps] == [(L.NEW, L.ROUTED)]
    assert result.steps[0].why == "routed by root/x to inf01"
    assert result.messages == [(Kind.CARD, SLACK_INFRA), (Kind.CARD, SLACK_APP)]


def test_a_suppressed_new_event_tells_nobody_and_says_why() -> None:
    result = plan(L.NEW, make_event(), decision(suppressed=True, reason="noise"), [], [SLACK_INFRA], set())

    assert [(s.new, s.why) for s in result.steps] == [(L.SUPPRESSED, "suppressed by root/x: noise")]
    assert result.messages == []


def test_a_silenced_event_is_suppressed_by_the_silence() -> None:
    result = plan(L.NEW, make_event(), decision(silenced_by="maintenance"), [], [SLACK_INFRA], set())

    assert result.steps[0].why == "silenced by maintenance"


def test_an_update_without_material_change_is_silent_and_with_one_goes_to_every_thread() -> None:
    quiet = plan(L.NOTIFIED, make_event(), decision(), [], [SLACK_INFRA], {SLACK_INFRA})
    told = plan(L.ACKNOWLEDGED, make_event(), decision(), [{"field": "end_at"}], [SLACK_INFRA], {SLACK_INFRA})

    assert (quiet.steps, quiet.messages) == ([], [])
    assert (told.steps, told.messages) == ([], [(Kind.UPDATE, SLACK_INFRA)])


def test_a_team_newly_routed_to_by_an_update_gets_its_own_card() -> None:
    result = plan(L.NOTIFIED, make_event(), decision(), [], [SLACK_INFRA, SLACK_APP], {SLACK_INFRA})

    assert result.messages == [(Kind.CARD, SLACK_APP)]


def test_upstream_closure_resolves_but_a_ticketed_event_keeps_its_open_ticket() -> None:
    closed = make_event(status=Status.CLOSED)

    resolved = plan(L.NOTIFIED, closed, decision(), [], [SLACK_INFRA], {SLACK_INFRA})
    ticketed = plan(L.TICKETED, closed, decision(), [], [SLACK_INFRA], {SLACK_INFRA})

    assert [(s.old, s.new) for s in resolved.steps] == [(L.NOTIFIED, L.RESOLVED)]
    assert resolved.messages == [(Kind.RESOLVED, SLACK_INFRA)]
    assert ticketed.steps == []
    assert ticketed.messages == [(Kind.RESOLVED, SLACK_INFRA)]


def test_reopened_upstream_routes_again_in_the_same_threads() -> None:
    result = plan(L.RESOLVED, make_event(), decision(), [], [SLACK_INFRA], {SLACK_INFRA})

    assert [(s.old, s.new) for s in result.steps] == [(L.RESOLVED, L.ROUTED)]
    assert result.messages == [(Kind.REOPENED, SLACK_INFRA)]


def test_a_suppressed_event_that_the_policy_now_accepts_is_routed() -> None:
    result = plan(L.SUPPRESSED, make_event(), decision(), [], [SLACK_INFRA], set())

    assert [(s.old, s.new) for s in result.steps] == [(L.SUPPRESSED, L.ROUTED)]
    assert result.messages == [(Kind.CARD, SLACK_INFRA)]


# -- targets ----------------------------------------------------------------------------------------

ORG = Org(
    teams=(
        Team(id="inf01", name="Infra", slack_channel="#infra", email="infra@example.com"),
        Team(id="app01", name="App", teams_webhook="https://example.webhook.office.com/x"),
    )
)


def test_each_team_is_reached_at_its_address_for_each_channel() -> None:
    d = decision(teams=("inf01", "app01"), channels=(Channel.SLACK, Channel.TEAMS))
    targets, notes = resolve(d, ORG, Reach(configured=frozenset({"console", "slack", "teams"})))

    assert targets == [
        Target("slack", "#infra"),
        Target("console", "console"),
        Target("teams", "https://example.webhook.office.com/x"),
    ]
    assert notes == [
        "team app01 has no slack_channel: sent to the console instead",
        "team inf01 has no teams_webhook: sent to the console instead",
    ]


def test_an_unconfigured_channel_falls_back_to_the_console_and_says_so() -> None:
    targets, notes = resolve(decision(channels=(Channel.EMAIL,)), ORG, Reach())

    assert targets == [Target("console", "console")]
    assert notes == ["email is not configured: sent to the console instead"]


def test_a_decision_without_teams_uses_the_default_slack_channel() -> None:
    reach = Reach(configured=frozenset({"console", "slack"}), slack_default="#ops")

    targets, notes = resolve(decision(teams=()), ORG, reach)

    assert (targets, notes) == ([Target("slack", "#ops")], [])


# -- reminder offsets ------------------------------------------------------------------------------

DEADLINE = datetime(2027, 3, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days_before", "due"),
    [(40, None), (30, 30), (29.5, 30), (7, 7), (3, 7), (1, 1), (0.5, 1), (-1, None)],
)
def test_the_latest_due_offset_while_the_deadline_is_ahead(days_before: float, due: int | None) -> None:
    now = DEADLINE - timedelta(days=days_before)

    assert due_offset(DEADLINE, [30, 7, 1], now) == due
