from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opswarden.core.timeparse import format_time, parse_since, parse_time
from opswarden.errors import TimestampError

pytestmark = pytest.mark.unit

T = datetime(2023, 1, 27, 6, 2, 51, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fri, 27 Jan 2023 06:02:51 GMT", T),
        ("Thu, 27 Jan 2023 06:02:51 GMT", T),  # wrong weekday: ignored
        ("Fri, 3 Jun 2022 07:00:00 GMT", datetime(2022, 6, 3, 7, tzinfo=UTC)),
        ("2023-01-27T06:02:51Z", T),
        ("2023-01-27T06:02:51+00:00", T),
        ("2023-01-27T06:02:51.000+0000", T),
        ("2023-01-27T08:02:51+02:00", T),
        ("2023-04-21T11:59:04.000-04:00", datetime(2023, 4, 21, 15, 59, 4, tzinfo=UTC)),
        ("2022-06-25 10:00:48.868000+00:00", datetime(2022, 6, 25, 10, 0, 48, 868000, tzinfo=UTC)),
        ("2023-01-27T06:02:51", T),
        (1674799371, T),
        (1674799371000, T),
        ("1674799371000", T),
        (1587462325.096, datetime(2020, 4, 21, 9, 45, 25, 96000, tzinfo=UTC)),
        (
            {
                "__class__": "datetime",
                "year": 2023,
                "month": 1,
                "day": 27,
                "hour": 6,
                "minute": 2,
                "second": 51,
            },
            T,
        ),
    ],
)
def test_every_aws_format_parses_to_utc(text: object, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed is not None
    assert abs((parsed - expected).total_seconds()) < 0.001
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_means_no_time(empty: object) -> None:
    assert parse_time(empty) is None


@pytest.mark.parametrize("bad", ["yesterday-ish", "Fri, 31 Feb 2023 00:00:00 GMT", True, [1], {"year": 1}])
def test_bad_values_say_what_they_are(bad: object) -> None:
    with pytest.raises(TimestampError):
        parse_time(bad)


def test_format_time_is_iso_z() -> None:
    assert format_time(T) == "2023-01-27T06:02:51Z"
    assert format_time(None) is None


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        (" 3 d ", timedelta(days=3)),
        ("0h", timedelta(0)),
    ],
)
def test_parse_since_reads_an_age_before_now(text: str, age: timedelta) -> None:
    assert parse_since(text, T) == T - age


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2023-01-27T08:02:51+02:00", T),
        ("Fri, 27 Jan 2023 06:02:51 GMT", T),
    ],
)
def test_parse_since_reads_any_timestamp(text: str, expected: datetime) -> None:
    assert parse_since(text, datetime(2030, 1, 1, tzinfo=UTC)) == expected


@pytest.mark.parametrize("bad", ["", "  ", "7y", "-7d", "last week", "2026-13-01"])
def test_parse_since_says_what_to_write_instead(bad: str) -> None:
    with pytest.raises(TimestampError) as raised:
        parse_since(bad, T)
    assert str(raised.value) == f"{bad!r}: write a duration like 7d / 12h or a date like 2026-01-31"
