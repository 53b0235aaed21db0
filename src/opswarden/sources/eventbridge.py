"""Any other EventBridge event: a company's own events, CloudTrail API calls, AWS services without a
dedicated source. The catch-all of the registry.

Identity is ``<source>:<envelope id>`` (every delivery its own record) unless a fingerprint rule for
the event's source and detail-type names the fields that identify it, e.g. ``detail.orderId``: then
deliveries with equal values of those fields are versions of one record, ordered by envelope time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from opswarden.core.event import Category, Event, Resource, Status
from opswarden.errors import PayloadError
from opswarden.sources.base import (
    Payload,
    Source,
    is_envelope,
    opt_str,
    require_str,
    severity_from_label,
    time_field,
)

_CLOSED_WORDS = frozenset({"closed", "resolved", "ok", "succeeded", "success", "completed", "done"})


class FingerprintRule(BaseModel):
    """Which fields identify one real-world event among deliveries of a custom EventBridge event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="Glob on the envelope's source, e.g. 'com.mycompany.*'.")
    detail_type: str = Field(default="*", description="Glob on the envelope's detail-type.")
    fields: tuple[str, ...] = Field(min_length=1, description="Dot paths into the envelope.")

    def applies(self, source: str, detail_type: str) -> bool:
        return fnmatchcase(source, self.source) and fnmatchcase(detail_type, self.detail_type)


def _matches(payload: Payload) -> bool:
    return is_envelope(payload) and isinstance(payload.get("source"), str)


def _lookup(payload: Payload, path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise PayloadError(f"fingerprint field '{path}' is missing")
        value = value[part]
    return value


def _key(payload: Payload, source: str, detail_type: str, rules: Sequence[FingerprintRule]) -> str:
    for rule in rules:
        if rule.applies(source, detail_type):
            values = [_lookup(payload, path) for path in rule.fields]
            if len(values) == 1 and isinstance(values[0], str):
                return f"{source}:{detail_type}:{values[0]}"
            # Otherwise the JSON of the values: unambiguous, and stable for objects (sorted keys).
            return f"{source}:{detail_type}:" + orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()
    envelope_id = opt_str(payload, "id")
    if envelope_id:
        return f"{source}:{envelope_id}"
    # PutEvents entries carry no id until EventBridge assigns one: identify them by their content.
    digest = hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    return f"{source}:sha256:{digest}"


def _resource_list(value: Any) -> list[str]:
    """Envelope ``resources``: a list of ARNs or ids (a lone string is taken as one resource)."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [r for r in value if isinstance(r, str) and r]
    return []


def _status(detail: Payload) -> tuple[Status, str | None]:
    word = opt_str(detail, "status") or opt_str(detail, "state")
    if word and word.lower() in _CLOSED_WORDS:
        return Status.CLOSED, word
    return Status.OPEN, word


def _normalise(payload: Payload, rules: Sequence[FingerprintRule]) -> list[Event]:
    source = require_str(payload, "source")
    detail_type = require_str(payload, "detail-type")
    detail: Payload = payload["detail"]
    status, upstream = _status(detail)
    account = opt_str(payload, "account")
    region = opt_str(payload, "region")
    event_name = opt_str(detail, "eventName")
    service = opt_str(detail, "eventSource") or source.removeprefix("aws.")
    title = f"{detail_type}: {event_name}" if event_name else detail_type
    resources = tuple(
        Resource(id=r, account=account, region=region) for r in _resource_list(payload.get("resources"))
    )
    event = Event(
        key=_key(payload, source, detail_type, rules),
        source=source,
        type_code=detail_type,
        category=Category.OTHER,
        service=service,
        title=title,
        description=opt_str(detail, "description") or opt_str(detail, "message") or "",
        severity=severity_from_label(opt_str(detail, "severity")),
        status=status,
        upstream_status=upstream,
        region=region,
        accounts=(account,) if account else (),
        resources=resources,
        updated_at=time_field(payload, "time"),
        details={"detail": dict(detail)},
    )
    return [event.canonical()]


def make_source(rules: Sequence[FingerprintRule] = ()) -> Source:
    frozen = tuple(rules)
    return Source(
        name="eventbridge",
        matches=_matches,
        normalise=lambda payload: _normalise(payload, frozen),
    )


SOURCE = make_source()
