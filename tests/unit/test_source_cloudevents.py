"""CloudEvents 1.0 structured JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from opswarden.core.event import Category, Severity, Status
from opswarden.errors import PayloadError
from opswarden.sources import cloudevents
from opswarden.sources.registry import find_source
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit


def _one(payload: Any) -> Any:
    events = cloudevents.SOURCE.normalise(payload)
    assert len(events) == 1
    assert events[0] == events[0].canonical()
    return events[0]


def test_structured_event_with_json_data() -> None:
    payload = load_fixture("cloudevents/deploy_failed.json")
    assert find_source(payload) is cloudevents.SOURCE
    event = _one(payload)
    assert event.key == "cloudevents:https://ci.example.com/pipelines/payments-api:deploy-7f3a9c21"
    assert event.source == "https://ci.example.com/pipelines/payments-api"
    assert event.type_code == "com.example.deploy.failed"
    assert event.category is Category.OTHER
    assert event.severity is Severity.HIGH
    assert event.status is Status.OPEN
    assert event.upstream_status == "failed"
    assert event.title == "Deployment of payments-api 4.12.0 to prod failed"
    assert event.description.startswith("Health checks failed")
    assert event.updated_at == datetime(2024, 3, 14, 16, 5, 44, 120000, tzinfo=UTC)
    assert event.resources[0].id == "payments-api@4.12.0"
    assert event.details["data"]["environment"] == "prod"
    assert event.details["dataschema"] == "https://ci.example.com/schemas/deploy/1"
    assert event.details["extensions"] == {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    }


def test_minimal_event_with_base64_data() -> None:
    event = _one(load_fixture("cloudevents/binary_data_minimal.json"))
    assert event.key == "cloudevents:/sensors/rack-7:b1c2d3"
    assert event.title == "com.example.sensor.reading"
    assert event.description == ""
    assert event.severity is Severity.INFORMATIONAL
    assert event.updated_at is None
    assert event.resources == ()
    assert event.details["data_base64"] == "eyJ0ZW1wIjogNDEuNX0="
    assert "extensions" not in event.details


def test_title_falls_back_to_type_and_subject() -> None:
    payload = load_fixture("cloudevents/deploy_failed.json")
    del payload["data"]["title"]
    assert _one(payload).title == "com.example.deploy.failed: payments-api@4.12.0"


@pytest.mark.parametrize("word", ["resolved", "OK", "succeeded"])
def test_closing_words_in_data_close_the_event(word: str) -> None:
    payload = load_fixture("cloudevents/deploy_failed.json")
    payload["data"]["status"] = word
    assert _one(payload).status is Status.CLOSED


@pytest.mark.parametrize("version", ["0.3", "2.0", 1.0, ""])
def test_other_spec_versions_are_rejected(version: Any) -> None:
    payload = load_fixture("cloudevents/deploy_failed.json")
    payload["specversion"] = version
    with pytest.raises(PayloadError, match="specversion"):
        cloudevents.SOURCE.normalise(payload)


def test_future_minor_version_is_accepted() -> None:
    payload = load_fixture("cloudevents/deploy_failed.json")
    payload["specversion"] = "1.1"
    assert _one(payload).details["specversion"] == "1.1"


@pytest.mark.parametrize("field", ["id", "source", "type"])
def test_required_attributes(field: str) -> None:
    payload = load_fixture("cloudevents/deploy_failed.json")
    del payload[field]
    with pytest.raises(PayloadError, match=f"'{field}'"):
        cloudevents.SOURCE.normalise(payload)


def test_bad_time_names_the_field() -> None:
    payload = load_fixture("cloudevents/deploy_failed.json")
    payload["time"] = "yesterday-ish"
    with pytest.raises(PayloadError, match="'time'"):
        cloudevents.SOURCE.normalise(payload)


def test_an_eventbridge_envelope_is_not_a_cloud_event() -> None:
    assert not cloudevents.SOURCE.matches(load_fixture("eventbridge/custom_order_event.json"))
