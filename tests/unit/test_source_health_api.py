"""AWS Health API outputs and combine(): opswarden.sources.health_api."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError, TimestampError, UnrecognisedFormatError
from opswarden.sources import health, health_api
from opswarden.sources.registry import find_source, normalise
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

ACCOUNT = "210987654321"
OTHER_ACCOUNT = "345678901234"
ISSUE_ARN = (
    "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_AVAILABILITY_ISSUE/"
    "AWS_EC2_INSTANCE_AVAILABILITY_ISSUE_5c1b2a34-8d0e-4f7a-9a61-2b7f3e9c0d11"
)
EKS_ARN = (
    "arn:aws:health:eu-west-1::event/EKS/AWS_EKS_PLANNED_LIFECYCLE_EVENT/"
    "AWS_EKS_PLANNED_LIFECYCLE_EVENT_0e2c4a6f-8b1d-4f3a-a5c7-e9b1d3f5a7c9"
)


def fixture(name: str) -> Any:
    data = load_fixture(f"health/{name}")
    return data["data"] if "status_code" in data else data  # placebo recordings: the body is in "data"


def eventbridge(name: str) -> Any:
    (event,) = health.normalise(fixture(name))
    return event


@pytest.mark.parametrize(
    "name",
    [
        "api_describe_events_cli.json",
        "api_describe_event_details_cli.json",
        "api_describe_affected_entities_cli.json",
        "api_describe_events_placebo.json",
        "api_describe_events_empty.json",
        "api_org_describe_events.json",
        "api_org_event_details.json",
        "api_org_affected_entities.json",
        "api_entities_only_short_arns.json",
        "api_describe_event_types.json",
    ],
)
def test_registry_routes_api_outputs_here(name: str) -> None:
    assert find_source(fixture(name)).name == "health_api"


def test_describe_events_cli_epoch_floats() -> None:
    issue, public = health_api.normalise(fixture("api_describe_events_cli.json"))
    assert issue.key == f"aws.health:{ISSUE_ARN}"  # account-specific, but the output names no account
    assert issue.accounts == ()
    assert issue.severity is Severity.HIGH  # still account-specific by its scope
    assert issue.start_at == datetime(2026, 3, 2, 8, 14, tzinfo=UTC)
    assert issue.updated_at == datetime(2026, 3, 2, 9, 30, 12, tzinfo=UTC)
    assert issue.title == "EC2 · Instance availability issue"
    assert public.key == eventbridge("eventbridge_public_issue.json").key
    assert (public.status, public.severity) == (Status.CLOSED, Severity.MEDIUM)
    assert public.updated_at == datetime(2026, 2, 20, 11, 42, 30, 500000, tzinfo=UTC)
    for event in (issue, public):
        assert event == event.canonical()


def test_caller_account_gives_the_eventbridge_key() -> None:
    issue, public = health_api.normalise(fixture("api_describe_events_cli.json"), account=ACCOUNT)
    assert issue.key == eventbridge("eventbridge_issue_account_specific.json").key
    assert public.key == eventbridge("eventbridge_public_issue.json").key  # public: never an account


def test_describe_event_details_cli() -> None:
    (event,) = health_api.normalise(fixture("api_describe_event_details_cli.json"))
    assert event.description == eventbridge("eventbridge_issue_account_specific.json").description
    assert event.descriptions == {"en_US": event.description}
    assert event.details["eventMetadata"] == {"truncated": "false"}
    assert event.category is Category.ISSUE


def test_details_where_everything_failed_is_an_error() -> None:
    payload = fixture("api_describe_event_details_cli.json")
    payload["successfulSet"] = []
    with pytest.raises(PayloadError, match=r"1 failed .*EventNotFoundException"):
        health_api.normalise(payload)


def test_entities_only_gives_partial_events_with_the_eventbridge_key() -> None:
    (event,) = health_api.normalise(fixture("api_describe_affected_entities_cli.json"))
    assert event.key == eventbridge("eventbridge_issue_account_specific.json").key
    assert event.details == {"eventArn": ISSUE_ARN, "partial": True}
    assert (event.type_code, event.service, event.region) == (
        "AWS_EC2_INSTANCE_AVAILABILITY_ISSUE",
        "EC2",
        "eu-west-1",
    )
    assert event.title == "EC2 · Instance availability issue (affected entities only)"
    assert event.updated_at is None
    assert [(r.id, r.status, r.account) for r in event.resources] == [
        ("i-0a1b2c3d4e5f60718", "UNIMPAIRED", ACCOUNT),
        ("i-0f9e8d7c6b5a40312", "IMPAIRED", ACCOUNT),
    ]
    assert event.resources[0].tags == {"team": "web", "stage": "prod"}


def test_entities_only_with_short_arns() -> None:
    ebs, iam, unknown = health_api.normalise(fixture("api_entities_only_short_arns.json"))
    assert (ebs.service, ebs.type_code, ebs.region, ebs.accounts) == ("EBS", "UNKNOWN", "eu-west-1", ())
    assert ebs.title == "EBS (affected entities only)"
    assert ebs.resources[0].updated_at == datetime.fromtimestamp(1769000000, tz=UTC)
    assert (iam.service, iam.type_code, iam.region) == ("IAM", "AWS_IAM_OPERATIONAL_ISSUE", "global")
    assert iam.key == "aws.health:arn:aws:health:global::event/AWS_IAM_OPERATIONAL_ISSUE_1771585200"
    assert (unknown.service, unknown.type_code, unknown.accounts) == (None, "UNKNOWN", (OTHER_ACCOUNT,))
    assert unknown.key.endswith(f"event-1771585200123:{OTHER_ACCOUNT}")
    assert all(e.details["partial"] for e in (ebs, iam, unknown))


def test_placebo_datetimes() -> None:
    (event,) = health_api.normalise(fixture("api_describe_events_placebo.json"))
    assert event.start_at == event.deadline_at == datetime(2026, 3, 3, 2, tzinfo=UTC)
    assert event.updated_at == datetime(2026, 2, 24, 16, 5, 7, 412000, tzinfo=UTC)
    assert (event.status, event.category) == (Status.UPCOMING, Category.SCHEDULED_CHANGE)


def test_empty_events_list() -> None:
    assert normalise(fixture("api_describe_events_empty.json")) == []
    assert normalise({"entities": []}) == []


def test_event_types_are_rejected() -> None:
    with pytest.raises(UnrecognisedFormatError, match="catalogue of event types, not events"):
        normalise(fixture("api_describe_event_types.json"))


def test_org_variants_combine_into_one_event_per_account() -> None:
    events = health_api.combine(
        fixture("api_org_describe_events.json"),
        fixture("api_org_event_details.json"),
        fixture("api_org_affected_entities.json"),
    )
    assert [e.accounts for e in events] == [(ACCOUNT,), (OTHER_ACCOUNT,)]
    mine, theirs = events
    assert mine.key == eventbridge("detail_only_eks_planned_change.json").key
    assert theirs.key == f"aws.health:{EKS_ARN}:{OTHER_ACCOUNT}"
    assert [r.id.rsplit("/", 1)[1] for r in mine.resources] == ["payments"]
    assert [(r.id.rsplit("/", 1)[1], r.tags) for r in theirs.resources] == [
        ("analytics", {"owner": "data-platform"})
    ]
    assert mine.description == theirs.description
    assert mine.description.startswith("Amazon EKS standard support")
    assert mine.deadline_at == datetime(2026, 4, 14, tzinfo=UTC)
    assert mine.details["eventMetadata"] == {"deprecated_versions": "Kubernetes 1.30 in EKS"}


def test_org_details_alone_split_by_account() -> None:
    events = normalise(fixture("api_org_event_details.json"))
    assert [e.key for e in events] == [
        f"aws.health:{EKS_ARN}:{ACCOUNT}",
        f"aws.health:{EKS_ARN}:{OTHER_ACCOUNT}",
    ]


def test_combine_matches_the_eventbridge_event() -> None:
    issue, public = health_api.combine(
        fixture("api_describe_events_cli.json"),
        fixture("api_describe_event_details_cli.json"),
        fixture("api_describe_affected_entities_cli.json"),
    )
    via_eventbridge = eventbridge("eventbridge_issue_account_specific.json")
    assert issue.key == via_eventbridge.key
    assert issue.accounts == via_eventbridge.accounts
    for field in ("type_code", "category", "service", "title", "description", "severity", "status", "region"):
        assert getattr(issue, field) == getattr(via_eventbridge, field), field
    assert (issue.start_at, issue.updated_at) == (via_eventbridge.start_at, via_eventbridge.updated_at)
    assert {r.id for r in issue.resources} == {"i-0a1b2c3d4e5f60718", "i-0f9e8d7c6b5a40312"}
    assert "partial" not in issue.details
    assert public.key == eventbridge("eventbridge_public_issue.json").key


def test_combine_takes_several_pages_and_entities_of_unknown_events() -> None:
    events = health_api.combine(
        [fixture("api_describe_events_cli.json"), fixture("api_describe_events_placebo.json")],
        None,
        [fixture("api_describe_affected_entities_cli.json"), fixture("api_entities_only_short_arns.json")],
    )
    assert len(events) == 3 + 3
    assert [e.details.get("partial", False) for e in events] == [False] * 3 + [True] * 3
    assert events[0].key == eventbridge("eventbridge_issue_account_specific.json").key  # joined by entities


def test_combine_of_nothing() -> None:
    assert health_api.combine() == []


@pytest.mark.parametrize(
    ("name", "change", "error", "path"),
    [
        ("api_describe_events_cli.json", lambda p: p["events"][0].pop("arn"), PayloadError, "events[0].arn"),
        (
            "api_describe_events_cli.json",
            lambda p: p["events"][1].update(startTime="noon"),
            TimestampError,
            "events[1].startTime",
        ),
        ("api_describe_events_cli.json", lambda p: p["events"].append(3), PayloadError, "events[2]"),
        (
            "api_describe_event_details_cli.json",
            lambda p: p["successfulSet"][0].pop("event"),
            PayloadError,
            "successfulSet[0].event",
        ),
        (
            "api_describe_event_details_cli.json",
            lambda p: p["successfulSet"][0]["event"].pop("eventTypeCode"),
            PayloadError,
            "successfulSet[0].event.eventTypeCode",
        ),
        (
            "api_describe_affected_entities_cli.json",
            lambda p: p["entities"][1].pop("entityValue"),
            PayloadError,
            "entities[1].entityValue",
        ),
        (
            "api_describe_affected_entities_cli.json",
            lambda p: p["entities"][0].update(lastUpdatedTime={"__class__": "datetime", "year": 2026}),
            TimestampError,
            "entities[0].lastUpdatedTime",
        ),
    ],
)
def test_bad_outputs_name_the_path(name: str, change: Any, error: type[Exception], path: str) -> None:
    payload = copy.deepcopy(fixture(name))
    change(payload)
    with pytest.raises(error) as raised:
        health_api.normalise(payload)
    assert path in str(raised.value)


def test_paths_name_the_page_when_several_are_combined() -> None:
    bad = copy.deepcopy(fixture("api_describe_events_cli.json"))
    bad["events"][0]["lastUpdatedTime"] = "never"
    with pytest.raises(TimestampError, match=r"\[1\]\.events\[0\]\.lastUpdatedTime"):
        health_api.combine([fixture("api_describe_events_placebo.json"), bad])
    with pytest.raises(PayloadError, match="'events' must be an array"):
        health_api.combine({"events": {"arn": "x"}})


def test_matching() -> None:
    matches = health_api.SOURCE.matches
    assert matches({"events": []})
    assert not matches({"events": [{"logStreamName": "x", "message": "y"}]})
    assert not matches({"detail-type": "x", "source": "y", "detail": {}, "events": []})
    assert matches({"successfulSet": [], "failedSet": []})
