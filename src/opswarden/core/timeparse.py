"""Timestamps as AWS writes them, all to aware UTC datetimes.

Accepted (all occur in real payloads):

* RFC 1123 with or without a zero-padded day: ``Fri, 27 Jan 2023 06:02:51 GMT``, ``Fri, 3 Jun 2022 …``.
  The weekday is ignored (AWS documentation samples contradict their own dates).
* ISO 8601 with ``Z``, ``+00:00``, ``+0000`` or no zone (taken as UTC), with or without fractions, and
  Python's ``str(datetime)`` form with a space instead of ``T``.
* Epoch seconds or milliseconds, as numbers or numeric strings (floats included).
* botocore "placebo" recordings: ``{"__class__": "datetime", "year": …, "microsecond": …}``.

Empty strings and ``None`` mean "no time". Anything else raises :class:`TimestampError`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from opswarden.errors import TimestampError

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_MONTH_DIGITS = {m: f"{i:02d}" for m, i in _MONTHS.items()}
_RFC1123 = re.compile(
    r"^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:GMT|UTC|Z|\+0000)?$"
)
_ISO_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")
_NUMERIC = re.compile(r"^-?\d+(?:\.\d+)?$")
# The two spellings nearly every AWS payload uses, parsed without the general code's regex rewrites:
# ISO 8601 in UTC (``2026-01-01T00:00:00Z``, ``…00.000+0000``) and RFC 1123 (``Thu, 01 Jan 2026 … GMT``).
_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(Z|\+0000|\+00:00)")
_RFC1123_GMT = re.compile(r"[A-Za-z]{3}, \d\d [A-Za-z]{3} \d{4} \d\d:\d\d:\d\d GMT")
# Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_MS_THRESHOLD = 1e11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: Any) -> datetime | None:
    """Parse any supported timestamp to an aware UTC datetime; ``None``/``""`` give ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise TimestampError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, dict):
        return _from_placebo(value)
    if not isinstance(value, str):
        raise TimestampError(f"not a timestamp: {value!r}")
    return parse_time_text(value)


@lru_cache(maxsize=8192)
def parse_time_text(value: str) -> datetime:
    """:func:`parse_time` for a non-empty string (cached: payloads repeat the same times a lot)."""
    text = value.strip()
    fast = _parse_common(text)
    if fast is not None:
        return fast
    if _NUMERIC.match(text):
        return _from_epoch(float(text))
    if text[:1].isalpha() or _RFC1123.match(text):
        return _from_rfc1123(text)
    return _from_iso(text)


def _parse_common(text: str) -> datetime | None:
    """The common spellings, by ``datetime.fromisoformat``; ``None`` for anything else.

    Anything unusual, invalid dates included, returns ``None`` so that the general code below decides
    (and words the error). The result equals what the general code returns: a time ending in ``Z`` or
    ``+0000`` is read as ``+00:00`` just as :func:`_from_iso` reads it, and an RFC 1123 time is
    rewritten to the ISO form of the same fields (fromisoformat checks the ranges ``datetime()`` checks
    in :func:`_from_rfc1123`, and is several times faster than six ``int()`` and a constructor).
    """
    iso = _ISO_UTC.fullmatch(text)
    if iso is not None:
        normal = text[: iso.start(1)] + "+00:00"
    elif _RFC1123_GMT.fullmatch(text) and (month := _MONTH_DIGITS.get(text[8:11].lower())):
        normal = f"{text[12:16]}-{month}-{text[5:7]}T{text[17:25]}+00:00"
    else:
        return None
    try:
        return datetime.fromisoformat(normal)
    except ValueError:
        return None


def _from_epoch(seconds: float) -> datetime:
    if abs(seconds) >= _MS_THRESHOLD:
        seconds /= 1000.0
    return _EPOCH + timedelta(seconds=seconds)


def _from_placebo(value: dict[str, Any]) -> datetime:
    if value.get("__class__") != "datetime":
        raise TimestampError(f"not a timestamp object: {sorted(value)}")
    try:
        return datetime(
            int(value["year"]),
            int(value["month"]),
            int(value["day"]),
            int(value.get("hour", 0)),
            int(value.get("minute", 0)),
            int(value.get("second", 0)),
            int(value.get("microsecond", 0)),
            tzinfo=UTC,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TimestampError(f"bad datetime object {value!r}: {exc}") from exc


def _from_rfc1123(text: str) -> datetime:
    match = _RFC1123.match(text)
    month = _MONTHS.get(match.group(2).lower()) if match else None
    if match is None or month is None:
        raise TimestampError(f"not an RFC 1123 or ISO 8601 timestamp: {text!r}")
    day, _, year, hour, minute, second = match.groups()
    try:
        return datetime(int(year), month, int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    except ValueError as exc:
        raise TimestampError(f"impossible date {text!r}: {exc}") from exc


def _from_iso(text: str) -> datetime:
    normal = text.replace(" ", "T", 1)
    if normal.endswith(("Z", "z")):
        normal = normal[:-1] + "+00:00"
    normal = _ISO_OFFSET_NO_COLON.sub(r"\1:\2", normal) if "T" in normal else normal
    try:
        parsed = datetime.fromisoformat(normal)
    except ValueError as exc:
        raise TimestampError(f"not an ISO 8601 timestamp: {text!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_since(value: str, now: datetime) -> datetime:
    """A moment given as an age before ``now`` (``7d``, ``12h``, ``30m``, ``45s``, ``2w``) or as any
    timestamp :func:`parse_time` reads. The ``since``/``until`` filters of the CLI and the HTTP API."""
    match = _AGE.match(value.strip())
    if match:
        return now - timedelta(**{_AGE_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = parse_time(value)
    except TimestampError:
        moment = None
    if moment is None:
        raise TimestampError(f"{value!r}: write a duration like 7d / 12h or a date like 2026-01-31")
    return moment


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, the one output format."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # what the parsers above return
        return format_utc(value)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=8192)
def format_utc(value: datetime) -> str:
    """:func:`format_time` of a datetime whose tzinfo is ``UTC``: ``value.isoformat()`` with ``Z``.

    Written out with ``%`` formatting, which is faster than ``isoformat`` (keyword parsing, offset
    lookup) and than an f-string with six format specs; and cached, as the same times are formatted
    for details, content hashes and storage. Only for ``tzinfo is UTC``: equal datetimes in other
    zones would share a cache entry.
    """
    fields = (value.year, value.month, value.day, value.hour, value.minute, value.second)
    if value.microsecond:
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (*fields, value.microsecond)  # noqa: UP031
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % fields  # noqa: UP031
