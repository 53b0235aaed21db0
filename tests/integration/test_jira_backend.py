"""The Jira Cloud backend against the loopback Jira (tests/fakes/tickets_jira.py): what it sends
(ADF, labels, priorities, per-team fields), transitions by name, and how Jira's refusals read."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from opswarden.errors import ConfigurationError, DeliveryError, DeliveryReason
from opswarden.settings import Settings
from opswarden.tickets.base import NewTicket, TicketRef, TicketStatus, correlation_key
from opswarden.tickets.jira import JiraTicketer, adf, summary
from tests.fakes.tickets_jira import EMAIL, TOKEN, FakeJira, fake_jira, flatten

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as made:
        yield made


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with fake_jira() as made:
        yield made


def ticket(**changes: Any) -> NewTicket:
    base: dict[str, Any] = {
        "correlation": correlation_key("ev-42", "inf01"),
        "title": "EKS · Planned lifecycle event",
        "description": "First block\nsecond line.\n\nSecond block: see https://docs.aws.amazon.com/eks.",
        "priority": 2,
        "team": "inf01",
        "team_name": "Infra",
        "event_id": "ev-42",
        "labels": ("aws.health", "scheduled change"),
        "link": "https://opswarden.example.com/events/ev-42",
    }
    base.update(changes)
    return NewTicket(**base)


def created_fields(jira: FakeJira) -> dict[str, Any]:
    body = jira.requests_to("POST", "/rest/api/3/issue")[-1].body
    assert isinstance(body, dict)
    return dict(body["fields"])


# -- create ------------------------------------------------------------------------------------------


def test_create_sends_adf_labels_priority_and_answers_a_browse_link(
    jira: FakeJira, client: httpx.Client
) -> None:
    ref = jira.ticketer(client).create(ticket())
    fields = created_fields(jira)

    assert ref == TicketRef("jira", "OPS-1", f"{jira.url}/browse/OPS-1", "10001")
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "EKS · Planned lifecycle event"
    assert fields["priority"] == {"name": "High"}
    assert fields["labels"] == ["opswarden", "opswarden-ev-42-inf01", "aws.health", "scheduled-change"]
    link = "https://opswarden.example.com/events/ev-42"
    docs = "https://docs.aws.amazon.com/eks"
    assert fields["description"] == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "First block"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "second line."},
                ],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Second block: see "},
                    {"type": "text", "text": docs, "marks": [{"type": "link", "attrs": {"href": docs}}]},
                    {"type": "text", "text": "."},
                ],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Event in opswarden: "},
                    {"type": "text", "text": link, "marks": [{"type": "link", "attrs": {"href": link}}]},
                ],
            },
        ],
    }
    assert jira.stored(ref)["description"] == (
        f"First block\nsecond line.\n\nSecond block: see {docs}.\n\nEvent in opswarden: {link}"
    )


def test_a_link_the_text_already_names_is_marked_where_it_stands() -> None:
    link = "https://opswarden.example.com/events/ev-42"
    doc = adf(f"Something happened.\n\nopswarden event ev-42: {link}", link)

    assert len(doc["content"]) == 2
    assert doc["content"][1]["content"][1] == {
        "type": "text",
        "text": link,
        "marks": [{"type": "link", "attrs": {"href": link}}],
    }


def test_empty_lines_and_windows_line_ends_make_no_empty_text_nodes() -> None:
    doc = adf("\r\n\r\nOne\r\n\r\n\r\n  \n\nTwo\n")

    assert flatten(doc) == "One\n\nTwo"
    assert all(node.get("text") != "" for block in doc["content"] for node in block["content"])
    assert adf("") == {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": []}]}


def test_a_huge_description_is_cut_with_a_note_and_keeps_the_link(
    jira: FakeJira, client: httpx.Client
) -> None:
    ref = jira.ticketer(client).create(ticket(description="word " * 20_000))
    text = jira.stored(ref)["description"]

    assert len(text) < 31_000
    assert "… (cut: see the event in opswarden for the rest)" in text
    assert text.endswith("Event in opswarden: https://opswarden.example.com/events/ev-42")


@pytest.mark.parametrize(
    ("priority", "name"), [(1, "Highest"), (2, "High"), (3, "Medium"), (4, "Low"), (5, "Lowest")]
)
def test_priorities_are_jira_names_and_map_back(
    jira: FakeJira, client: httpx.Client, priority: int, name: str
) -> None:
    ref = jira.ticketer(client).create(ticket(priority=priority))

    assert created_fields(jira)["priority"] == {"name": name}
    assert jira.stored(ref)["priority"] == priority


def test_a_long_multi_line_title_becomes_one_line_of_at_most_255_characters(
    jira: FakeJira, client: httpx.Client
) -> None:
    ref = jira.ticketer(client).create(ticket(title="Line one\nline two\t" + "x" * 400))
    sent = created_fields(jira)["summary"]

    assert len(sent) == 255
    assert sent.startswith("Line one line two xxx")
    assert sent.endswith("…")
    assert jira.stored(ref)["title"] == sent
    assert summary("  a \r\n b ") == "a b"


def test_per_team_fields_map_to_components_assignee_and_custom_fields(
    jira: FakeJira, client: httpx.Client
) -> None:
    fields = {
        "components": "Network, Database",
        "assignee": "5b10a2844c20165700ede21g",
        "customfield_10010": "eu-west-1",
    }
    ref = jira.ticketer(client).create(ticket(fields=fields))
    sent = created_fields(jira)

    assert sent["components"] == [{"name": "Network"}, {"name": "Database"}]
    assert sent["assignee"] == {"accountId": "5b10a2844c20165700ede21g"}
    assert sent["customfield_10010"] == "eu-west-1"
    assert jira.ticketer(client).state(ref).assignee == "5b10a2844c20165700ede21g"


def test_jira_refusing_a_field_is_a_client_error_naming_the_field(
    jira: FakeJira, client: httpx.Client
) -> None:
    with pytest.raises(DeliveryError) as raised:
        jira.ticketer(client).create(ticket(fields={"components": "Nonexistent"}))

    assert raised.value.reason is DeliveryReason.CLIENT
    assert raised.value.recoverable is False
    assert "HTTP 400" in str(raised.value)
    assert "components: Component name 'Nonexistent' is not valid" in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_an_unknown_field_key_is_refused_before_sending(jira: FakeJira, client: httpx.Client) -> None:
    with pytest.raises(DeliveryError, match="assignment_group") as raised:
        jira.ticketer(client).create(ticket(fields={"assignment_group": "Network Ops"}))

    assert raised.value.reason is DeliveryReason.CLIENT
    assert jira.requests_to("POST", "/rest/api/3/issue") == []


# -- find --------------------------------------------------------------------------------------------


def test_find_queries_the_correlation_label(jira: FakeJira, client: httpx.Client) -> None:
    ticketer = jira.ticketer(client)
    ref = ticketer.create(ticket())

    found = ticketer.find(correlation_key("ev-42", "inf01"))
    search = jira.requests_to("GET", "/rest/api/3/search/jql")[-1]

    assert found == ref
    assert search.query["jql"] == 'labels = "opswarden-ev-42-inf01"'
    assert search.query["fields"] == "status"


def test_find_falls_back_to_the_older_search_endpoint(client: httpx.Client) -> None:
    with fake_jira(legacy_only=True) as jira:
        ticketer = jira.ticketer(client)
        ref = ticketer.create(ticket())

        assert ticketer.find(correlation_key("ev-42", "inf01")) == ref
        assert ticketer.find(correlation_key("ev-43", "inf01")) is None
        assert len(jira.requests_to("GET", "/rest/api/3/search/jql")) == 1  # remembered
        assert len(jira.requests_to("GET", "/rest/api/3/search")) == 2


def test_a_jql_error_is_a_client_error_with_jiras_message(client: httpx.Client) -> None:
    with fake_jira(labels_searchable=False) as jira, pytest.raises(DeliveryError) as raised:
        jira.ticketer(client).find(correlation_key("ev-42", "inf01"))

    assert raised.value.reason is DeliveryReason.CLIENT
    assert raised.value.recoverable is False
    assert "Field 'labels' does not exist" in str(raised.value)


def test_the_fake_answers_400_to_jql_it_does_not_know(jira: FakeJira) -> None:
    answer = httpx.get(
        f"{jira.url}/rest/api/3/search/jql", params={"jql": "project = OPS"}, auth=(EMAIL, TOKEN), timeout=5
    )

    assert answer.status_code == 400
    assert answer.json()["errorMessages"]


# -- transitions and state ---------------------------------------------------------------------------


def test_close_and_reopen_pick_transitions_by_name_case_insensitively(
    jira: FakeJira, client: httpx.Client
) -> None:
    ticketer = jira.ticketer(client, done_transition="done", reopen_transition="TO DO")
    ref = ticketer.create(ticket())

    ticketer.close(ref, "resolved upstream")
    assert jira.issue(ref).status == "Done"
    ticketer.reopen(ref, "opened again")
    assert jira.issue(ref).status == "To Do"
    assert jira.stored(ref)["comments"] == ["resolved upstream", "opened again"]


def test_a_transition_is_also_found_by_the_status_it_leads_to(client: httpx.Client) -> None:
    names = {"Back to the queue": "To Do", "Start work": "In Progress", "Resolve": "Done"}
    with fake_jira(transitions=names) as jira:
        ticketer = jira.ticketer(client, done_transition="Resolve", reopen_transition="To Do")
        ref = ticketer.create(ticket())

        ticketer.close(ref, "fixed")
        ticketer.reopen(ref, "back")

        assert jira.issue(ref).status == "To Do"


def test_an_unknown_transition_names_the_available_ones(client: httpx.Client) -> None:
    names = {"Start work": "In Progress", "Resolve issue": "Done"}
    with fake_jira(transitions=names) as jira:
        ticketer = jira.ticketer(client, done_transition="Close")  # neither a transition nor a status
        ref = ticketer.create(ticket())
        jira.set_status(ref.key, "In Progress")

        with pytest.raises(DeliveryError) as raised:
            ticketer.close(ref, "resolved upstream")

    message = str(raised.value)
    assert raised.value.reason is DeliveryReason.CLIENT
    assert raised.value.recoverable is False
    assert "no transition 'Close'" in message
    assert "available: 'Resolve issue'" in message
    assert "OPSWARDEN_JIRA_DONE_TRANSITION" in message
    assert jira.issue(ref).comments == []


def test_closing_again_after_a_failed_comment_only_comments(jira: FakeJira, client: httpx.Client) -> None:
    ticketer = jira.ticketer(client)
    ref = ticketer.create(ticket())
    ticketer.close(ref, "")  # the transition went through, the comment then failed

    ticketer.close(ref, "resolved upstream")  # the outbox's retry

    assert jira.issue(ref).status == "Done"
    assert jira.stored(ref)["comments"] == ["resolved upstream"]


def test_state_maps_status_categories(jira: FakeJira, client: httpx.Client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    ticketer = jira.ticketer(client)
    ref = ticketer.create(ticket())

    assert ticketer.state(ref).status is TicketStatus.OPEN
    jira.set_status(ref.key, "In Progress")
    jira.assign(ref.key, "acc-1", "Alice Example")
    state = ticketer.state(ref)
    jira.set_status(ref.key, "Done")

    assert state.status is TicketStatus.IN_PROGRESS
    assert state.raw_status == "In Progress"
    assert state.assignee == "Alice Example"
    assert state.updated_at is not None
    assert state.updated_at.tzinfo is not None
    assert state.updated_at >= before
    assert ticketer.state(ref).status is TicketStatus.CLOSED
    assert (
        jira.requests_to("GET", f"/rest/api/3/issue/{ref.id}")[-1].query["fields"]
        == "status,assignee,updated"
    )


def test_a_missing_issue_is_a_client_error(jira: FakeJira, client: httpx.Client) -> None:
    with pytest.raises(DeliveryError) as raised:
        jira.ticketer(client).comment(TicketRef("jira", "OPS-99"), "hello")

    assert raised.value.reason is DeliveryReason.CLIENT
    assert "Issue does not exist" in str(raised.value)


# -- transport and configuration ---------------------------------------------------------------------


def test_an_unreachable_site_is_a_recoverable_network_error(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ticketer = JiraTicketer(
        client, url=f"http://127.0.0.1:{port}", email=EMAIL, api_token=TOKEN, project="OPS"
    )

    with pytest.raises(DeliveryError) as raised:
        ticketer.create(ticket())

    assert raised.value.reason is DeliveryReason.NETWORK
    assert raised.value.recoverable is True
    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(ticketer)


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "tickets_backend": "jira",
        "jira_url": "https://example.atlassian.net/",
        "jira_email": EMAIL,
        "jira_api_token": SecretStr(TOKEN),
        "jira_project": "OPS",
    }
    base.update(values)
    return Settings(**base)


def test_from_settings_reads_every_jira_setting(client: httpx.Client) -> None:
    made = JiraTicketer.from_settings(
        settings(
            jira_issue_type="Incident",
            jira_done_transition="Resolve",
            ticket_fields={"inf01": {"components": "Network"}},
        ),
        client,
    )

    assert made.base == "https://example.atlassian.net"
    assert (made.project, made.issue_type, made.done_transition, made.reopen_transition) == (
        "OPS",
        "Incident",
        "Resolve",
        "To Do",
    )


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("jira_url", "OPSWARDEN_JIRA_URL"),
        ("jira_email", "OPSWARDEN_JIRA_EMAIL"),
        ("jira_api_token", "OPSWARDEN_JIRA_API_TOKEN"),
        ("jira_project", "OPSWARDEN_JIRA_PROJECT"),
    ],
)
def test_from_settings_names_the_missing_setting(client: httpx.Client, missing: str, variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable) as raised:
        JiraTicketer.from_settings(settings(**{missing: None}), client)

    assert TOKEN not in str(raised.value)


def test_from_settings_refuses_fields_jira_does_not_take(client: httpx.Client) -> None:
    with pytest.raises(ConfigurationError, match=r"OPSWARDEN_TICKET_FIELDS: team 'inf01'.*assignment_group"):
        JiraTicketer.from_settings(settings(ticket_fields={"inf01": {"assignment_group": "Net"}}), client)
