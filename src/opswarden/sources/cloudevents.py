"""CloudEvents 1.0 in the structured JSON format: any producer's own events.

Required context attributes are ``specversion`` (1.x), ``id``, ``source`` and ``type``; ``subject``,
``time``, ``datacontenttype``, ``dataschema``, ``data`` / ``data_base64`` and extension attributes are
optional. The spec makes ``source`` + ``id`` unique per distinct event, so identity is
``cloudevents:<source>:<id>``: a redelivery is a no-op, a new id is a new record. Batches (JSON arrays)
are split before this module. See docs/sources/custom.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opswarden.core.event import Category, Event, Resource, Status
from opswarden.errors import PayloadError
from opswarden.sources.base import (
    Payload,
    Source,
    opt_str,
    require,
    require_str,
    severity_from_label,
    time_field,
)

_CONTEXT = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}
)
_DATA = frozenset({"data", "data_base64"})
_CLOSED_WORDS = frozenset({"closed", "resolved", "ok", "succeeded", "success", "completed", "done"})


def _matches(payload: Payload) -> bool:
    return "specversion" in payload


def _normalise(payload: Payload) -> list[Event]:
    version = require(payload, "specversion")
    if not isinstance(version, str) or not (version == "1" or version.startswith("1.")):
        raise PayloadError(
            f"field 'specversion' is {version!r}: only CloudEvents 1.x (structured JSON) is supported"
        )
    ident = require_str(payload, "id")
    source = require_str(payload, "source")
    kind = require_str(payload, "type")
    subject = opt_str(payload, "subject")
    data = payload.get("data")
    fields: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    word = opt_str(fields, "status") or opt_str(fields, "state")
    closed = word is not None and word.lower() in _CLOSED_WORDS
    details: dict[str, Any] = {
        "specversion": version,
        "datacontenttype": opt_str(payload, "datacontenttype"),
        "dataschema": opt_str(payload, "dataschema"),
        "subject": subject,
        "data": data,
        "data_base64": opt_str(payload, "data_base64"),
        "extensions": {k: v for k, v in payload.items() if k not in _CONTEXT | _DATA} or None,
    }
    event = Event(
        key=f"cloudevents:{source}:{ident}",
        source=source,
        type_code=kind,
        category=Category.OTHER,
        title=opt_str(fields, "title") or (f"{kind}: {subject}" if subject else kind),
        description=_first_text(fields, "description", "message", "summary"),
        severity=severity_from_label(opt_str(fields, "severity")),
        status=Status.CLOSED if closed else Status.OPEN,
        upstream_status=word,
        resources=(Resource(id=subject),) if subject else (),
        updated_at=time_field(payload, "time"),
        details={k: v for k, v in details.items() if v is not None},
    )
    return [event.canonical()]


def _first_text(fields: Mapping[str, Any], *keys: str) -> str:
    return next((v for k in keys if isinstance(v := fields.get(k), str) and v), "")


SOURCE = Source(name="cloudevents", matches=_matches, normalise=_normalise)
