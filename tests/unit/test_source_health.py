"""AWS Health events from EventBridge (and bare ``detail`` objects): opswarden.sources.health."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Event, Page, Resource, Severity, Status, content_hash
from opswarden.errors import PayloadError, TimestampError
from opswarden.sources import health
from opswarden.sources.registry import find_source
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

ACCOUNT = "210987654321"
ISSUE_ARN = (
    "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_AVAILABILITY_ISSUE/"
    "AWS_EC2_INSTANCE_AVAILABILITY_ISSUE_5c1b2a34-8d0e-4f7a-9a61-2b7f3e9c0d11"
)
FIXTURES = [
    "eventbridge_issue_account_specific.json",
    "eventbridge_public_issue.json",
    "eventbridge_scheduled_change_page2_of_3.json",
    "eventbridge_account_notification_2022.json",
    "eventbridge_investigation.json",
    "eventbridge_issue_open_2022.json",
    "eventbridge_issue_resolved_2022.json",
    "eventbridge_abuse_event.json",
    "eventbridge_backup_event.json",
    "eventbridge_mock_source.json",
    "detail_only_eks_planned_change.json",
    "aha_event.json",
]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fixture(name: str) -> Any:
    return load_fixture(f"health/{name}")


def one(payload: Any) -> Event:
    events = health.normalise(payload)
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize("name", FIXTURES)
def test_registry_routes_every_health_shape_here_and_events_are_canonical(name: str) -> None:
    payload = fixture(name)
    assert find_source(payload).name == "health"
    for event in health.normalise(payload):
        assert event == event.canonical()
        assert event.links[0].url.startswith("https://health.aws.amazon.com/health/home#/account/event-log?")


def test_account_specific_issue() -> None:
    event = one(fixture("eventbridge_issue_account_specific.json"))
    assert event.key == f"aws.health:{ISSUE_ARN}:{ACCOUNT}"
    assert event.source == "aws.health"
    assert event.type_code == "AWS_EC2_INSTANCE_AVAILABILITY_ISSUE"
    assert event.category is Category.ISSUE
    assert event.service == "EC2"
    assert event.title == "EC2 · Instance availability issue"
    assert event.severity is Severity.HIGH
    assert (event.status, event.upstream_status) == (Status.OPEN, "open")
    assert event.region == "eu-west-1"
    assert event.accounts == (ACCOUNT,)
    assert event.start_at == at(2026, 3, 2, 8, 14)
    assert event.end_at is None
    assert event.updated_at == at(2026, 3, 2, 9, 30, 12)
    assert event.deadline_at is None
    assert event.page is None
    assert event.details == {
        "eventArn": ISSUE_ARN,
        "eventScopeCode": "ACCOUNT_SPECIFIC",
        "communicationId": "8e4c2f0a91b37d5e6c1a0f2b9d8e7c6a5b4f3e2d",
        "eventMetadata": {"truncated": "false"},
        "actionability": "ACTION_MAY_BE_REQUIRED",
        "personas": ["OPERATIONS"],
        "detail_type": "AWS Health Event",
    }


def test_entities_and_envelope_resources() -> None:
    event = one(fixture("eventbridge_issue_account_specific.json"))
    by_id = {r.id: r for r in event.resources}
    assert len(event.resources) == 3  # two entities + the envelope-only Auto Scaling group
    assert by_id["i-0a1b2c3d4e5f60718"] == Resource(
        id="i-0a1b2c3d4e5f60718",
        status="PENDING",
        account=ACCOUNT,
        updated_at=at(2026, 3, 2, 9, 28, 40),
        tags={"team": "web", "stage": "prod"},
    )
    assert by_id["i-0f9e8d7c6b5a40312"].status == "IMPAIRED"  # statusCode spelling
    asg = next(r for r in event.resources if r.id.startswith("arn:aws:autoscaling"))
    assert (asg.status, asg.account) == (None, ACCOUNT)


def test_multi_language_prefers_en_us_and_unescapes_newlines() -> None:
    event = one(fixture("eventbridge_issue_account_specific.json"))
    assert set(event.descriptions) == {"ja_JP", "en_US"}
    assert event.description == event.descriptions["en_US"]
    assert event.description.startswith("We are investigating")
    assert "\\n" not in event.description
    assert "Region.\n\nIf your instances" in event.description


def test_description_fallbacks() -> None:
    assert health.preferred_description({"fr_FR": "fr", "en_GB": "gb"}) == "gb"
    assert health.preferred_description({"fr_FR": "fr", "de_DE": "de"}) == "fr"
    assert health.preferred_description({}) == ""
    assert health.descriptions_of({"latestDescription": "a\\nb"}) == {"en_US": "a\nb"}
    assert health.descriptions_of([{"language": "en_US", "latestDescription": ""}, "junk"]) == {}


def test_public_event_is_keyed_by_arn_alone() -> None:
    event = one(fixture("eventbridge_public_issue.json"))
    arn = fixture("eventbridge_public_issue.json")["detail"]["eventArn"]
    assert event.key == f"aws.health:{arn}"
    assert event.accounts == ()
    assert event.severity is Severity.MEDIUM  # a public issue
    assert (event.status, event.upstream_status) == (Status.CLOSED, "closed")
    assert event.end_at == at(2026, 2, 20, 11, 40)


def test_scheduled_change_page_deadline_and_rfc1123_quirks() -> None:
    event = one(fixture("eventbridge_scheduled_change_page2_of_3.json"))
    assert event.category is Category.SCHEDULED_CHANGE
    assert event.severity is Severity.MEDIUM
    assert (event.status, event.upstream_status) == (Status.UPCOMING, "upcoming")
    # "Mon, 3 Mar 2026": unpadded day, and 3 March 2026 is a Tuesday.
    assert event.start_at == event.deadline_at == at(2026, 3, 3, 2)
    assert event.end_at == at(2026, 3, 3, 4)
    assert event.page == Page(numbers=(2,), total=3)
    assert event.details["communicationId"] == "4b1e9d7c2a0f8e6d5c3b1a9f7e5d3c1b0a2f4e6d"
    assert event.details["eventMetadata"]["maintenance_window"].startswith("Mon, 3 Mar")
    replica1, replica2 = event.resources
    assert (replica1.status, replica1.updated_at) == (
        "PENDING",
        at(2026, 2, 24, 16, 4, 58),
    )  # lastupdatedTime
    assert replica2.id.endswith("orders-replica-2")  # named by the envelope only
    assert replica2.status is None


@pytest.mark.parametrize(
    ("page", "total", "expected"), [("1", "1", None), ("1", "10", Page(numbers=(1,), total=10))]
)
def test_page_strings(page: str, total: str, expected: Page | None) -> None:
    payload = fixture("eventbridge_issue_account_specific.json")
    payload["detail"].update(page=page, totalPages=total)
    assert one(payload).page == expected


def test_account_notification_2022_schema() -> None:
    event = one(fixture("eventbridge_account_notification_2022.json"))
    arn = fixture("eventbridge_account_notification_2022.json")["detail"]["eventArn"]
    assert event.key == f"aws.health:{arn}:{ACCOUNT}"  # envelope account: no affectedAccount in 2022
    assert event.category is Category.ACCOUNT_NOTIFICATION
    assert event.severity is Severity.LOW
    assert (event.status, event.upstream_status) == (Status.OPEN, None)
    assert event.updated_at == at(2022, 6, 22, 9, 47, 14)  # envelope time
    assert event.title == "VPN · Redundancy loss"
    assert "replaced.\n\nBoth tunnels" in event.description
    assert [r.id for r in event.resources] == ["vpn-0a9b8c7d6e5f43210"]  # entity and envelope merged


def test_investigation() -> None:
    event = one(fixture("eventbridge_investigation.json"))
    assert event.category is Category.INVESTIGATION
    assert event.severity is Severity.MEDIUM
    assert event.accounts == ()


def test_status_inferred_from_end_time_and_resolution_orders_after_opening() -> None:
    opened = one(fixture("eventbridge_issue_open_2022.json"))
    resolved = one(fixture("eventbridge_issue_resolved_2022.json"))
    assert opened.key == resolved.key
    assert (opened.status, opened.upstream_status) == (Status.OPEN, None)
    assert (resolved.status, resolved.upstream_status) == (Status.CLOSED, None)
    # Both envelopes carry the same time; the resolution is dated by its end time.
    assert opened.updated_at == at(2022, 6, 7, 3, 12, 45)
    assert resolved.updated_at == resolved.end_at == at(2022, 6, 7, 4, 1, 9)
    assert opened.content_hash() != resolved.content_hash()


@pytest.mark.parametrize(
    ("category", "end", "updated", "envelope", "expected"),
    [
        (Category.ISSUE, None, None, at(2022, 1, 1), Status.OPEN),
        (Category.ISSUE, at(2022, 1, 2), None, at(2022, 1, 1), Status.CLOSED),
        (Category.ISSUE, at(2022, 1, 2), at(2022, 1, 1), None, Status.OPEN),
        (Category.ISSUE, at(2022, 1, 2), at(2022, 1, 2), None, Status.CLOSED),
        (Category.SCHEDULED_CHANGE, at(2022, 1, 2), None, at(2022, 1, 1), Status.OPEN),
        (Category.SCHEDULED_CHANGE, at(2022, 1, 2), None, at(2022, 1, 3), Status.CLOSED),
        (Category.SCHEDULED_CHANGE, at(2022, 1, 2), None, None, Status.OPEN),
    ],
)
def test_infer_status(
    category: Category,
    end: datetime | None,
    updated: datetime | None,
    envelope: datetime | None,
    expected: Status,
) -> None:
    assert health.infer_status(category, end, updated, envelope) is expected


def test_abuse_event_is_critical() -> None:
    event = one(fixture("eventbridge_abuse_event.json"))
    assert event.severity is Severity.CRITICAL
    assert event.details["detail_type"] == "AWS Health Abuse Event"
    assert event.title == "ABUSE · DOS report"
    assert event.region == "global"


@pytest.mark.parametrize(
    ("code", "category", "expected"),
    [
        ("AWS_SECURITY_NOTIFICATION", "accountNotification", Severity.CRITICAL),
        ("AWS_RISK_CREDENTIALS_EXPOSED", "issue", Severity.CRITICAL),
        ("AWS_IAM_CREDENTIALS_EXPOSED_REPORT", "accountNotification", Severity.CRITICAL),
        ("AWS_BILLING_NOTIFICATION", "accountNotification", Severity.LOW),
        ("AWS_EC2_OPERATIONAL_ISSUE", "issue", Severity.HIGH),
    ],
)
def test_severity_mapping(code: str, category: str, expected: Severity) -> None:
    payload = fixture("eventbridge_issue_account_specific.json")
    payload["detail"].update(eventTypeCode=code, eventTypeCategory=category, statusCode="closed")
    assert one(payload).severity is expected  # closed keeps its mapping


def test_backup_event_is_in_the_event_region_not_the_delivery_region() -> None:
    payload = fixture("eventbridge_backup_event.json")
    event = one(payload)
    assert (payload["region"], event.region) == ("us-west-2", "us-east-1")
    # Delivery metadata (where this copy came from, whether it is the backup copy): raw payload only.
    assert "delivery_region" not in event.details
    assert "backupEvent" not in event.details


def test_the_backup_copy_and_the_primary_copy_are_the_same_content() -> None:
    backup = fixture("eventbridge_backup_event.json")
    primary = fixture("eventbridge_backup_event.json")
    primary["region"] = primary["detail"].get("eventRegion", "us-east-1")
    primary["detail"]["backupEvent"] = "false"
    assert content_hash(one(backup)) == content_hash(one(primary))


def test_copies_delivered_in_two_regions_have_equal_content() -> None:
    primary = fixture("eventbridge_issue_account_specific.json")
    copy_ = copy.deepcopy(primary)
    copy_.update(id="0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", region="us-west-2")
    assert primary["region"] != copy_["region"]
    assert primary["detail"]["eventRegion"] == copy_["detail"]["eventRegion"]

    first, second = one(primary), one(copy_)

    assert content_hash(first) == content_hash(second)
    assert first == second


def test_without_an_event_region_the_delivery_region_is_the_region() -> None:
    payload = fixture("eventbridge_issue_account_specific.json")
    del payload["detail"]["eventRegion"]
    payload["region"] = "us-west-2"
    assert one(payload).region == "us-west-2"  # before the ARN's eu-west-1


def test_detail_only_planned_change() -> None:
    payload = fixture("detail_only_eks_planned_change.json")
    event = one(payload)
    assert event.key == f"aws.health:{payload['eventArn']}:{ACCOUNT}"
    assert event.category is Category.SCHEDULED_CHANGE
    assert event.details["event_type_category"] == "plannedChange"
    assert "detail_type" not in event.details
    assert event.end_at is None  # endTime ""
    assert event.deadline_at == event.start_at == at(2026, 4, 14)
    assert [(r.id.rsplit("/", 1)[1], r.status) for r in event.resources] == [
        ("payments", "PENDING"),
        ("search", "RESOLVED"),
    ]
    assert event.description.endswith(
        "ends on April 14, 2026.\nUpgrade the clusters listed in the Affected resources tab before that date."
    )


def test_planned_lifecycle_type_code_has_a_deadline_whatever_its_category() -> None:
    payload = fixture("detail_only_eks_planned_change.json")
    payload["eventTypeCategory"] = "accountNotification"
    assert one(payload).deadline_at == at(2026, 4, 14)


def test_mock_spellings_and_unknown_categories() -> None:
    payload = fixture("eventbridge_account_notification_2022.json")
    payload["detail"]["eventTypeCategory"] = "accountnotification"
    event = one(payload)
    assert event.category is Category.ACCOUNT_NOTIFICATION
    assert event.details["event_type_category"] == "accountnotification"
    payload["detail"]["eventTypeCategory"] = "category"
    assert one(payload).category is Category.OTHER


def test_health_shaped_event_from_another_source_keeps_its_source() -> None:
    payload = fixture("eventbridge_mock_source.json")
    assert find_source(payload).name == "health"
    event = one(payload)
    assert event.source == "awsmock.health"
    assert event.key == f"awsmock.health:{payload['detail']['eventArn']}:{ACCOUNT}"


def test_aha_event() -> None:
    payload = fixture("aha_event.json")
    event = one(payload)
    assert event.source == "aha"
    assert event.key == f"aha:{payload['detail']['arn']}:345678901234"  # the entity's account
    assert event.accounts == ("345678901234",)
    assert event.description.startswith("Your VPN Connection had a momentary lapse")
    assert event.updated_at == datetime(2025, 10, 2, 8, 31, 2, 456000, tzinfo=UTC)
    assert event.region == "eu-west-1"


def test_entities_of_several_accounts_split_into_one_event_per_account() -> None:
    payload = fixture("aha_event.json")
    payload["detail"]["affectedEntities"].append({"entityValue": "vpn-0aaaa", "awsAccountId": ACCOUNT})
    payload["resources"].append("cgw-0123")  # an envelope resource no entity names: goes to both
    events = health.normalise(payload)
    assert [(e.accounts, [(r.id, r.account) for r in e.resources]) for e in events] == [
        (("345678901234",), [("cgw-0123", "345678901234"), ("vpn-0f1e2d3c4b5a69788", "345678901234")]),
        ((ACCOUNT,), [("cgw-0123", ACCOUNT), ("vpn-0aaaa", ACCOUNT)]),
    ]


def test_sanitised_account_is_cleaned() -> None:
    payload = fixture("eventbridge_account_notification_2022.json")
    payload["account"] = f"`{ACCOUNT}`"
    assert one(payload).accounts == (ACCOUNT,)


def test_no_account_at_all_means_arn_alone() -> None:
    payload = fixture("eventbridge_mock_source.json")
    del payload["account"]
    assert one(payload).key == f"awsmock.health:{payload['detail']['eventArn']}"


@pytest.mark.parametrize(
    ("service", "code", "title"),
    [
        ("EC2", "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "EC2 · Instance retirement scheduled"),
        ("ELASTICLOADBALANCING", "AWS_ELASTICLOADBALANCING_API_ISSUE", "ELASTICLOADBALANCING · API issue"),
        ("AWS_EC2", "AWS_EC2_HEALTH_TEST_EVENT", "AWS_EC2 · Health test event"),
        ("FAKE", "AWS_IAM_OPERATIONAL_ISSUE", "FAKE · IAM operational issue"),
        (None, "AWS_EBS_VOLUME_LOST", "EBS volume lost"),
    ],
)
def test_title(service: str | None, code: str, title: str) -> None:
    assert health.title_for(service, code) == title


def test_unescape() -> None:
    assert health.unescape("a\\nb\\r\\nc\nd") == "a\nb\nc\nd"


def test_matching() -> None:
    assert not health.SOURCE.matches(
        {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {}}
    )
    other = {"detail-type": "AWS Health Event", "source": "com.example", "detail": {"orderId": 1}}
    assert not health.SOURCE.matches(other)
    assert not health.SOURCE.matches({"events": []})
    assert health.SOURCE.matches({"eventArn": "x", "eventTypeCode": "y", "service": "z"})


# ----------------------------------------------------------------------------------------------------
# Errors name the JSON path


def broken(name: str, change: Any) -> Any:
    payload = copy.deepcopy(fixture(name))
    change(payload)
    return payload


@pytest.mark.parametrize(
    ("change", "error", "path"),
    [
        (lambda p: p["detail"].pop("eventArn"), PayloadError, "detail.eventArn"),
        (lambda p: p["detail"].update(eventTypeCode=""), PayloadError, "detail.eventTypeCode"),
        (lambda p: p["detail"].update(startTime="yesterday"), TimestampError, "detail.startTime"),
        (lambda p: p.update(time="2026-13-45T00:00:00Z"), TimestampError, "'time'"),
        (
            lambda p: p["detail"]["affectedEntities"][1].update(
                lastUpdatedTime="Mon, 2 Foo 2026 09:29:05 GMT"
            ),
            TimestampError,
            "detail.affectedEntities[1].lastUpdatedTime",
        ),
        (
            lambda p: p["detail"]["affectedEntities"][0].pop("entityValue"),
            PayloadError,
            "detail.affectedEntities[0].entityValue",
        ),
        (
            lambda p: p["detail"]["affectedEntities"].append("i-123"),
            PayloadError,
            "detail.affectedEntities[2]",
        ),
        (lambda p: p["detail"].update(totalPages="ten"), PayloadError, "detail.totalPages"),
        (lambda p: p["detail"].update(page="4", totalPages="3"), PayloadError, "detail.page"),
    ],
)
def test_bad_payloads_name_the_path(change: Any, error: type[Exception], path: str) -> None:
    payload = broken("eventbridge_issue_account_specific.json", change)
    with pytest.raises(error) as raised:
        health.normalise(payload)
    assert path in str(raised.value)


def test_detail_only_errors_have_paths_without_prefix() -> None:
    payload = broken("detail_only_eks_planned_change.json", lambda p: p.update(lastUpdatedTime="soon"))
    with pytest.raises(TimestampError, match="'lastUpdatedTime'"):
        health.normalise(payload)
