"""The generic EventBridge source: any envelope no dedicated source claims."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.settings import load_settings
from opswarden.sources import eventbridge
from opswarden.sources.eventbridge import FingerprintRule
from opswarden.sources.registry import build_registry, find_source
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit

ORDER_RULE = FingerprintRule(source="com.example.*", detail_type="Order *", fields=("detail.orderId",))


def _one(payload: Any, rules: tuple[FingerprintRule, ...] = ()) -> Any:
    events = eventbridge.make_source(rules).normalise(payload)
    assert len(events) == 1
    assert events[0] == events[0].canonical()
    return events[0]


def test_custom_event_is_keyed_by_envelope_id() -> None:
    payload = load_fixture("eventbridge/custom_order_event.json")
    assert find_source(payload).name == "eventbridge"
    event = _one(payload)
    assert event.key == "com.example.orders:0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
    assert event.source == "com.example.orders"
    assert event.type_code == "Order Fulfilment Delayed"
    assert event.category is Category.OTHER
    assert event.severity is Severity.MEDIUM
    assert event.status is Status.OPEN
    assert event.upstream_status == "DELAYED"
    assert event.description == "Carrier pick-up missed; order will ship tomorrow."
    assert event.updated_at == datetime(2024, 3, 14, 18, 0, tzinfo=UTC)
    assert event.accounts == ("210987654321",)
    assert event.resources[0].id.endswith(":execution:fulfil-order:ord-77812")
    assert event.details["detail"]["orderId"] == "ord-77812"


def test_fingerprint_rule_makes_deliveries_versions_of_one_record() -> None:
    first = load_fixture("eventbridge/custom_order_event.json")
    second = load_fixture("eventbridge/custom_order_event.json")
    second["id"] = "ffffffff-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
    second["time"] = "2024-03-15T08:00:00Z"
    second["detail"]["status"] = "Completed"
    a, b = _one(first, (ORDER_RULE,)), _one(second, (ORDER_RULE,))
    assert a.key == b.key == "com.example.orders:Order Fulfilment Delayed:ord-77812"
    assert b.status is Status.CLOSED
    assert a.updated_at is not None
    assert b.updated_at is not None
    assert b.updated_at > a.updated_at


def test_fingerprint_rule_for_another_source_does_not_apply() -> None:
    rule = FingerprintRule(source="com.other.*", fields=("detail.orderId",))
    assert _one(load_fixture("eventbridge/custom_order_event.json"), (rule,)).key.endswith(
        ":0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
    )


def test_missing_fingerprint_field_is_a_payload_error() -> None:
    payload = load_fixture("eventbridge/custom_order_event.json")
    del payload["detail"]["orderId"]
    with pytest.raises(PayloadError, match=r"detail\.orderId"):
        eventbridge.make_source((ORDER_RULE,)).normalise(payload)


def test_fingerprint_rule_needs_fields() -> None:
    with pytest.raises(ValidationError):
        FingerprintRule(source="com.example.*", fields=())


def test_registry_passes_fingerprints_to_the_catch_all() -> None:
    registry = build_registry((ORDER_RULE,))
    payload = load_fixture("eventbridge/custom_order_event.json")
    (event,) = find_source(payload, registry).normalise(payload)
    assert event.key == "com.example.orders:Order Fulfilment Delayed:ord-77812"


def test_cloudtrail_api_call() -> None:
    event = _one(load_fixture("eventbridge/cloudtrail_api_call.json"))
    assert event.key == "aws.iam:3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b"
    assert event.title == "AWS API Call via CloudTrail: CreateAccessKey"
    assert event.service == "iam.amazonaws.com"
    assert event.severity is Severity.INFORMATIONAL
    assert event.upstream_status is None
    assert event.resources == ()


@pytest.mark.parametrize(
    "source",
    ["aws.config", "aws.cloudwatch", "aws.ec2", "aws.trustedadvisor"],
)
def test_other_detail_types_of_dedicated_sources_fall_through_to_the_catch_all(source: str) -> None:
    payload = load_fixture("eventbridge/custom_order_event.json")
    payload["source"] = source
    payload["detail-type"] = "Some Other Notification"
    assert find_source(payload).name == "eventbridge"


def test_envelope_without_detail_type_is_not_matched() -> None:
    payload = load_fixture("eventbridge/custom_order_event.json")
    del payload["detail-type"]
    assert not eventbridge.SOURCE.matches(payload)


def test_bad_time_names_the_field() -> None:
    payload = load_fixture("eventbridge/custom_order_event.json")
    payload["time"] = "not a time"
    with pytest.raises(PayloadError, match="'time'"):
        eventbridge.SOURCE.normalise(payload)


def test_resources_given_as_a_string_is_not_split_into_characters() -> None:
    payload = load_fixture("eventbridge/custom_order_event.json")
    payload["resources"] = "arn:aws:states:eu-west-1:210987654321:execution:fulfil-order:ord-77812"
    event = _one(payload)
    assert all(len(r.id) > 1 for r in event.resources)


DOCS = Path(__file__).parent.parent.parent / "docs"


@pytest.mark.parametrize("page", ["sources/custom.md", "configuration.md"])
def test_the_documented_fingerprint_setting_gives_the_documented_keys(
    page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (DOCS / page).read_text()
    setting = re.search(r"export OPSWARDEN_FINGERPRINTS='(.+?)'", text, re.DOTALL)
    assert setting, f"{page} shows no OPSWARDEN_FINGERPRINTS example"
    documented = set(re.findall(r"`(com\.example\.\w+:[^`]+)`", text))
    monkeypatch.setenv("OPSWARDEN_FINGERPRINTS", setting.group(1))
    rules = load_settings().fingerprints
    deliveries = [
        ("com.example.shop", "Order Placed", {"orderId": "o-1", "status": "placed"}),
        ("com.example.deploy", "Deployed", {"service": "payments", "environment": "prod"}),
    ]

    keys = {
        _one(
            {
                "version": "0",
                "id": "1",
                "detail-type": kind,
                "source": source,
                "account": "111122223333",
                "time": "2026-01-01T00:00:00Z",
                "region": "eu-west-1",
                "resources": [],
                "detail": detail,
            },
            rules,
        ).key
        for source, kind, detail in deliveries
    }

    assert (
        keys
        == documented
        == {
            "com.example.shop:Order Placed:o-1",
            'com.example.deploy:Deployed:["payments","prod"]',
        }
    )
