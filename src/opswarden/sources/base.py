"""What a source is, and the small helpers every normaliser shares.

A source is a pure function from one payload (a JSON object, already out of its transport envelope)
to zero or more :class:`~opswarden.core.event.Event` — plus a cheap ``matches`` test that the registry
uses to pick it. Normalisers do no I/O and import no SDK. They raise
:class:`~opswarden.errors.PayloadError` with a JSON path when a field they need is missing or malformed.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeGuard

from opswarden.core.event import Event, Severity
from opswarden.core.timeparse import parse_time, parse_time_text
from opswarden.errors import PayloadError, TimestampError

Payload = Mapping[str, Any]


@dataclass(frozen=True)
class Source:
    """One entry of the registry: a name, a matcher and a normaliser."""

    name: str
    matches: Callable[[Payload], bool]
    normalise: Callable[[Payload], list[Event]]


# ----------------------------------------------------------------------------------------------------
# Field access with paths in the errors


def require(obj: Payload, key: str, path: str = "") -> Any:
    """``obj[key]``, or a PayloadError naming the missing field's JSON path."""
    try:
        value = obj[key]
    except KeyError:
        raise PayloadError(f"missing required field '{_join(path, key)}'") from None
    if value is None:
        raise PayloadError(f"field '{_join(path, key)}' is null")
    return value


def require_str(obj: Payload, key: str, path: str = "") -> str:
    """A non-empty string field, or a PayloadError naming its JSON path."""
    value = obj.get(key)
    if type(value) is str and value.strip():  # the usual case, without the call to require()
        return value
    value = require(obj, key, path)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"field '{_join(path, key)}' must be a non-empty string, got {_show(value)}")
    return value


def opt_str(obj: Payload, key: str) -> str | None:
    """A string field, or ``None`` when absent or empty. Numbers are turned into strings."""
    value = obj.get(key)
    if isinstance(value, str):  # the common case first: this runs dozens of times per event
        return value or None
    if value is None or isinstance(value, Mapping | list):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return None


def require_mapping(obj: Payload, key: str, path: str = "") -> Payload:
    value = require(obj, key, path)
    if not is_mapping(value):
        raise PayloadError(f"field '{_join(path, key)}' must be an object, got {_show(value)}")
    return value


def opt_mapping(obj: Payload, key: str) -> Payload:
    """An object field, or ``{}`` when absent or not an object."""
    value = obj.get(key)
    if type(value) is dict:
        return value
    return value if value is not None and isinstance(value, Mapping) else {}


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, answered at once for dicts and ``None`` (the ABC check is slow)."""
    if type(value) is dict:
        return True
    return value is not None and isinstance(value, Mapping)


def opt_list(obj: Payload, key: str) -> list[Any]:
    value = obj.get(key)
    return list(value) if isinstance(value, list) else []


def time_field(obj: Payload, key: str, path: str = "") -> datetime | None:
    """A timestamp field in any supported format, or ``None``; bad values name their path."""
    value = obj.get(key)
    if type(value) is str and value:
        try:
            return parse_time_text(value)
        except TimestampError as exc:
            raise TimestampError(f"field '{_join(path, key)}': {exc.message}") from None
    if value is None:
        return None
    try:
        return parse_time(obj.get(key))
    except TimestampError as exc:
        raise TimestampError(f"field '{_join(path, key)}': {exc.message}") from None


def first_time(*values: datetime | None) -> datetime | None:
    """The first value that is not ``None``."""
    for value in values:
        if value is not None:
            return value
    return None


def str_map(value: Any) -> dict[str, str]:
    """A mapping of string to string (tags, metadata); other values are turned into strings."""
    if not is_mapping(value):
        return {}
    return {str(k): v if isinstance(v, str) else _show(v) for k, v in value.items() if v is not None}


def unique(items: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def severity_from_label(label: str | None, default: Severity = Severity.INFORMATIONAL) -> Severity:
    """CRITICAL/HIGH/MEDIUM/LOW/INFORMATIONAL in any case (and a few common synonyms)."""
    if not label:
        return default
    return _LABELS.get(label.strip().lower(), default)


_LABELS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "low": Severity.LOW,
    "informational": Severity.INFORMATIONAL,
    "information": Severity.INFORMATIONAL,
    "info": Severity.INFORMATIONAL,
}


def severity_from_score(score: float, bands: Sequence[tuple[float, Severity]]) -> Severity:
    """The first band whose lower bound the score reaches; bands are (lower bound, severity), descending."""
    for lower, severity in bands:
        if score >= lower:
            return severity
    return Severity.INFORMATIONAL


def envelope_account(payload: Payload) -> str | None:
    return opt_str(payload, "account")


def is_envelope(payload: Payload, source: str | None = None, detail_types: tuple[str, ...] = ()) -> bool:
    """An EventBridge envelope (optionally from one source, with one of the given detail-types).

    Every matcher of the registry starts with this test, so it checks ``type(...) is dict`` (what
    parsed JSON holds) before the much slower ``isinstance(..., Mapping)``.
    """
    detail = payload.get("detail")
    if "detail-type" not in payload or not (type(detail) is dict or isinstance(detail, Mapping)):
        return False
    if source is not None and payload.get("source") != source:
        return False
    return not detail_types or payload.get("detail-type") in detail_types


_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_ESCAPES = [f"%{c:02X}" for c in range(128)]
_PERCENT = ord("%")


@lru_cache(maxsize=16)
def _kept(safe: str) -> bytes:
    return _UNRESERVED + safe.encode()


def quote(text: str, safe: str = "") -> str:
    """``urllib.parse.quote`` for building console links, several times faster on ASCII ARNs.

    ASCII text is escaped with one ``str.replace`` per distinct unsafe character (an ARN has two or
    three: ``:``, ``/`` …); ``bytes.translate`` deleting the kept characters finds them in one C pass.
    ``%`` goes first, so that the escapes added afterwards are not escaped again.
    """
    if not text.isascii():
        return urllib.parse.quote(text, safe=safe)
    unsafe = set(text.encode().translate(None, _kept(safe)))
    if not unsafe:
        return text
    if _PERCENT in unsafe:
        unsafe.discard(_PERCENT)
        text = text.replace("%", "%25")
    for code in unsafe:
        text = text.replace(chr(code), _ESCAPES[code])
    return text


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
