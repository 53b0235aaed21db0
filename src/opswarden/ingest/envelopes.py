"""Transport envelopes, unwrapped before any payload is parsed (Powertools' ``parser/envelopes``).

A delivery can arrive wrapped in several layers; each layer is peeled here and the innermost payloads
go to the source registry:

* SQS event (``Records[].body`` with ``eventSource: aws:sqs``): each body, itself parsed and unwrapped;
* SNS to Lambda (``Records[].Sns.Message``) and a bare SNS notification (``Type: Notification``):
  the message, a JSON string (or, in some documentation samples, already an object);
* EventBridge PutEvents request (``Entries[]``) and entry (``Source``/``DetailType``/``Detail`` where
  ``Detail`` is a JSON string): converted to an ordinary EventBridge envelope;
* botocore "placebo" recordings (``{"status_code": 200, "data": {...}}``): the recorded response body.

EventBridge envelopes themselves are not unwrapped: their metadata (account, time, region) is part of
what the sources read. Each payload comes out with the path it was found at, so an error in the third
SQS record reads ``Records[2].body: …``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from opswarden.errors import InputError, PayloadError

_MAX_DEPTH = 6


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """One innermost payload, with where it was inside the delivery ("" for the delivery itself)."""

    payload: Any
    path: str


def unwrap(value: Any) -> Iterator[Unwrapped | InputError]:
    """Yield the innermost payloads of one delivery; a broken layer yields an error and the rest go on."""
    yield from _unwrap(value, "", 0)


def _unwrap(value: Any, path: str, depth: int) -> Iterator[Unwrapped | InputError]:
    if depth > _MAX_DEPTH or not isinstance(value, Mapping):
        yield Unwrapped(value, path)
        return
    records = value.get("Records")
    if isinstance(records, list) and records and _is_transport_record(records[0]):
        for i, record in enumerate(records):
            inner = _record_body(record, f"{_p(path)}Records[{i}]")
            if isinstance(inner, InputError):
                yield inner
            else:
                yield from _unwrap(inner[0], inner[1], depth + 1)
        return
    if value.get("Type") == "Notification" and "Message" in value and "TopicArn" in value:
        message = _json_string(value["Message"], f"{_p(path)}Message")
        if isinstance(message, InputError):
            yield message
        else:
            yield from _unwrap(message, f"{_p(path)}Message", depth + 1)
        return
    entries = value.get("Entries")
    if isinstance(entries, list) and entries and all(_is_put_events_entry(e) for e in entries):
        for i, entry in enumerate(entries):
            yield _from_put_events_entry(entry, f"{_p(path)}Entries[{i}]")
        return
    if _is_put_events_entry(value):
        yield _from_put_events_entry(value, path)
        return
    if _is_placebo(value):
        yield from _unwrap(value["data"], f"{_p(path)}data", depth + 1)
        return
    yield Unwrapped(value, path)


def _is_placebo(value: Mapping[str, Any]) -> bool:
    """A botocore placebo recording has exactly these two keys."""
    return (
        set(value) == {"status_code", "data"}
        and isinstance(value["status_code"], int)
        and isinstance(value["data"], Mapping)
    )


def _p(path: str) -> str:
    return f"{path}." if path else ""


def _is_transport_record(record: Any) -> bool:
    if not isinstance(record, Mapping):
        return False
    source = record.get("eventSource") or record.get("EventSource")
    return source in ("aws:sqs", "aws:sns") or isinstance(record.get("Sns"), Mapping)


def _record_body(record: Any, path: str) -> tuple[Any, str] | InputError:
    if not isinstance(record, Mapping):
        return PayloadError("transport record is not an object", path)
    if isinstance(record.get("Sns"), Mapping):
        body_path = f"{path}.Sns.Message"
        body = _json_string(record["Sns"].get("Message"), body_path)
    else:
        body_path = f"{path}.body"
        body = _json_string(record.get("body"), body_path)
    return body if isinstance(body, InputError) else (body, body_path)


def _json_string(value: Any, path: str) -> Any:
    """A JSON document carried as a string (or already decoded by whoever wrote the sample)."""
    if isinstance(value, Mapping | list):
        return value
    if not isinstance(value, str | bytes):
        return PayloadError(f"expected a JSON string, got {type(value).__name__}", path)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return PayloadError(f"message is not JSON: {exc}", path)


def _is_put_events_entry(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and "DetailType" in value
        and "Source" in value
        and "Detail" in value
        and "detail" not in value
    )


def _from_put_events_entry(entry: Mapping[str, Any], path: str) -> Unwrapped | InputError:
    detail = _json_string(entry["Detail"], f"{_p(path)}Detail")
    if isinstance(detail, InputError):
        return detail
    if not isinstance(detail, Mapping):
        return PayloadError("Detail must be a JSON object", f"{_p(path)}Detail")
    envelope: dict[str, Any] = {
        "version": "0",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "resources": list(entry.get("Resources") or []),
        "detail": dict(detail),
    }
    for src, dst in (("Time", "time"), ("Account", "account"), ("Region", "region"), ("Id", "id")):
        if entry.get(src) is not None:
            envelope[dst] = entry[src]
    return Unwrapped(envelope, path)
