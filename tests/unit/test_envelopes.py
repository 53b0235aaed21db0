from __future__ import annotations

import pytest

from opswarden.errors import InputError
from opswarden.ingest.envelopes import Unwrapped, unwrap
from tests.conftest import load_fixture

pytestmark = pytest.mark.unit


def test_sqs_body_holding_sns_notification_holding_eventbridge_event() -> None:
    parts = list(unwrap(load_fixture("envelopes/sqs_of_sns_of_eventbridge.json")))
    assert len(parts) == 2
    first, second = parts
    assert isinstance(first, Unwrapped)
    assert first.path == "Records[0].body.Message"
    assert first.payload["detail-type"] == "Order Shipped"
    assert first.payload["detail"]["orderId"] == "o-1"
    assert isinstance(second, InputError)
    assert second.where == "Records[1].body"
    assert "not JSON" in second.message


def test_put_events_entries_become_envelopes_and_bad_detail_is_reported() -> None:
    parts = list(unwrap(load_fixture("envelopes/put_events_request.json")))
    good, bad = parts
    assert isinstance(good, Unwrapped)
    assert good.path == "Entries[0]"
    assert good.payload["source"] == "com.example.billing"
    assert good.payload["detail-type"] == "Invoice Overdue"
    assert good.payload["detail"] == {"invoiceId": "inv-42", "severity": "HIGH", "status": "open"}
    assert good.payload["time"] == "2026-02-01T08:30:00Z"
    assert isinstance(bad, InputError)
    assert bad.where == "Entries[1].Detail"


def test_sns_lambda_record_with_object_message_and_placebo_recording() -> None:
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": {"messageType": "X"}}}]}
    (part,) = unwrap(sns)
    assert isinstance(part, Unwrapped)
    assert part.payload == {"messageType": "X"}
    (placebo,) = unwrap({"status_code": 200, "data": {"events": []}})
    assert isinstance(placebo, Unwrapped)
    assert placebo.payload == {"events": []}
    assert placebo.path == "data"


def test_plain_payloads_and_non_transport_records_pass_through() -> None:
    history = {"Records": [{"FindingIdentifier": {"Id": "x"}, "UpdateTime": "2026-01-01T00:00:00Z"}]}
    (part,) = unwrap(history)
    assert isinstance(part, Unwrapped)
    assert part.payload is history
    assert part.path == ""
