"""findings/answer.py: reading COS's answer. Here: the server clock from the Date header, whose
shortcut for the one format servers send must read every date as email.utils reads it."""
from __future__ import annotations

import random
from email.utils import formatdate, parsedate_to_datetime

import pytest

from cosdoctor.findings.answer import read_answer


def server_time(date: str) -> int | None:
    return read_answer(204, {"date": date}, None).server_time


def general_http_date(value: str) -> int | None:
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@pytest.mark.parametrize("value", [
    "Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 29 Nov 2026 19:16:49 GMT", "Sat, 28 Feb 2026 23:59:59 GMT",
    "Sun, 31 Feb 2026 10:00:00 GMT", "Sun, 30 Nov 2026 23:59:60 GMT", "Sun, 18 Nov 0035 22:59:05 GMT",
    "Sun, 99 Nov 2026 10:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 +0800", "garbage", "",
])
def test_date_header_reads_as_email_utils_reads_it(value):
    assert server_time(value) == (general_http_date(value) if value else None)


def test_date_header_shortcut_agrees_on_many_dates():
    rng = random.Random(7)
    for _ in range(20_000):
        seconds = rng.randrange(0, 2 ** 33)
        value = formatdate(seconds, usegmt=True)
        assert server_time(value) == seconds, value
        mutated = list(value)
        mutated[rng.randrange(len(mutated))] = rng.choice("0123456789 :,GMTX")
        assert server_time("".join(mutated)) == general_http_date("".join(mutated)), "".join(mutated)


def test_no_date_header_falls_back_to_the_error_documents_server_time():
    body = (b"<Error><Code>AccessDenied</Code><Message>m</Message>"
            b"<ServerTime>2026-11-29T19:16:49Z</ServerTime></Error>")
    assert read_answer(403, {}, body).server_time == general_http_date("Sun, 29 Nov 2026 19:16:49 GMT")
    assert read_answer(403, {"date": "Sun, 29 Nov 2026 19:16:50 GMT"}, body).server_time == \
        general_http_date("Sun, 29 Nov 2026 19:16:50 GMT")                     # the header wins
    assert read_answer(403, {}, None).server_time is None
