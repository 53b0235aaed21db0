"""``opswarden backfill health`` against stubbed Health API clients (moto has no Health API).

botocore's Stubber checks every call's parameters and answers with real-shaped responses (times as the
aware datetimes botocore returns): two DescribeEvents pages, their details and entities, for one account
and for an organisation; a run stopped by throttling and resumed; no support plan.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from opswarden.app import Application
from opswarden.cli import backfill as backfill_cli
from opswarden.cli import common
from opswarden.cli.main import app
from opswarden.settings import load_settings
from opswarden.store.reader import EventFilter

pytestmark = pytest.mark.integration

boto3 = pytest.importorskip("boto3")
from botocore.stub import Stubber  # noqa: E402

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
ACCOUNT, OTHER = "111122223333", "444455556666"
E1 = "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_8b2e1f0a"
E2 = "arn:aws:health:eu-west-1::event/S3/AWS_S3_OPERATIONAL_ISSUE/AWS_S3_OPERATIONAL_ISSUE_QKJRL_1738591200"
E3 = (
    "arn:aws:health:eu-west-1::event/RDS/AWS_RDS_MAINTENANCE_SCHEDULED/AWS_RDS_MAINTENANCE_SCHEDULED_4cd90e77"
)
EVENTS_FILTER = {"lastUpdatedTimes": [{"from": SINCE}]}
ORG_FILTER = {"lastUpdatedTime": {"from": SINCE}}


def t(day: int, hour: int = 0) -> datetime:
    return datetime(2025, 2, day, hour, tzinfo=UTC)


def event(arn: str) -> dict[str, Any]:
    """A DescribeEvents item as botocore returns it."""
    service, code = arn.split("/")[1:3]
    return {
        E1: {
            "arn": E1,
            "service": service,
            "eventTypeCode": code,
            "eventTypeCategory": "scheduledChange",
            "region": "eu-west-1",
            "startTime": t(20, 9),
            "lastUpdatedTime": t(3, 12),
            "statusCode": "upcoming",
            "eventScopeCode": "ACCOUNT_SPECIFIC",
        },
        E2: {
            "arn": E2,
            "service": service,
            "eventTypeCode": code,
            "eventTypeCategory": "issue",
            "region": "eu-west-1",
            "availabilityZone": "euw1-az2",
            "startTime": t(3, 14),
            "endTime": t(3, 16),
            "lastUpdatedTime": t(3, 17),
            "statusCode": "closed",
            "eventScopeCode": "PUBLIC",
        },
        E3: {
            "arn": E3,
            "service": service,
            "eventTypeCode": code,
            "eventTypeCategory": "scheduledChange",
            "region": "eu-west-1",
            "startTime": t(25, 22),
            "endTime": t(25, 23),
            "lastUpdatedTime": t(2, 8),
            "statusCode": "upcoming",
            "eventScopeCode": "ACCOUNT_SPECIFIC",
        },
    }[arn]


def detail(arn: str, account: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event": event(arn),
        "eventDescription": {"latestDescription": f"What happened: {arn.rsplit('/', 1)[1]}"},
        "eventMetadata": {},
    }
    return {**item, "awsAccountId": account} if account else item


def entity(arn: str, value: str, account: str, status: str = "IMPAIRED") -> dict[str, Any]:
    return {
        "entityArn": f"arn:aws:health:eu-west-1:{account}:entity/{value}",
        "eventArn": arn,
        "entityValue": value,
        "awsAccountId": account,
        "lastUpdatedTime": t(3, 12),
        "statusCode": status,
    }


# -- stubs ------------------------------------------------------------------------------------------


def client(service: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client(service)


class Stubs:
    """Stubbed ``health`` and ``sts`` clients, and the factory the CLI gets instead of boto3's."""

    def __init__(self) -> None:
        self.health, self.sts = client("health"), client("sts")
        self.h, self.s = Stubber(self.health), Stubber(self.sts)
        self.h.activate()
        self.s.activate()
        self.asked: list[tuple[str | None, str]] = []

    def factory(self, profile: str | None, region: str) -> Callable[[str], Any]:
        self.asked.append((profile, region))
        return {"health": self.health, "sts": self.sts}.__getitem__

    def done(self) -> None:
        self.h.assert_no_pending_responses()
        self.s.assert_no_pending_responses()

    def caller(self) -> None:
        self.s.add_response(
            "get_caller_identity",
            {"UserId": "AIDAEXAMPLE", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ops"},
            {},
        )

    def events(self, arns: list[str], token: str | None, next_token: str | None, org: bool = False) -> None:
        expected: dict[str, Any] = {"filter": ORG_FILTER if org else EVENTS_FILTER, "maxResults": 2}
        if token:
            expected["nextToken"] = token
        items = [event(a) for a in arns]
        if org:  # OrganizationEvent has no availabilityZone
            items = [{k: v for k, v in item.items() if k != "availabilityZone"} for item in items]
        response: dict[str, Any] = {"events": items}
        if next_token:
            response["nextToken"] = next_token
        name = "describe_events_for_organization" if org else "describe_events"
        self.h.add_response(name, response, expected)

    def account_page(self, arns: list[str], entity_pages: list[list[dict[str, Any]]]) -> None:
        self.h.add_response(
            "describe_event_details",
            {"successfulSet": [detail(a) for a in arns], "failedSet": []},
            {"eventArns": arns},
        )
        self.entity_pages("describe_affected_entities", {"filter": {"eventArns": arns}}, entity_pages)

    def entity_pages(self, name: str, params: dict[str, Any], pages: list[list[dict[str, Any]]]) -> None:
        for i, page in enumerate(pages):
            response: dict[str, Any] = {"entities": page}
            if i + 1 < len(pages):
                response["nextToken"] = f"entities-{i + 2}"
            token = {"nextToken": f"entities-{i + 1}"} if i else {}
            self.h.add_response(name, response, {**params, "maxResults": 100, **token})


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (common, backfill_cli):
        monkeypatch.setattr(module, "console", Console(width=250))
        monkeypatch.setattr(module, "err_console", Console(stderr=True, width=250))


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Stubs:
    stubbed = Stubs()
    monkeypatch.setattr(backfill_cli, "make_clients", stubbed.factory)
    return stubbed


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(data_dir),
            "backfill",
            "health",
            "--since",
            "2025-01-01",
            "--page-size",
            "2",
            *args,
        ],
    )


def stored(data_dir: Path) -> dict[str, Any]:
    application = Application(load_settings(data_dir=data_dir))
    try:
        return {s.key: s for s in application.list_events(EventFilter(source="aws.health"))}
    finally:
        application.close()


def account_run(stubs: Stubs, *, first_page: bool = True) -> None:
    if first_page:
        stubs.caller()
        stubs.events([E1, E2], None, "page-2")
        stubs.account_page([E1, E2], [[entity(E1, "i-0abc1234def567890", ACCOUNT)]])
    stubs.events([E3], "page-2", None)
    stubs.account_page(
        [E3],
        [
            [entity(E3, "db-orders-1", ACCOUNT, "UNKNOWN")],
            [entity(E3, "db-orders-2", ACCOUNT, "UNKNOWN")],
        ],
    )


# -- tests ------------------------------------------------------------------------------------------


def test_account_backfill_stores_events_with_details_and_entities(tmp_path: Path, stubs: Stubs) -> None:
    account_run(stubs)

    result = run(tmp_path, "--no-triage", "--profile", "ops")

    assert result.exit_code == 0, result.output
    stubs.done()
    assert stubs.asked == [("ops", "us-east-1")]
    assert (
        "3 event(s) fetched in 2 page(s): 3 accepted (3 new, 0 updated, 0 unchanged, 0 history), 0 rejected"
        in result.output
    )
    events = stored(tmp_path)
    assert sorted(events) == sorted(
        [f"aws.health:{E1}:{ACCOUNT}", f"aws.health:{E2}", f"aws.health:{E3}:{ACCOUNT}"]
    )
    retirement = events[f"aws.health:{E1}:{ACCOUNT}"].event
    assert (retirement.status.value, retirement.category.value, retirement.severity.value) == (
        "upcoming",
        "scheduledChange",
        "medium",
    )
    assert retirement.accounts == (ACCOUNT,)
    assert [(r.id, r.status, r.account) for r in retirement.resources] == [
        ("i-0abc1234def567890", "IMPAIRED", ACCOUNT)
    ]
    assert retirement.description == "What happened: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_8b2e1f0a"
    assert retirement.updated_at == t(3, 12)
    public = events[f"aws.health:{E2}"].event
    assert (public.status.value, public.accounts, public.resources) == ("closed", (), ())
    assert public.details["availabilityZone"] == "euw1-az2"
    rds = events[f"aws.health:{E3}:{ACCOUNT}"].event
    assert [r.id for r in rds.resources] == ["db-orders-1", "db-orders-2"]  # both entity pages
    assert rds.status.value == "upcoming"
    assert not (tmp_path / "backfill-health.json").exists()  # finished: no checkpoint left


def test_organisation_backfill_gives_one_event_per_affected_account(tmp_path: Path, stubs: Stubs) -> None:
    h = stubs.h
    stubs.events([E1, E2], None, "org-page-2", org=True)
    h.add_response(
        "describe_affected_accounts_for_organization",
        {"affectedAccounts": [ACCOUNT], "eventScopeCode": "ACCOUNT_SPECIFIC", "nextToken": "accounts-2"},
        {"eventArn": E1},
    )
    h.add_response(
        "describe_affected_accounts_for_organization",
        {"affectedAccounts": [OTHER], "eventScopeCode": "ACCOUNT_SPECIFIC"},
        {"eventArn": E1, "nextToken": "accounts-2"},
    )  # E2 is public: no accounts to ask for
    filters = [{"eventArn": E1, "awsAccountId": ACCOUNT}, {"eventArn": E1, "awsAccountId": OTHER}]
    h.add_response(
        "describe_event_details_for_organization",
        {"successfulSet": [detail(E1, ACCOUNT), detail(E1, OTHER), detail(E2)], "failedSet": []},
        {"organizationEventDetailFilters": [*filters, {"eventArn": E2}]},
    )
    stubs.entity_pages(
        "describe_affected_entities_for_organization",
        {"organizationEntityFilters": filters},
        [[entity(E1, "i-0aaa1111bbb222333", ACCOUNT), entity(E1, "i-0ccc4444ddd555666", OTHER)]],
    )
    stubs.events([E3], "org-page-2", None, org=True)
    h.add_response(
        "describe_affected_accounts_for_organization",
        {"affectedAccounts": [OTHER], "eventScopeCode": "ACCOUNT_SPECIFIC"},
        {"eventArn": E3},
    )
    h.add_response(
        "describe_event_details_for_organization",
        {
            "successfulSet": [],
            "failedSet": [
                {
                    "awsAccountId": OTHER,
                    "eventArn": E3,
                    "errorName": "NotFoundException",
                    "errorMessage": "event not found",
                }
            ],
        },
        {"organizationEventDetailFilters": [{"eventArn": E3, "awsAccountId": OTHER}]},
    )
    stubs.entity_pages(
        "describe_affected_entities_for_organization",
        {"organizationEntityFilters": [{"eventArn": E3, "awsAccountId": OTHER}]},
        [[entity(E3, "db-orders-9", OTHER, "UNKNOWN")]],
    )

    result = run(tmp_path, "--org", "--no-triage", "--region", "us-east-2")

    assert result.exit_code == 0, result.output
    stubs.done()
    assert stubs.asked == [(None, "us-east-2")]
    assert "3 event(s) fetched in 2 page(s): 4 accepted (4 new, 0 updated, 0 unchanged" in result.output
    assert "1 event detail(s) AWS did not return" in result.output
    assert f"{E3} ({OTHER}): NotFoundException event not found" in result.output
    events = stored(tmp_path)
    assert sorted(events) == sorted(
        [
            f"aws.health:{E1}:{ACCOUNT}",
            f"aws.health:{E1}:{OTHER}",
            f"aws.health:{E2}",
            f"aws.health:{E3}:{OTHER}",
        ]
    )
    mine, theirs = events[f"aws.health:{E1}:{ACCOUNT}"].event, events[f"aws.health:{E1}:{OTHER}"].event
    assert [(r.id, r.account) for r in mine.resources] == [("i-0aaa1111bbb222333", ACCOUNT)]
    assert [(r.id, r.account) for r in theirs.resources] == [("i-0ccc4444ddd555666", OTHER)]
    assert mine.severity.value == theirs.severity.value == "medium"
    assert events[f"aws.health:{E2}"].event.status.value == "closed"
    rds = events[f"aws.health:{E3}:{OTHER}"].event  # no details: the DescribeEvents item and its entity
    assert (rds.status.value, [r.id for r in rds.resources], rds.description) == (
        "upcoming",
        ["db-orders-9"],
        "",
    )


def test_an_interrupted_backfill_resumes_where_it_stopped(tmp_path: Path, stubs: Stubs) -> None:
    stubs.caller()
    stubs.events([E1, E2], None, "page-2")
    stubs.account_page([E1, E2], [[entity(E1, "i-0abc1234def567890", ACCOUNT)]])
    stubs.h.add_client_error(
        "describe_events",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
        expected_params={"filter": EVENTS_FILTER, "maxResults": 2, "nextToken": "page-2"},
    )

    stopped = run(tmp_path, "--no-triage")

    assert stopped.exit_code == 1, stopped.output
    assert (
        "ThrottlingException: Rate exceeded; 1 page(s) are stored: run the same command again"
        in stopped.output
    )
    checkpoint = orjson.loads((tmp_path / "backfill-health.json").read_bytes())
    assert (checkpoint["next_token"], checkpoint["done"], checkpoint["account"]) == (
        "page-2",
        [E1, E2],
        ACCOUNT,
    )
    assert sorted(stored(tmp_path)) == sorted([f"aws.health:{E1}:{ACCOUNT}", f"aws.health:{E2}"])
    stubs.done()

    # Again: page 2 only (the stubs fail on any other call), with the same filter and the saved token.
    account_run(stubs, first_page=False)
    resumed = run(tmp_path, "--no-triage", "--since", "30d")  # a resumed run keeps the saved since

    assert resumed.exit_code == 0, resumed.output
    stubs.done()
    assert "resuming the backfill begun with since 2025-01-01T00:00:00+00:00: 1 page(s), 2 event(s)" in (
        resumed.output
    )
    assert "1 event(s) fetched in 1 page(s) (resumed after page 1): 1 accepted (1 new" in resumed.output
    assert not (tmp_path / "backfill-health.json").exists()

    # The final state is the one an uninterrupted run gives.
    once = tmp_path / "once"
    account_run(stubs)
    assert run(once, "--no-triage").exit_code == 0
    stubs.done()
    assert _state(stored(tmp_path)) == _state(stored(once))


def test_a_finished_backfill_run_again_changes_nothing_and_triages(tmp_path: Path, stubs: Stubs) -> None:
    account_run(stubs)
    assert run(tmp_path).exit_code == 0
    account_run(stubs)

    again = run(tmp_path, "--format", "json")

    assert again.exit_code == 0, again.output
    stubs.done()
    data = orjson.loads(again.stdout)
    assert (data["events_fetched"], data["pages"], data["new"], data["unchanged"], data["rejected"]) == (
        3,
        2,
        0,
        3,
        0,
    )
    assert "process" in data


def test_no_support_plan_is_a_clear_error(tmp_path: Path, stubs: Stubs) -> None:
    stubs.caller()
    stubs.h.add_client_error(
        "describe_events",
        service_error_code="SubscriptionRequiredException",
        service_message="The AWS Support plan of this account does not allow access to the Health API",
        http_status_code=400,
    )

    result = run(tmp_path)

    assert result.exit_code == 2, result.output
    assert (
        "error: AWS Health: SubscriptionRequiredException: the AWS Health API needs a Business"
        in result.output
    )
    assert "Fix: upgrade the support plan" in result.output
    assert not (tmp_path / "backfill-health.json").exists()
    assert stored(tmp_path) == {}


def test_access_denied_names_the_permissions(tmp_path: Path, stubs: Stubs) -> None:
    stubs.h.add_client_error(
        "describe_events_for_organization",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: health:DescribeEventsForOrganization",
        http_status_code=403,
    )

    result = run(tmp_path, "--org")

    assert result.exit_code == 2, result.output
    assert "health:DescribeAffectedAccountsForOrganization" in result.output


def test_a_checkpoint_of_another_scope_is_not_resumed_silently(tmp_path: Path, stubs: Stubs) -> None:
    (tmp_path / "backfill-health.json").write_bytes(
        orjson.dumps(
            {
                "org": True,
                "region": "us-east-1",
                "since": "2025-01-01T00:00:00+00:00",
                "page_size": 2,
                "next_token": "org-page-2",
                "pages": 1,
                "events": 2,
                "done": [E1, E2],
            }
        )
    )

    refused = run(tmp_path)

    assert refused.exit_code == 2
    assert "holds an unfinished backfill of --org in us-east-1" in refused.output

    account_run(stubs)
    restarted = run(tmp_path, "--restart", "--no-triage")

    assert restarted.exit_code == 0, restarted.output
    stubs.done()


def _state(events: dict[str, Any]) -> dict[str, Any]:
    return {key: (s.event, s.version_count) for key, s in events.items()}
