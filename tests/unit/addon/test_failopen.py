"""Fail open: caught, counted, logged once per place and minute, secrets scrubbed."""
from __future__ import annotations

import logging

from cosaddons.failopen import ErrorLog, fail_open

SECRET = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"


class Flow:
    id = "flow-1"


class Addon:
    def __init__(self) -> None:
        self.errors = ErrorLog(lambda: [SECRET])
        self.calls = 0

    @fail_open
    def response(self, flow):
        self.calls += 1
        raise ValueError(f"broken near {SECRET}")


def test_a_failing_hook_returns_and_logs_once_a_minute(caplog):
    addon = Addon()
    with caplog.at_level(logging.ERROR):
        for _ in range(5):
            assert addon.response(Flow()) is None
    assert addon.calls == 5 and addon.errors.count == 5
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("cosdoctor: internal error in response (flow flow-1): ValueError: broken near ")
    assert SECRET not in caplog.text


def test_after_the_interval_the_next_line_says_how_many_were_suppressed(caplog):
    errors = ErrorLog(interval=0.0)
    with caplog.at_level(logging.ERROR):
        for _ in range(2):
            errors.report("report", "f", RuntimeError("x"))
    assert len(caplog.records) == 2
    errors = ErrorLog(interval=3600)
    errors.report("report", "f", RuntimeError("x"))
    errors.report("report", "f", RuntimeError("x"))
    errors.interval = 0.0
    with caplog.at_level(logging.ERROR):
        errors.report("report", "f", RuntimeError("x"))
    assert "(1 more since the last report)" in caplog.records[-1].getMessage()


def test_each_place_is_rate_limited_on_its_own(caplog):
    errors = ErrorLog()
    with caplog.at_level(logging.ERROR):
        for where in ("report", "audit", "report"):
            errors.report(where, "f", RuntimeError(where))
    assert [r.getMessage().split(" (flow")[0] for r in caplog.records] == [
        "cosdoctor: internal error in report", "cosdoctor: internal error in audit"]


def test_guard_returns_the_result_or_none():
    errors = ErrorLog()
    assert errors.guard("x", Flow(), lambda a, b: a + b, 1, 2) == 3
    assert errors.guard("x", Flow(), lambda: 1 / 0) is None and errors.count == 1
