"""ISO 8601 date-times as COS policies write them, to and from Unix seconds.

The policy's ``expiration`` is an ISO 8601 UTC date-time ("2019-08-30T09:38:12.414Z" in the POST
doc, "2021-12-31T12:00:00Z" in the size-limit best practice). We parse with one regular expression
and plain calendar arithmetic instead of ``datetime.fromisoformat``: that function accepts
different forms on Python 3.11 and 3.12 and would accept forms COS rejects (a space instead of
"T", no time zone, a date alone). The arithmetic also works for any year, so nothing here raises.
"""
from __future__ import annotations

import re

__all__ = ["parse_iso8601", "format_iso8601", "whole_hour_offset", "why_not_iso8601", "ISO8601_PROBLEMS"]

# date "T" time [fraction] zone; the zone is Z/z, ±HH:MM, ±HHMM or ±HH.
_ISO8601 = re.compile(
    r"""
    (?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})
    T
    (?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})
    (?:\.(?P<fraction>[0-9]{1,9}))?
    (?P<zone>[Zz]|(?P<sign>[+-])(?P<zh>[0-9]{2})(?::?(?P<zm>[0-9]{2}))?)
    """,
    re.VERBOSE | re.ASCII,
)

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    """Inverse of _days_from_civil."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def parse_iso8601(text: str) -> int | None:
    """Unix seconds (fraction dropped, i.e. floor) of an ISO 8601 date-time with a zone, else None."""
    if not isinstance(text, str):
        return None
    m = _ISO8601.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, _, _, sign, zone_h, zone_m = m.groups()
    year, month, day = int(year), int(month), int(day)
    hour, minute, second = int(hour), int(minute), int(second)
    if not 1 <= month <= 12:
        return None
    days_in_month = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= days_in_month or hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    if sign:
        zh, zm = int(zone_h), int(zone_m or 0)
        if zh > 23 or zm > 59:
            return None
        offset = (zh * 3600 + zm * 60) * (1 if sign == "+" else -1)
    # The fraction is non-negative, so dropping it is the floor even before 1970.
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset


def format_iso8601(unix: int) -> str:
    """``2019-08-30T09:38:12Z`` for Unix seconds (UTC, no fraction)."""
    days, rest = divmod(int(unix), 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    sign = "-" if year < 0 else ""
    return f"{sign}{abs(year):04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def whole_hour_offset(delta_s: int, tolerance_s: int = 120, *, max_hours: int = 14) -> int | None:
    """Hours when ``delta_s`` is within ``tolerance_s`` of a non-zero whole number of hours, else None.

    A difference of (almost exactly) whole hours between two clocks is the mark of a time-zone
    mistake, e.g. local UTC+8 time written with "Z". Real zones lie within ±14 hours, so larger
    multiples are treated as coincidence (``max_hours``).
    """
    sign = -1 if delta_s < 0 else 1
    hours, rest = divmod(abs(int(delta_s)), 3600)
    if rest > 1800:
        hours, rest = hours + 1, 3600 - rest
    if hours == 0 or hours > max_hours or rest > tolerance_s:
        return None
    return sign * hours


_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_NO_ZONE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?", re.ASCII)


# Why a text is not an expiration COS accepts: words, worded by the catalogue.
ISO8601_PROBLEMS = ("not-a-string", "whitespace", "unix-seconds", "date-only", "space-for-t",
                    "no-time-zone", "out-of-range", "not-iso8601")


def why_not_iso8601(text: str) -> str | None:
    """Why ``text`` is not an expiration COS accepts (one of ISO8601_PROBLEMS); None when it parses."""
    if parse_iso8601(text) is not None:
        return None
    if not isinstance(text, str):
        return "not-a-string"
    stripped = text.strip()
    if stripped != text and parse_iso8601(stripped) is not None:
        return "whitespace"
    if stripped.isdigit():
        return "unix-seconds"
    if _DATE_ONLY.fullmatch(stripped):
        return "date-only"
    if len(stripped) > 10 and stripped[10] == " " and _DATE_ONLY.fullmatch(stripped[:10]):
        return "space-for-t"
    if _NO_ZONE.fullmatch(stripped):
        return "no-time-zone"
    if _ISO8601.fullmatch(stripped):
        return "out-of-range"
    return "not-iso8601"
