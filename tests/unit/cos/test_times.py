from __future__ import annotations

import calendar
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosdoctor.cos.times import ISO8601_PROBLEMS, format_iso8601, parse_iso8601, whole_hour_offset, why_not_iso8601

# The D-POST test vector: expiration 2019-08-30T09:38:12.414Z is the KeyTime end 1567157892.
VECTOR_UNIX = 1567157892


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2019-08-30T09:38:12.414Z", VECTOR_UNIX),  # D-POST
        ("2019-08-30T09:38:12Z", VECTOR_UNIX),
        ("2021-12-31T12:00:00Z", 1640952000),  # D-SIZE
        ("2017-12-01T12:00:00.000Z", 1512129600),  # D-POST-OLD
        ("2019-08-30T09:38:12.9Z", VECTOR_UNIX),  # floor, not round
        ("2019-08-30T09:38:12.999999999Z", VECTOR_UNIX),
        ("2019-08-30T09:38:12.1z", VECTOR_UNIX),  # lower-case z
        ("2019-08-30T17:38:12+08:00", VECTOR_UNIX),
        ("2019-08-30T17:38:12+0800", VECTOR_UNIX),
        ("2019-08-30T17:38:12+08", VECTOR_UNIX),
        ("2019-08-30T04:08:12-05:30", VECTOR_UNIX),
        ("2019-08-30T09:38:12+00:00", VECTOR_UNIX),
        ("2019-08-30T09:38:12-00:00", VECTOR_UNIX),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.5Z", -1),  # floor before the epoch
        ("2024-02-29T00:00:00Z", 1709164800),  # leap day
        ("2000-02-29T00:00:00Z", 951782400),  # divisible by 400
        ("9999-12-31T23:59:59Z", 253402300799),
    ],
)
def test_parse_valid(text: str, expected: int) -> None:
    assert parse_iso8601(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-01-01",  # date only
        "2019-08-30 09:38:12",  # Python str(datetime)
        "2019-08-30 09:38:12Z",  # space instead of T
        "2019-08-30 09:38:12.414000+00:00",  # str() of an aware datetime
        "2019-08-30T09:38:12",  # no zone
        "2019-08-30T09:38Z",  # no seconds
        "2019-08-30t09:38:12Z",
        "2019-08-30T09:38:12.Z",
        "2019-08-30T09:38:12.1234567890Z",  # 10 fraction digits
        "2019-08-30T09:38:12,5Z",
        "2019-08-30T09:38:12+8:00",
        "2019-08-30T09:38:12+08:0",
        "2019-08-30T09:38:12+24:00",
        "2019-08-30T09:38:12+08:60",
        " 2019-08-30T09:38:12Z",
        "2019-08-30T09:38:12Z ",
        "2019-08-30T09:38:12Z\n",
        "2019-13-01T00:00:00Z",
        "2019-00-01T00:00:00Z",
        "2019-02-29T00:00:00Z",  # not a leap year
        "1900-02-29T00:00:00Z",  # divisible by 100
        "2019-04-31T00:00:00Z",
        "2019-08-00T00:00:00Z",
        "2019-08-30T24:00:00Z",
        "2019-08-30T23:60:00Z",
        "2019-08-30T23:59:60Z",  # leap seconds are not accepted
        "19-08-30T09:38:12Z",
        "+2019-08-30T09:38:12Z",
        "２０１９-08-30T09:38:12Z",  # full-width digits
        "1567157892",
    ],
)
def test_parse_invalid(text: str) -> None:
    assert parse_iso8601(text) is None


@pytest.mark.parametrize("value", [None, 1567157892, b"2019-08-30T09:38:12Z"])
def test_parse_non_string(value: object) -> None:
    assert parse_iso8601(value) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "unix, expected",
    [
        (VECTOR_UNIX, "2019-08-30T09:38:12Z"),
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (1621188104, "2021-05-16T18:01:44Z"),  # D-POSTERR expired example
        (1621245817, "2021-05-17T10:03:37Z"),
        (951782400, "2000-02-29T00:00:00Z"),
        (253402300800, "10000-01-01T00:00:00Z"),  # beyond datetime's range, still no exception
    ],
)
def test_format(unix: int, expected: str) -> None:
    assert format_iso8601(unix) == expected


@given(st.integers(min_value=-62135596800, max_value=253402300799))
def test_format_parse_roundtrip_and_stdlib(unix: int) -> None:
    text = format_iso8601(unix)
    assert parse_iso8601(text) == unix
    assert text == datetime.fromtimestamp(unix, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ").rjust(20, "0")


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(min_value=-23 * 60, max_value=23 * 60))
def test_parse_agrees_with_calendar(dt: datetime, offset_min: int) -> None:
    sign = "+" if offset_min >= 0 else "-"
    hh, mm = divmod(abs(offset_min), 60)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + f".{dt.microsecond:06d}{sign}{hh:02d}:{mm:02d}"
    expected = calendar.timegm(dt.timetuple()) - offset_min * 60
    assert parse_iso8601(text) == expected


@pytest.mark.parametrize(
    "delta, expected",
    [
        (8 * 3600, 8),  # local UTC+8 written with Z
        (-8 * 3600, -8),
        (8 * 3600 + 119, 8),
        (8 * 3600 - 120, 8),
        (8 * 3600 + 121, None),
        (3600, 1),
        (14 * 3600, 14),
        (15 * 3600, None),  # no real zone is that far away
        (0, None),
        (90, None),  # close to zero hours
        (1800, None),
        (5400, None),
    ],
)
def test_whole_hour_offset(delta: int, expected: int | None) -> None:
    assert whole_hour_offset(delta) == expected


def test_whole_hour_offset_tolerance_and_limit() -> None:
    assert whole_hour_offset(8 * 3600 + 300) is None
    assert whole_hour_offset(8 * 3600 + 300, tolerance_s=300) == 8
    assert whole_hour_offset(20 * 3600, max_hours=24) == 20


@pytest.mark.parametrize(
    "text, word",
    [
        ("2026-01-01", "date-only"),
        ("2019-08-30 09:38:12", "space-for-t"),
        ("2019-08-30T09:38:12", "no-time-zone"),
        ("1567157892", "unix-seconds"),
        (" 2019-08-30T09:38:12Z", "whitespace"),
        ("2019-02-30T00:00:00Z", "out-of-range"),
        ("next tuesday", "not-iso8601"),
        (1567157892, "not-a-string"),
    ],
)
def test_why_not(text: str, word: str) -> None:
    assert why_not_iso8601(text) == word and word in ISO8601_PROBLEMS


def test_why_not_accepts_valid() -> None:
    assert why_not_iso8601("2019-08-30T09:38:12.414Z") is None


@given(st.text())
def test_never_raises(text: str) -> None:
    parse_iso8601(text)
    why_not_iso8601(text)
