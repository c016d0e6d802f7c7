"""scripts/load.py, CI-sized: concurrent uploads through the real mitmdump, and a SIGTERM mid-run."""
from __future__ import annotations

import dataclasses
import json

import pytest

import load
from seedcases import CASES

pytestmark = pytest.mark.e2e


def test_concurrent_uploads_get_cos_answers_and_one_record_each(tmp_path):
    result = load.run_load(200, 20, workdir=tmp_path)
    assert load.check(result) == []
    assert len(result.answered) == 200 == len(result.lines()) == result.emulator_posts
    assert {o.case.title for o in result.outcomes} == {c.title for c in CASES}   # the mix has every case


def test_sigterm_mid_run_leaves_no_torn_line_and_no_unrecorded_answer(tmp_path):
    result = load.run_load(200, 20, sigterm_after=60, workdir=tmp_path)
    assert result.sigterm_sent and result.proxy_exit is not None
    assert 60 <= len(result.answered) < 200          # the shutdown really cut the run short
    assert load.check(result) == []


def _synthetic(report: bytes, statuses: list[int | None]) -> load.LoadResult:
    good = next(c for c in CASES if c.expected_id is None)
    outcomes = [load.Outcome(i, f"T{i}", good, status=s) for i, s in enumerate(statuses)]
    return load.LoadResult(len(statuses), 1, None, outcomes, report, 1.0, 0, False, len(statuses))


def _line(tag: str, flow_id: str, status: int | None = 204) -> bytes:
    values = dict.fromkeys(load.RECORD_KEYS)
    values.update(flow_id=flow_id, url=f"http://h/?t={tag}", status=status, findings=[])
    return json.dumps(values).encode() + b"\n"


@pytest.mark.parametrize("report, statuses, expected", [
    (_line("T0", "a") + _line("T1", "b"), [204, 204], None),
    (_line("T0", "a") + _line("T1", "b")[:-9], [204, 204], "torn last line"),
    (_line("T0", "a"), [204, 204], "T1: the client got 204 but the report has 0 record(s)"),
    (_line("T0", "a") + _line("T1", "a"), [204, 204], "1 flow_id(s) recorded twice"),
    (_line("T0", "a") + _line("T0", "b"), [204, None], "T0: 2 records for one upload"),
    (_line("T0", "a") + _line("T1", "b", 403), [204, 204], "T1: the client got 204, the record says 403"),
    (_line("T0", "a") + _line("T1", "b", None), [204, None], "T1: proxy error: None"),
], ids=["clean", "torn", "missing", "flow-twice", "tag-twice", "status-differs", "no-response"])
def test_check_names_each_broken_promise(report, statuses, expected):
    result = _synthetic(report, statuses)
    problems = load.check(result)
    if expected is None:
        assert problems == []
    else:
        assert any(p.startswith(expected) for p in problems), problems


def test_check_in_sigterm_mode_forgives_only_unanswered_uploads():
    result = dataclasses.replace(_synthetic(_line("T0", "a"), [204, None]), sigterm_after=1, sigterm_sent=True)
    assert load.check(result) == []
    result = dataclasses.replace(result, outcomes=[dataclasses.replace(o, status=204) for o in result.outcomes])
    assert load.check(result) == ["T1: the client got 204 but the report has 0 record(s)"]
