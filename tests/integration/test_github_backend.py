"""GitHub Issues specifics, against the loopback fake (tests/fakes/tickets_github.py): labels, the
hidden correlation marker, team assignees, pull requests skipped by find, rate limits vs. permission
errors, state mapping and settings. The shared behaviour is in test_ticketer_contract.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from opswarden.errors import ConfigurationError, DeliveryError, DeliveryReason
from opswarden.settings import Settings
from opswarden.tickets.base import NewTicket, TicketStatus, correlation_key, label_of
from opswarden.tickets.github import MARKER, GitHubTicketer, correlation_label
from tests.fakes.tickets_github import REPO, TOKEN, FakeGitHub

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
def ticketer(fake: FakeGitHub, http: httpx.Client) -> GitHubTicketer:
    return GitHubTicketer(http, repo=REPO, token=TOKEN, api_url=fake.api_url)


def new_ticket(event_id: str = "ev-0123456789abcdef", team: str = "inf01", **changes: object) -> NewTicket:
    ticket = NewTicket(
        correlation=correlation_key(event_id, team),
        title="EKS · Planned lifecycle event",
        description="Amazon EKS standard support for Kubernetes 1.30 ends on March 27, 2027.\n\n"
        "Clusters: payments-prod, ledger-prod.",
        priority=2,
        team=team,
        team_name="Infra",
        event_id=event_id,
        accounts=("111111111111", "222222222222"),
        resources=("arn:aws:eks:eu-west-1:111111111111:cluster/payments-prod",),
        labels=("aws.health", "scheduledChange"),
        link="https://opswarden.example.com/events/ev-0123456789abcdef",
    )
    return replace(ticket, **changes)  # type: ignore[arg-type]


def test_an_issue_carries_the_correlation_priority_source_and_team_labels(
    fake: FakeGitHub, ticketer: GitHubTicketer
) -> None:
    ticket = new_ticket(fields={"labels": "team:infra, oncall", "assignees": "octocat, @hubot"})

    ref = ticketer.create(ticket)
    issue = fake.issue(int(ref.id or ""))

    labels = [label["name"] for label in issue["labels"]]
    assert labels == [
        "opswarden",
        "opswarden-ev-0123456789abcdef-inf01",
        "priority:2",
        "aws.health",
        "scheduledChange",
        "team:infra",
        "oncall",
    ]
    assert label_of(ticket.correlation) in labels
    assert [user["login"] for user in issue["assignees"]] == ["octocat", "hubot"]
    assert ref.key == f"#{issue['number']}"
    assert ref.url == issue["html_url"]
    assert ref.backend == "github"


def test_the_body_is_markdown_with_accounts_resources_link_and_a_hidden_marker(
    fake: FakeGitHub, ticketer: GitHubTicketer
) -> None:
    ticket = new_ticket(description="Replace <old> nodes.\nThen <!-- this --> stays visible.")

    ref = ticketer.create(ticket)
    body = fake.issue(int(ref.id or ""))["body"]

    assert body.startswith("Replace &lt;old> nodes.\nThen &lt;!-- this --> stays visible.")
    assert "`111111111111`, `222222222222`" in body
    assert "- `arn:aws:eks:eu-west-1:111111111111:cluster/payments-prod`" in body
    assert "[ev-0123456789abcdef](https://opswarden.example.com/events/ev-0123456789abcdef)" in body
    assert body.rstrip().endswith(MARKER.format("opswarden:ev-0123456789abcdef:inf01"))
    assert body.count("<!--") == 1  # only the marker is a comment


def test_the_title_is_one_line_of_at_most_256_characters(fake: FakeGitHub, ticketer: GitHubTicketer) -> None:
    ref = ticketer.create(new_ticket(title="EKS\nupgrade " + "x" * 400))

    title = fake.issue(int(ref.id or ""))["title"]

    assert "\n" not in title
    assert title.startswith("EKS upgrade x")
    assert len(title) == 256
    assert title.endswith("…")


def test_an_assignee_github_refuses_leaves_the_issue_unassigned_with_a_note(
    fake: FakeGitHub, ticketer: GitHubTicketer
) -> None:
    fake.assignable = {"octocat"}

    ref = ticketer.create(new_ticket(fields={"assignees": "octocat,nosuchuser"}))
    issue = fake.issue(int(ref.id or ""))

    assert issue["assignees"] == []
    assert "could not assign: octocat, nosuchuser" in issue["body"]


def test_find_skips_pull_requests_with_the_label(fake: FakeGitHub, ticketer: GitHubTicketer) -> None:
    ticket = new_ticket()
    label = correlation_label(ticket.correlation)
    fake.add_pull_request("Bump the EKS version", [label, "opswarden"])

    assert ticketer.find(ticket.correlation) is None
    ref = ticketer.create(ticket)
    found = ticketer.find(ticket.correlation)

    assert found == ref
    listed = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/issues")]
    assert listed[-1].query["labels"] == label
    assert listed[-1].query["state"] == "all"


def test_find_sees_closed_issues_and_takes_the_oldest(fake: FakeGitHub, ticketer: GitHubTicketer) -> None:
    ticket = new_ticket()
    first = ticketer.create(ticket)
    ticketer.close(first, "done")
    ticketer.create(ticket)  # a duplicate, as if someone else had raced us

    assert ticketer.find(ticket.correlation) == first


def test_a_long_correlation_key_becomes_a_label_github_accepts(
    fake: FakeGitHub, ticketer: GitHubTicketer
) -> None:
    ticket = new_ticket(team="platform-reliability-engineering-emea")
    other = new_ticket(team="platform-reliability-engineering-emeb")

    ref = ticketer.create(ticket)

    assert len(correlation_label(ticket.correlation)) == 50
    assert correlation_label(ticket.correlation) != correlation_label(other.correlation)
    assert ticketer.find(ticket.correlation) == ref
    assert ticketer.find(other.correlation) is None


def test_requests_carry_the_token_and_the_api_version(fake: FakeGitHub, ticketer: GitHubTicketer) -> None:
    ticketer.find(new_ticket().correlation)

    headers = fake.requests[-1].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"


def test_state_open_assigned_closed_and_reopened(fake: FakeGitHub, ticketer: GitHubTicketer) -> None:
    ref = ticketer.create(new_ticket())
    opened = ticketer.state(ref)
    fake.assign(int(ref.id or ""), "octocat")
    assigned = ticketer.state(ref)
    ticketer.close(ref, "resolved upstream")
    closed = ticketer.state(ref)
    ticketer.reopen(ref, "back again")
    reopened = ticketer.state(ref)

    assert (opened.status, opened.raw_status, opened.assignee) == (TicketStatus.OPEN, "open", None)
    assert (assigned.status, assigned.assignee) == (TicketStatus.IN_PROGRESS, "octocat")
    assert (closed.status, closed.raw_status) == (TicketStatus.CLOSED, "closed (completed)")
    assert (reopened.status, reopened.raw_status) == (TicketStatus.IN_PROGRESS, "open (reopened)")
    assert closed.updated_at is not None
    assert fake.comments(int(ref.id or "")) == ["resolved upstream", "back again"]


def test_close_comments_before_closing_and_reopen_after_reopening(
    fake: FakeGitHub, ticketer: GitHubTicketer
) -> None:
    ref = ticketer.create(new_ticket())
    fake.requests.clear()

    ticketer.close(ref, "done")
    ticketer.reopen(ref, "again")

    calls = [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests]
    number = ref.id
    assert calls == [("POST", "comments"), ("PATCH", number), ("PATCH", number), ("POST", "comments")]
    assert fake.requests[1].json() == {"state": "closed", "state_reason": "completed"}


@pytest.mark.parametrize("status", [403, 429])
def test_a_spent_primary_rate_limit_is_recoverable_until_the_reset(
    fake: FakeGitHub, ticketer: GitHubTicketer, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake.rate_limit_next(reset_in=30, status=status)

    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as raised:
        ticketer.create(new_ticket())

    assert raised.value.reason is DeliveryReason.RATE_LIMITED
    assert raised.value.recoverable is True
    assert raised.value.retry_after is not None
    assert 27 <= raised.value.retry_after <= 31
    assert TOKEN not in str(raised.value)
    assert TOKEN not in caplog.text


def test_a_secondary_rate_limit_403_with_retry_after_is_recoverable(
    fake: FakeGitHub, ticketer: GitHubTicketer
) -> None:
    fake.fail_next(403, 45)

    with pytest.raises(DeliveryError) as raised:
        ticketer.find("opswarden:ev-1:inf01")

    assert raised.value.reason is DeliveryReason.RATE_LIMITED
    assert raised.value.recoverable is True
    assert raised.value.retry_after == 45


def test_a_plain_403_is_a_permission_error_not_retried(fake: FakeGitHub, ticketer: GitHubTicketer) -> None:
    fake.forbid_next()

    with pytest.raises(DeliveryError) as raised:
        ticketer.create(new_ticket())

    assert raised.value.reason is DeliveryReason.AUTH
    assert raised.value.recoverable is False
    assert "Resource not accessible" in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_bad_credentials_say_so(fake: FakeGitHub, http: httpx.Client) -> None:
    ticketer = GitHubTicketer(http, repo=REPO, token="ghp_nope", api_url=fake.api_url)

    with pytest.raises(DeliveryError) as raised:
        ticketer.find("opswarden:ev-1:inf01")

    assert raised.value.reason is DeliveryReason.AUTH
    assert "Bad credentials" in str(raised.value)
    assert "OPSWARDEN_GITHUB_TOKEN" in str(raised.value)
    assert "ghp_nope" not in str(raised.value)


def test_an_unknown_repository_or_issue_is_not_recoverable(fake: FakeGitHub, http: httpx.Client) -> None:
    ticketer = GitHubTicketer(http, repo="acme/nowhere", token=TOKEN, api_url=fake.api_url)

    with pytest.raises(DeliveryError) as raised:
        ticketer.find("opswarden:ev-1:inf01")

    assert raised.value.reason is DeliveryReason.CLIENT
    assert raised.value.recoverable is False


def test_an_unreachable_api_is_a_recoverable_network_error(http: httpx.Client) -> None:
    with FakeGitHub() as gone:
        url = gone.api_url
    ticketer = GitHubTicketer(http, repo=REPO, token=TOKEN, api_url=url)

    with pytest.raises(DeliveryError) as raised:
        ticketer.find("opswarden:ev-1:inf01")

    assert raised.value.reason is DeliveryReason.NETWORK
    assert raised.value.recoverable is True


def test_from_settings_builds_the_ticketer(fake: FakeGitHub, http: httpx.Client) -> None:
    settings = Settings(
        tickets_backend="github", github_api_url=fake.api_url, github_repo=REPO, github_token=TOKEN
    )

    ticketer = GitHubTicketer.from_settings(settings, http)

    assert ticketer.find("opswarden:ev-1:inf01") is None


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"github_token": TOKEN}, "OPSWARDEN_GITHUB_REPO"),
        ({"github_repo": REPO}, "OPSWARDEN_GITHUB_TOKEN"),
        ({"github_repo": "just-a-name", "github_token": TOKEN}, "OPSWARDEN_GITHUB_REPO"),
        ({"github_repo": "https://github.com/acme/ops", "github_token": TOKEN}, "OPSWARDEN_GITHUB_REPO"),
        (
            {"github_repo": REPO, "github_token": TOKEN, "github_api_url": "api.github.com"},
            "OPSWARDEN_GITHUB_API_URL",
        ),
    ],
)
def test_from_settings_names_the_missing_or_malformed_setting(
    values: dict[str, str], named: str, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPSWARDEN_GITHUB_REPO", "OPSWARDEN_GITHUB_TOKEN", "OPSWARDEN_GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(tickets_backend="github", **values)  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError) as raised:
        GitHubTicketer.from_settings(settings, http)

    assert named in str(raised.value)
    assert TOKEN not in str(raised.value)
